// spec: client-server-api "Account registration", "Token-authenticated registration", guest access,
// and the Synapse-compatible shared-secret registration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';
import { registrationMac } from '../../src/http/admin/index.js';

const REGISTER = '/_matrix/client/v3/register';

describe.each(ENGINES)('registration (%s)', (engine) => {
  let server: TestServer;
  let c: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    c = new Client(server.baseUrl);
  });
  afterAll(() => server.close());

  it('offers the dummy flow and completes it in a second request', async () => {
    const first = await c.post(REGISTER, { username: 'alice', password: 'secret-password' });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ['m.login.dummy'] }]);
    expect(first.body.params).toEqual({});
    expect(typeof first.body.session).toBe('string');
    const second = await c.post(REGISTER, { username: 'alice', password: 'secret-password', auth: { type: 'm.login.dummy', session: first.body.session } });
    expect(second.status).toBe(200);
    expect(second.body.user_id).toBe('@alice:test.local');
    expect(second.body.access_token).toMatch(/^wfa_/);
    expect(typeof second.body.device_id).toBe('string');
    expect(second.body.refresh_token).toBeUndefined();
    const who = await c.get('/_matrix/client/v3/account/whoami', { token: second.body.access_token as string });
    expect(who.body).toEqual({ user_id: '@alice:test.local', device_id: second.body.device_id, is_guest: false });
    // The completed session cannot be used again.
    const replay = await c.post(REGISTER, { username: 'alice2', password: 'x', auth: { type: 'm.login.dummy', session: first.body.session } });
    expect(replay.status).toBe(400);
  });

  it('rejects a taken user ID with M_USER_IN_USE before any authentication', async () => {
    await c.register('bob');
    const r = await c.post(REGISTER, { username: 'bob', password: 'p' }, { token: null });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe('M_USER_IN_USE');
  });

  it('rejects invalid user names with M_INVALID_USERNAME', async () => {
    for (const username of ['Alice', 'has space', 'émile', '12345', '', 'a'.repeat(250), 'colon:here']) {
      const r = await c.post(REGISTER, { username, password: 'p', auth: { type: 'm.login.dummy' } }, { token: null });
      expect(r.status, username).toBe(400);
      expect(r.body.errcode, username).toBe('M_INVALID_USERNAME');
    }
    const ok = await c.post(REGISTER, { username: 'a.b_c=d-e/f+g', password: 'p', auth: { type: 'm.login.dummy' } }, { token: null });
    expect(ok.status).toBe(200);
  });

  it('honours inhibit_login, device_id, initial_device_display_name and refresh_token', async () => {
    const inhibited = await c.post(REGISTER, { username: 'quiet', password: 'p', inhibit_login: true, auth: { type: 'm.login.dummy' } }, { token: null });
    expect(inhibited.status).toBe(200);
    expect(inhibited.body).toEqual({ user_id: '@quiet:test.local' });

    const r = await c.post(REGISTER, {
      username: 'carol', password: 'p', device_id: 'MYDEVICE', initial_device_display_name: 'Carol phone', refresh_token: true, auth: { type: 'm.login.dummy' },
    }, { token: null });
    expect(r.status).toBe(200);
    expect(r.body.device_id).toBe('MYDEVICE');
    expect(r.body.refresh_token).toMatch(/^wfr_/);
    expect(r.body.expires_in_ms).toBe(300_000);
    const dev = await c.get('/_matrix/client/v3/devices/MYDEVICE', { token: r.body.access_token as string });
    expect(dev.status).toBe(200);
  });

  it('requires a password', async () => {
    const r = await c.post(REGISTER, { username: 'nopass', auth: { type: 'm.login.dummy' } }, { token: null });
    expect(r.status).toBe(400);
    expect(r.body.errcode).toBe('M_MISSING_PARAM');
  });

  it('rejects an unknown stage and an unknown session', async () => {
    const r = await c.post(REGISTER, { username: 'dave', password: 'p', auth: { type: 'm.login.password' } }, { token: null });
    expect(r.status).toBe(401);
    expect(r.body.errcode).toBe('M_UNRECOGNIZED');
    expect(r.body.flows).toBeDefined();
    const s = await c.post(REGISTER, { username: 'dave', password: 'p', auth: { type: 'm.login.dummy', session: 'nope' } }, { token: null });
    expect(s.status).toBe(400);
  });

  it('answers /register/available', async () => {
    expect((await c.get('/_matrix/client/v3/register/available?username=free.name', { token: null })).body).toEqual({ available: true });
    const taken = await c.get('/_matrix/client/v3/register/available?username=bob', { token: null });
    expect(taken.status).toBe(400);
    expect(taken.body.errcode).toBe('M_USER_IN_USE');
    const bad = await c.get('/_matrix/client/v3/register/available?username=B%20ad', { token: null });
    expect(bad.body.errcode).toBe('M_INVALID_USERNAME');
    const missing = await c.get('/_matrix/client/v3/register/available', { token: null });
    expect(missing.status).toBe(400);
    expect(missing.body.errcode).toBe('M_MISSING_PARAM');
  });

  it('registers guests with kind=guest', async () => {
    const r = await c.post(`${REGISTER}?kind=guest`, {}, { token: null });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toMatch(/^@\d+:test\.local$/);
    const who = await c.get('/_matrix/client/v3/account/whoami', { token: r.body.access_token as string });
    expect(who.body.is_guest).toBe(true);
    // Guests may not use endpoints outside the spec's guest list.
    const denied = await c.post('/_matrix/client/v3/account/password', { new_password: 'x' }, { token: r.body.access_token as string });
    expect(denied.status).toBe(403);
    expect(denied.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
  });

  it('registers through the shared-secret admin API', async () => {
    const n = await c.get<{ nonce: string }>('/_synapse/admin/v1/register', { token: null });
    expect(n.status).toBe(200);
    const body = { nonce: n.body.nonce, username: 'root', password: 'pw', admin: true };
    const r = await c.post('/_synapse/admin/v1/register', { ...body, mac: registrationMac('test-shared-secret', body) }, { token: null });
    expect(r.status).toBe(200);
    expect(r.body.user_id).toBe('@root:test.local');
    expect(r.body.home_server).toBe('test.local');
    expect(await server.hs.accounts.isAdmin('@root:test.local')).toBe(true);
    // A nonce is single-use.
    const again = await c.post('/_synapse/admin/v1/register', { ...body, username: 'root2', mac: registrationMac('test-shared-secret', { ...body, username: 'root2' }) }, { token: null });
    expect(again.status).toBe(400);
    // A wrong MAC is refused and creates nothing.
    const n2 = await c.get<{ nonce: string }>('/_synapse/admin/v1/register', { token: null });
    const bad = await c.post('/_synapse/admin/v1/register', { nonce: n2.body.nonce, username: 'mallory', password: 'pw', admin: true, mac: registrationMac('wrong', { nonce: n2.body.nonce, username: 'mallory', password: 'pw', admin: true }) }, { token: null });
    expect(bad.status).toBe(403);
    expect(await server.hs.storage.accounts.userExists('@mallory:test.local')).toBe(false);
  });
});

