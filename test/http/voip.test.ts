// spec: client-server-api modules/voip_events (GET /voip/turnServer), with coturn's
// `use-auth-secret` credentials
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

const TURN = '/_matrix/client/v3/voip/turnServer';
const URIS = ['turn:turn.test.local:3478?transport=udp', 'turns:turn.test.local:5349?transport=tcp'];

async function guestOf(baseUrl: string): Promise<Client> {
  const guest = new Client(baseUrl);
  const g = await guest.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
  guest.token = g.body.access_token;
  return guest;
}

describe.each(ENGINES)('TURN credentials (%s)', (engine) => {
  describe('with a TURN server', () => {
    let server: TestServer;
    let alice: Client;
    let aliceId: string;
    beforeAll(async () => {
      server = await startTestServer(engine, { turn: { uris: URIS, shared_secret: 'turn-secret', user_lifetime_ms: 3_600_000 } });
      alice = new Client(server.baseUrl);
      aliceId = (await alice.register('alice')).user_id;
    });
    afterAll(() => server.close());

    it('hands out time-limited credentials the TURN server can check with the shared secret', async () => {
      const before = Math.floor(Date.now() / 1000);
      const r = await alice.get<{ username: string; password: string; uris: string[]; ttl: number }>(TURN);
      const after = Math.floor(Date.now() / 1000);
      expect(r.status).toBe(200);
      expect(r.body.uris).toEqual(URIS);
      expect(r.body.ttl).toBe(3600);
      const [expiry, ...rest] = r.body.username.split(':');
      expect(rest.join(':')).toBe(aliceId);
      expect(Number(expiry)).toBeGreaterThanOrEqual(before + 3600);
      expect(Number(expiry)).toBeLessThanOrEqual(after + 3600);
      expect(r.body.password).toBe(createHmac('sha1', 'turn-secret').update(r.body.username).digest('base64'));
    });

    it('serves guests by default', async () => {
      const guest = await guestOf(server.baseUrl);
      const r = await guest.get<{ username: string }>(TURN);
      expect(r.status).toBe(200);
      expect(r.body.username).toMatch(/^\d+:@/);
    });

    it('needs an access token', async () => {
      const r = await alice.get(TURN, { token: null });
      expect(r.status).toBe(401);
      expect(r.body.errcode).toBe('M_MISSING_TOKEN');
    });
  });

  it('refuses guests when turn.allow_guests is false', async () => {
    const server = await startTestServer(engine, { turn: { uris: URIS, shared_secret: 'turn-secret', allow_guests: false } });
    try {
      const guest = await guestOf(server.baseUrl);
      const r = await guest.get(TURN);
      expect(r.status).toBe(403);
      expect(r.body.errcode).toBe('M_FORBIDDEN');
      const user = new Client(server.baseUrl);
      await user.register('member');
      const ok = await user.get<{ ttl: number }>(TURN);
      expect(ok.status).toBe(200);
      expect(ok.body.ttl).toBe(86_400);
    } finally {
      await server.close();
    }
  });

  it('answers an empty object when no TURN server is configured', async () => {
    const server = await startTestServer(engine);
    try {
      const c = new Client(server.baseUrl);
      await c.register('nobody');
      const r = await c.get(TURN);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({});
    } finally {
      await server.close();
    }
  });
});
