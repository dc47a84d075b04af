// The HTTP basics every endpoint shares: error format, CORS, limits, discovery, health, metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

describe.each(ENGINES)('HTTP basics (%s)', (engine) => {
  let server: TestServer;
  let c: Client;
  beforeAll(async () => {
    server = await startTestServer(engine, { max_request_body_bytes: 4096 });
    c = new Client(server.baseUrl);
  });
  afterAll(() => server.close());

  it('answers /versions with the versions it implements', async () => {
    const r = await c.get('/_matrix/client/versions');
    expect(r.status).toBe(200);
    expect(r.body.versions).toEqual(Array.from({ length: 16 }, (_, i) => `v1.${i + 1}`));
    expect(r.body.unstable_features).toEqual({});
  });

  it('serves .well-known for clients and servers', async () => {
    const client = await c.get('/.well-known/matrix/client');
    expect(client.status).toBe(200);
    expect(client.body).toEqual({ 'm.homeserver': { base_url: server.config.public_baseurl.replace(/\/$/, '') } });
    const srv = await c.get('/.well-known/matrix/server');
    expect(srv.status).toBe(200);
    expect(typeof srv.body['m.server']).toBe('string');
  });

  it('answers an unknown endpoint with 404 M_UNRECOGNIZED', async () => {
    const r = await c.get('/_matrix/client/v3/no/such/thing');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ errcode: 'M_UNRECOGNIZED', error: expect.any(String) });
  });

  it('answers a known endpoint with a wrong method with 405 M_UNRECOGNIZED', async () => {
    const r = await c.request('DELETE', '/_matrix/client/v3/login');
    expect(r.status).toBe(405);
    expect(r.body.errcode).toBe('M_UNRECOGNIZED');
    const p = await c.request('PUT', '/_matrix/client/v3/devices/ABC/extra');
    expect(p.status).toBe(404);
  });

  it('rejects a body that is not JSON with M_NOT_JSON', async () => {
    const r = await c.request('POST', '/_matrix/client/v3/login', undefined, { raw: '{"type": ', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe('M_NOT_JSON');
  });

  it('rejects JSON of the wrong shape with M_BAD_JSON and a missing field with M_MISSING_PARAM', async () => {
    const bad = await c.post('/_matrix/client/v3/login', { type: 42 });
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe('M_BAD_JSON');
    const arr = await c.request('POST', '/_matrix/client/v3/login', [1, 2]);
    expect(arr.body.errcode).toBe('M_BAD_JSON');
    const missing = await c.post('/_matrix/client/v3/login', {});
    expect(missing.status).toBe(400);
    expect(missing.body.errcode).toBe('M_MISSING_PARAM');
  });

  it('rejects an invalid query parameter with M_INVALID_PARAM', async () => {
    const r = await c.get('/_matrix/client/v3/register?kind=robot');
    expect(r.status).toBe(405); // GET /register is not an endpoint
    const p = await c.post('/_matrix/client/v3/register?kind=robot', {});
    expect(p.status).toBe(400);
    expect(p.body.errcode).toBe('M_INVALID_PARAM');
  });

  it('rejects a body over the limit with 413 M_TOO_LARGE', async () => {
    const r = await c.post('/_matrix/client/v3/login', { type: 'm.login.password', padding: 'x'.repeat(5000) });
    expect(r.status).toBe(413);
    expect(r.body.errcode).toBe('M_TOO_LARGE');
  });

  it('sends CORS headers on every response and answers OPTIONS', async () => {
    for (const r of [await c.get('/_matrix/client/versions'), await c.get('/nope'), await c.get('/_matrix/client/v3/account/whoami')]) {
      expect(r.headers.get('access-control-allow-origin')).toBe('*');
      expect(r.headers.get('access-control-allow-methods')).toContain('OPTIONS');
      expect(r.headers.get('access-control-allow-headers')).toContain('Authorization');
    }
    const o = await c.request('OPTIONS', '/_matrix/client/v3/rooms/!x:y/send/m.room.message/1');
    expect(o.status).toBe(204);
    expect(o.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, DELETE, OPTIONS');
  });

  it('needs an access token where the spec says so', async () => {
    const none = await c.get('/_matrix/client/v3/account/whoami', { token: null });
    expect(none.status).toBe(401);
    expect(none.body.errcode).toBe('M_MISSING_TOKEN');
    const wrong = await c.get('/_matrix/client/v3/account/whoami', { token: 'wfa_not-a-real-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ errcode: 'M_UNKNOWN_TOKEN', error: expect.any(String), soft_logout: false });
    const malformed = await c.request('GET', '/_matrix/client/v3/account/whoami', undefined, { token: null, headers: { authorization: 'Basic abc' } });
    expect(malformed.status).toBe(401);
    expect(malformed.body.errcode).toBe('M_MISSING_TOKEN');
  });

  it('answers /capabilities as the spec lists them', async () => {
    const u = new Client(server.baseUrl);
    await u.register('caps');
    const r = await u.get('/_matrix/client/v3/capabilities');
    expect(r.status).toBe(200);
    const caps = r.body.capabilities as Record<string, Record<string, unknown>>;
    expect(caps['m.room_versions'].default).toBe('12');
    expect(Object.keys(caps['m.room_versions'].available as object)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
    expect(caps['m.change_password']).toEqual({ enabled: true });
    expect(caps['m.set_displayname']).toEqual({ enabled: true });
    expect(caps['m.set_avatar_url']).toEqual({ enabled: true });
    expect(caps['m.3pid_changes']).toEqual({ enabled: false });
    expect(caps['m.get_login_token']).toEqual({ enabled: true });
  });

  it('serves /health and Prometheus /metrics', async () => {
    const h = await fetch(new URL('/health', server.baseUrl));
    expect(h.status).toBe(200);
    expect(await h.text()).toBe('OK');
    const m = await fetch(new URL('/metrics', server.baseUrl));
    expect(m.status).toBe(200);
    const text = await m.text();
    expect(text).toContain('weft_http_requests_total');
    expect(text).toMatch(/weft_http_requests_total\{route="\/health",method="GET",code="200"\} \d+/);
  });
});

describe('rate limiting', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('sqlite', {
      rate_limits: { enabled: true, client: { per_second: 1, burst: 3 }, login: { per_second: 0.1, burst: 2 }, registration: { per_second: 100, burst: 100 } },
    });
  });
  afterAll(() => server.close());

  it('limits each user, answering M_LIMIT_EXCEEDED with retry_after_ms', async () => {
    const a = new Client(server.baseUrl);
    const b = new Client(server.baseUrl);
    await a.register('limited');
    await b.register('other');
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 5; i++) {
      last = await a.get('/_matrix/client/v3/account/whoami');
      statuses.push(last.status);
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses[4]).toBe(429);
    expect(last!.body.errcode).toBe('M_LIMIT_EXCEEDED');
    expect(last!.body.retry_after_ms).toBeGreaterThan(0);
    // Another user has a bucket of their own.
    expect((await b.get('/_matrix/client/v3/account/whoami')).status).toBe(200);
  });

  it('limits login attempts per address', async () => {
    const c = new Client(server.baseUrl);
    const body = { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'nobody' }, password: 'x' };
    expect((await c.post('/_matrix/client/v3/login', body)).status).toBe(403);
    expect((await c.post('/_matrix/client/v3/login', body)).status).toBe(403);
    const third = await c.post('/_matrix/client/v3/login', body);
    expect(third.status).toBe(429);
    expect(third.body.errcode).toBe('M_LIMIT_EXCEEDED');
  });
});

describe('rate limits turned off', () => {
  it('lets every request through', async () => {
    const server = await startTestServer('sqlite', { rate_limits: { enabled: false, client: { per_second: 1, burst: 1 } } });
    try {
      const a = new Client(server.baseUrl);
      await a.register('free');
      for (let i = 0; i < 10; i++) expect((await a.get('/_matrix/client/v3/account/whoami')).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe('bodies', () => {
  it('treats a missing body on POST as an empty object', async () => {
    const server = await startTestServer('sqlite');
    try {
      const c = new Client(server.baseUrl);
      await c.register('nobody');
      const room = await c.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {});
      const leave = await c.request('POST', `/_matrix/client/v3/rooms/${encodeURIComponent(room.body.room_id)}/leave`);
      expect(leave.status).toBe(200);
      const login = await c.request('POST', '/_matrix/client/v3/login');
      expect(login.status).toBe(400);
      expect(login.body.errcode).toBe('M_MISSING_PARAM');
    } finally {
      await server.close();
    }
  });
});
