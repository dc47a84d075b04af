// Long-polling /sync: woken by what the user can see (a message, typing, a receipt, account
// data, a roommate's presence, an invite), never by events in rooms they are not in; empty at
// the timeout; a client that goes away stops its wait; a restart keeps tokens working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Agent, request as undiciRequest } from 'undici';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { Homeserver } from '../../../src/homeserver.js';
import { validateConfig } from '../../../src/config.js';
import { createTestDatabase, type TestEngine } from '../../helpers/databases.js';
import { bodies, createRoom, enc, eventually, join, send, sync, type SyncBody } from './helpers.js';

/** Long enough that only a wake-up, never the timeout, can answer within a test. */
const LONG = 25_000;

describe.each(ENGINES)('/sync long-polling (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let aliceId: string;
  let bobId: string;
  let room: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    room = await createRoom(alice);
    await join(bob, room);
  });
  afterAll(() => server.close());

  /** Starts a long-poll from the current position and resolves once the server holds it. */
  async function poll(client: Client = alice, params: Record<string, unknown> = {}): Promise<{ result: Promise<SyncBody>; settled: () => boolean }> {
    const since = (await sync(client, { ...params, timeout: 0 })).next_batch;
    const waitingBefore = server.hs.sync.waiting;
    let done = false;
    const result = sync(client, { ...params, since, timeout: LONG }).finally(() => { done = true; });
    await eventually(() => expect(server.hs.sync.waiting).toBeGreaterThan(waitingBefore));
    return { result, settled: () => done };
  }

  it('is woken by a message in a joined room', async () => {
    const p = await poll();
    await send(bob, room, { msgtype: 'm.text', body: 'wake up' });
    const s = await p.result;
    expect(bodies(s.rooms.join[room].timeline.events)).toEqual(['wake up']);
  });

  it('is woken by a typing notice', async () => {
    const p = await poll();
    await bob.put(`/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(bobId)}`, { typing: true, timeout: 30_000 });
    const s = await p.result;
    expect(s.rooms.join[room].ephemeral.events).toEqual([{ type: 'm.typing', content: { user_ids: [bobId] } }]);
    await bob.put(`/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(bobId)}`, { typing: false });
  });

  it('is woken by a receipt', async () => {
    const eventId = await send(alice, room, { msgtype: 'm.text', body: 'please read' });
    const p = await poll();
    await bob.post(`/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(eventId)}`, {});
    const s = await p.result;
    const receipt = s.rooms.join[room].ephemeral.events.find((e) => e.type === 'm.receipt');
    expect(Object.keys((receipt?.content as Record<string, Record<string, Record<string, unknown>>>)[eventId]['m.read'])).toEqual([bobId]);
  });

  it('is woken by account data', async () => {
    const p = await poll();
    await alice.put(`/_matrix/client/v3/user/${enc(aliceId)}/account_data/org.example.wake`, { n: 1 });
    expect((await p.result).account_data.events).toEqual([{ type: 'org.example.wake', content: { n: 1 } }]);
  });

  it('is woken by an invite, and by a roommate\'s presence', async () => {
    const p = await poll();
    const other = await createRoom(bob, { preset: 'private_chat' });
    await bob.post(`/_matrix/client/v3/rooms/${enc(other)}/invite`, { user_id: aliceId });
    expect((await p.result).rooms.invite[other]).toBeDefined();

    const q = await poll();
    await bob.put(`/_matrix/client/v3/presence/${enc(bobId)}/status`, { presence: 'unavailable', status_msg: 'brb' });
    const s = await q.result;
    expect(s.presence.events.find((e) => e.sender === bobId)?.content).toMatchObject({ presence: 'unavailable', status_msg: 'brb' });
  });

  it('is not woken by an event in a room the user is not in', async () => {
    // Someone who shares no room with alice: nothing they do concerns her.
    const stranger = new Client(server.baseUrl);
    const strangerId = (await stranger.register('stranger')).user_id;
    const elsewhere = await createRoom(stranger);
    const p = await poll(alice, { set_presence: 'offline' });
    const wakeups = server.hs.sync.wakeups;
    await send(stranger, elsewhere, { msgtype: 'm.text', body: 'not for alice' });
    await stranger.put(`/_matrix/client/v3/rooms/${enc(elsewhere)}/typing/${enc(strangerId)}`, { typing: true, timeout: 30_000 });
    await stranger.put(`/_matrix/client/v3/user/${enc(strangerId)}/account_data/org.example.x`, { y: 1 });
    // The notifier runs before the send is answered: had the long-poll been woken, it would count.
    expect(server.hs.sync.wakeups).toBe(wakeups);
    expect(p.settled()).toBe(false);
    await send(bob, room, { msgtype: 'm.text', body: 'for alice' });
    const s = await p.result;
    expect(Object.keys(s.rooms.join)).toEqual([room]);
    expect(bodies(s.rooms.join[room].timeline.events)).toEqual(['for alice']);
  });

  it('keeps waiting when what woke it is filtered out, and answers when a filtered-out state event changes state', async () => {
    const p = await poll(alice, { filter: { room: { timeline: { types: ['m.room.message'] }, ephemeral: { not_types: ['m.typing'] } } } });
    const wakeups = server.hs.sync.wakeups;
    await bob.put(`/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(bobId)}`, { typing: true, timeout: 30_000 });
    await send(bob, room, { ping: true }, 'org.example.ping');
    expect(server.hs.sync.wakeups).toBeGreaterThan(wakeups);
    // Woken, it looked, found nothing to send, and waits again.
    await eventually(() => expect(server.hs.sync.waiting).toBeGreaterThan(0));
    expect(p.settled()).toBe(false);
    await send(bob, room, { msgtype: 'm.text', body: 'this one counts' });
    const s = await p.result;
    expect(bodies(s.rooms.join[room].timeline.events)).toEqual(['this one counts']);
    expect(s.rooms.join[room].timeline.events.map((e) => e.type)).toEqual(['m.room.message']);
    await bob.put(`/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(bobId)}`, { typing: false });

    // A state event the timeline filter leaves out still changes the room's state: it comes as state.
    const q = await poll(alice, { filter: { room: { timeline: { types: ['m.room.message'] } } } });
    expect((await alice.put(`/_matrix/client/v3/rooms/${enc(room)}/state/org.example.state`, { x: 1 })).status).toBe(200);
    const r = (await q.result).rooms.join[room];
    expect(r.timeline.events).toEqual([]);
    expect(r.state?.events.map((e) => [e.type, e.content.x])).toEqual([['org.example.state', 1]]);
  });

  it('answers empty at the timeout', async () => {
    const since = (await sync(alice)).next_batch;
    const s = await sync(alice, { since, timeout: 50 });
    expect(s.rooms.join).toEqual({});
    expect(s.presence.events).toEqual([]);
    expect(s.account_data.events).toEqual([]);
    // The token it returns continues from the same place.
    await send(bob, room, { msgtype: 'm.text', body: 'after the timeout' });
    expect(bodies((await sync(alice, { since: s.next_batch })).rooms.join[room].timeline.events)).toEqual(['after the timeout']);
  });

  it('stops waiting when the client goes away', async () => {
    const since = (await sync(alice)).next_batch;
    const waitingBefore = server.hs.sync.waiting;
    const gone = new AbortController();
    // Its own connection pool, closed afterwards: a client that goes away takes its sockets along.
    const agent = new Agent();
    const request = undiciRequest(`${server.baseUrl}/_matrix/client/v3/sync?since=${enc(since)}&timeout=${LONG}`, {
      headers: { authorization: `Bearer ${alice.token}` }, signal: gone.signal, dispatcher: agent,
    }).then(() => 'answered', () => 'aborted');
    await eventually(() => expect(server.hs.sync.waiting).toBe(waitingBefore + 1));
    gone.abort();
    expect(await request).toBe('aborted');
    await agent.destroy();
    await eventually(() => expect(server.hs.sync.waiting).toBe(waitingBefore));
  });
});

