import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

describe.each(ENGINES)('rooms smoke (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    await alice.register('alice');
    await bob.register('bob');
  });
  afterAll(() => server.close());

  it.each(['1', '2', '3', '6', '9', '10', '11', '12'])('creates a room of version %s, joins, sends and reads', async (version) => {
    const created = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { room_version: version, preset: 'public_chat', name: 'Test', topic: 'Hi' });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const roomId = created.body.room_id;
    const join = await bob.post(`/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
    expect(join.status, JSON.stringify(join.body)).toBe(200);
    const sent = await bob.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'hello' });
    expect(sent.status, JSON.stringify(sent.body)).toBe(200);
    const again = await bob.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t1`, { msgtype: 'm.text', body: 'hello' });
    expect(again.body.event_id).toBe(sent.body.event_id);
    const msgs = await alice.get<{ chunk: Array<Record<string, unknown>> }>(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=5`);
    expect(msgs.status, JSON.stringify(msgs.body)).toBe(200);
    expect(msgs.body.chunk[0].event_id).toBe(sent.body.event_id);
    const state = await bob.get<Array<Record<string, unknown>>>(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state`);
    expect(state.body.map((e) => e.type).sort()).toEqual(['m.room.create', 'm.room.guest_access', 'm.room.history_visibility', 'm.room.join_rules', 'm.room.member', 'm.room.member', 'm.room.name', 'm.room.power_levels', 'm.room.topic']);
    const name = await bob.get(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.name`);
    expect(name.body).toEqual({ name: 'Test' });
    const forbidden = await bob.put(`/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.name`, { name: 'x' });
    expect(forbidden.status).toBe(403);
  });
});
