// spec: client-server-api "Sending events to a room", "Redactions", "Getting events for a room"
// (event, messages, context, timestamp_to_event)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

type Ev = { type: string; event_id: string; state_key?: string; content: Record<string, unknown>; sender: string; origin_server_ts: number; unsigned: Record<string, unknown>; redacts?: string };
type Page = { chunk: Ev[]; start: string; end?: string };
const enc = encodeURIComponent;

describe.each(ENGINES)('messaging (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let eve: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    [alice, bob, eve] = [new Client(server.baseUrl), new Client(server.baseUrl), new Client(server.baseUrl)];
    await alice.register('alice');
    await bob.register('bob');
    await eve.register('eve');
  });
  afterAll(() => server.close());

  const publicRoom = async (extra: Record<string, unknown> = {}) => {
    const roomId = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat', ...extra })).body.room_id;
    await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    return roomId;
  };
  let txn = 0;
  const say = async (c: Client, roomId: string, body: string) =>
    (await c.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/t${++txn}`, { msgtype: 'm.text', body })).body.event_id;

  it('sends messages idempotently per device and transaction ID, and gives the sender its transaction_id back', async () => {
    const roomId = await publicRoom();
    const url = `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/same-txn`;
    const first = await alice.put<{ event_id: string }>(url, { msgtype: 'm.text', body: 'once' });
    const retry = await alice.put<{ event_id: string }>(url, { msgtype: 'm.text', body: 'once' });
    expect(retry.body.event_id).toBe(first.body.event_id);
    // The same transaction ID from another user (or another event type) is another event.
    const other = await bob.put<{ event_id: string }>(url, { msgtype: 'm.text', body: 'once' });
    expect(other.body.event_id).not.toBe(first.body.event_id);
    const page = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=10`);
    const mine = page.body.chunk.filter((e) => e.content.body === 'once');
    expect(mine).toHaveLength(2);
    expect(mine.find((e) => e.sender === '@alice:test.local')!.unsigned.transaction_id).toBe('same-txn');
    expect(mine.find((e) => e.sender === '@bob:test.local')!.unsigned.transaction_id).toBeUndefined();
    const ev = await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(first.body.event_id)}`);
    expect(ev.body).toMatchObject({ type: 'm.room.message', sender: '@alice:test.local', room_id: roomId, content: { msgtype: 'm.text', body: 'once' } });
    expect(typeof ev.body.unsigned.age).toBe('number');
    for (const internal of ['hashes', 'signatures', 'auth_events', 'prev_events', 'depth']) expect(ev.body).not.toHaveProperty(internal);
  });

  it('refuses senders who are not joined and events over the size limit, persisting nothing', async () => {
    const roomId = await publicRoom();
    const notJoined = await eve.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/x`, { body: 'hi' });
    expect(notJoined.status).toBe(403);
    expect(notJoined.body.errcode).toBe('M_FORBIDDEN');
    const big = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/big`, { body: 'x'.repeat(70_000) });
    expect(big.status).toBe(413);
    expect(big.body.errcode).toBe('M_TOO_LARGE');
    const unknown = await alice.put(`/_matrix/client/v3/rooms/${enc('!nope:test.local')}/send/m.room.message/x`, { body: 'hi' });
    expect(unknown.status).toBe(404);
    const notObject = await alice.request('PUT', `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/arr`, [1]);
    expect(notObject.body.errcode).toBe('M_BAD_JSON');
    const page = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    expect(page.body.chunk.some((e) => e.type === 'm.room.message')).toBe(false);
  });

  it('sets and reads state with prev_content, and refuses what the power levels forbid', async () => {
    const roomId = await publicRoom();
    const first = await alice.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`, { topic: 'one' });
    const second = await alice.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic/`, { topic: 'two' });
    expect(first.status).toBe(200);
    const ev = await bob.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(second.body.event_id)}`);
    expect(ev.body.unsigned.prev_content).toEqual({ topic: 'one' });
    expect(ev.body.unsigned.replaces_state).toBe(first.body.event_id);
    expect((await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`)).body).toEqual({ topic: 'two' });
    expect((await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic?format=event`)).body.event_id).toBe(second.body.event_id);
    expect((await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.avatar`)).status).toBe(404);

    const denied = await bob.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`, { topic: 'bob' });
    expect(denied.status).toBe(403);
    // A state key that is someone else's user ID is theirs alone.
    const others = await bob.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/org.example.note/${enc('@alice:test.local')}`, { x: 1 });
    expect(others.status).toBe(403);
    const pl = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels`, { users: { '@alice:test.local': 'a lot' } });
    expect(pl.status).toBe(400);
    expect(pl.body.errcode).toBe('M_BAD_JSON');
    expect((await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic`)).body).toEqual({ topic: 'two' });
  });

  it('redacts events, with redacted_because, and only with the power to', async () => {
    const roomId = await publicRoom({ room_version: '11' });
    const target = await say(bob, roomId, 'regrettable');
    const byOther = await say(alice, roomId, 'alice says');
    const denied = await bob.put(`/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(byOther)}/r1`, {});
    expect(denied.status).toBe(403);
    const r = await bob.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(target)}/r2`, { reason: 'oops' });
    expect(r.status).toBe(200);
    const again = await bob.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(target)}/r2`, { reason: 'oops' });
    expect(again.body.event_id).toBe(r.body.event_id);
    const ev = await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(target)}`);
    expect(ev.body.content).toEqual({});
    expect((ev.body.unsigned.redacted_because as Ev).event_id).toBe(r.body.event_id);
    const redaction = await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(r.body.event_id)}`);
    expect(redaction.body.redacts).toBe(target);
    expect(redaction.body.content).toEqual({ reason: 'oops', redacts: target });
    // Moderators may redact others.
    expect((await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(byOther)}/r3`, {})).status).toBe(200);
    const missing = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc('$nope')}/r4`, {});
    expect(missing.status).toBe(404);
  });

  it.each(['10', '11', '12'])('takes redactions through /send like through /redact, with the same power checks (room version %s)', async (version) => {
    const roomId = await publicRoom({ room_version: version });
    const own = await say(bob, roomId, 'my own mistake');
    const others = await say(alice, roomId, 'not bob\'s to remove');
    const send = (c: Client, id: string, content: Record<string, unknown>) =>
      c.put<{ event_id: string; errcode?: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.redaction/${id}`, content);

    const denied = await send(bob, `sr1-${version}`, { redacts: others });
    expect(denied.status).toBe(403);
    expect((await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(others)}`)).body.content.body).toBe('not bob\'s to remove');
    expect((await send(bob, `sr2-${version}`, {})).body.errcode).toBe('M_BAD_JSON');
    expect((await send(bob, `sr3-${version}`, { redacts: '$unknown' })).status).toBe(404);

    const r = await send(bob, `sr4-${version}`, { redacts: own, reason: 'typo' });
    expect(r.status).toBe(200);
    expect((await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(own)}`)).body.content).toEqual({});
    // Before v11 `redacts` moves to the top level of the event (clients see it in both places after).
    const pdu = (await server.hs.storage.events.getEvent(r.body.event_id))!.event;
    if (version === '10') {
      expect(pdu.redacts).toBe(own);
      expect(pdu.content).toEqual({ reason: 'typo' });
    } else {
      expect(pdu.redacts).toBeUndefined();
      expect(pdu.content).toEqual({ reason: 'typo', redacts: own });
    }
  });

  it("gives each event the viewer's membership at it in unsigned.membership", async () => {
    const roomId = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } }] })).body.room_id;
    const before = await say(alice, roomId, 'before bob');
    await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    const during = await say(alice, roomId, 'while bob is here');
    await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    const after = await say(alice, roomId, 'after bob');
    const page = (await bob.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).body.chunk;
    const at = (id: string) => page.find((e) => e.event_id === id)?.unsigned.membership;
    expect([at(before), at(during), at(after)]).toEqual(['leave', 'join', 'leave']);
    // A membership event counts with its own change.
    const bobsJoin = page.find((e) => e.type === 'm.room.member' && e.state_key === '@bob:test.local' && e.content.membership === 'join');
    expect(bobsJoin?.unsigned.membership).toBe('join');
    expect((await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(before)}`)).body.unsigned.membership).toBe('join');
  });

  it('paginates /messages both ways with from, to and filters', async () => {
    const roomId = await publicRoom();
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await say(i % 2 ? bob : alice, roomId, `m${i}`));
    const back1 = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=3`);
    expect(back1.body.chunk.map((e) => e.content.body)).toEqual(['m6', 'm5', 'm4']);
    const back2 = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=3&from=${enc(back1.body.end!)}`);
    expect(back2.body.chunk.map((e) => e.content.body)).toEqual(['m3', 'm2', 'm1']);
    expect(back2.body.start).toBe(back1.body.end);
    const fwd = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&limit=2&from=${enc(back2.body.end!)}`);
    expect(fwd.body.chunk.map((e) => e.content.body)).toEqual(['m1', 'm2']);
    const bounded = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=10&to=${enc(back1.body.end!)}`);
    expect(bounded.body.chunk.map((e) => e.content.body)).toEqual(['m6', 'm5', 'm4']);
    expect(bounded.body.end).toBeUndefined();
    const filtered = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=10&filter=${enc(JSON.stringify({ senders: ['@bob:test.local'], types: ['m.room.message'] }))}`);
    expect(filtered.body.chunk.map((e) => e.content.body)).toEqual(['m5', 'm3', 'm1']);
    const notTypes = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&limit=100&filter=${enc(JSON.stringify({ not_types: ['m.room.message'] }))}`);
    expect(notTypes.body.chunk.every((e) => e.type !== 'm.room.message')).toBe(true);
    const all = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&limit=100`);
    expect(all.body.chunk[0].type).toBe('m.room.create');
    expect(all.body.end).toBeUndefined();
    for (const bad of ['from=garbage', 'dir=x', 'limit=-1', 'filter=%7Bnot-json']) {
      const r = await alice.get(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.body.errcode, bad).toBe('M_INVALID_PARAM');
    }
    expect((await eve.get(`/_matrix/client/v3/rooms/${enc(roomId)}/messages`)).status).toBe(403);
  });

  it('applies history visibility to what a reader gets', async () => {
    const roomId = await publicRoom({ initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'joined' } }] });
    const before = await say(alice, roomId, 'before eve');
    await eve.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    const after = await say(alice, roomId, 'after eve');
    const page = await eve.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
    const bodies = page.body.chunk.map((e) => e.content.body).filter(Boolean);
    expect(bodies).toEqual(['after eve']);
    expect((await eve.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(before)}`)).status).toBe(404);
    expect((await eve.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(after)}`)).status).toBe(200);
    // Shared history: everything is visible to a member once joined.
    const shared = await publicRoom();
    const early = await say(alice, shared, 'early');
    await eve.post(`/_matrix/client/v3/join/${enc(shared)}`, {});
    expect((await eve.get(`/_matrix/client/v3/rooms/${enc(shared)}/event/${enc(early)}`)).status).toBe(200);
    // After leaving, nothing sent later is visible.
    await eve.post(`/_matrix/client/v3/rooms/${enc(shared)}/leave`, {});
    const late = await say(alice, shared, 'late');
    expect((await eve.get(`/_matrix/client/v3/rooms/${enc(shared)}/event/${enc(late)}`)).status).toBe(404);
    expect((await eve.get(`/_matrix/client/v3/rooms/${enc(shared)}/event/${enc(early)}`)).status).toBe(200);
  });

  it('answers /context with events around the target and the state at the last one', async () => {
    const roomId = await publicRoom();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await say(alice, roomId, `c${i}`));
    const ctx = await bob.get<{ event: Ev; events_before: Ev[]; events_after: Ev[]; start: string; end: string; state: Ev[] }>(
      `/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(ids[3])}?limit=4`);
    expect(ctx.status).toBe(200);
    expect(ctx.body.event.content.body).toBe('c3');
    expect(ctx.body.events_before.map((e) => e.content.body)).toEqual(['c2', 'c1']);
    expect(ctx.body.events_after.map((e) => e.content.body)).toEqual(['c4', 'c5']);
    expect(ctx.body.state.some((e) => e.type === 'm.room.create')).toBe(true);
    const older = await bob.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1&from=${enc(ctx.body.start)}`);
    expect(older.body.chunk[0].content.body).toBe('c0');
    const zero = await bob.get<{ event: Ev; events_before: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(ids[3])}?limit=0`);
    expect(zero.body.event.content.body).toBe('c3');
    expect(zero.body.events_before).toEqual([]);
    expect((await eve.get(`/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(ids[3])}`)).status).toBe(404);
    expect((await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc('$missing')}`)).status).toBe(404);
  });

  it('finds the event closest to a timestamp', async () => {
    const roomId = await publicRoom();
    const a = await say(alice, roomId, 'a');
    await new Promise((r) => setTimeout(r, 20));
    const mid = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    const b = await say(alice, roomId, 'b');
    const fwd = await bob.get<{ event_id: string; origin_server_ts: number }>(`/_matrix/client/v1/rooms/${enc(roomId)}/timestamp_to_event?ts=${mid}&dir=f`);
    expect(fwd.body.event_id).toBe(b);
    const back = await bob.get<{ event_id: string }>(`/_matrix/client/v1/rooms/${enc(roomId)}/timestamp_to_event?ts=${mid}&dir=b`);
    expect(back.body.event_id).toBe(a);
    const none = await bob.get(`/_matrix/client/v1/rooms/${enc(roomId)}/timestamp_to_event?ts=${Date.now() + 60_000}&dir=f`);
    expect(none.status).toBe(404);
    expect((await bob.get(`/_matrix/client/v1/rooms/${enc(roomId)}/timestamp_to_event?ts=abc&dir=f`)).status).toBe(400);
  });

  it('keeps every event of concurrent sends to one room, in one chain without forks', async () => {
    const roomId = await publicRoom();
    const sends = Array.from({ length: 40 }, (_, i) => (i % 2 ? alice : bob).put<{ event_id: string }>(
      `/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/conc${i}`, { msgtype: 'm.text', body: `c${i}` }));
    const results = await Promise.all(sends);
    expect(results.every((r) => r.status === 200)).toBe(true);
    const page = await alice.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100`);
    const bodies = new Set(page.body.chunk.map((e) => e.content.body));
    for (let i = 0; i < 40; i++) expect(bodies.has(`c${i}`)).toBe(true);
    expect(await server.hs.storage.events.forwardExtremities(roomId)).toHaveLength(1);
  });
});
