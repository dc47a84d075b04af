// spec: client-server-api "Account registration and management", modules/device_management,
// "User-Interactive Authentication API", "Profiles"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

const PASSWORD = 'correct horse battery staple';
const pwAuth = (user: string, session?: unknown, password = PASSWORD) =>
  ({ type: 'm.login.password', identifier: { type: 'm.id.user', user }, password, ...(session ? { session } : {}) });

describe.each(ENGINES)('account management (%s)', (engine) => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer(engine, { session: { uia_session_lifetime_ms: 1500 } });
    base = server.baseUrl;
  });
  afterAll(() => server.close());

  async function user(name: string): Promise<Client> {
    const c = new Client(base);
    await c.register(name, PASSWORD);
    return c;
  }
  const login = async (c: Client, name: string, password = PASSWORD) =>
    c.post('/_matrix/client/v3/login', { type: 'm.login.password', identifier: { type: 'm.id.user', user: name }, password }, { token: null });

  it('changes the password with UIA, logging out other devices by default', async () => {
    const c = await user('pw');
    const other = await login(c, 'pw');
    const kept = await login(c, 'pw');
    const challenge = await c.post('/_matrix/client/v3/account/password', { new_password: 'new-secret' });
    expect(challenge.status).toBe(401);
    expect(challenge.body.flows).toEqual([{ stages: ['m.login.password'] }]);
    const wrong = await c.post('/_matrix/client/v3/account/password', { new_password: 'new-secret', auth: pwAuth('pw', challenge.body.session, 'bad') });
    expect(wrong.status).toBe(401);
    expect(wrong.body.errcode).toBe('M_FORBIDDEN');
    expect(wrong.body.session).toBe(challenge.body.session);
    const ok = await c.post('/_matrix/client/v3/account/password', { new_password: 'new-secret', auth: pwAuth('pw', challenge.body.session) });
    expect(ok.status).toBe(200);
    expect((await c.get('/_matrix/client/v3/account/whoami')).status).toBe(200);
    expect((await c.get('/_matrix/client/v3/account/whoami', { token: other.body.access_token as string })).status).toBe(401);
    expect((await c.get('/_matrix/client/v3/account/whoami', { token: kept.body.access_token as string })).status).toBe(401);
    expect((await login(c, 'pw')).status).toBe(403);
    expect((await login(c, 'pw', 'new-secret')).status).toBe(200);
  });

  it('keeps other devices when logout_devices is false', async () => {
    const c = await user('pw2');
    const other = await login(c, 'pw2');
    const ok = await c.post('/_matrix/client/v3/account/password', { new_password: 'n', logout_devices: false, auth: pwAuth('pw2') });
    expect(ok.status).toBe(200);
    expect((await c.get('/_matrix/client/v3/account/whoami', { token: other.body.access_token as string })).status).toBe(200);
  });

  it('binds a UIA session to its user and its request', async () => {
    const alice = await user('uia.alice');
    const bob = await user('uia.bob');
    const started = await alice.post('/_matrix/client/v3/account/password', { new_password: 'x' });
    const session = started.body.session;
    // Bob cannot complete Alice's session, even with his own valid password.
    const hijack = await bob.post('/_matrix/client/v3/account/password', { new_password: 'x', auth: pwAuth('uia.bob', session) });
    expect(hijack.status).toBe(403);
    // Alice cannot use the session for a different request.
    const other = await alice.post('/_matrix/client/v3/delete_devices', { devices: [], auth: pwAuth('uia.alice', session) });
    expect(other.status).toBe(403);
    // Nor can Alice authenticate as Bob inside her own session.
    const asBob = await alice.post('/_matrix/client/v3/account/password', { new_password: 'x', auth: pwAuth('uia.bob', session) });
    expect(asBob.status).toBe(401);
    expect(asBob.body.errcode).toBe('M_FORBIDDEN');
    expect((await login(alice, 'uia.alice')).status).toBe(200);
  });

  it('expires UIA sessions', async () => {
    const c = await user('uia.slow');
    const started = await c.post('/_matrix/client/v3/account/password', { new_password: 'x' });
    await new Promise((r) => setTimeout(r, 1600));
    const late = await c.post('/_matrix/client/v3/account/password', { new_password: 'x', auth: pwAuth('uia.slow', started.body.session) });
    expect(late.status).toBe(400);
    expect((await login(c, 'uia.slow')).status).toBe(200);
  });

  it('lists, reads, renames and deletes devices (deletion with UIA)', async () => {
    const c = await user('devs');
    const second = await login(c, 'devs');
    const secondId = second.body.device_id as string;
    const list = await c.get<{ devices: Array<Record<string, unknown>> }>('/_matrix/client/v3/devices');
    expect(list.status).toBe(200);
    expect(list.body.devices).toHaveLength(2);
    for (const d of list.body.devices) {
      expect(typeof d.device_id).toBe('string');
      expect(d.last_seen_ip).toBe('127.0.0.1');
      expect(typeof d.last_seen_ts).toBe('number');
    }
    expect((await c.put(`/_matrix/client/v3/devices/${secondId}`, { display_name: 'Tablet' })).status).toBe(200);
    expect((await c.get(`/_matrix/client/v3/devices/${secondId}`)).body.display_name).toBe('Tablet');
    const missing = await c.get('/_matrix/client/v3/devices/NOPE');
    expect(missing.status).toBe(404);
    expect(missing.body.errcode).toBe('M_NOT_FOUND');
    expect((await c.put('/_matrix/client/v3/devices/NOPE', { display_name: 'x' })).status).toBe(404);
    expect((await c.put(`/_matrix/client/v3/devices/${secondId}`, { display_name: 42 })).body.errcode).toBe('M_BAD_JSON');

    const challenge = await c.delete(`/_matrix/client/v3/devices/${secondId}`, {});
    expect(challenge.status).toBe(401);
    const del = await c.delete(`/_matrix/client/v3/devices/${secondId}`, { auth: pwAuth('devs', challenge.body.session) });
    expect(del.status).toBe(200);
    expect((await c.get('/_matrix/client/v3/account/whoami', { token: second.body.access_token as string })).status).toBe(401);
    expect((await c.get(`/_matrix/client/v3/devices/${secondId}`)).status).toBe(404);

    const a = await login(c, 'devs');
    const b = await login(c, 'devs');
    const bulk = await c.post('/_matrix/client/v3/delete_devices', { devices: [a.body.device_id, b.body.device_id], auth: pwAuth('devs') });
    expect(bulk.status).toBe(200);
    expect((await c.get<{ devices: unknown[] }>('/_matrix/client/v3/devices')).body.devices).toHaveLength(1);
    const badBody = await c.post('/_matrix/client/v3/delete_devices', { devices: 'all' });
    expect(badBody.body.errcode).toBe('M_BAD_JSON');
  });

  it('does not let one user see or touch another user\'s devices', async () => {
    const a = await user('iso.a');
    const b = await user('iso.b');
    const bWho = await b.get('/_matrix/client/v3/account/whoami');
    const bDevice = bWho.body.device_id as string;
    expect((await a.get(`/_matrix/client/v3/devices/${bDevice}`)).status).toBe(404);
    expect((await a.put(`/_matrix/client/v3/devices/${bDevice}`, { display_name: 'pwned' })).status).toBe(404);
    await a.post('/_matrix/client/v3/delete_devices', { devices: [bDevice], auth: pwAuth('iso.a') });
    expect((await b.get('/_matrix/client/v3/account/whoami')).status).toBe(200);
  });

  it('deactivates an account with UIA', async () => {
    const c = await user('leaver');
    const other = await login(c, 'leaver');
    const challenge = await c.post('/_matrix/client/v3/account/deactivate', {});
    expect(challenge.status).toBe(401);
    const r = await c.post('/_matrix/client/v3/account/deactivate', { auth: pwAuth('leaver', challenge.body.session) });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ id_server_unbind_result: 'success' });
    expect((await c.get('/_matrix/client/v3/account/whoami')).status).toBe(401);
    expect((await c.get('/_matrix/client/v3/account/whoami', { token: other.body.access_token as string })).status).toBe(401);
    const again = await login(c, 'leaver');
    expect(again.status).toBe(403);
    // The user ID stays taken.
    const reuse = await new Client(base).post('/_matrix/client/v3/register', { username: 'leaver', password: 'p', auth: { type: 'm.login.dummy' } });
    expect(reuse.body.errcode).toBe('M_USER_IN_USE');
  });

  it('reads and sets the display name and avatar', async () => {
    const c = await user('prof');
    const other = await user('prof.other');
    expect((await c.get('/_matrix/client/v3/profile/@prof:test.local')).body).toEqual({ displayname: 'prof' });
    expect((await c.put('/_matrix/client/v3/profile/@prof:test.local/displayname', { displayname: 'Prof X' })).status).toBe(200);
    expect((await c.put('/_matrix/client/v3/profile/@prof:test.local/avatar_url', { avatar_url: 'mxc://test.local/abc' })).status).toBe(200);
    expect((await other.get('/_matrix/client/v3/profile/@prof:test.local')).body).toEqual({ displayname: 'Prof X', avatar_url: 'mxc://test.local/abc' });
    expect((await other.get('/_matrix/client/v3/profile/@prof:test.local/displayname')).body).toEqual({ displayname: 'Prof X' });
    const forbidden = await other.put('/_matrix/client/v3/profile/@prof:test.local/displayname', { displayname: 'hacked' });
    expect(forbidden.status).toBe(403);
    expect((await c.put('/_matrix/client/v3/profile/@prof:test.local/avatar_url', { avatar_url: 'http://evil' })).body.errcode).toBe('M_INVALID_PARAM');
    expect((await c.get('/_matrix/client/v3/profile/@nobody:test.local')).status).toBe(404);
  });
});