describe.each(ENGINES)('/sync across a restart (%s)', (engine) => {
  /** A homeserver on a database that outlives it. */
  async function open(db: Awaited<ReturnType<typeof createTestDatabase>>): Promise<{ hs: Homeserver; baseUrl: string }> {
    const config = validateConfig({
      server_name: 'test.local',
      listeners: [{ port: 0, bind_address: '127.0.0.1', resources: ['client'] }],
      database: db.config, registration: { mode: 'open' }, rate_limits: { enabled: false }, log_level: 'silent',
      media_path: `${db.dir}/media`, signing_key_path: `${db.dir}/signing.key`,
    }, db.dir);
    const hs = await Homeserver.open(config, pino({ level: 'silent' }));
    const [baseUrl] = await hs.listen();
    return { hs, baseUrl };
  }

  it('answers a token from before a restart with exactly what came after it', async () => {
    const db = await createTestDatabase(engine as TestEngine);
    try {
      const first = await open(db);
      const alice = new Client(first.baseUrl);
      const bob = new Client(first.baseUrl);
      await alice.register('alice');
      await bob.register('bob');
      const room = await createRoom(alice);
      await join(bob, room);
      const since = (await sync(alice)).next_batch;
      await send(bob, room, { msgtype: 'm.text', body: 'before the restart' });
      await first.hs.close();

      const second = await open(db);
      try {
        const client = new Client(second.baseUrl, alice.token);
        const s = await sync(client, { since });
        expect(bodies(s.rooms.join[room].timeline.events)).toEqual(['before the restart']);
        // Typing positions belong to a process: the client is told every room's typing users anew.
        expect(s.rooms.join[room].ephemeral.events).toContainEqual({ type: 'm.typing', content: { user_ids: [] } });
        const s2 = await sync(client, { since: s.next_batch });
        expect(s2.rooms.join).toEqual({});
        // Long-polling continues from it.
        const waiting = sync(client, { since: s2.next_batch, timeout: LONG });
        await eventually(() => expect(second.hs.sync.waiting).toBe(1));
        await send(new Client(second.baseUrl, bob.token), room, { msgtype: 'm.text', body: 'after the restart' });
        expect(bodies((await waiting).rooms.join[room].timeline.events)).toEqual(['after the restart']);
      } finally {
        await second.hs.close();
      }
    } finally {
      await db.drop();
    }
  });
});
