// GET /sync over real HTTP: initial and incremental syncs, tokens, gaps, state around the
// timeline, state_after, full_state, ephemeral events, account data, presence and summaries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import pg from 'pg';
import { bodies, createRoom, enc, eventually, join, send, sync, types, type ClientEvent } from './helpers.js';

describe.each(ENGINES)('/sync (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let aliceId: string;
  let bobId: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
  });
  afterAll(() => server.close());

  const messages = (room: string, q: string) => alice.get<{ chunk: ClientEvent[]; start: string; end?: string }>(`/_matrix/client/v3/rooms/${enc(room)}/messages?${q}`);

  it('answers an initial sync with the room, its whole history in the timeline and no state before it', async () => {
    const room = await createRoom(alice, { preset: 'public_chat', name: 'First' });
    await send(alice, room, { msgtype: 'm.text', body: 'hello' });
    const s = await sync(alice);
    expect(s.next_batch).toMatch(/^s\d+(_\d+){6}$/);
    const r = s.rooms.join[room];
    // spec: a recently created room whose state fits in the timeline has an empty state list.
    expect(r.timeline.limited).toBe(false);
    expect(types(r.timeline.events)[0]).toBe('m.room.create');
    expect(bodies(r.timeline.events)).toEqual(['hello']);
    expect(r.state?.events).toEqual([]);
    // ClientEventWithoutRoomID, with the sender's transaction ID.
    const hello = r.timeline.events.at(-1) as ClientEvent;
    expect(hello.room_id).toBeUndefined();
    expect(hello.unsigned?.transaction_id).toBeDefined();
    expect(r.summary).toEqual({ 'm.joined_member_count': 1, 'm.invited_member_count': 0 });
    expect(s.rooms.invite).toEqual({});
    expect(s.rooms.leave).toEqual({});
    // spec: device_unused_fallback_key_types is required.
    expect(s.device_unused_fallback_key_types).toEqual([]);
  });

  it('answers an incremental sync with only what is new, and nothing for rooms without news', async () => {
    const quiet = await createRoom(alice);
    const busy = await createRoom(alice);
    const first = await sync(alice);
    await send(alice, busy, { msgtype: 'm.text', body: 'new' });
    const next = await sync(alice, { since: first.next_batch });
    expect(Object.keys(next.rooms.join)).toEqual([busy]);
    expect(bodies(next.rooms.join[busy].timeline.events)).toEqual(['new']);
    expect(next.rooms.join[busy].timeline.limited).toBe(false);
    expect(next.rooms.join[busy].state?.events).toEqual([]);
    expect(next.rooms.join[quiet]).toBeUndefined();
    // Nothing new: an empty answer with a token that still works.
    const empty = await sync(alice, { since: next.next_batch });
    expect(empty.rooms.join).toEqual({});
    expect((await sync(alice, { since: empty.next_batch })).rooms.join).toEqual({});
  });

  it('returns a limited timeline after a gap, with a prev_batch that /messages continues from and closes the gap', async () => {
    const room = await createRoom(alice);
    const before = await sync(alice);
    for (let i = 1; i <= 25; i++) await send(alice, room, { msgtype: 'm.text', body: `m${i}` });
    const s = await sync(alice, { since: before.next_batch });
    const t = s.rooms.join[room].timeline;
    expect(t.limited).toBe(true);
    expect(bodies(t.events)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i + 16}`));
    // Backwards from prev_batch: the events just before the timeline.
    const back = await messages(room, `dir=b&limit=5&from=${enc(t.prev_batch as string)}`);
    expect(back.status).toBe(200);
    expect(bodies(back.body.chunk)).toEqual(['m15', 'm14', 'm13', 'm12', 'm11']);
    // spec: "/messages with from=<since> and to=<prev_batch>" returns exactly the gap.
    const gap = await messages(room, `dir=f&limit=100&from=${enc(before.next_batch)}&to=${enc(t.prev_batch as string)}`);
    expect(bodies(gap.body.chunk)).toEqual(Array.from({ length: 15 }, (_, i) => `m${i + 1}`));
    // A sync token is a /messages token too.
    const latest = await messages(room, `dir=b&limit=2&from=${enc(s.next_batch)}`);
    expect(bodies(latest.body.chunk)).toEqual(['m25', 'm24']);
  });

  it('sends state changed in a gap as state, and state changed within the timeline only in the timeline', async () => {
    const room = await createRoom(alice);
    const filter = { room: { timeline: { limit: 3 } } };
    const s0 = await sync(alice, { filter });
    await alice.put(`/_matrix/client/v3/rooms/${enc(room)}/state/m.room.topic`, { topic: 'in the gap' });
    for (let i = 0; i < 5; i++) await send(alice, room, { msgtype: 'm.text', body: `g${i}` });
    const s1 = await sync(alice, { filter, since: s0.next_batch });
    const r1 = s1.rooms.join[room];
    expect(r1.timeline.limited).toBe(true);
    expect(bodies(r1.timeline.events)).toEqual(['g2', 'g3', 'g4']);
    expect(r1.state?.events.map((e) => [e.type, e.content.topic])).toEqual([['m.room.topic', 'in the gap']]);

    await alice.put(`/_matrix/client/v3/rooms/${enc(room)}/state/m.room.name`, { name: 'inside' });
    await send(alice, room, { msgtype: 'm.text', body: 'after the name' });
    const s2 = await sync(alice, { filter, since: s1.next_batch });
    const r2 = s2.rooms.join[room];
    expect(r2.timeline.limited).toBe(false);
    expect(types(r2.timeline.events)).toEqual(['m.room.name', 'm.room.message']);
    expect(r2.state?.events).toEqual([]);

    // An initial sync: the state at the start of the timeline has the room's state before it.
    const initial = await sync(alice, { filter });
    const r = initial.rooms.join[room];
    expect(r.timeline.limited).toBe(true);
    expect(types(r.timeline.events)).toEqual(['m.room.message', 'm.room.name', 'm.room.message']);
    const stateTypes = types(r.state?.events);
    expect(stateTypes).toContain('m.room.create');
    expect(stateTypes).toContain('m.room.topic');
    expect(stateTypes).not.toContain('m.room.name'); // in the timeline, not before it
  });

  it('sends state the timeline filter left out of the timeline', async () => {
    const room = await createRoom(alice);
    const filter = { room: { timeline: { types: ['m.room.message'] } } };
    const s0 = await sync(alice, { filter });
    // Before the timeline's first event, and after it.
    await alice.put(`/_matrix/client/v3/rooms/${enc(room)}/state/m.room.name`, { name: 'before' });
    await send(alice, room, { msgtype: 'm.text', body: 'kept 1' });
    await alice.put(`/_matrix/client/v3/rooms/${enc(room)}/state/m.room.topic`, { topic: 'during' });
    await send(alice, room, { msgtype: 'm.text', body: 'kept 2' });
    const r = (await sync(alice, { filter, since: s0.next_batch })).rooms.join[room];
    expect(bodies(r.timeline.events)).toEqual(['kept 1', 'kept 2']);
    expect(r.state?.events.map((e) => e.type)).toEqual(['m.room.name', 'm.room.topic']);
  });

  it('answers use_state_after with state_after (the state at the end of the timeline) and no state', async () => {
    const room = await createRoom(alice);
    const s0 = await sync(alice, { use_state_after: true });
    expect(s0.rooms.join[room].state).toBeUndefined();
    expect(types(s0.rooms.join[room].state_after?.events)).toContain('m.room.create');
    await alice.put(`/_matrix/client/v3/rooms/${enc(room)}/state/m.room.name`, { name: 'after' });
    await send(alice, room, { msgtype: 'm.text', body: 'x' });
    const r = (await sync(alice, { use_state_after: true, since: s0.next_batch })).rooms.join[room];
    expect(r.state).toBeUndefined();
    // spec: clients must not take state from the timeline, so the change is in state_after too.
    expect(types(r.timeline.events)).toEqual(['m.room.name', 'm.room.message']);
    expect(r.state_after?.events.map((e) => [e.type, e.content.name])).toEqual([['m.room.name', 'after']]);
    // Nothing changed in a room: an empty state_after, present.
    await send(alice, room, { msgtype: 'm.text', body: 'y' });
    const r2 = (await sync(alice, { use_state_after: true, since: (await sync(alice, { since: s0.next_batch })).next_batch })).rooms.join[room];
    expect(r2?.state_after?.events ?? []).toEqual([]);
  });

  it('answers full_state with every state event, without waiting, the timeline still bounded by since', async () => {
    const room = await createRoom(alice, { preset: 'public_chat', topic: 'full' });
    const s0 = await sync(alice);
    const full = await sync(alice, { since: s0.next_batch, full_state: true, timeout: 30_000 });
    const r = full.rooms.join[room];
    expect(r.timeline.events).toEqual([]);
    expect(types(r.state?.events)).toEqual(expect.arrayContaining(['m.room.create', 'm.room.power_levels', 'm.room.join_rules', 'm.room.topic', 'm.room.member']));
  });

  it('refuses malformed parameters with M_INVALID_PARAM', async () => {
    const bad = ['since=garbage', 'since=s12', 'since=s1_2_3', `since=${enc('s1_2_3_4_5_6_7 ')}`, 'since=s1_2_3_4_5_6_x', 'timeout=soon', 'timeout=-5',
      'full_state=yes', 'set_presence=busy', 'use_state_after=1', 'filter=999999', `filter=${enc('{not json')}`, `filter=${enc('{"room":{"timeline":{"limit":0}}}')}`,
      `filter=${enc('{"room":{"rooms":"!a:b"}}')}`, `filter=${enc('{"event_format":"xml"}')}`];
    for (const q of bad) {
      const r = await alice.get(`/_matrix/client/v3/sync?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.errcode, q).toBe('M_INVALID_PARAM');
    }
    expect((await alice.get('/_matrix/client/v3/sync', { token: null })).status).toBe(401);
  });

  it('shows typing and receipts as ephemeral events, other users\' private receipts left out', async () => {
    const room = await createRoom(alice);
    await join(bob, room);
    const eventId = await send(bob, room, { msgtype: 'm.text', body: 'read me' });
    const s0 = await sync(alice);
    await bob.put(`/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(bobId)}`, { typing: true, timeout: 30_000 });
    await bob.post(`/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(eventId)}`, {});
    await bob.post(`/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read.private/${enc(eventId)}`, {});
    const s1 = await sync(alice, { since: s0.next_batch });
    const eph = s1.rooms.join[room].ephemeral.events;
    expect(eph.find((e) => e.type === 'm.typing')?.content).toEqual({ user_ids: [bobId] });
    const receipt = eph.find((e) => e.type === 'm.receipt')?.content as Record<string, Record<string, Record<string, unknown>>>;
    expect(Object.keys(receipt[eventId])).toEqual(['m.read']);
    expect(Object.keys(receipt[eventId]['m.read'])).toEqual([bobId]);
    // Bob sees his own private receipt; an initial sync has the current typing users too.
    const bobs = (await sync(bob)).rooms.join[room].ephemeral.events;
    const bobReceipt = bobs.find((e) => e.type === 'm.receipt')?.content as Record<string, Record<string, unknown>>;
    expect(Object.keys(bobReceipt[eventId]).sort()).toEqual(['m.read', 'm.read.private']);
    expect(bobs.find((e) => e.type === 'm.typing')?.content).toEqual({ user_ids: [bobId] });
    // The ephemeral filter leaves out what it does not name.
    const onlyTyping = await sync(alice, { filter: { room: { ephemeral: { types: ['m.typing'] } } } });
    expect(types(onlyTyping.rooms.join[room].ephemeral.events)).toEqual(['m.typing']);
    await bob.put(`/_matrix/client/v3/rooms/${enc(room)}/typing/${enc(bobId)}`, { typing: false });
    const s2 = await sync(alice, { since: s1.next_batch });
    expect(s2.rooms.join[room].ephemeral.events).toEqual([{ type: 'm.typing', content: { user_ids: [] } }]);
  });

  it('sends global and room account data, filtered by type', async () => {
    const room = await createRoom(alice);
    await alice.put(`/_matrix/client/v3/user/${enc(aliceId)}/account_data/org.example.global`, { a: 1 });
    await alice.put(`/_matrix/client/v3/user/${enc(aliceId)}/rooms/${enc(room)}/account_data/org.example.room`, { b: 2 });
    const s0 = await sync(alice);
    expect(s0.account_data.events).toContainEqual({ type: 'org.example.global', content: { a: 1 } });
    expect(s0.rooms.join[room].account_data.events).toEqual([{ type: 'org.example.room', content: { b: 2 } }]);
    await alice.put(`/_matrix/client/v3/user/${enc(aliceId)}/rooms/${enc(room)}/account_data/org.example.room`, { b: 3 });
    const s1 = await sync(alice, { since: s0.next_batch });
    expect(s1.account_data.events).toEqual([]);
    // A room with only new account data is in the response.
    expect(s1.rooms.join[room].account_data.events).toEqual([{ type: 'org.example.room', content: { b: 3 } }]);
    expect(s1.rooms.join[room].timeline.events).toEqual([]);
    const filtered = await sync(alice, { filter: { account_data: { not_types: ['org.example.*'] }, room: { account_data: { types: ['m.tag'] } } } });
    expect(filtered.account_data.events.filter((e) => e.type.startsWith('org.example.'))).toEqual([]);
    expect(filtered.rooms.join[room].account_data.events).toEqual([]);
  });

  it('marks the syncing user online (keeping their status message) unless set_presence says otherwise', async () => {
    const carol = new Client(server.baseUrl);
    const carolId = (await carol.register('carol')).user_id;
    const room = await createRoom(alice);
    await join(carol, room);
    await carol.put(`/_matrix/client/v3/presence/${enc(carolId)}/status`, { presence: 'offline', status_msg: 'away for lunch' });
    const s0 = await sync(alice);
    await sync(carol, { set_presence: 'offline' });
    expect((await alice.get<{ presence: string }>(`/_matrix/client/v3/presence/${enc(carolId)}/status`)).body.presence).toBe('offline');
    await sync(carol);
    const status = await alice.get<{ presence: string; status_msg?: string }>(`/_matrix/client/v3/presence/${enc(carolId)}/status`);
    expect(status.body).toMatchObject({ presence: 'online', status_msg: 'away for lunch' });
    const s1 = await sync(alice, { since: s0.next_batch });
    expect(s1.presence.events.find((e) => e.sender === carolId)?.content).toMatchObject({ presence: 'online', status_msg: 'away for lunch' });
    await sync(carol, { set_presence: 'unavailable' });
    expect((await alice.get<{ presence: string }>(`/_matrix/client/v3/presence/${enc(carolId)}/status`)).body.presence).toBe('unavailable');
    // The presence filter leaves out the senders it excludes.
    const filtered = await sync(alice, { filter: { presence: { not_senders: [carolId] } } });
    expect(filtered.presence.events.map((e) => e.sender)).not.toContain(carolId);
  });

  it('summarises rooms: heroes for a room without a name, counts always', async () => {
    const dana = new Client(server.baseUrl);
    const danaId = (await dana.register('dana')).user_id;
    const unnamed = await createRoom(alice, { preset: 'public_chat' });
    await join(bob, unnamed);
    await alice.post(`/_matrix/client/v3/rooms/${enc(unnamed)}/invite`, { user_id: danaId });
    const s = await sync(alice);
    expect(s.rooms.join[unnamed].summary).toEqual({ 'm.heroes': [bobId, danaId], 'm.joined_member_count': 2, 'm.invited_member_count': 1 });
    // Only when the members change does an incremental sync carry it again.
    await send(alice, unnamed, { msgtype: 'm.text', body: 'hi' });
    const s1 = await sync(alice, { since: s.next_batch });
    expect(s1.rooms.join[unnamed].summary).toBeUndefined();
    await join(dana, unnamed);
    const s2 = await sync(alice, { since: s1.next_batch });
    expect(s2.rooms.join[unnamed].summary).toEqual({ 'm.heroes': [bobId, danaId], 'm.joined_member_count': 3, 'm.invited_member_count': 0 });
  });

  it('applies event_fields and event_format', async () => {
    const room = await createRoom(alice);
    await send(alice, room, { msgtype: 'm.text', body: 'fields', 'm.relates.to': 'x' });
    const s = await sync(alice, { filter: { event_fields: ['type', 'content.body', 'content.m\\.relates\\.to'], room: { rooms: [room], timeline: { limit: 1 } } } });
    expect(s.rooms.join[room].timeline.events).toEqual([{ type: 'm.room.message', content: { body: 'fields', 'm.relates.to': 'x' } }]);
    const fed = await sync(alice, { filter: { event_format: 'federation', room: { rooms: [room], timeline: { limit: 1 } } } });
    const pdu = fed.rooms.join[room].timeline.events[0] as ClientEvent & { hashes?: unknown; depth?: number; auth_events?: unknown };
    expect(pdu.room_id).toBe(room);
    expect(pdu.hashes).toBeDefined();
    expect(typeof pdu.depth).toBe('number');
    expect(pdu.auth_events).toBeDefined();
  });

  it('keeps rooms out that the room filter excludes', async () => {
    const a = await createRoom(alice);
    const b = await createRoom(alice);
    const s = await sync(alice, { filter: { room: { rooms: [a, b], not_rooms: [b] } } });
    expect(Object.keys(s.rooms.join)).toEqual([a]);
  });

  it('takes a sync token as /members `at`: the members as they were then', async () => {
    const room = await createRoom(alice, { preset: 'public_chat' });
    const before = (await sync(alice)).next_batch;
    await join(bob, room);
    const members = async (at?: string) => (await alice.get<{ chunk: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/members${at ? `?at=${enc(at)}` : ''}`)).body.chunk
      .filter((e) => e.content.membership === 'join').map((e) => e.state_key).sort();
    expect(await members(before)).toEqual([aliceId]);
    expect(await members()).toEqual([aliceId, bobId].sort());
  });

  it('serves guests', async () => {
    const guest = new Client(server.baseUrl);
    const reg = await guest.post<{ access_token: string; user_id: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
    expect(reg.status).toBe(200);
    guest.token = reg.body.access_token;
    const s = await sync(guest);
    expect(s.rooms.join).toEqual({});
    const f = await guest.post<{ filter_id: string }>(`/_matrix/client/v3/user/${enc(reg.body.user_id)}/filter`, { room: { timeline: { limit: 5 } } });
    expect(f.status).toBe(200);
    expect((await sync(guest, { filter: f.body.filter_id, since: s.next_batch })).rooms.join).toEqual({});
  });

  it.runIf(engine === 'postgres')('waits for event transactions in flight before taking a position (PostgreSQL commits them out of order)', async () => {
    const room = await createRoom(alice);
    const since = (await sync(alice)).next_batch;
    await send(alice, room, { msgtype: 'm.text', body: 'committed' });
    // Another event transaction, still open: its event could commit below a position taken now.
    const writer = new pg.Client({ connectionString: server.config.database.url as string });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query('LOCK TABLE events IN ROW EXCLUSIVE MODE');
      let answered = false;
      const s = sync(alice, { since }).then((b) => { answered = true; return b; });
      const waitingForWriters = async () => Number((await writer.query(
        "SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'events' AND l.mode = 'ShareLock' AND NOT l.granted")).rows[0].n);
      await eventually(async () => expect(await waitingForWriters()).toBe(1));
      expect(answered).toBe(false);
      await writer.query('ROLLBACK');
      expect(bodies((await s).rooms.join[room].timeline.events)).toEqual(['committed']);
    } finally {
      await writer.end();
    }
  });

  it('hides events of ignored users, but not their state events', async () => {
    const room = await createRoom(alice);
    await join(bob, room);
    await alice.put(`/_matrix/client/v3/user/${enc(aliceId)}/account_data/m.ignored_user_list`, { ignored_users: { [bobId]: {} } });
    const s0 = await sync(alice);
    await send(bob, room, { msgtype: 'm.text', body: 'ignored' });
    await bob.put(`/_matrix/client/v3/profile/${enc(bobId)}/displayname`, { displayname: 'Bob B' });
    await send(alice, room, { msgtype: 'm.text', body: 'mine' });
    const r = (await sync(alice, { since: s0.next_batch })).rooms.join[room];
    expect(bodies(r.timeline.events)).toEqual(['mine']);
    expect(r.timeline.events.some((e) => e.type === 'm.room.member' && e.state_key === bobId)).toBe(true);
    await alice.put(`/_matrix/client/v3/user/${enc(aliceId)}/account_data/m.ignored_user_list`, { ignored_users: {} });
  });
});