describe.each(ENGINES)('token-only registration (%s)', (engine) => {
  let server: TestServer;
  let c: Client;
  beforeAll(async () => {
    server = await startTestServer(engine, { registration: { mode: 'token', shared_secret: null, allow_guests: false } });
    c = new Client(server.baseUrl);
    await server.hs.registrationTokens.create({ token: 'once', usesAllowed: 1 });
    await server.hs.registrationTokens.create({ token: 'expired', expiryTs: Date.now() - 1000 });
  });
  afterAll(() => server.close());

  it('offers m.login.registration_token and checks token validity', async () => {
    const first = await c.post(REGISTER, { username: 'tok', password: 'p' }, { token: null });
    expect(first.status).toBe(401);
    expect(first.body.flows).toEqual([{ stages: ['m.login.registration_token'] }]);
    expect((await c.get('/_matrix/client/v1/register/m.login.registration_token/validity?token=once')).body).toEqual({ valid: true });
    expect((await c.get('/_matrix/client/v1/register/m.login.registration_token/validity?token=expired')).body).toEqual({ valid: false });
    expect((await c.get('/_matrix/client/v1/register/m.login.registration_token/validity?token=unknown')).body).toEqual({ valid: false });

    const dummy = await c.post(REGISTER, { username: 'tok', password: 'p', auth: { type: 'm.login.dummy', session: first.body.session } });
    expect(dummy.status).toBe(401);

    const wrong = await c.post(REGISTER, { username: 'tok', password: 'p', auth: { type: 'm.login.registration_token', token: 'expired', session: first.body.session } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe('M_FORBIDDEN');

    const ok = await c.post(REGISTER, { username: 'tok', password: 'p', auth: { type: 'm.login.registration_token', token: 'once', session: first.body.session } });
    expect(ok.status).toBe(200);
    expect(ok.body.user_id).toBe('@tok:test.local');
    // Its only use is spent.
    expect((await c.get('/_matrix/client/v1/register/m.login.registration_token/validity?token=once')).body).toEqual({ valid: false });
    const again = await c.post(REGISTER, { username: 'tok2', password: 'p', auth: { type: 'm.login.registration_token', token: 'once' } });
    expect(again.status).toBe(401);
    expect(await server.hs.storage.accounts.userExists('@tok2:test.local')).toBe(false);
  });

  it('refuses guests when guest access is off, and shared-secret registration when no secret is set', async () => {
    const g = await c.post(`${REGISTER}?kind=guest`, {});
    expect(g.status).toBe(403);
    expect(g.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
    const n = await c.get('/_synapse/admin/v1/register');
    expect(n.status).toBe(400);
  });
});

describe('closed registration', () => {
  it('refuses to register anyone and says tokens are not in use', async () => {
    const server = await startTestServer('sqlite', { registration: { mode: 'closed' } });
    try {
      const c = new Client(server.baseUrl);
      const r = await c.post(REGISTER, { username: 'x', password: 'p', auth: { type: 'm.login.dummy' } });
      expect(r.status).toBe(403);
      expect(r.body.errcode).toBe('M_FORBIDDEN');
      expect(await server.hs.storage.accounts.userExists('@x:test.local')).toBe(false);
      const v = await c.get('/_matrix/client/v1/register/m.login.registration_token/validity?token=a');
      expect(v.status).toBe(403);
    } finally {
      await server.close();
    }
  });
});
