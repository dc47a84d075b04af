// Relations and ignored users. spec: "Aggregations of child events" (ignored users are not
// considered), threading (`count`, `latest_event`), threads_list (ignored roots come redacted).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, edit, enc, getEvent, ids, join, relatesTo, relations, reply, send, text, threads } from './helpers.js';

describe.each(ENGINES)('relations and ignored users (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    await alice.register('alice');
    await bob.register('bob');
    await carol.register('carol');
  });
  afterAll(() => server.close());

  it('leaves ignored senders out of listings and aggregations', async () => {
    const roomId = await createRoom(alice);
    await join(bob, roomId);
    await join(carol, roomId);
    const root = await send(alice, roomId, text('root'));
    const fromCarol = await reply(carol, roomId, root, 'carol');
    const fromBob = await reply(bob, roomId, root, 'bob');
    const refCarol = await send(carol, roomId, { ...relatesTo('m.reference', root) }, 'org.example.ref');
    await send(bob, roomId, { ...relatesTo('m.reference', root) }, 'org.example.ref');
    const bobsRoot = await send(bob, roomId, text('bob root'));
    await reply(carol, roomId, bobsRoot, 'carol answers bob');
    const bobsEdit = await edit(bob, roomId, bobsRoot, 'bob root, edited');

    // Before ignoring, carol sees everything.
    expect((await getEvent(carol, roomId, root)).unsigned['m.relations']?.['m.thread']).toMatchObject({ count: 2 });
    expect((await getEvent(carol, roomId, bobsRoot)).unsigned['m.relations']?.['m.replace']?.event_id).toBe(bobsEdit);

    const put = await carol.put(`/_matrix/client/v3/user/${enc('@carol:test.local')}/account_data/m.ignored_user_list`, { ignored_users: { '@bob:test.local': {} } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    const bundled = (await getEvent(carol, roomId, root)).unsigned['m.relations'];
    expect(bundled?.['m.thread']).toMatchObject({ count: 1, current_user_participated: true });
    expect(bundled?.['m.thread']?.latest_event.event_id).toBe(fromCarol);
    expect(bundled?.['m.reference']).toEqual({ chunk: [{ event_id: refCarol }] });
    expect(ids(await relations(carol, roomId, root))).toEqual([refCarol, fromCarol]);
    // Alice ignores nobody.
    expect(ids(await relations(alice, roomId, root))).toContain(fromBob);

    // bob's thread root comes back redacted in /threads, without bob's edit bundled.
    const listed = await threads(carol, roomId);
    const redactedRoot = listed.chunk.find((e) => e.event_id === bobsRoot);
    expect(redactedRoot?.content).toEqual({});
    expect(redactedRoot?.unsigned['m.relations']?.['m.replace']).toBeUndefined();
    expect(redactedRoot?.unsigned['m.relations']?.['m.thread']?.count).toBe(1);
    expect((await threads(alice, roomId)).chunk.find((e) => e.event_id === bobsRoot)?.content).toMatchObject({ body: 'bob root' });
  });
});
