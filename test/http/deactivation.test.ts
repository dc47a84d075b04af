// What deactivating an account takes away: room memberships (joined rooms left, invites
// rejected, knocks withdrawn), the profile with its custom fields, and all account data.
// spec: client-server-api "POST /account/deactivate" (and its `erase` description)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

const PASSWORD = 'correct horse battery staple';
const enc = encodeURIComponent;
type Ev = { content: Record<string, unknown>; sender: string };

describe.each(ENGINES)('account deactivation (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    await alice.register('alice');
  });
  afterAll(() => server.close());

  const room = async (body: Record<string, unknown>) => {
    const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id;
  };
  const member = async (roomId: string, userId: string) =>
    (await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}?format=event`)).body;
  const deactivate = async (c: Client, user: string) => {
    const challenge = await c.post<{ session: string }>('/_matrix/client/v3/account/deactivate', {});
    expect(challenge.status).toBe(401);
    const r = await c.post('/_matrix/client/v3/account/deactivate', {
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user }, password: PASSWORD, session: challenge.body.session },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };

  it('leaves joined rooms, rejects invites and withdraws knocks, and keeps bans', async () => {
    const bob = new Client(server.baseUrl);
    const { user_id: bobId } = await bob.register('bob', PASSWORD);
    const joined = await room({ preset: 'public_chat' });
    const joinedToo = await room({ preset: 'public_chat' });
    const invited = await room({ preset: 'private_chat' });
    const knocked = await room({ preset: 'private_chat', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
    const banned = await room({ preset: 'public_chat' });
    for (const r of [joined, joinedToo, banned]) expect((await bob.post(`/_matrix/client/v3/join/${enc(r)}`, {})).status).toBe(200);
    await alice.post(`/_matrix/client/v3/rooms/${enc(invited)}/invite`, { user_id: bobId });
    expect((await bob.post(`/_matrix/client/v3/knock/${enc(knocked)}`, {})).status).toBe(200);
    await alice.post(`/_matrix/client/v3/rooms/${enc(banned)}/ban`, { user_id: bobId });

    await deactivate(bob, 'bob');

    for (const r of [joined, joinedToo, invited, knocked]) {
      const ev = await member(r, bobId);
      expect(ev.content).toEqual({ membership: 'leave' });
      expect(ev.sender).toBe(bobId);
    }
    expect((await member(banned, bobId)).content.membership).toBe('ban');
    const joinedMembers = (await alice.get<{ joined: Record<string, unknown> }>(`/_matrix/client/v3/rooms/${enc(joined)}/joined_members`)).body.joined;
    expect(Object.keys(joinedMembers)).toEqual(['@alice:test.local']);
    // The rooms left are forgotten, as Synapse does (the user cannot do it any more).
    for (const r of [joined, joinedToo, invited, knocked]) expect((await server.hs.storage.rooms.membershipRow(r, bobId))?.forgotten).toBe(true);
    expect((await server.hs.storage.rooms.membershipRow(banned, bobId))?.forgotten).toBe(false);
  });

  it('empties the profile, custom fields included, and deletes all account data', async () => {
    const carol = new Client(server.baseUrl);
    const { user_id: carolId } = await carol.register('carol', PASSWORD);
    const roomId = await room({ preset: 'public_chat' });
    await carol.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    const profile = `/_matrix/client/v3/profile/${enc(carolId)}`;
    expect((await carol.put(`${profile}/displayname`, { displayname: 'Carol' })).status).toBe(200);
    expect((await carol.put(`${profile}/m.tz`, { 'm.tz': 'Europe/Paris' })).status).toBe(200);
    expect((await carol.put(`${profile}/org.example.pronouns`, { 'org.example.pronouns': 'she/her' })).status).toBe(200);
    const account = `/_matrix/client/v3/user/${enc(carolId)}`;
    expect((await carol.put(`${account}/account_data/org.example.settings`, { theme: 'dark' })).status).toBe(200);
    expect((await carol.put(`${account}/account_data/m.ignored_user_list`, { ignored_users: { '@alice:test.local': {} } })).status).toBe(200);
    expect((await carol.put(`${account}/rooms/${enc(roomId)}/account_data/org.example.room`, { pinned: true })).status).toBe(200);
    expect((await carol.put(`${account}/rooms/${enc(roomId)}/tags/u.work`, {})).status).toBe(200);
    expect((await server.hs.storage.accountData.ignoredUsers(carolId)).has('@alice:test.local')).toBe(true);

    await deactivate(carol, 'carol');

    const seen = await alice.get(profile);
    expect(seen.status).toBe(200);
    expect(seen.body).toEqual({});
    expect((await alice.get(`${profile}/org.example.pronouns`)).status).toBe(404);
    expect((await alice.get(`${profile}/m.tz`)).status).toBe(404);
    const data = await server.hs.storage.accountData.changesSince(carolId, 0);
    expect(data.global).toEqual([]);
    expect(data.rooms).toEqual({});
    expect((await server.hs.storage.accountData.ignoredUsers(carolId)).size).toBe(0);
    // Another user's data is untouched.
    expect((await alice.put(`/_matrix/client/v3/user/${enc('@alice:test.local')}/account_data/org.example.settings`, { theme: 'light' })).status).toBe(200);
    expect((await alice.get(`/_matrix/client/v3/user/${enc('@alice:test.local')}/account_data/org.example.settings`)).body).toEqual({ theme: 'light' });
  });
});
