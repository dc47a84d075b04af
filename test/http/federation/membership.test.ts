// Rooms shared across three Weft servers over real HTTPS federation: joining a remote room (by
// ID with `via`, by an alias of another server, through a server that joined itself), chat both ways, invites both ways, an
// invite rejected, a leave and a ban seen by every server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';

type Msgs = { chunk: Array<{ type: string; sender: string; content: Record<string, unknown>; event_id: string }> };

// One server per engine available (PostgreSQL first when reachable), the others on SQLite.
const engines = ENGINES.includes('postgres') ? ['postgres', 'sqlite', 'sqlite'] as const : ['sqlite'] as const;

describe('membership across servers', () => {
  let a: FederatedServer, b: FederatedServer, c: FederatedServer;
  let alice: { client: Client; userId: string }, bob: { client: Client; userId: string }, carol: { client: Client; userId: string };

  beforeAll(async () => {
    [a, b, c] = await startFederation([...engines], 3);
    [alice, bob, carol] = await Promise.all([a.user('alice'), b.user('bob'), c.user('carol')]);
  }, 60_000);
  afterAll(async () => { await Promise.all([a, b, c].map((s) => s?.close())); });

  const enc = encodeURIComponent;
  const messages = (u: { client: Client }, roomId: string) => u.client.get<Msgs>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`);
  const members = async (u: { client: Client }, roomId: string) =>
    Object.keys((await u.client.get<{ joined: Record<string, unknown> }>(`/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`)).body.joined ?? {}).sort();
  const sees = (u: { client: Client }, roomId: string, body: string) => eventually(async () => {
    const r = await messages(u, roomId);
    return r.status === 200 && r.body.chunk.some((e) => e.content.body === body);
  }, 15_000, `"${body}" to arrive`);
  const say = async (u: { client: Client }, roomId: string, body: string) => {
    const r = await u.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${Math.random()}`, { msgtype: 'm.text', body });
    expect(r.status).toBe(200);
  };

  it('joins a remote room by ID and chats both ways', async () => {
    const created = await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat', name: 'Lobby', room_alias_name: 'lobby' });
    const roomId = created.body.room_id;
    await say(alice, roomId, 'before bob');

    const joined = await bob.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.serverName)}`, {});
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    expect(joined.body.room_id).toBe(roomId);
    expect(await members(bob, roomId)).toEqual([alice.userId, bob.userId].sort());
    // The room's name came with the state.
    const name = await bob.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.name/`);
    expect(name.body.name).toBe('Lobby');
    await eventually(async () => (await members(alice, roomId)).includes(bob.userId), 15_000, 'bob\'s join to reach A');

    await say(bob, roomId, 'hello from B');
    await sees(alice, roomId, 'hello from B');
    await say(alice, roomId, 'hello from A');
    await sees(bob, roomId, 'hello from A');

    // carol joins by the alias, which lives on A (query/directory on A names the servers), and
    // all three servers chat.
    const byAlias = await carol.client.post(`/_matrix/client/v3/join/${enc(`#lobby:${a.serverName}`)}`, {});
    expect(byAlias.status, JSON.stringify(byAlias.body)).toBe(200);
    expect(byAlias.body.room_id).toBe(roomId);
    await say(carol, roomId, 'hello from C');
    await sees(alice, roomId, 'hello from C');
    await sees(bob, roomId, 'hello from C');
    await eventually(async () => (await members(bob, roomId)).length === 3, 15_000, 'carol\'s join to reach B');

    // A leave and a ban go to every server.
    expect((await bob.client.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {})).status).toBe(200);
    await eventually(async () => !(await members(alice, roomId)).includes(bob.userId), 15_000, 'bob\'s leave to reach A');
    await eventually(async () => !(await members(carol, roomId)).includes(bob.userId), 15_000, 'bob\'s leave to reach C');
    expect((await alice.client.post(`/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: carol.userId, reason: 'test' })).status).toBe(200);
    await eventually(async () => {
      const m = await carol.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(carol.userId)}`);
      return m.body.membership === 'ban';
    }, 15_000, 'the ban to reach C');
    // Banned, carol can no longer send (her server knows it) and A has the room without her.
    const refused = await carol.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/after-ban`, { msgtype: 'm.text', body: 'nope' });
    expect(refused.status).toBe(403);
    expect(await members(alice, roomId)).toEqual([alice.userId]);

    // bob comes back: B holds the room's old state, joins again through A and builds on the new one.
    const rejoin = await bob.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.serverName)}`, {});
    expect(rejoin.status, JSON.stringify(rejoin.body)).toBe(200);
    expect(await members(bob, roomId)).toEqual([alice.userId, bob.userId].sort());
    await say(bob, roomId, 'back again');
    await sees(alice, roomId, 'back again');
    expect(await b.hs.storage.events.forwardExtremities(roomId)).toHaveLength(1);
  }, 90_000);

  it('invites across servers both ways, and an invite can be rejected', async () => {
    // A invites C's user into a private room: C counter-signs, carol sees the invite and joins.
    const room = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'private_chat', name: 'Private' })).body.room_id;
    const invited = await alice.client.post(`/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: carol.userId });
    expect(invited.status, JSON.stringify(invited.body)).toBe(200);
    const sync = await carol.client.get<{ rooms?: { invite?: Record<string, { invite_state: { events: Array<{ type: string; content: Record<string, unknown> }> } }> } }>('/_matrix/client/v3/sync');
    const invite = sync.body.rooms?.invite?.[room];
    expect(invite).toBeDefined();
    expect(invite!.invite_state.events.find((e) => e.type === 'm.room.name')?.content.name).toBe('Private');
    const join = await carol.client.post(`/_matrix/client/v3/rooms/${enc(room)}/join`, {});
    expect(join.status, JSON.stringify(join.body)).toBe(200);
    expect(await members(carol, room)).toEqual([alice.userId, carol.userId].sort());

    // C's user invites B's user into a room on C; B's user rejects it; C learns of the rejection.
    const cRoom = (await carol.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'private_chat' })).body.room_id;
    expect((await carol.client.post(`/_matrix/client/v3/rooms/${enc(cRoom)}/invite`, { user_id: bob.userId })).status).toBe(200);
    await eventually(async () => (await bob.client.get<{ rooms?: { invite?: Record<string, unknown> } }>('/_matrix/client/v3/sync')).body.rooms?.invite?.[cRoom] !== undefined, 10_000, 'the invite on B');
    const rejected = await bob.client.post(`/_matrix/client/v3/rooms/${enc(cRoom)}/leave`, {});
    expect(rejected.status, JSON.stringify(rejected.body)).toBe(200);
    const bobOnC = await carol.client.get(`/_matrix/client/v3/rooms/${enc(cRoom)}/state/m.room.member/${enc(bob.userId)}`);
    expect(bobOnC.body.membership).toBe('leave');
    const after = await bob.client.get<{ rooms?: { invite?: Record<string, unknown>; leave?: Record<string, unknown> } }>('/_matrix/client/v3/sync');
    expect(after.body.rooms?.invite?.[cRoom]).toBeUndefined();
  }, 60_000);

  it('a remote alias that does not exist is 404, and B can answer make_join for a room it joined', async () => {
    const missing = await bob.client.post(`/_matrix/client/v3/join/${enc(`#nowhere:${a.serverName}`)}`, {});
    expect(missing.status).toBe(404);
    const room = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    expect((await bob.client.post(`/_matrix/client/v3/join/${enc(room)}?via=${enc(a.serverName)}`, {})).status).toBe(200);
    // C joins through B only: B is a resident server now.
    const viaB = await carol.client.post(`/_matrix/client/v3/join/${enc(room)}?via=${enc(b.serverName)}`, {});
    expect(viaB.status, JSON.stringify(viaB.body)).toBe(200);
    await eventually(async () => (await members(alice, room)).includes(carol.userId), 15_000, 'carol\'s join (through B) on A');
  }, 60_000);

  it('an invite the invited server cannot countersign is not sent', async () => {
    const room = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'private_chat' })).body.room_id;
    const ghost = '@ghost:127.0.0.1:1'; // nothing listens there
    const r = await alice.client.post(`/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: ghost });
    expect(r.status).toBe(502);
    expect(await a.hs.storage.rooms.membership(room, ghost)).toBeUndefined();
    // An unknown user of a server that answers: 404 from it, no invite either.
    const nobody = `@nobody:${b.serverName}`;
    const r2 = await alice.client.post(`/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: nobody });
    expect(r2.status).toBe(404);
    expect(await a.hs.storage.rooms.membership(room, nobody)).toBeUndefined();
  }, 30_000);

  it('refuses to join a room whose server says no, and joins nothing', async () => {
    const room = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'private_chat' })).body.room_id;
    const r = await bob.client.post(`/_matrix/client/v3/join/${enc(room)}?via=${enc(a.serverName)}`, {});
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_FORBIDDEN');
    expect(await b.hs.storage.events.getRoom(room)).toBeUndefined();
    expect(await a.hs.storage.rooms.membership(room, bob.userId)).toBeUndefined();
  }, 30_000);

  it('refuses an invite to a user of another server who blocks invites, and stores nothing', async () => {
    const room = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'private_chat' })).body.room_id;
    const config = `/_matrix/client/v3/user/${enc(carol.userId)}/account_data/m.invite_permission_config`;
    expect((await carol.client.put(config, { default_action: 'block' })).status).toBe(200);
    const invited = await alice.client.post<{ errcode?: string }>(`/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: carol.userId });
    expect(invited.status).toBe(403);
    expect(invited.body.errcode).toBe('M_INVITE_BLOCKED');
    expect(await c.hs.storage.rooms.membership(room, carol.userId)).toBeUndefined();
    expect(await a.hs.storage.rooms.membership(room, carol.userId)).toBeUndefined();
    expect((await carol.client.put(config, {})).status).toBe(200);
  }, 30_000);
});
