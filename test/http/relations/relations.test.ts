// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, edit, enc, ids, join, leave, redact, relatesTo, relations, relationsPath, reply, send, text, type Page } from './helpers.js';

describe.each(ENGINES)('relations (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let roomId: string;
  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    await alice.register('alice');
    await bob.register('bob');
    await carol.register('carol');
    roomId = await createRoom(alice);
    await join(bob, roomId);
  });
  afterAll(() => server.close());

  it('lists children newest first, filtered by relType and eventType', async () => {
    const root = await send(alice, roomId, text('root'));
    const t1 = await reply(bob, roomId, root, 'first');
    const ref = await send(bob, roomId, { ...relatesTo('m.reference', root) }, 'org.example.vote');
    const custom = await send(alice, roomId, { ...relatesTo('org.example.rel', root) }, 'org.example.event');
    const t2 = await reply(alice, roomId, root, 'second');
    await send(alice, roomId, text('unrelated'));

    const all = await relations(alice, roomId, root);
    expect(ids(all)).toEqual([t2, custom, ref, t1]);
    expect(all.next_batch).toBeUndefined();
    expect(all.prev_batch).toBeUndefined();
    expect(all.recursion_depth).toBeUndefined();
    expect(all.chunk[0]).toMatchObject({ room_id: roomId, sender: '@alice:test.local', type: 'm.room.message', content: { body: 'second' } });

    expect(ids(await relations(bob, roomId, root, ['m.thread']))).toEqual([t2, t1]);
    expect(ids(await relations(bob, roomId, root, ['m.reference']))).toEqual([ref]);
    expect(ids(await relations(bob, roomId, root, ['org.example.rel', 'org.example.event']))).toEqual([custom]);
    expect(ids(await relations(bob, roomId, root, ['org.example.rel', 'm.room.message']))).toEqual([]);
    expect(ids(await relations(bob, roomId, root, ['m.thread', 'm.room.message']))).toEqual([t2, t1]);
    // An event with no children answers an empty chunk.
    expect(await relations(bob, roomId, t1)).toEqual({ chunk: [] });
  });

  it('paginates backwards and forwards with next_batch, prev_batch and to', async () => {
    const root = await send(alice, roomId, text('paginated root'));
    const children: string[] = [];
    for (let i = 0; i < 5; i++) children.push(await send(bob, roomId, { ...relatesTo('m.reference', root) }, 'org.example.child'));
    const newestFirst = [...children].reverse();

    const p1 = await relations(alice, roomId, root, [], 'limit=2');
    expect(ids(p1)).toEqual(newestFirst.slice(0, 2));
    expect(p1.prev_batch).toBeUndefined();
    expect(p1.next_batch).toMatch(/.+/);
    const p2 = await relations(alice, roomId, root, [], `limit=2&from=${enc(p1.next_batch!)}`);
    expect(ids(p2)).toEqual(newestFirst.slice(2, 4));
    expect(p2.prev_batch).toBe(p1.next_batch);
    const p3 = await relations(alice, roomId, root, [], `limit=2&from=${enc(p2.next_batch!)}`);
    expect(ids(p3)).toEqual(newestFirst.slice(4));
    expect(p3.next_batch).toBeUndefined();

    // Forwards: oldest first.
    const f1 = await relations(alice, roomId, root, [], 'dir=f&limit=3');
    expect(ids(f1)).toEqual(children.slice(0, 3));
    const f2 = await relations(alice, roomId, root, [], `dir=f&limit=3&from=${enc(f1.next_batch!)}`);
    expect(ids(f2)).toEqual(children.slice(3));
    expect(f2.next_batch).toBeUndefined();

    // `to` stops before the token's position: everything older than the 2nd page's start.
    const upTo = await relations(alice, roomId, root, [], `dir=f&to=${enc(p1.next_batch!)}`);
    expect(ids(upTo)).toEqual(children.slice(0, 3));
    // A `from` older than `to` going backwards yields nothing (spec: "would return the empty set").
    expect(ids(await relations(alice, roomId, root, [], `from=${enc(p2.next_batch!)}&to=${enc(p1.next_batch!)}`))).toEqual([]);
    // A /messages token works as `from` too.
    const msgs = await alice.get<{ start: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1`);
    expect(ids(await relations(alice, roomId, root, [], `limit=1&from=${enc(msgs.body.start)}`))).toEqual([children[4]]);
  });

  it('recurses through relations of relations up to the reported depth', async () => {
    const root = await send(alice, roomId, text('recursive root'));
    const level1 = await reply(bob, roomId, root, 'in thread');
    const level2 = await edit(bob, roomId, level1, 'in thread, edited');
    const level3 = await send(alice, roomId, { ...relatesTo('m.reference', level2) }, 'org.example.note');
    const level4 = await send(alice, roomId, { ...relatesTo('m.reference', level3) }, 'org.example.note');

    const direct = await relations(alice, roomId, root);
    expect(ids(direct)).toEqual([level1]);
    expect(direct.recursion_depth).toBeUndefined();

    const off = await relations(alice, roomId, root, [], 'recurse=false');
    expect(ids(off)).toEqual([level1]);
    expect(off.recursion_depth).toBe(0);

    const deep = await relations(alice, roomId, root, [], 'recurse=true');
    expect(deep.recursion_depth).toBe(3);
    expect(ids(deep)).toEqual([level3, level2, level1]);
    expect(ids(deep)).not.toContain(level4);

    // Pagination over the recursive set.
    const d1 = await relations(alice, roomId, root, [], 'recurse=true&limit=2&dir=f');
    expect(ids(d1)).toEqual([level1, level2]);
    const d2 = await relations(alice, roomId, root, [], `recurse=true&limit=2&dir=f&from=${enc(d1.next_batch!)}`);
    expect(ids(d2)).toEqual([level3]);

    // Filters apply at every level: nothing reaches the root through a non-matching event.
    expect(ids(await relations(alice, roomId, root, ['m.reference'], 'recurse=true'))).toEqual([]);
    expect(ids(await relations(alice, roomId, root, ['m.thread'], 'recurse=true'))).toEqual([level1]);
    expect(ids(await relations(alice, roomId, level2, ['m.reference', 'org.example.note'], 'recurse=true'))).toEqual([level4, level3]);
  });

  it('drops a child once it is redacted', async () => {
    const root = await send(alice, roomId, text('root with a redacted child'));
    const keep = await reply(alice, roomId, root, 'keep');
    const gone = await reply(bob, roomId, root, 'gone');
    expect(ids(await relations(alice, roomId, root))).toEqual([gone, keep]);
    await redact(bob, roomId, gone);
    expect(ids(await relations(alice, roomId, root))).toEqual([keep]);
    expect(ids(await relations(alice, roomId, root, ['m.thread']))).toEqual([keep]);
    // A redacted parent keeps its children (spec: "the child events which pointed to that parent remain").
    await redact(alice, roomId, root);
    expect(ids(await relations(alice, roomId, root))).toEqual([keep]);
  });

  it('ignores malformed relations', async () => {
    const root = await send(alice, roomId, text('malformed target'));
    const malformed: Array<Record<string, unknown>> = [
      { 'm.relates_to': { event_id: root } },
      { 'm.relates_to': { rel_type: 'm.reference' } },
      { 'm.relates_to': { rel_type: 'm.reference', event_id: 42 } },
      { 'm.relates_to': { rel_type: 7, event_id: root } },
      { 'm.relates_to': { rel_type: 'm.reference', event_id: root.slice(1) } },
      { 'm.relates_to': { rel_type: '', event_id: root } },
      { 'm.relates_to': { rel_type: 'm.reference\u0000x', event_id: root } },
      { 'm.relates_to': [root] },
      { 'm.relates_to': 'm.reference' },
      { 'm.relates_to': { 'm.in_reply_to': { event_id: root } } },
    ];
    for (const content of malformed) await send(bob, roomId, { ...text('odd'), ...content });
    expect((await relations(alice, roomId, root)).chunk).toEqual([]);
    // A relation to an event in another room is not a relation of this room's event.
    const other = await createRoom(bob);
    await send(bob, other, { ...text('elsewhere'), ...relatesTo('m.reference', root) });
    expect((await relations(alice, roomId, root)).chunk).toEqual([]);
  });

  it('answers 404 for parents the user may not see, and leaves out hidden children', async () => {
    const room = await createRoom(alice, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] });
    const before = await send(alice, room, text('before carol joined'));
    await reply(alice, room, before, 'also before');
    await join(carol, room);
    const root = await send(alice, room, text('while carol is here'));
    const seen = await reply(alice, room, root, 'seen by carol');
    await leave(carol, room);
    const unseen = await reply(alice, room, root, 'after carol left');

    const hidden = await carol.get(relationsPath(room, before));
    expect(hidden.status).toBe(404);
    expect(hidden.body).toMatchObject({ errcode: 'M_NOT_FOUND' });
    expect(ids(await relations(alice, room, root))).toEqual([unseen, seen]);
    expect(ids(await relations(carol, room, root))).toEqual([seen]);

    // Users who were never in the room see nothing of it.
    const dave = new Client(server.baseUrl);
    await dave.register('dave');
    expect((await dave.get(relationsPath(room, root))).status).toBe(404);
    // Unknown events, and events of another room, are not found either.
    expect((await alice.get(relationsPath(room, '$nonexistent'))).body).toMatchObject({ errcode: 'M_NOT_FOUND' });
    expect((await alice.get(relationsPath(roomId, root))).status).toBe(404);
  });

  it('rejects bad parameters with M_INVALID_PARAM', async () => {
    const root = await send(alice, roomId, text('params'));
    const base = relationsPath(roomId, root);
    for (const query of ['from=bogus', 'to=bogus', 'from=s', 'from=s-1', 'from=s99999999999999999999', 'dir=x', 'limit=0', 'limit=-1', 'limit=abc', 'limit=1.5', 'recurse=yes', 'recurse=1']) {
      const r = await alice.get(`${base}?${query}`);
      expect(r.status, query).toBe(400);
      expect(r.body, query).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    }
    const badRoom = await alice.get(relationsPath('not-a-room', root));
    expect(badRoom.body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    const badEvent = await alice.get(relationsPath(roomId, 'no-dollar'));
    expect(badEvent.body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    const noToken = await alice.get(base, { token: null });
    expect(noToken.status).toBe(401);
    expect(noToken.body).toMatchObject({ errcode: 'M_MISSING_TOKEN' });
    // A large limit is capped, not an error.
    expect((await alice.get<Page>(`${base}?limit=999999999`)).status).toBe(200);
  });
});
