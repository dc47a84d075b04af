// POST /search never returns what the user could not see: history visibility, rooms left
// or never joined, forgotten rooms, ignored users; redactions and encryption take text out of
// the index at once; the migration's backfill indexes events stored before it.
// spec: client-server-api modules/search "Security considerations", "History visibility"
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, leave, redact, send, text } from '../relations/helpers.js';
import { backfillSearchIndex } from '../../../src/storage/search.js';
import { bodies, search } from './helpers.js';

describe.each(ENGINES)('search visibility (%s)', (engine) => {
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

  it('hides messages from before a join in a "joined" room', async () => {
    const roomId = await createRoom(alice, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }] });
    await send(alice, roomId, text('zebra before bob'));
    await join(bob, roomId);
    await send(alice, roomId, text('zebra after bob'));
    expect(bodies(await search(bob, { search_term: 'zebra' }))).toEqual(['zebra after bob']);
    expect((await search(alice, { search_term: 'zebra' })).results).toHaveLength(2);
    // The hidden match is skipped without ending the pages early.
    const one = await search(bob, { search_term: 'zebra', filter: { limit: 1 } });
    expect(bodies(one)).toEqual(['zebra after bob']);
  });

  it('hides messages sent after the user left, and rooms the user never joined', async () => {
    const roomId = await createRoom(alice, { preset: 'public_chat', name: 'Savanna' });
    await join(carol, roomId);
    await send(alice, roomId, text('giraffe while carol is here'));
    await leave(carol, roomId);
    await send(alice, roomId, text('giraffe after carol left'));
    expect((await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.name/`, { name: 'Giraffe enclosure' })).status).toBe(200);
    const r = await search(carol, { search_term: 'giraffe', include_state: true });
    expect(bodies(r)).toEqual(['giraffe while carol is here']);
    expect(r.count).toBe(1);
    // The state she is shown is the state when she left, not the room's current state.
    expect(r.state?.[roomId].find((e) => e.type === 'm.room.name')?.content).toEqual({ name: 'Savanna' });
    expect((await search(alice, { search_term: 'giraffe', include_state: true })).state?.[roomId].find((e) => e.type === 'm.room.name')?.content).toEqual({ name: 'Giraffe enclosure' });
    // bob never joined this public, shared-history room: nothing.
    expect((await search(bob, { search_term: 'giraffe' })).count).toBe(0);
    // A forgotten room is not searched any more.
    const forget = await carol.post(`/_matrix/client/v3/rooms/${enc(roomId)}/forget`, {});
    expect(forget.status).toBe(200);
    expect((await search(carol, { search_term: 'giraffe' })).results).toEqual([]);
  });

  it('removes a redacted message from the results at once', async () => {
    const roomId = await createRoom(alice);
    const id = await send(alice, roomId, text('unicorn sighting at noon'));
    await send(alice, roomId, text('another unicorn'));
    expect((await search(alice, { search_term: 'unicorn' })).count).toBe(2);
    await redact(alice, roomId, id);
    const after = await search(alice, { search_term: 'unicorn' });
    expect(after.count).toBe(1);
    expect(bodies(after)).toEqual(['another unicorn']);
    expect((await search(alice, { search_term: 'sighting' })).results).toEqual([]);
  });

  it('indexes nothing in encrypted rooms', async () => {
    const roomId = await createRoom(alice);
    await send(alice, roomId, text('walrus in plain text'));
    expect((await search(alice, { search_term: 'walrus' })).count).toBe(1);
    const r = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.encryption/`, { algorithm: 'm.megolm.v1.aes-sha2' });
    expect(r.status).toBe(200);
    // What was indexed before goes; a plaintext message sent now is not indexed either.
    expect((await search(alice, { search_term: 'walrus' })).count).toBe(0);
    await send(alice, roomId, text('walrus sent in clear anyway'));
    expect((await search(alice, { search_term: 'walrus' })).count).toBe(0);
    const encrypted = await createRoom(alice, { initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }] });
    await send(alice, encrypted, text('narwhal'));
    expect((await search(alice, { search_term: 'narwhal' })).count).toBe(0);
  });

  it("hides ignored users' messages", async () => {
    const roomId = await createRoom(alice, { preset: 'public_chat' });
    await join(bob, roomId);
    await send(alice, roomId, text('platypus from alice'));
    await send(bob, roomId, text('platypus from bob'));
    const ignore = await bob.put('/_matrix/client/v3/user/@bob:test.local/account_data/m.ignored_user_list', { ignored_users: { '@alice:test.local': {} } });
    expect(ignore.status).toBe(200);
    expect(bodies(await search(bob, { search_term: 'platypus' }))).toEqual(['platypus from bob']);
    await bob.put('/_matrix/client/v3/user/@bob:test.local/account_data/m.ignored_user_list', { ignored_users: {} });
  });

  it('backfills the index from stored events (migration 011)', async () => {
    const roomId = await createRoom(alice);
    await send(alice, roomId, text('okapi one'));
    const redacted = await send(alice, roomId, text('okapi two'));
    await redact(alice, roomId, redacted);
    const db = server.hs.storage.database.db;
    await sql`DELETE FROM event_search`.execute(db);
    expect((await search(alice, { search_term: 'okapi' })).count).toBe(0);
    await backfillSearchIndex(db);
    expect(bodies(await search(alice, { search_term: 'okapi' }))).toEqual(['okapi one']);
    expect((await search(alice, { search_term: 'walrus' })).count).toBe(0);
    expect((await search(alice, { search_term: 'zebra' })).count).toBe(2);
  });
});
