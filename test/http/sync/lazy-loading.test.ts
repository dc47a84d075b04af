// Lazy-loaded members in /sync, /messages and /context: only the member events of the senders
// (and of the user and the heroes), redundant ones left out unless include_redundant_members,
// member changes in a gap always sent, and a retried token answered in full again.
// spec: client-server-api "Lazy-loading room members", GET /sync
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, send, sync, type ClientEvent, type SyncBody } from './helpers.js';

const LAZY = { room: { state: { lazy_load_members: true } } };
const LAZY_REDUNDANT = { room: { state: { lazy_load_members: true, include_redundant_members: true } } };

describe.each(ENGINES)('lazy-loaded members (%s)', (engine) => {
  let server: TestServer;
  const c: Record<string, Client> = {};
  const id: Record<string, string> = {};
  let room: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) {
      c[name] = new Client(server.baseUrl);
      id[name] = (await c[name].register(name)).user_id;
    }
    room = await createRoom(c.alice, { preset: 'public_chat', name: 'Lazy' });
    for (const name of ['bob', 'carol', 'dave', 'erin']) await join(c[name], room);
    for (let i = 0; i < 12; i++) await send(c.bob, room, { msgtype: 'm.text', body: `bob ${i}` });
  });
  afterAll(() => server.close());

  const membersIn = (s: SyncBody) => (s.rooms.join[room]?.state?.events ?? []).filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort();

  it('sends only the senders\' and the user\'s own member events in an initial sync', async () => {
    const s = await sync(c.alice, { filter: LAZY });
    expect(s.rooms.join[room].timeline.events.every((e) => e.sender === id.bob)).toBe(true);
    expect(membersIn(s)).toEqual([id.alice, id.bob].sort());
    // Other state is all there.
    expect(s.rooms.join[room].state?.events.map((e) => e.type)).toEqual(expect.arrayContaining(['m.room.create', 'm.room.power_levels', 'm.room.name']));
    // Without lazy loading, every member.
    expect(membersIn(await sync(c.alice))).toEqual(['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => id[n]).sort());
  });

  it('leaves out members the client already has, unless include_redundant_members', async () => {
    const s0 = await sync(c.alice, { filter: LAZY });
    await send(c.bob, room, { msgtype: 'm.text', body: 'bob again' });
    await send(c.carol, room, { msgtype: 'm.text', body: 'carol speaks' });
    const s1 = await sync(c.alice, { filter: LAZY, since: s0.next_batch });
    // Bob's member event was sent before; carol's was not.
    expect(membersIn(s1)).toEqual([id.carol]);
    await send(c.carol, room, { msgtype: 'm.text', body: 'carol again' });
    expect(membersIn(await sync(c.alice, { filter: LAZY, since: s1.next_batch }))).toEqual([]);

    const r0 = await sync(c.dave, { filter: LAZY_REDUNDANT });
    await send(c.bob, room, { msgtype: 'm.text', body: 'bob once more' });
    const r1 = await sync(c.dave, { filter: LAZY_REDUNDANT, since: r0.next_batch });
    expect(membersIn(r1)).toEqual([id.bob]);
  });

  it('sends the members again when a client retries an older token (its response was lost)', async () => {
    const s0 = await sync(c.erin, { filter: LAZY });
    await send(c.dave, room, { msgtype: 'm.text', body: 'dave speaks' });
    const lost = await sync(c.erin, { filter: LAZY, since: s0.next_batch });
    expect(membersIn(lost)).toEqual([id.dave]);
    const retried = await sync(c.erin, { filter: LAZY, since: s0.next_batch });
    expect(membersIn(retried)).toEqual([id.dave]);
  });

  it('always sends the member changes in a gap', async () => {
    const filter = { room: { state: { lazy_load_members: true }, timeline: { limit: 3 } } };
    const s0 = await sync(c.alice, { filter });
    await c.erin.put(`/_matrix/client/v3/profile/${enc(id.erin)}/displayname`, { displayname: 'Erin in the gap' });
    for (let i = 0; i < 5; i++) await send(c.bob, room, { msgtype: 'm.text', body: `after ${i}` });
    const s1 = await sync(c.alice, { filter, since: s0.next_batch });
    expect(s1.rooms.join[room].timeline.limited).toBe(true);
    const erin = s1.rooms.join[room].state?.events.find((e) => e.state_key === id.erin);
    expect(erin?.content.displayname).toBe('Erin in the gap');
  });

  it('includes the heroes\' member events in a room without a name', async () => {
    const unnamed = await createRoom(c.alice, { preset: 'public_chat' });
    await join(c.bob, unnamed);
    await join(c.carol, unnamed);
    for (let i = 0; i < 12; i++) await send(c.alice, unnamed, { msgtype: 'm.text', body: `a${i}` });
    const r = (await sync(c.alice, { filter: LAZY })).rooms.join[unnamed];
    expect(r.summary?.['m.heroes']).toEqual([id.bob, id.carol]);
    const members = (r.state?.events ?? []).filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort();
    expect(members).toEqual([id.alice, id.bob, id.carol].sort());
  });

  it('lazy-loads members in /messages and /context', async () => {
    const page = await c.alice.get<{ chunk: ClientEvent[]; state?: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=3&filter=${enc(JSON.stringify({ lazy_load_members: true }))}`);
    expect(page.status).toBe(200);
    const senders = [...new Set(page.body.chunk.map((e) => e.sender))].sort();
    expect((page.body.state ?? []).map((e) => e.state_key).sort()).toEqual(senders);
    expect(page.body.state?.every((e) => e.type === 'm.room.member')).toBe(true);
    const plain = await c.alice.get<{ state?: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/messages?dir=b&limit=3`);
    expect(plain.body.state).toBeUndefined();

    const target = page.body.chunk[0].event_id;
    const ctx = await c.alice.get<{ state: ClientEvent[]; events_before: ClientEvent[]; events_after: ClientEvent[]; event: ClientEvent }>(
      `/_matrix/client/v3/rooms/${enc(room)}/context/${enc(target)}?limit=2&filter=${enc(JSON.stringify({ lazy_load_members: true }))}`);
    expect(ctx.status).toBe(200);
    const ctxSenders = [...new Set([ctx.body.event, ...ctx.body.events_before, ...ctx.body.events_after].map((e) => e.sender))].sort();
    expect(ctx.body.state.filter((e) => e.type === 'm.room.member').map((e) => e.state_key).sort()).toEqual(ctxSenders);
    expect(ctx.body.state.some((e) => e.type === 'm.room.create')).toBe(true);
    const full = await c.alice.get<{ state: ClientEvent[] }>(`/_matrix/client/v3/rooms/${enc(room)}/context/${enc(target)}?limit=2`);
    expect(full.body.state.filter((e) => e.type === 'm.room.member')).toHaveLength(5);
  });
});
