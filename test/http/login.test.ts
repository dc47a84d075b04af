// spec: client-server-api "Login", "Refreshing access tokens", "Logout", "POST /login/get_token", whoami
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

const LOGIN = '/_matrix/client/v3/login';
const WHOAMI = '/_matrix/client/v3/account/whoami';
const PASSWORD = 'correct horse battery staple';

describe.each(ENGINES)('login and sessions (%s)', (engine) => {
  let server: TestServer;
  let c: Client;
  beforeAll(async () => {
    server = await startTestServer(engine, { session: { refreshable_access_token_lifetime_ms: 2000 } });
    c = new Client(server.baseUrl);
    await c.register('alice', PASSWORD);
  });
  afterAll(() => server.close());

  const passwordLogin = (user: string, password = PASSWORD, extra: Record<string, unknown> = {}) =>
    c.post(LOGIN, { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, ...extra }, { token: null });

  it('lists the login flows', async () => {
    const r = await c.get(LOGIN, { token: null });
    expect(r.body).toEqual({ flows: [{ type: 'm.login.password' }, { type: 'm.login.token', get_login_token: true }] });
  });

  it('logs in with m.id.user by localpart and by full user ID, and with the legacy user field', async () => {
    for (const r of [
      await passwordLogin('alice'),
      await passwordLogin('@alice:test.local'),
      await passwordLogin('ALICE'),
      await c.post(LOGIN, { type: 'm.login.password', user: 'alice', password: PASSWORD }, { token: null }),
    ]) {
      expect(r.status).toBe(200);
      expect(r.body.user_id).toBe('@alice:test.local');
      expect(r.body.home_server).toBe('test.local');
      expect((r.body.well_known as Record<string, unknown>)['m.homeserver']).toBeDefined();
      const who = await c.get(WHOAMI, { token: r.body.access_token as string });
      expect(who.body).toEqual({ user_id: '@alice:test.local', device_id: r.body.device_id, is_guest: false });
    }
  });

  it('refuses wrong passwords, unknown users, other servers and unknown login types', async () => {
    for (const r of [await passwordLogin('alice', 'wrong'), await passwordLogin('nobody'), await passwordLogin('@alice:elsewhere.org')]) {
      expect(r.status).toBe(403);
      expect(r.body.errcode).toBe('M_FORBIDDEN');
    }
    const t = await c.post(LOGIN, { type: 'm.login.foo' }, { token: null });
    expect(t.status).toBe(400);
    expect(t.body.errcode).toBe('M_UNKNOWN');
    const id = await c.post(LOGIN, { type: 'm.login.password', identifier: { type: 'm.id.thirdparty', medium: 'email', address: 'a@b.c' }, password: 'x' }, { token: null });
    expect(id.status).toBe(400);
    const noPw = await c.post(LOGIN, { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' } }, { token: null });
    expect(noPw.body.errcode).toBe('M_MISSING_PARAM');
  });

  it('re-uses a device ID, logging out its previous token', async () => {
    const a = await passwordLogin('alice', PASSWORD, { device_id: 'LAPTOP', initial_device_display_name: 'Laptop' });
    const b = await passwordLogin('alice', PASSWORD, { device_id: 'LAPTOP' });
    expect(a.body.device_id).toBe('LAPTOP');
    expect(b.body.device_id).toBe('LAPTOP');
    expect((await c.get(WHOAMI, { token: a.body.access_token as string })).status).toBe(401);
    expect((await c.get(WHOAMI, { token: b.body.access_token as string })).status).toBe(200);
    const dev = await c.get('/_matrix/client/v3/devices/LAPTOP', { token: b.body.access_token as string });
    expect(dev.body.display_name).toBe('Laptop');
  });

  it('issues single-use login tokens through /login/get_token with UIA', async () => {
    const session = await passwordLogin('alice');
    const token = session.body.access_token as string;
    const challenge = await c.post('/_matrix/client/v1/login/get_token', {}, { token });
    expect(challenge.status).toBe(401);
    expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    const got = await c.post('/_matrix/client/v1/login/get_token', {
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: PASSWORD, session: challenge.body.session },
    }, { token });
    expect(got.status).toBe(200);
    expect(got.body.expires_in_ms).toBeGreaterThan(0);
    const login = await c.post(LOGIN, { type: 'm.login.token', token: got.body.login_token }, { token: null });
    expect(login.status).toBe(200);
    expect(login.body.user_id).toBe('@alice:test.local');
    const again = await c.post(LOGIN, { type: 'm.login.token', token: got.body.login_token }, { token: null });
    expect(again.status).toBe(403);
    expect(again.body.errcode).toBe('M_FORBIDDEN');
  });

  it('rotates refresh tokens, and an expired access token is a soft logout', async () => {
    const login = await passwordLogin('alice', PASSWORD, { refresh_token: true });
    expect(login.body.expires_in_ms).toBe(2000);
    const first = login.body.refresh_token as string;
    const r1 = await c.post('/_matrix/client/v3/refresh', { refresh_token: first }, { token: null });
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(first);
    // Until the new tokens are used, the old refresh token still works (the client may have lost the answer).
    const r1again = await c.post('/_matrix/client/v3/refresh', { refresh_token: first }, { token: null });
    expect(r1again.status).toBe(200);
    // That second exchange replaced the first one's tokens.
    expect((await c.get(WHOAMI, { token: r1.body.access_token as string })).status).toBe(401);
    // Using the new access token retires the old refresh token.
    expect((await c.get(WHOAMI, { token: r1again.body.access_token as string })).status).toBe(200);
    const stale = await c.post('/_matrix/client/v3/refresh', { refresh_token: first }, { token: null });
    expect(stale.status).toBe(401);
    expect(stale.body.errcode).toBe('M_UNKNOWN_TOKEN');
    expect((await c.get(WHOAMI, { token: r1again.body.access_token as string })).status).toBe(200);
    const r2 = await c.post('/_matrix/client/v3/refresh', { refresh_token: r1again.body.refresh_token }, { token: null });
    expect(r2.status).toBe(200);
    expect((await c.get(WHOAMI, { token: r2.body.access_token as string })).status).toBe(200);
    expect((await c.post('/_matrix/client/v3/refresh', { refresh_token: r1again.body.refresh_token }, { token: null })).status).toBe(401);
    const unknown = await c.post('/_matrix/client/v3/refresh', { refresh_token: 'wfr_nope' }, { token: null });
    expect(unknown.status).toBe(401);

    await new Promise((res) => setTimeout(res, 2100));
    const expired = await c.get(WHOAMI, { token: r2.body.access_token as string });
    expect(expired.status).toBe(401);
    expect(expired.body).toEqual({ errcode: 'M_UNKNOWN_TOKEN', error: expect.any(String), soft_logout: true });
    const r3 = await c.post('/_matrix/client/v3/refresh', { refresh_token: r2.body.refresh_token }, { token: null });
    expect(r3.status).toBe(200);
    expect((await c.get(WHOAMI, { token: r3.body.access_token as string })).status).toBe(200);
  });

  it('logs out one device, and all devices', async () => {
    const a = await passwordLogin('alice');
    const b = await passwordLogin('alice');
    const out = await c.post('/_matrix/client/v3/logout', {}, { token: a.body.access_token as string });
    expect(out.status).toBe(200);
    expect(out.body).toEqual({});
    expect((await c.get(WHOAMI, { token: a.body.access_token as string })).body.errcode).toBe('M_UNKNOWN_TOKEN');
    const devices = await c.get<{ devices: Array<{ device_id: string }> }>('/_matrix/client/v3/devices', { token: b.body.access_token as string });
    expect(devices.body.devices.map((d) => d.device_id)).not.toContain(a.body.device_id);

    const all = await c.post('/_matrix/client/v3/logout/all', {}, { token: b.body.access_token as string });
    expect(all.status).toBe(200);
    expect((await c.get(WHOAMI, { token: b.body.access_token as string })).status).toBe(401);
    expect((await c.get(WHOAMI, { token: c.token! })).status).toBe(401);
    // The password still works.
    expect((await passwordLogin('alice')).status).toBe(200);
  });
});
