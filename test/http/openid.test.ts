// spec: client-server-api modules/openid; server-server-api "OpenID" (GET /openid/userinfo)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';
import { hashToken } from '../../src/services/secrets.js';

const enc = encodeURIComponent;
const requestPath = (userId: string) => `/_matrix/client/v3/user/${enc(userId)}/openid/request_token`;
const userInfoPath = (token: string) => `/_matrix/federation/v1/openid/userinfo?access_token=${enc(token)}`;

describe.each(ENGINES)('OpenID (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let aliceId: string;
  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
  });
  afterAll(() => server.close());

  it('issues a token that the userinfo endpoint exchanges for the user ID', async () => {
    const r = await alice.post<{ access_token: string; token_type: string; matrix_server_name: string; expires_in: number }>(requestPath(aliceId), {});
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', matrix_server_name: 'test.local', expires_in: 3600 });
    const third = new Client(server.baseUrl);
    const info = await third.get(userInfoPath(r.body.access_token), { token: null });
    expect(info.status).toBe(200);
    expect(info.body).toEqual({ sub: aliceId });
    // Each request gives a new token; both work.
    const again = await alice.post<{ access_token: string }>(requestPath(aliceId));
    expect(again.body.access_token).not.toBe(r.body.access_token);
    expect((await third.get(userInfoPath(again.body.access_token), { token: null })).body).toEqual({ sub: aliceId });
  });

  it('stores only a hash of the token', async () => {
    const r = await alice.post<{ access_token: string }>(requestPath(aliceId), {});
    const rows = await server.hs.storage.database.db.selectFrom('openid_tokens').selectAll().execute();
    expect(rows.some((row) => row.token_hash === hashToken(r.body.access_token))).toBe(true);
    expect(rows.some((row) => row.token_hash === r.body.access_token)).toBe(false);
  });

  it('gives tokens that are good for nothing but userinfo', async () => {
    const r = await alice.post<{ access_token: string }>(requestPath(aliceId), {});
    const whoami = await alice.get('/_matrix/client/v3/account/whoami', { token: r.body.access_token });
    expect(whoami.status).toBe(401);
    expect(whoami.body.errcode).toBe('M_UNKNOWN_TOKEN');
    const chained = await alice.post(requestPath(aliceId), {}, { token: r.body.access_token });
    expect(chained.status).toBe(401);
    // And an access token is not an OpenID token.
    const info = await alice.get(userInfoPath(alice.token as string), { token: null });
    expect(info.status).toBe(401);
    expect(info.body.errcode).toBe('M_UNKNOWN_TOKEN');
  });

  it('refuses unknown, expired and missing tokens', async () => {
    const unknown = await alice.get(userInfoPath('wfo_nonsense'), { token: null });
    expect(unknown.status).toBe(401);
    expect(unknown.body.errcode).toBe('M_UNKNOWN_TOKEN');
    const now = Date.now();
    await server.hs.storage.openId.insert({ tokenHash: hashToken('expired-token'), userId: aliceId, expiresTs: now - 1, now: now - 3_600_000 });
    const expired = await alice.get(userInfoPath('expired-token'), { token: null });
    expect(expired.status).toBe(401);
    expect(expired.body.errcode).toBe('M_UNKNOWN_TOKEN');
    const missing = await alice.get('/_matrix/federation/v1/openid/userinfo', { token: null });
    expect(missing.status).toBe(400);
    expect(missing.body.errcode).toBe('M_MISSING_PARAM');
  });

  it('issues tokens only for yourself, to users who are logged in and not guests', async () => {
    const bob = new Client(server.baseUrl);
    await bob.register('bob');
    const other = await bob.post(requestPath(aliceId), {});
    expect(other.status).toBe(403);
    expect(other.body.errcode).toBe('M_FORBIDDEN');
    const anon = await bob.post(requestPath(aliceId), {}, { token: null });
    expect(anon.status).toBe(401);
    expect(anon.body.errcode).toBe('M_MISSING_TOKEN');
    const guest = new Client(server.baseUrl);
    const g = await guest.post<{ access_token: string; user_id: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
    guest.token = g.body.access_token;
    const byGuest = await guest.post(requestPath(g.body.user_id), {});
    expect(byGuest.status).toBe(403);
    expect(byGuest.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
  });

  it('accepts a missing body but not a body that is not an object', async () => {
    const none = await alice.request('POST', requestPath(aliceId));
    expect(none.status).toBe(200);
    const arr = await alice.post(requestPath(aliceId), [1]);
    expect(arr.status).toBe(400);
    expect(arr.body.errcode).toBe('M_BAD_JSON');
  });

  it('serves userinfo on federation listeners only', async () => {
    const clientOnly = await startTestServer(engine, { listeners: [{ port: 0, bind_address: '127.0.0.1', resources: ['client'] }] });
    try {
      const c = new Client(clientOnly.baseUrl);
      const id = (await c.register('solo')).user_id;
      const token = (await c.post<{ access_token: string }>(requestPath(id), {})).body.access_token;
      const r = await c.get(userInfoPath(token), { token: null });
      expect(r.status).toBe(404);
      expect(r.body.errcode).toBe('M_UNRECOGNIZED');
    } finally {
      await clientOnly.close();
    }
  });
});
