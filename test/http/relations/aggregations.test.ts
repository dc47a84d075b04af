// Bundled aggregations (unsigned["m.relations"]): m.thread, m.replace and m.reference on
// /event, /messages, /context and /relations. spec: "Aggregations of child events"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, edit, enc, getEvent, join, leave, redact, relatesTo, relations, reply, send, text, type Ev } from './helpers.js';

describe.each(ENGINES)('bundled aggregations (%s)', (engine) => {
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
    await join(carol, roomId);
  });
  afterAll(() => server.close());

  const messages = async (c: Client, limit = 20) => {
    const r = await c.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=${limit}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.chunk;
  };
  const inMessages = async (c: Client, eventId: string) => (await messages(c)).find((e) => e.event_id === eventId) as Ev;

  it('bundles the most recent valid edit by the original sender', async () => {
    const original = await send(alice, roomId, text('original'));
    const e1 = await edit(alice, roomId, original, 'first edit');
    const e2 = await edit(alice, roomId, original, 'second edit');
    // Invalid replacements, each newer than e2: another sender, another type, no m.new_content,
    // a state event.
    await edit(bob, roomId, original, 'bob may not edit alice');
    await edit(alice, roomId, original, 'another type', 'org.example.message');
    await send(alice, roomId, { ...text('* no new content'), ...relatesTo('m.replace', original) });
    const stateEdit = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.message/x`,
      { ...text('* state'), 'm.new_content': text('state'), ...relatesTo('m.replace', original) });
    expect(stateEdit.status).toBe(200);

    const ev = await getEvent(alice, roomId, original);
    expect(ev.content).toEqual(text('original')); // the original content is left intact
    const bundled = ev.unsigned['m.relations']?.['m.replace'];
    expect(bundled).toMatchObject({ event_id: e2, sender: '@alice:test.local', type: 'm.room.message', room_id: roomId, content: { 'm.new_content': text('second edit') } });
    expect(typeof bundled?.origin_server_ts).toBe('number');
    expect((await inMessages(bob, original)).unsigned['m.relations']?.['m.replace']?.event_id).toBe(e2);

    // Edits get no aggregations of their own, even when something relates to them.
    await send(bob, roomId, { ...relatesTo('m.reference', e2) }, 'org.example.ack');
    expect((await getEvent(alice, roomId, e2)).unsigned['m.relations']).toBeUndefined();

    // Redacting the latest edit reverts to the one before.
    await redact(alice, roomId, e2);
    expect((await getEvent(alice, roomId, original)).unsigned['m.relations']?.['m.replace']?.event_id).toBe(e1);
    // A redacted original gets no m.replace at all.
    await redact(alice, roomId, original);
    expect((await getEvent(alice, roomId, original)).unsigned['m.relations']?.['m.replace']).toBeUndefined();
  });

  it('does not bundle an edit that itself targets an edit', async () => {
    const original = await send(alice, roomId, text('base'));
    const e1 = await edit(alice, roomId, original, 'edit');
    await edit(alice, roomId, e1, 'edit of an edit');
    expect((await getEvent(alice, roomId, e1)).unsigned['m.relations']).toBeUndefined();
    expect((await getEvent(alice, roomId, original)).unsigned['m.relations']?.['m.replace']?.event_id).toBe(e1);
  });

  it('bundles a thread summary with its latest event and that event\'s own edit', async () => {
    const root = await send(alice, roomId, text('thread root'));
    await reply(bob, roomId, root, 'bob 1');
    const latest = await reply(bob, roomId, root, 'bob 2');
    const latestEdit = await edit(bob, roomId, latest, 'bob 2 (edited)');

    for (const [who, participated] of [[alice, true], [bob, true], [carol, false]] as const) {
      const thread = (await getEvent(who, roomId, root)).unsigned['m.relations']?.['m.thread'];
      expect(thread?.count).toBe(2);
      expect(thread?.current_user_participated).toBe(participated);
      expect(thread?.latest_event).toMatchObject({ event_id: latest, sender: '@bob:test.local', content: { body: 'bob 2' } });
      expect(thread?.latest_event.unsigned['m.relations']?.['m.replace']?.event_id).toBe(latestEdit);
    }
    // The same summary on /messages and /context.
    expect((await inMessages(carol, root)).unsigned['m.relations']?.['m.thread']?.count).toBe(2);
    const ctx = await carol.get<{ event: Ev }>(`/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(root)}?limit=2`);
    expect(ctx.status, JSON.stringify(ctx.body)).toBe(200);
    expect(ctx.body.event.unsigned['m.relations']?.['m.thread']?.latest_event.event_id).toBe(latest);
    // And on the events /relations returns: the thread reply carries its edit.
    const listed = await relations(carol, roomId, root, ['m.thread']);
    expect(listed.chunk[0].unsigned['m.relations']?.['m.replace']?.event_id).toBe(latestEdit);

    // Carol joins in; redacting her reply takes her back out.
    const carols = await reply(carol, roomId, root, 'carol');
    let thread = (await getEvent(carol, roomId, root)).unsigned['m.relations']?.['m.thread'];
    expect(thread).toMatchObject({ count: 3, current_user_participated: true });
    expect(thread?.latest_event.event_id).toBe(carols);
    await redact(carol, roomId, carols);
    thread = (await getEvent(carol, roomId, root)).unsigned['m.relations']?.['m.thread'];
    expect(thread).toMatchObject({ count: 2, current_user_participated: false });
    expect(thread?.latest_event.event_id).toBe(latest);
  });

  it('bundles references as a chunk of event IDs', async () => {
    const target = await send(alice, roomId, text('referenced'));
    const r1 = await send(bob, roomId, { ...relatesTo('m.reference', target) }, 'org.example.ref');
    const r2 = await send(carol, roomId, { ...text('see above'), ...relatesTo('m.reference', target) });
    expect((await getEvent(alice, roomId, target)).unsigned['m.relations']?.['m.reference']).toEqual({ chunk: [{ event_id: r1 }, { event_id: r2 }] });
    await redact(bob, roomId, r1);
    expect((await getEvent(alice, roomId, target)).unsigned['m.relations']?.['m.reference']).toEqual({ chunk: [{ event_id: r2 }] });
  });

  it('bundles several kinds at once and nothing on events without children', async () => {
    const target = await send(alice, roomId, text('everything'));
    const ed = await edit(alice, roomId, target, 'everything, edited');
    const ref = await send(bob, roomId, { ...relatesTo('m.reference', target) }, 'org.example.ref');
    const th = await reply(carol, roomId, target, 'threaded');
    const page = await messages(alice, 10);
    const bundled = page.find((e) => e.event_id === target)?.unsigned['m.relations'];
    expect(bundled?.['m.replace']?.event_id).toBe(ed);
    expect(bundled?.['m.reference']).toEqual({ chunk: [{ event_id: ref }] });
    expect(bundled?.['m.thread']?.latest_event.event_id).toBe(th);
    // Annotations are never aggregated (spec: event_annotations).
    const reacted = await send(alice, roomId, text('react to me'));
    await send(bob, roomId, { 'm.relates_to': { rel_type: 'm.annotation', event_id: reacted, key: '👍' } }, 'm.reaction');
    expect((await getEvent(alice, roomId, reacted)).unsigned['m.relations']).toBeUndefined();
    // State events get no aggregations (spec: "State events do not currently receive bundled aggregations").
    const state = await alice.get<Ev[]>(`/_matrix/client/v3/rooms/${enc(roomId)}/state`);
    const create = state.body.find((e) => e.type === 'm.room.create') as Ev;
    await send(bob, roomId, { ...relatesTo('m.reference', create.event_id) }, 'org.example.ref');
    const again = await alice.get<Ev[]>(`/_matrix/client/v3/rooms/${enc(roomId)}/state`);
    expect(again.body.find((e) => e.type === 'm.room.create')?.unsigned['m.relations']).toBeUndefined();
  });

  it('leaves out children the viewer may not see', async () => {
    const room = await createRoom(alice, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] });
    await join(carol, room);
    const root = await send(alice, room, text('root'));
    const seen = await reply(alice, room, root, 'seen');
    const refSeen = await send(alice, room, { ...relatesTo('m.reference', root) }, 'org.example.ref');
    const editSeen = await edit(alice, room, root, 'edit carol saw');
    await leave(carol, room);
    const unseen = await reply(alice, room, root, 'unseen');
    await send(alice, room, { ...relatesTo('m.reference', root) }, 'org.example.ref');
    const editUnseen = await edit(alice, room, root, 'edit after carol left');

    const forAlice = (await getEvent(alice, room, root)).unsigned['m.relations'];
    expect(forAlice?.['m.thread']?.latest_event.event_id).toBe(unseen);
    expect(forAlice?.['m.replace']?.event_id).toBe(editUnseen);
    expect(forAlice?.['m.reference']?.chunk).toHaveLength(2);
    const forCarol = (await getEvent(carol, room, root)).unsigned['m.relations'];
    expect(forCarol?.['m.thread']?.latest_event.event_id).toBe(seen);
    expect(forCarol?.['m.thread']?.count).toBe(2); // the count is what the server knows
    expect(forCarol?.['m.replace']?.event_id).toBe(editSeen);
    expect(forCarol?.['m.reference']).toEqual({ chunk: [{ event_id: refSeen }] });
  });
});
