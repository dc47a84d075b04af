// The event store keeps rejected and soft-failed events but never uses them as state or timeline.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent } from '../../src/core/events.js';
import { stateKey } from '../../src/core/pdu.js';
import { getRoomVersion } from '../../src/core/room-versions.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

describe.each(ENGINES)('event store (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    await alice.register('alice');
  });
  afterAll(() => server.close());

  it('keeps rejected and soft-failed events out of state, timeline and extremities', async () => {
    const roomId = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { name: 'Kept' })).body.room_id;
    const { events, state } = server.hs.storage;
    const version = getRoomVersion('12')!;
    const room = (await events.getRoom(roomId))!;
    const current = await events.currentState(roomId);
    const extremities = await events.forwardExtremities(roomId);
    const prev = (await events.getEvents(extremities)).values().next().value!;
    const authIds = [stateKey('m.room.power_levels', ''), stateKey('m.room.member', '@alice:test.local')]
      .map((k) => current.get(k)!);
    const auth = [...(await events.getEventsByNid(authIds)).values()].map((s) => s.event.event_id);
    const forge = (name: string) => {
      const built = buildEvent({
        type: 'm.room.name', state_key: '', sender: '@alice:test.local', content: { name }, room_id: roomId,
        prev_events: [prev.event.event_id], auth_events: auth, depth: prev.event.depth + 1, origin_server_ts: Date.now(),
      }, version, { serverName: 'test.local', key: server.hs.signingKey }, randomBytes(16));
      if (!built.ok) throw new Error(built.reason);
      return built.value;
    };
    const rejected = forge('Rejected name');
    const softFailed = forge('Soft-failed name');
    for (const [ev, flags] of [[rejected, { rejectedReason: 'test: rejected', softFailed: false }], [softFailed, { rejectedReason: null, softFailed: true }]] as const) {
      await events.persist({
        event: ev, ...flags, stateAfter: flags.rejectedReason ? null : { state: current, parent: room.currentStateGroup },
        stateGroupBefore: room.currentStateGroup, replacesState: null, txn: null,
      }, null);
    }
    // Both are kept...
    expect((await events.getEvent(rejected.event_id))?.rejectedReason).toBe('test: rejected');
    expect((await events.getEvent(softFailed.event_id))?.softFailed).toBe(true);
    // ...but the room's state, extremities and timeline do not change.
    expect(await events.forwardExtremities(roomId)).toEqual(extremities);
    const nameNid = (await events.currentState(roomId)).get(stateKey('m.room.name', ''))!;
    expect((await events.getEventsByNid([nameNid])).get(nameNid)!.event.content).toEqual({ name: 'Kept' });
    expect((await alice.get(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.name`)).body).toEqual({ name: 'Kept' });
    const page = await alice.get<{ chunk: Array<{ event_id: string }> }>(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`);
    expect(page.body.chunk.map((e) => e.event_id)).not.toContain(rejected.event_id);
    expect(page.body.chunk.map((e) => e.event_id)).not.toContain(softFailed.event_id);
    expect((await alice.get(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(rejected.event_id)}`)).status).toBe(404);
    // A rejected event's state group is the state before it: it never entered any state.
    const stored = await events.getEvent(rejected.event_id);
    const groupState = await state.loadGroup(stored!.stateGroup!);
    expect(groupState.get(stateKey('m.room.name', ''))).toBe(nameNid);
  });

  it('stores a message without copying state, and a state event as one delta row', async () => {
    const roomId = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {})).body.room_id;
    const { events } = server.hs.storage;
    const before = (await events.getRoom(roomId))!.currentStateGroup;
    await alice.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/m1`, { body: 'x' });
    expect((await events.getRoom(roomId))!.currentStateGroup).toBe(before);
    await alice.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.topic`, { topic: 't' });
    const after = (await events.getRoom(roomId))!.currentStateGroup!;
    expect(after).not.toBe(before);
    const rows = await server.hs.storage.database.db.selectFrom('state_group_deltas').select('state_key_id').where('group_id', '=', after).execute();
    expect(rows).toHaveLength(1);
  });
});

describe.each(ENGINES)('redactions stay in their room (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterAll(() => server.close());

  it('ignores a redaction whose target is an event of another room, wherever events are served', async () => {
    const [alice, mallory] = [new Client(server.baseUrl), new Client(server.baseUrl)];
    await alice.register('alice2');
    await mallory.register('mallory');
    const enc = encodeURIComponent;
    const roomA = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    await mallory.post(`/_matrix/client/v3/join/${enc(roomA)}`, {});
    const target = (await alice.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomA)}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'searchable words here' })).body.event_id;
    // Mallory rules a room of her own; the pipeline would take a redaction naming any event ID
    // there (as one received over federation could).
    const roomB = (await mallory.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'private_chat' })).body.room_id;
    expect((await mallory.put(`/_matrix/client/v3/rooms/${enc(roomB)}/redact/${enc(target)}/r1`, {})).status).toBe(404);
    await server.hs.pipeline.send(roomB, { type: 'm.room.redaction', sender: '@mallory:test.local', content: {}, redacts: target });

    const seen = await alice.get<{ content: Record<string, unknown>; unsigned: Record<string, unknown> }>(`/_matrix/client/v3/rooms/${enc(roomA)}/event/${enc(target)}`);
    expect(seen.body.content.body).toBe('searchable words here');
    expect(seen.body.unsigned.redacted_because).toBeUndefined();
    const found = await alice.post<{ search_categories: { room_events: { count: number } } }>('/_matrix/client/v3/search', { search_categories: { room_events: { search_term: 'searchable' } } });
    expect(found.body.search_categories.room_events.count).toBe(1);
  });
});
