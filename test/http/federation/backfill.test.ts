// Backfill across real servers: a user of server B, which joined a room of server A, pages
// /messages back past B's join into the history only A held (GET /backfill), in A's order and
// down to the create event; history visibility applies; paging again asks nothing; a forged
// event in A's answer is never shown.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';
import { FederationBackfill } from '../../../src/services/federation/backfill.js';

type Ev = { type: string; sender: string; content: Record<string, unknown>; event_id: string; state_key?: string };
type Page = { chunk: Ev[]; start: string; end?: string };
type User = { client: Client; userId: string };

const enc = encodeURIComponent;

// B (which backfills) on each engine available; A on the other one when there are two.
describe.each(ENGINES.map((engine) => [engine]))('backfill over federation (B on %s)', (engine) => {
  const engines = [ENGINES.find((e) => e !== engine) ?? engine, engine];
  let a: FederatedServer, b: FederatedServer;
  let alice: User, bob: User;
  let served = 0;

  beforeAll(async () => {
    [a, b] = await startFederation([...engines], 2);
    [alice, bob] = await Promise.all([a.user('alice'), b.user('bob')]);
    countBackfills();
  }, 60_000);
  afterAll(async () => { await Promise.all([a, b].map((s) => s?.close())); });

  /** Counts the /backfill requests A serves. */
  function countBackfills(): void {
    const serve = a.hs.federationEventServer;
    const original = serve.backfill.bind(serve);
    serve.backfill = (...args: Parameters<typeof original>) => { served++; return original(...args); };
  }

  const say = async (u: User, roomId: string, body: string) => {
    const r = await u.client.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${Math.random()}`, { msgtype: 'm.text', body });
    expect(r.status).toBe(200);
    return r.body.event_id;
  };

  /** Every page of /messages backwards from the newest event, until no `end`. */
  async function pageAll(u: User, roomId: string, limit: number): Promise<{ events: Ev[]; pages: Page[] }> {
    const pages: Page[] = [];
    let from: string | undefined;
    for (let i = 0; i < 100; i++) {
      const r = await u.client.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=${limit}${from ? `&from=${enc(from)}` : ''}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      pages.push(r.body);
      if (from !== undefined) expect(r.body.start).toBe(from);
      if (r.body.end === undefined) break;
      from = r.body.end;
    }
    return { events: pages.flatMap((p) => p.chunk), pages };
  }

  async function joinFromB(roomId: string): Promise<void> {
    const joined = await bob.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.serverName)}`, {});
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    await eventually(async () => {
      const m = await alice.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`);
      return m.body.membership === 'join';
    }, 15_000, 'bob\'s join to reach A');
  }

  it('pages back into A\'s history, in A\'s order, down to the create event', async () => {
    const roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat', name: 'History' })).body.room_id;
    for (let i = 0; i < 30; i++) await say(alice, roomId, `m${i}`);
    await joinFromB(roomId);
    // Small batches, so that the history comes in several answers and several /messages pages.
    b.hs.timeline.history = new FederationBackfill({
      storage: b.hs.storage, keys: b.hs.keyRing, client: b.hs.federationClient, acl: b.hs.serverAcls, events: b.hs.federationEvents,
      serverName: b.serverName, log: pino({ level: process.env.WEFT_TEST_LOG ?? 'silent' }), batch: 7,
    });
    const since = (await bob.client.get<{ next_batch: string }>('/_matrix/client/v3/sync?timeout=0')).body.next_batch;

    served = 0;
    const { events, pages } = await pageAll(bob, roomId, 10);
    expect(served).toBeGreaterThan(1);
    // The whole room, newest first, exactly as A orders it.
    const onA = await pageAll(alice, roomId, 50);
    expect(events.map((e) => e.event_id)).toEqual(onA.events.map((e) => e.event_id));
    const bodies = events.filter((e) => e.type === 'm.room.message').map((e) => e.content.body);
    expect(bodies).toEqual(Array.from({ length: 30 }, (_, i) => `m${29 - i}`));
    expect(events[0]).toMatchObject({ type: 'm.room.member', state_key: bob.userId });
    expect(events[events.length - 1]!.type).toBe('m.room.create');
    expect(events.find((e) => e.type === 'm.room.name')?.content.name).toBe('History');
    // Full pages until the last one, which has no `end`.
    for (const p of pages.slice(0, -1)) expect(p.chunk.length).toBe(10);
    expect(pages[pages.length - 1]!.end).toBeUndefined();

    // Forwards from the start of the room, the same events in the other direction.
    const forwards = await bob.client.get<Page>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=f&limit=100`);
    expect(forwards.body.chunk.map((e) => e.event_id)).toEqual(events.map((e) => e.event_id).reverse());
    // /context of a backfilled event sees its neighbours.
    const m10 = events.find((e) => e.content.body === 'm10')!;
    const ctx = await bob.client.get<{ events_before: Ev[]; events_after: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(m10.event_id)}?limit=2`);
    expect(ctx.status).toBe(200);
    expect(ctx.body.events_before.map((e) => e.content.body)).toEqual(['m9']);
    expect(ctx.body.events_after.map((e) => e.content.body)).toEqual(['m11']);

    // Paging again asks A nothing: the history is held down to the create event.
    served = 0;
    const again = await pageAll(bob, roomId, 10);
    expect(again.events.map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    expect(served).toBe(0);

    // Old history is not news: /sync since before the backfill has nothing of it.
    const sync = await bob.client.get<{ rooms?: { join?: Record<string, { timeline: { events: Ev[] } }> } }>(`/_matrix/client/v3/sync?timeout=0&since=${enc(since)}`);
    expect(sync.body.rooms?.join?.[roomId]?.timeline.events ?? []).toEqual([]);
    // The room goes on from where it was: bob's message builds on his join, and reaches A.
    const state = await bob.client.get<Ev[]>(`/_matrix/client/v3/rooms/${enc(roomId)}/state`);
    expect(state.body.filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort()).toEqual([alice.userId, bob.userId].sort());
    const id = await say(bob, roomId, 'after backfill');
    await eventually(async () => (await alice.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(id)}`)).status === 200, 15_000, 'bob\'s message to reach A');
  }, 60_000);

  it('applies history visibility: "joined" hides everything before the join', async () => {
    const roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {
      preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }],
    })).body.room_id;
    for (let i = 0; i < 5; i++) await say(alice, roomId, `secret ${i}`);
    await joinFromB(roomId);
    const after = await say(alice, roomId, 'after the join');
    await eventually(async () => (await bob.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(after)}`)).status === 200, 15_000, 'the message to reach B');

    served = 0;
    const { events, pages } = await pageAll(bob, roomId, 10);
    expect(served).toBeGreaterThan(0);
    expect(pages[pages.length - 1]!.end).toBeUndefined();
    // A's user, joined all along, sees everything.
    const onA = (await pageAll(alice, roomId, 50)).events;
    expect(onA.filter((e) => e.type === 'm.room.message')).toHaveLength(6);
    // Bob sees his join and what followed it, and before it only what the rules let anyone
    // joined later see: the room's creation up to the history_visibility event (visible because
    // the visibility before it, the default "shared", allows it), none of the messages.
    const hv = onA.findIndex((e) => e.type === 'm.room.history_visibility');
    expect(events.map((e) => e.event_id)).toEqual([onA[0]!.event_id, onA[1]!.event_id, ...onA.slice(hv).map((e) => e.event_id)]);
    expect(events.slice(0, 2).map((e) => e.content.body ?? e.state_key)).toEqual(['after the join', bob.userId]);
    expect(events.filter((e) => String(e.content.body).startsWith('secret'))).toEqual([]);
    expect(events[events.length - 1]!.type).toBe('m.room.create');
  }, 60_000);

  it('never shows a forged event of a backfill answer', async () => {
    const roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await say(alice, roomId, `n${i}`));
    // A's copy of n5 now says something else and carries a signature A never made.
    const db = a.hs.storage.database.db;
    const row = await db.selectFrom('events').select('json').where('event_id', '=', ids[5]!).executeTakeFirstOrThrow();
    const forged = JSON.parse(row.json) as { content: Record<string, unknown>; signatures: Record<string, Record<string, string>> };
    forged.content.body = 'FORGED';
    for (const keys of Object.values(forged.signatures)) for (const k of Object.keys(keys)) keys[k] = 'A'.repeat(86);
    await db.updateTable('events').set({ json: JSON.stringify(forged) }).where('event_id', '=', ids[5]!).execute();
    await a.restart(); // A reads the event from its database again
    countBackfills();
    await joinFromB(roomId);

    const { events } = await pageAll(bob, roomId, 10);
    const bodies = events.filter((e) => e.type === 'm.room.message').map((e) => e.content.body);
    expect(bodies).toEqual(['n9', 'n8', 'n7', 'n6', 'n4', 'n3', 'n2', 'n1', 'n0']);
    expect(events.some((e) => e.event_id === ids[5])).toBe(false);
    expect(events[events.length - 1]!.type).toBe('m.room.create');
    const direct = await bob.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(ids[5]!)}`);
    expect(direct.status).toBe(404);
  }, 60_000);
});
