// Request logs are structured and carry no secrets; internal errors carry no details to clients.
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

describe('request logs and internal errors', () => {
  const lines: string[] = [];
  let server: TestServer;
  beforeAll(async () => {
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
    server = await startTestServer('sqlite', { log_level: 'info' }, pino({ level: 'info' }, sink));
  });
  afterAll(() => server.close().catch(() => undefined));

  it('logs one JSON line per request without tokens or passwords', async () => {
    const c = new Client(server.baseUrl);
    const password = 'hunter2-very-secret';
    const reg = await c.register('logged', password);
    const login = await c.post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'logged' }, password }, { token: null });
    const token = login.body.access_token as string;
    await c.get(`/_matrix/client/v3/account/whoami?access_token=${token}`, { token: null });
    await c.get('/_matrix/client/v3/account/whoami', { token: reg.access_token });
    await new Promise((r) => setTimeout(r, 50));

    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(4);
    const whoami = requests.filter((r) => String(r.url).startsWith('/_matrix/client/v3/account/whoami'));
    expect(whoami.map((r) => r.status)).toEqual([200, 200]);
    expect(whoami[0].url).toBe('/_matrix/client/v3/account/whoami?access_token=<redacted>');
    expect(whoami[1].user).toBe('@logged:test.local');
    const all = lines.join('\n');
    for (const secret of [password, token, reg.access_token, token.slice(4, 20)]) expect(all).not.toContain(secret);
  });

  it('answers an internal failure with a bare 500 M_UNKNOWN and logs the cause', async () => {
    const c = new Client(server.baseUrl);
    await server.hs.storage.close(); // the database goes away under the running server
    const r = await c.post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'logged' }, password: 'x' });
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ errcode: 'M_UNKNOWN', error: 'Internal server error' });
    expect(JSON.stringify(r.body)).not.toMatch(/at \w|\.ts|\.js/);
    expect(lines.some((l) => l.includes('"internal error"'))).toBe(true);
  });
});
