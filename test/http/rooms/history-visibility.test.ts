// m.room.history_visibility events themselves: visible when the visibility before or after the
// event allows. spec: client-server-api modules/history_visibility "Server behaviour"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

const enc = encodeURIComponent;

describe.each(ENGINES)('history_visibility events (%s)', (engine) => {
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

  const room = async (visibility: string) => {
    const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {
      preset: 'private_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: visibility } }],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id;
  };
  const change = async (roomId: string, visibility: string) => {
    const r = await alice.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.history_visibility/`, { history_visibility: visibility });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.event_id;
  };
  const say = async (roomId: string, body: string) =>
    (await alice.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${Math.random()}`, { msgtype: 'm.text', body })).body.event_id;
  const status = async (c: Client, roomId: string, eventId: string) =>
    (await c.get(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`)).status;

  it('shows a change away from world_readable to anyone, but not what follows it', async () => {
    const roomId = await room('world_readable');
    const toJoined = await change(roomId, 'joined');
    const after = await say(roomId, 'members only');
    expect(await status(eve, roomId, toJoined)).toBe(200);
    expect(await status(eve, roomId, after)).toBe(404);
    // And a change back to world_readable is visible by its new value.
    const back = await change(roomId, 'world_readable');
    expect(await status(eve, roomId, back)).toBe(200);
  });

  it('shows a change away from invited to the invited user who never joined', async () => {
    const roomId = await room('invited');
    await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@bob:test.local' });
    const before = await say(roomId, 'for the invited');
    const toShared = await change(roomId, 'shared');
    const after = await say(roomId, 'shared, but bob never joined');
    expect(await status(bob, roomId, before)).toBe(200);
    expect(await status(bob, roomId, toShared)).toBe(200);
    expect(await status(bob, roomId, after)).toBe(404);
    // Eve, never invited, sees none of it.
    expect(await status(eve, roomId, toShared)).toBe(404);
  });

  it('hides a change that neither the old nor the new visibility allows', async () => {
    const roomId = await room('shared');
    const toJoined = await change(roomId, 'joined');
    expect(await status(eve, roomId, toJoined)).toBe(404);
    const toInvited = await change(roomId, 'invited');
    expect(await status(eve, roomId, toInvited)).toBe(404);
    // A member sees every change.
    expect(await status(alice, roomId, toInvited)).toBe(200);
  });
});
