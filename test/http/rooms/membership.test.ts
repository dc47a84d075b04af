// spec: client-server-api "Room membership": join, invite, leave, forget, kick, ban, unban, knock,
// joined_rooms, members, joined_members
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

type Ev = { type: string; state_key?: string; content: Record<string, unknown>; sender: string };
const enc = encodeURIComponent;

describe.each(ENGINES)('room membership (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    [alice, bob, carol] = [new Client(server.baseUrl), new Client(server.baseUrl), new Client(server.baseUrl)];
    await alice.register('alice');
    await bob.register('bob');
    await carol.register('carol');
    await bob.put('/_matrix/client/v3/profile/@bob:test.local/displayname', { displayname: 'Bob B' });
  });
  afterAll(() => server.close());

  const room = async (body: Record<string, unknown> = {}) =>
    (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body)).body.room_id;
  const membership = async (c: Client, roomId: string, userId: string) =>
    (await c.get<{ membership?: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`)).body.membership;
  const joined = async (c: Client) => (await c.get<{ joined_rooms: string[] }>('/_matrix/client/v3/joined_rooms')).body.joined_rooms;

  it('invites, joins with a reason and the profile, leaves and forgets', async () => {
    const roomId = await room();
    const notInvited = await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    expect(notInvited.status).toBe(403);
    expect(notInvited.body.errcode).toBe('M_FORBIDDEN');
    expect((await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@bob:test.local', reason: 'welcome' })).status).toBe(200);
    const join = await bob.post<{ room_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/join`, { reason: 'hello' });
    expect(join.body).toEqual({ room_id: roomId });
    expect(await joined(bob)).toContain(roomId);
    const member = (await bob.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc('@bob:test.local')}?format=event`)).body;
    expect(member.content).toEqual({ membership: 'join', displayname: 'Bob B', reason: 'hello' });

    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {})).status).toBe(200);
    expect(await joined(bob)).not.toContain(roomId);
    expect(await membership(alice, roomId, '@bob:test.local')).toBe('leave');
    const again = await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    expect(again.status).toBe(403);
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/forget`, {})).status).toBe(200);
    // Alice cannot forget a room she is still in.
    expect((await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/forget`, {})).status).toBe(400);
  });

  it('joins public rooms by ID and by alias, and rejects unknown rooms and bad IDs', async () => {
    const roomId = await room({ preset: 'public_chat', room_alias_name: 'pub' });
    expect((await bob.post(`/_matrix/client/v3/join/${enc('#pub:test.local')}`, {})).body).toEqual({ room_id: roomId });
    expect((await carol.post(`/_matrix/client/v3/join/${enc(roomId)}`, {})).body).toEqual({ room_id: roomId });
    const unknownAlias = await bob.post(`/_matrix/client/v3/join/${enc('#nope:test.local')}`, {});
    expect(unknownAlias.status).toBe(404);
    const unknownRoom = await bob.post(`/_matrix/client/v3/join/${enc('!nope:test.local')}`, {});
    expect(unknownRoom.status).toBe(404);
    const badId = await bob.post(`/_matrix/client/v3/rooms/${enc('not-a-room')}/join`, {});
    expect(badId.status).toBe(400);
    expect(badId.body.errcode).toBe('M_INVALID_PARAM');
    const badAlias = await bob.post(`/_matrix/client/v3/join/${enc('#no-domain')}`, {});
    expect(badAlias.status).toBe(400);
  });

  it('kicks, bans and unbans with the power levels deciding', async () => {
    const roomId = await room({ preset: 'public_chat' });
    await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    await carol.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    // Bob (power 0) may not kick Carol.
    const denied = await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/kick`, { user_id: '@carol:test.local' });
    expect(denied.status).toBe(403);
    expect(await membership(alice, roomId, '@carol:test.local')).toBe('join');
    expect((await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/kick`, { user_id: '@carol:test.local', reason: 'spam' })).status).toBe(200);
    const kicked = (await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc('@carol:test.local')}?format=event`)).body;
    expect(kicked.content).toEqual({ membership: 'leave', reason: 'spam' });
    expect(kicked.sender).toBe('@alice:test.local');
    const notInRoom = await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/kick`, { user_id: '@carol:test.local' });
    expect(notInRoom.status).toBe(403);

    expect((await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: '@carol:test.local' })).status).toBe(200);
    expect((await carol.post(`/_matrix/client/v3/join/${enc(roomId)}`, {})).status).toBe(403);
    const notBanned = await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/unban`, { user_id: '@bob:test.local' });
    expect(notBanned.status).toBe(403);
    expect((await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/unban`, { user_id: '@carol:test.local' })).status).toBe(200);
    expect(await membership(alice, roomId, '@carol:test.local')).toBe('leave');
    expect((await carol.post(`/_matrix/client/v3/join/${enc(roomId)}`, {})).status).toBe(200);
    const badUser = await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: 'carol' });
    expect(badUser.status).toBe(400);
  });

  it('knocks where the join rule allows it (room version 7+)', async () => {
    const knockRoom = await room({ room_version: '7', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
    const k = await bob.post<{ room_id: string }>(`/_matrix/client/v3/knock/${enc(knockRoom)}`, { reason: 'let me in' });
    expect(k.status).toBe(200);
    expect(k.body.room_id).toBe(knockRoom);
    expect(await membership(alice, knockRoom, '@bob:test.local')).toBe('knock');
    expect((await alice.post(`/_matrix/client/v3/rooms/${enc(knockRoom)}/invite`, { user_id: '@bob:test.local' })).status).toBe(200);
    expect((await bob.post(`/_matrix/client/v3/join/${enc(knockRoom)}`, {})).status).toBe(200);

    const inviteOnly = await room({ room_version: '7' });
    expect((await carol.post(`/_matrix/client/v3/knock/${enc(inviteOnly)}`, {})).status).toBe(403);
    // A knock join rule in a room version without knocking is refused when set.
    const v6 = await room({ room_version: '6' });
    const set = await alice.put(`/_matrix/client/v3/rooms/${enc(v6)}/state/m.room.join_rules`, { join_rule: 'knock' });
    expect(set.status).toBe(400);
    expect(set.body.errcode).toBe('M_BAD_JSON');
  });

  it('lists members with at, membership and not_membership, and joined members with profiles', async () => {
    const roomId = await room({ preset: 'public_chat' });
    await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    const before = await bob.get<{ end?: string; chunk: unknown[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=1`);
    const token = before.body.chunk.length ? (await bob.get<{ start: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=0`)).body.start : '';
    await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@carol:test.local' });

    const all = await bob.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/members`);
    expect(all.body.chunk.map((e) => [e.state_key, e.content.membership]).sort()).toEqual([
      ['@alice:test.local', 'join'], ['@bob:test.local', 'join'], ['@carol:test.local', 'invite'],
    ]);
    const joinedOnly = await bob.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/members?membership=join`);
    expect(joinedOnly.body.chunk).toHaveLength(2);
    const notJoined = await bob.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/members?not_membership=join`);
    expect(notJoined.body.chunk.map((e) => e.state_key)).toEqual(['@carol:test.local']);
    const atToken = await bob.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/members?at=${enc(token)}`);
    expect(atToken.body.chunk.map((e) => e.state_key).sort()).toEqual(['@alice:test.local', '@bob:test.local']);
    expect((await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/members?membership=maybe`)).status).toBe(400);
    expect((await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/members?at=garbage`)).body.errcode).toBe('M_INVALID_PARAM');

    const jm = await bob.get<{ joined: Record<string, unknown> }>(`/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
    expect(jm.body.joined).toEqual({ '@alice:test.local': { display_name: 'alice' }, '@bob:test.local': { display_name: 'Bob B' } });
    expect((await carol.get(`/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`)).status).toBe(403);
  });

  it('hides the state of rooms a user never joined, and shows a leaver the state at their leave', async () => {
    const roomId = await room({ name: 'Secret' });
    expect((await carol.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state`)).status).toBe(403);
    expect((await carol.get(`/_matrix/client/v3/rooms/${enc(roomId)}/members`)).status).toBe(403);
    await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@bob:test.local' });
    await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.name`, { name: 'Renamed later' });
    expect((await bob.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.name`)).body).toEqual({ name: 'Secret' });
    expect((await alice.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.name`)).body).toEqual({ name: 'Renamed later' });
  });
});
