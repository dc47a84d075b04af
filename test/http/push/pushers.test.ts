// Pushers and delivery to a push gateway, over real HTTP: the gateway is a node:http server
// started by the test. Setting, listing, replacing and deleting pushers; the Push Gateway API
// body with counts, devices and tweaks; event_id_only; rejected pushkeys; retries; pushers going
// with their device.
// spec: client-server-api modules/push "Pushers" (pusher.yaml); push-gateway-api
// "POST /_matrix/push/v1/notify"
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, eventually, join, send, sleep } from '../ephemeral/helpers.js';

type Notify = {
  notification: {
    event_id: string; room_id: string; type?: string; sender?: string; user_is_target?: boolean; sender_display_name?: string; room_name?: string; content?: unknown;
    prio?: string; counts: { unread: number }; devices: Array<{ app_id: string; pushkey: string; pushkey_ts: number; data: Record<string, unknown>; tweaks: Record<string, unknown> }>;
  };
};

/** A push gateway: records every request; `answer` decides the status and body by pushkey. */
class Gateway {
  readonly received: Notify[] = [];
  answer: (pushkey: string) => { status: number; body: unknown } = () => ({ status: 200, body: { rejected: [] } });
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const parsed = JSON.parse(body) as Notify;
        if (req.url !== '/_matrix/push/v1/notify' || req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        this.received.push(parsed);
        const a = this.answer(parsed.notification.devices[0]?.pushkey ?? '');
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}/_matrix/push/v1/notify`;
  }

  for(pushkey: string): Notify['notification'][] {
    return this.received.filter((n) => n.notification.devices.some((d) => d.pushkey === pushkey)).map((n) => n.notification);
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const text = (body: string, extra: Record<string, unknown> = {}) => ({ msgtype: 'm.text', body, 'm.mentions': {}, ...extra });

describe.each(ENGINES)('pushers and the push gateway (%s)', (engine) => {
  let server: TestServer;
  let gateway: Gateway;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let aliceId: string;
  let bobId: string;
  let n = 0;

  const pusher = (pushkey: string, extra: Record<string, unknown> = {}) => ({
    kind: 'http', app_id: 'org.example.app', pushkey, app_display_name: 'Example', device_display_name: 'Phone', lang: 'en',
    data: { url: gateway.url, custom: 'kept' }, ...extra,
  });
  const setPusher = async (client: Client, body: Record<string, unknown>) => {
    const r = await client.post('/_matrix/client/v3/pushers/set', body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  const pushers = async (client: Client) => (await client.get<{ pushers: Array<Record<string, unknown>> }>('/_matrix/client/v3/pushers')).body.pushers;
  const room = async () => {
    const roomId = await createRoom(alice, { preset: 'public_chat', name: `Room ${++n}` });
    await join(bob, roomId);
    await join(carol, roomId); // three members: not a one-to-one room
    return roomId;
  };

  beforeAll(async () => {
    gateway = new Gateway();
    await gateway.start();
    // The gateway is on loopback, which push.ip_range_denylist covers by default.
    server = await startTestServer(engine, { push: { allow_http_gateways: true, retry_initial_ms: 50, max_attempts: 3, ip_range_allowlist: ['127.0.0.1/32'] } });
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    carol = new Client(server.baseUrl);
    await carol.register('carol');
    expect((await alice.put(`/_matrix/client/v3/profile/${enc(aliceId)}/displayname`, { displayname: 'Alice L.' })).status).toBe(200);
  });
  afterAll(async () => {
    await server.close();
    await gateway.close();
  });

  it('sets, lists, replaces and deletes pushers', async () => {
    const c = new Client(server.baseUrl);
    await c.register('lister');
    expect(await pushers(c)).toEqual([]);
    await setPusher(c, pusher('key-1', { profile_tag: 'tag' }));
    expect(await pushers(c)).toEqual([{
      pushkey: 'key-1', kind: 'http', app_id: 'org.example.app', app_display_name: 'Example', device_display_name: 'Phone',
      profile_tag: 'tag', lang: 'en', data: { url: gateway.url, custom: 'kept' },
    }]);
    // Same app_id and pushkey: replaced; another pushkey: a second pusher.
    await setPusher(c, pusher('key-1', { lang: 'fr', data: { url: gateway.url, format: 'event_id_only' } }));
    await setPusher(c, pusher('key-2'));
    expect((await pushers(c)).map((p) => [p.pushkey, p.lang])).toEqual([['key-1', 'fr'], ['key-2', 'en']]);
    // kind null deletes; deleting what is not there is fine.
    await setPusher(c, { kind: null, app_id: 'org.example.app', pushkey: 'key-1' });
    await setPusher(c, { kind: null, app_id: 'org.example.app', pushkey: 'nothing' });
    expect((await pushers(c)).map((p) => p.pushkey)).toEqual(['key-2']);
    await setPusher(c, { kind: null, app_id: 'org.example.app', pushkey: 'key-2' });
  });

  it('removes other users\' pushers with the same app_id and pushkey unless append', async () => {
    const c1 = new Client(server.baseUrl);
    const c2 = new Client(server.baseUrl);
    await c1.register('shared1');
    await c2.register('shared2');
    await setPusher(c1, pusher('shared-key'));
    await setPusher(c2, pusher('shared-key', { append: true }));
    expect((await pushers(c1)).length).toBe(1);
    expect((await pushers(c2)).length).toBe(1);
    await setPusher(c2, pusher('shared-key'));
    expect(await pushers(c1)).toEqual([]);
    expect((await pushers(c2)).length).toBe(1);
    await setPusher(c2, { kind: null, app_id: 'org.example.app', pushkey: 'shared-key' });
  });

  it('refuses bad pushers and changes nothing', async () => {
    const c = new Client(server.baseUrl);
    await c.register('refused');
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ app_id: 'a', pushkey: 'k' }, 'M_MISSING_PARAM'],
      [{ kind: 'http', pushkey: 'k' }, 'M_MISSING_PARAM'],
      [{ ...pusher('k'), app_display_name: undefined }, 'M_MISSING_PARAM'],
      [{ ...pusher('k'), data: undefined }, 'M_MISSING_PARAM'],
      [{ ...pusher('k'), lang: undefined, device_display_name: undefined }, 'M_MISSING_PARAM'],
      [pusher('k', { data: {} }), 'M_MISSING_PARAM'],
      [pusher('k', { data: { url: 42 } }), 'M_BAD_JSON'],
      [pusher('k', { data: { url: 'not a url' } }), 'M_INVALID_PARAM'],
      [pusher('k', { data: { url: 'ftp://gw.example/_matrix/push/v1/notify' } }), 'M_INVALID_PARAM'],
      [pusher('k', { data: { url: 'https://gw.example/notify' } }), 'M_INVALID_PARAM'],
      [pusher('k', { data: { url: 'https://user:pw@gw.example/_matrix/push/v1/notify' } }), 'M_INVALID_PARAM'],
      [pusher('k', { data: { url: gateway.url, format: 'full' } }), 'M_INVALID_PARAM'],
      [pusher('k', { kind: 'email' }), 'M_INVALID_PARAM'],
      [pusher('x'.repeat(513)), 'M_INVALID_PARAM'],
      [pusher('k', { app_id: 'a'.repeat(65) }), 'M_INVALID_PARAM'],
      [pusher('k', { append: 'yes' }), 'M_BAD_JSON'],
      [pusher('k', { kind: 5 }), 'M_BAD_JSON'],
      [pusher('k', { lang: 'e\u0000n' }), 'M_INVALID_PARAM'],
      [pusher('k\u0000'), 'M_INVALID_PARAM'],
      [pusher('k', { device_display_name: '\u0000' }), 'M_INVALID_PARAM'],
    ];
    for (const [body, errcode] of cases) {
      const r = await c.post('/_matrix/client/v3/pushers/set', body);
      expect([r.status, r.body], JSON.stringify(body).slice(0, 200)).toMatchObject([400, { errcode }]);
    }
    expect(await pushers(c)).toEqual([]);
    expect((await c.get('/_matrix/client/v3/pushers', { token: null })).status).toBe(401);
  });

  it('caps the pushers of a user at 100: a new one past the cap is refused with M_USER_LIMIT_EXCEEDED, replacing one is not', async () => {
    const c = new Client(server.baseUrl);
    await c.register('many-pushers');
    await Promise.all(Array.from({ length: 97 }, (_, i) => setPusher(c, pusher(`cap-${i}`))));
    expect(await pushers(c)).toHaveLength(97);
    // Six new pushers at once with room for three: three stored, three refused, whatever the race.
    const raced = await Promise.all(Array.from({ length: 6 }, (_, i) => c.post('/_matrix/client/v3/pushers/set', pusher(`race-${i}`))));
    expect(raced.filter((r) => r.status === 200)).toHaveLength(3);
    for (const r of raced.filter((x) => x.status !== 200)) {
      expect([r.status, r.body]).toMatchObject([400, { errcode: 'M_USER_LIMIT_EXCEEDED', info_uri: expect.stringMatching(/^https:\/\//), can_upgrade: false }]);
    }
    expect(await pushers(c)).toHaveLength(100);
    const over = await c.post('/_matrix/client/v3/pushers/set', pusher('over'));
    expect([over.status, over.body]).toMatchObject([400, { errcode: 'M_USER_LIMIT_EXCEEDED' }]);
    const atCap = await pushers(c);
    expect(atCap).toHaveLength(100);
    expect(atCap.some((p) => p.pushkey === 'over')).toBe(false);
    // Replacing one at the cap is fine; so is a new one once another is gone.
    await setPusher(c, pusher('cap-0', { lang: 'de' }));
    await setPusher(c, { kind: null, app_id: 'org.example.app', pushkey: 'cap-1' });
    await setPusher(c, pusher('after-delete'));
    const now = await pushers(c);
    expect(now).toHaveLength(100);
    expect(now.find((p) => p.pushkey === 'cap-0')?.lang).toBe('de');
    expect(now.some((p) => p.pushkey === 'after-delete')).toBe(true);
    // Other users are not affected by this user's cap.
    const d = new Client(server.baseUrl);
    await d.register('few-pushers');
    await setPusher(d, pusher('mine'));
  });

  it('an https-only server refuses http gateways', async () => {
    const strict = await startTestServer(engine);
    try {
      const c = new Client(strict.baseUrl);
      await c.register('strict');
      const r = await c.post('/_matrix/client/v3/pushers/set', pusher('k'));
      expect(r.body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
      await setPusher(c, pusher('k', { data: { url: 'https://push.example.org/_matrix/push/v1/notify' } }));
    } finally {
      await strict.close();
    }
  });

  it('posts each notification to the gateway with counts, devices and tweaks; a read receipt lowers the count; own events are not pushed', async () => {
    const roomId = await room();
    await setPusher(bob, pusher('bob-full'));
    const first = await send(alice, roomId, text('hello bob'));
    await eventually(() => expect(gateway.for('bob-full').length).toBe(1));
    const got = gateway.for('bob-full')[0];
    expect(got).toMatchObject({
      event_id: first, room_id: roomId, type: 'm.room.message', sender: aliceId, sender_display_name: 'Alice L.', room_name: `Room ${n}`,
      content: text('hello bob'), counts: { unread: 1 }, prio: 'low',
    });
    expect(got.devices).toEqual([{ app_id: 'org.example.app', pushkey: 'bob-full', pushkey_ts: expect.any(Number), data: { custom: 'kept' }, tweaks: {} }]);
    expect(Math.abs(got.devices[0].pushkey_ts - Date.now() / 1000)).toBeLessThan(600);

    const second = await send(alice, roomId, text('are you there', { 'm.mentions': { user_ids: [bobId] } }));
    await eventually(() => expect(gateway.for('bob-full').length).toBe(2));
    expect(gateway.for('bob-full')[1]).toMatchObject({ event_id: second, counts: { unread: 2 }, prio: 'high' });
    expect(gateway.for('bob-full')[1].devices[0].tweaks).toEqual({ sound: 'default', highlight: true });

    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(second)}`, {})).status).toBe(200);
    const third = await send(alice, roomId, text('ok'));
    await eventually(() => expect(gateway.for('bob-full').length).toBe(3));
    expect(gateway.for('bob-full')[2]).toMatchObject({ event_id: third, counts: { unread: 1 } });

    // Bob's own messages and events that do not notify him are not pushed.
    await send(bob, roomId, text('me'));
    await send(alice, roomId, { msgtype: 'm.notice', body: 'bot' });
    await sleep(200);
    expect(gateway.for('bob-full').length).toBe(3);
    await setPusher(bob, { kind: null, app_id: 'org.example.app', pushkey: 'bob-full' });
  });

  it('pushes an invite to the invited user, who is not in the room yet', async () => {
    await setPusher(bob, pusher('bob-invites'));
    const roomId = await createRoom(alice, { preset: 'private_chat', name: 'Secret plans' });
    expect((await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: bobId })).status).toBe(200);
    await eventually(() => expect(gateway.for('bob-invites').length).toBe(1));
    expect(gateway.for('bob-invites')[0]).toMatchObject({ room_id: roomId, type: 'm.room.member', user_is_target: true, room_name: 'Secret plans', prio: 'high' });
    expect(gateway.for('bob-invites')[0].devices[0].tweaks).toEqual({ sound: 'default' });
    await setPusher(bob, { kind: null, app_id: 'org.example.app', pushkey: 'bob-invites' });
  });

  it('sends only event_id, room_id, counts, devices (and prio) with format event_id_only', async () => {
    const roomId = await room();
    await setPusher(bob, pusher('bob-lean', { data: { url: gateway.url, format: 'event_id_only' } }));
    const ev = await send(alice, roomId, text('secret'));
    await eventually(() => expect(gateway.for('bob-lean').length).toBe(1));
    const got = gateway.for('bob-lean')[0];
    expect(Object.keys(got).sort()).toEqual(['counts', 'devices', 'event_id', 'prio', 'room_id']);
    expect(got).toMatchObject({ event_id: ev, room_id: roomId });
    expect(got.devices[0].data).toEqual({ format: 'event_id_only' });
    await setPusher(bob, { kind: null, app_id: 'org.example.app', pushkey: 'bob-lean' });
  });

  it('removes a pusher whose pushkey the gateway rejects', async () => {
    const roomId = await room();
    await setPusher(bob, pusher('bob-gone'));
    gateway.answer = (pushkey) => ({ status: 200, body: { rejected: pushkey === 'bob-gone' ? ['bob-gone'] : [] } });
    try {
      await send(alice, roomId, text('anyone?'));
      await eventually(async () => expect((await pushers(bob)).map((p) => p.pushkey)).not.toContain('bob-gone'));
      expect(gateway.for('bob-gone').length).toBe(1);
    } finally {
      gateway.answer = () => ({ status: 200, body: { rejected: [] } });
    }
  });

  it('retries a failing gateway with backoff, and gives up after max_attempts', async () => {
    const roomId = await room();
    await setPusher(bob, pusher('bob-flaky'));
    let failures = 2;
    gateway.answer = (pushkey) => (pushkey === 'bob-flaky' && failures-- > 0 ? { status: 503, body: {} } : { status: 200, body: { rejected: [] } });
    try {
      const ev = await send(alice, roomId, text('eventually'));
      await eventually(() => expect(gateway.for('bob-flaky').length).toBe(3));
      expect(gateway.for('bob-flaky').map((x) => x.event_id)).toEqual([ev, ev, ev]);
      // Always failing: 3 attempts (max_attempts), then dropped; the pusher stays.
      gateway.answer = () => ({ status: 500, body: {} });
      await send(alice, roomId, text('lost'));
      await eventually(() => expect(gateway.for('bob-flaky').length).toBe(6));
      await sleep(400);
      expect(gateway.for('bob-flaky').length).toBe(6);
      expect((await pushers(bob)).map((p) => p.pushkey)).toContain('bob-flaky');
    } finally {
      gateway.answer = () => ({ status: 200, body: { rejected: [] } });
      await setPusher(bob, { kind: null, app_id: 'org.example.app', pushkey: 'bob-flaky' });
    }
  });

  it('never posts to a gateway whose address push.ip_range_denylist covers (loopback by default)', async () => {
    const guarded = await startTestServer(engine, { push: { allow_http_gateways: true, retry_initial_ms: 20, max_attempts: 3 } });
    try {
      const a = new Client(guarded.baseUrl);
      const b = new Client(guarded.baseUrl);
      const c = new Client(guarded.baseUrl);
      await a.register('ga');
      const bId = (await b.register('gb')).user_id;
      await c.register('gc');
      await setPusher(b, pusher('guarded'));
      const roomId = await createRoom(a, { preset: 'public_chat', invite: [bId] });
      await join(b, roomId);
      await join(c, roomId);
      await send(a, roomId, text('to the gateway?'));
      await sleep(400);
      expect(gateway.for('guarded')).toEqual([]);
      // Not the gateway's fault: the pusher stays.
      expect((await pushers(b)).map((p) => p.pushkey)).toEqual(['guarded']);
    } finally {
      await guarded.close();
    }
  });

  it('deletes a pusher with its device: logout, device deletion, and the devices a password change logs out', async () => {
    const password = 'correct horse battery staple';
    const c = new Client(server.baseUrl);
    const { user_id: userId } = await c.register('devices');
    const login = async () => {
      const other = new Client(server.baseUrl);
      const r = await other.post<{ access_token: string; device_id: string }>('/_matrix/client/v3/login',
        { type: 'm.login.password', identifier: { type: 'm.id.user', user: userId }, password }, { token: null });
      expect(r.status).toBe(200);
      other.token = r.body.access_token;
      return { client: other, deviceId: r.body.device_id };
    };
    const a = await login();
    const b = await login();
    const d = await login();
    await setPusher(c, pusher('main-device'));
    await setPusher(a.client, pusher('device-a'));
    await setPusher(b.client, pusher('device-b'));
    await setPusher(d.client, pusher('device-d'));
    expect((await pushers(c)).map((p) => p.pushkey)).toEqual(['main-device', 'device-a', 'device-b', 'device-d']);

    expect((await a.client.post('/_matrix/client/v3/logout')).status).toBe(200);
    expect((await pushers(c)).map((p) => p.pushkey)).toEqual(['main-device', 'device-b', 'device-d']);

    const auth = { type: 'm.login.password', identifier: { type: 'm.id.user', user: userId }, password };
    const del = await c.request('DELETE', `/_matrix/client/v3/devices/${enc(b.deviceId)}`, { auth });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    expect((await pushers(c)).map((p) => p.pushkey)).toEqual(['main-device', 'device-d']);

    // A password change logs out the other devices (logout_devices defaults to true): their pushers go, this device's stays.
    const pw = await c.post('/_matrix/client/v3/account/password', { new_password: 'another horse battery staple', auth });
    expect(pw.status, JSON.stringify(pw.body)).toBe(200);
    expect((await pushers(c)).map((p) => p.pushkey)).toEqual(['main-device']);
  });
});
