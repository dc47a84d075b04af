// Room summaries: GET /_matrix/client/v1/room_summary/{roomIdOrAlias}.
// spec: client-server-api "Room Summaries" (room_summary.yaml, definitions/room_summary.yaml)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

const enc = encodeURIComponent;
const SUMMARY = (target: string, query = '') => `/_matrix/client/v1/room_summary/${enc(target)}${query ? `?${query}` : ''}`;

describe.each(ENGINES)('room summaries (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let anon: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    [alice, bob, anon] = [new Client(server.baseUrl), new Client(server.baseUrl), new Client(server.baseUrl)];
    await alice.register('alice');
    await bob.register('bob');
  });
  afterAll(() => server.close());

  const room = async (body: Record<string, unknown>) => {
    const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id;
  };
  const state = async (roomId: string, type: string, content: Record<string, unknown>, key = '') => {
    const r = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(key)}`, content);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };

  it('summarises a public room for anyone, by ID and by alias, with the membership of the requester', async () => {
    const roomId = await room({
      preset: 'public_chat', name: 'Cheese', topic: 'Tasty cheese', room_alias_name: 'cheese', room_version: '11',
      creation_content: { type: 'm.space' },
      initial_state: [
        { type: 'm.room.avatar', content: { url: 'mxc://test.local/cheddar' } },
        { type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } },
      ],
    });
    const expected = {
      room_id: roomId, name: 'Cheese', topic: 'Tasty cheese', canonical_alias: '#cheese:test.local', avatar_url: 'mxc://test.local/cheddar',
      num_joined_members: 1, world_readable: false, guest_can_join: false, join_rule: 'public', room_type: 'm.space',
      encryption: 'm.megolm.v1.aes-sha2', room_version: '11',
    };
    // Unauthenticated: no membership field.
    const unauth = await anon.get(SUMMARY(roomId));
    expect(unauth.status, JSON.stringify(unauth.body)).toBe(200);
    expect(unauth.body).toEqual(expected);
    expect((await alice.get(SUMMARY(roomId))).body).toEqual({ ...expected, membership: 'join' });
    // A user with no membership: "leave".
    expect((await bob.get(SUMMARY('#cheese:test.local'))).body).toEqual({ ...expected, membership: 'leave' });
    // `via` is accepted (this server holds the room, so no other server is asked).
    expect((await bob.get(SUMMARY(roomId, 'via=test.local&via=elsewhere.example:8448'))).status).toBe(200);

    await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    const joined = (await bob.get(SUMMARY(roomId))).body;
    expect(joined.membership).toBe('join');
    expect(joined.num_joined_members).toBe(2);
  });

  it('hides private rooms from non-members with 404, and shows them to invited and joined users', async () => {
    const roomId = await room({ preset: 'private_chat', name: 'Secret' });
    for (const c of [anon, bob]) {
      const r = await c.get(SUMMARY(roomId));
      expect(r.status).toBe(404);
      expect(r.body.errcode).toBe('M_NOT_FOUND');
    }
    // The same answer as for a room that does not exist.
    const unknown = await bob.get(SUMMARY('!nope:test.local'));
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe('M_NOT_FOUND');

    await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@bob:test.local' });
    const invited = await bob.get(SUMMARY(roomId));
    expect(invited.status).toBe(200);
    expect(invited.body).toMatchObject({ room_id: roomId, name: 'Secret', join_rule: 'invite', guest_can_join: true, membership: 'invite' });
    // Still not for anyone unauthenticated.
    expect((await anon.get(SUMMARY(roomId))).status).toBe(404);

    // Once Bob has left, the private room is hidden again.
    await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    expect((await bob.get(SUMMARY(roomId))).status).toBe(404);
  });

  it('shows world_readable and knockable rooms to anyone', async () => {
    const readable = await room({ preset: 'private_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } }] });
    const r1 = await anon.get(SUMMARY(readable));
    expect(r1.status).toBe(200);
    expect(r1.body).toMatchObject({ world_readable: true, join_rule: 'invite' });

    const knock = await room({ preset: 'private_chat', room_version: '10', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
    const r2 = await anon.get(SUMMARY(knock));
    expect(r2.status).toBe(200);
    expect(r2.body).toMatchObject({ join_rule: 'knock', room_version: '10' });
    expect((await bob.post(`/_matrix/client/v3/knock/${enc(knock)}`, {})).status).toBe(200);
    expect((await bob.get(SUMMARY(knock))).body.membership).toBe('knock');

    const knockRestricted = await room({ preset: 'private_chat', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock_restricted', allow: [] } }] });
    expect((await anon.get(SUMMARY(knockRestricted))).body).toMatchObject({ join_rule: 'knock_restricted' });
  });

  it('shows restricted rooms to members of an allowed room, with allowed_room_ids', async () => {
    const space = await room({ preset: 'private_chat', name: 'Space' });
    const restricted = await room({
      preset: 'private_chat', room_version: '10',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    });
    expect((await bob.get(SUMMARY(restricted))).status).toBe(404);
    expect((await anon.get(SUMMARY(restricted))).status).toBe(404);
    await alice.post(`/_matrix/client/v3/rooms/${enc(space)}/invite`, { user_id: '@bob:test.local' });
    // Being invited to the allowed room is not enough: the rule asks for a joined member.
    expect((await bob.get(SUMMARY(restricted))).status).toBe(404);
    await bob.post(`/_matrix/client/v3/rooms/${enc(space)}/join`, {});
    const r = await bob.get(SUMMARY(restricted));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ join_rule: 'restricted', allowed_room_ids: [space], membership: 'leave' });
  });

  it('follows state changes and serves guests', async () => {
    const roomId = await room({ preset: 'public_chat', name: 'Before' });
    await state(roomId, 'm.room.name', { name: 'After' });
    await state(roomId, 'm.room.guest_access', { guest_access: 'can_join' });
    const guest = new Client(server.baseUrl);
    const g = await guest.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
    guest.token = g.body.access_token;
    const r = await guest.get(SUMMARY(roomId));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ name: 'After', guest_can_join: true, membership: 'leave' });
    // Turning the room private hides it.
    await state(roomId, 'm.room.join_rules', { join_rule: 'invite' });
    expect((await guest.get(SUMMARY(roomId))).status).toBe(404);
  });

  it('rejects bad room IDs, aliases and via, and answers 404 for unknown aliases', async () => {
    const bad = await bob.get(SUMMARY('not-a-room'));
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe('M_INVALID_PARAM');
    const badAlias = await bob.get(SUMMARY('#no-domain'));
    expect(badAlias.status).toBe(400);
    expect(badAlias.body.errcode).toBe('M_INVALID_PARAM');
    const unknownAlias = await bob.get(SUMMARY('#nope:test.local'));
    expect(unknownAlias.status).toBe(404);
    expect(unknownAlias.body.errcode).toBe('M_NOT_FOUND');
    const roomId = await room({ preset: 'public_chat' });
    const badVia = await bob.get(SUMMARY(roomId, `via=${enc('bad server!')}`));
    expect(badVia.status).toBe(400);
    expect(badVia.body.errcode).toBe('M_INVALID_PARAM');
    const badToken = await anon.request('GET', SUMMARY(roomId), undefined, { token: 'not-a-token' });
    expect(badToken.status).toBe(401);
    expect(badToken.body.errcode).toBe('M_UNKNOWN_TOKEN');
  });
});
