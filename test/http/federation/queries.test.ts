// Queries between servers: profiles, room aliases, the published room directory (a client's
// `server=`), timestamp_to_event, and what a server answers about users and rooms that are not
// its own or do not exist.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, signedFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';

type User = { client: Client; userId: string; deviceId: string };
const engines = ENGINES.includes('postgres') ? ['sqlite', 'postgres'] as const : ['sqlite'] as const;
const enc = encodeURIComponent;

describe('federation queries', () => {
  let a: FederatedServer;
  let b: FederatedServer;
  let alice: User;
  let bob: User;
  let roomId: string;

  beforeAll(async () => {
    [a, b] = await startFederation([...engines], 2);
    [alice, bob] = await Promise.all([a.user('alice'), b.user('bob')]);
    await alice.client.put(`/_matrix/client/v3/profile/${enc(alice.userId)}/displayname`, { displayname: 'Alice A.' });
    await alice.client.put(`/_matrix/client/v3/profile/${enc(alice.userId)}/m.tz`, { 'm.tz': 'Europe/Paris' });
    const created = await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {
      preset: 'public_chat', name: 'Federated lobby', topic: 'all welcome', room_alias_name: 'lobby', visibility: 'public',
    });
    roomId = created.body.room_id;
  }, 60_000);
  afterAll(async () => { await Promise.all([a?.close(), b?.close()]); });

  it('a client reads the profile of a user on another server', async () => {
    const p = await bob.client.get(`/_matrix/client/v3/profile/${enc(alice.userId)}`);
    expect(p).toMatchObject({ status: 200, body: { displayname: 'Alice A.', 'm.tz': 'Europe/Paris' } });
    const field = await bob.client.get(`/_matrix/client/v3/profile/${enc(alice.userId)}/displayname`);
    expect(field).toMatchObject({ status: 200, body: { displayname: 'Alice A.' } });
    const missing = await bob.client.get(`/_matrix/client/v3/profile/${enc(alice.userId)}/avatar_url`);
    expect(missing).toMatchObject({ status: 404, body: { errcode: 'M_NOT_FOUND' } });
    const nobody = await bob.client.get(`/_matrix/client/v3/profile/${enc(`@nobody:${a.serverName}`)}`);
    expect(nobody).toMatchObject({ status: 404, body: { errcode: 'M_NOT_FOUND' } });
    const unreachable = await bob.client.get(`/_matrix/client/v3/profile/${enc('@x:127.0.0.1:1')}`);
    expect(unreachable.status).toBe(502);
  });

  it('without an access token, answers local profiles but not remote ones (no federation query for anyone)', async () => {
    const anon = { token: null };
    // Local: public as before.
    const local = await alice.client.get(`/_matrix/client/v3/profile/${enc(alice.userId)}`, anon);
    expect(local).toMatchObject({ status: 200, body: { displayname: 'Alice A.' } });
    expect(await alice.client.get(`/_matrix/client/v3/profile/${enc(alice.userId)}/displayname`, anon)).toMatchObject({ status: 200, body: { displayname: 'Alice A.' } });
    // Remote: 401 M_MISSING_TOKEN, for a reachable server and for one that is not (nothing was
    // sent: an attempt would have answered 502).
    for (const userId of [alice.userId, '@x:127.0.0.1:1']) {
      for (const path of [`/_matrix/client/v3/profile/${enc(userId)}`, `/_matrix/client/v3/profile/${enc(userId)}/displayname`]) {
        expect(await bob.client.get(path, anon), path).toMatchObject({ status: 401, body: { errcode: 'M_MISSING_TOKEN' } });
      }
    }
    // With a token (a guest's too) the lookup goes out.
    const guest = await bob.client.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, anon);
    expect(guest.status).toBe(200);
    const r = await bob.client.get(`/_matrix/client/v3/profile/${enc(alice.userId)}`, { token: guest.body.access_token });
    expect(r).toMatchObject({ status: 200, body: { displayname: 'Alice A.' } });
    expect(await bob.client.get(`/_matrix/client/v3/profile/${enc(alice.userId)}/displayname`)).toMatchObject({ status: 200, body: { displayname: 'Alice A.' } });
  });

  it('answers profile queries only for its own users', async () => {
    const other = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/query/profile?user_id=${enc(bob.userId)}`);
    expect(other).toMatchObject({ status: 404, body: { errcode: 'M_NOT_FOUND' } });
    const bad = await signedFetch(b, a, 'GET', '/_matrix/federation/v1/query/profile?user_id=notauser');
    expect(bad.status).toBe(400);
    const noParam = await signedFetch(b, a, 'GET', '/_matrix/federation/v1/query/profile');
    expect(noParam.status).toBe(400);
    const unknownQuery = await signedFetch(b, a, 'GET', '/_matrix/federation/v1/query/nonsense');
    expect(unknownQuery).toMatchObject({ status: 404, body: { errcode: 'M_UNRECOGNIZED' } });
  });

  it('resolves a room alias of another server', async () => {
    const alias = `#lobby:${a.serverName}`;
    const direct = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc(alias)}`);
    expect(direct).toMatchObject({ status: 200, body: { room_id: roomId, servers: [a.serverName] } });
    const viaClient = await bob.client.get(`/_matrix/client/v3/directory/room/${enc(alias)}`);
    expect(viaClient).toMatchObject({ status: 200, body: { room_id: roomId } });
    const missing = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc(`#nope:${a.serverName}`)}`);
    expect(missing).toMatchObject({ status: 404, body: { errcode: 'M_NOT_FOUND' } });
    const notOurs = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc(`#lobby:${b.serverName}`)}`);
    expect(notOurs.status).toBe(404);
  });

  it('lists another server\'s published rooms for a client (GET and POST with a filter)', async () => {
    const get = await bob.client.get<{ chunk: Array<{ room_id: string; name?: string; num_joined_members: number }> }>(`/_matrix/client/v3/publicRooms?server=${enc(a.serverName)}`);
    expect(get.status).toBe(200);
    expect(get.body.chunk).toEqual([expect.objectContaining({ room_id: roomId, name: 'Federated lobby', num_joined_members: 1 })]);
    const post = await bob.client.post<{ chunk: unknown[] }>(`/_matrix/client/v3/publicRooms?server=${enc(a.serverName)}`, { filter: { generic_search_term: 'lobby' }, limit: 5 });
    expect(post.status).toBe(200);
    expect(post.body.chunk).toHaveLength(1);
    const none = await bob.client.post<{ chunk: unknown[] }>(`/_matrix/client/v3/publicRooms?server=${enc(a.serverName)}`, { filter: { generic_search_term: 'zzz' } });
    expect(none.body.chunk).toEqual([]);
    const unreachable = await bob.client.get(`/_matrix/client/v3/publicRooms?server=${enc('127.0.0.1:1')}`);
    expect(unreachable.status).toBe(502);
    const own = await bob.client.get<{ chunk: unknown[] }>(`/_matrix/client/v3/publicRooms?server=${enc(b.serverName)}`);
    expect(own).toMatchObject({ status: 200, body: { chunk: [] } });
  });

  it('timestamp_to_event for a server in the room, refused for one that is not', async () => {
    const before = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/timestamp_to_event/${enc(roomId)}?ts=${Date.now()}&dir=b`);
    expect(before).toMatchObject({ status: 403, body: { errcode: 'M_FORBIDDEN' } });
    expect((await bob.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.serverName)}`, {})).status).toBe(200);
    await eventually(async () => (await a.hs.storage.rooms.membership(roomId, bob.userId)) === 'join', 15_000, 'bob\'s join on A');
    const r = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/timestamp_to_event/${enc(roomId)}?ts=${Date.now() + 60_000}&dir=b`);
    expect(r).toMatchObject({ status: 200, body: { event_id: expect.stringMatching(/^\$/), origin_server_ts: expect.any(Number) } });
    const first = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/timestamp_to_event/${enc(roomId)}?ts=0&dir=f`);
    expect(first.status).toBe(200);
    const badDir = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/timestamp_to_event/${enc(roomId)}?ts=0&dir=x`);
    expect(badDir.status).toBe(400);
  });

  it('spaces: serves a space\'s hierarchy to a server, and a client walks into rooms of another server', async () => {
    const mk = async (u: User, body: Record<string, unknown>) => (await u.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body)).body.room_id;
    const child = await mk(alice, { preset: 'public_chat', name: 'Child on A' });
    const secret = await mk(alice, { preset: 'private_chat', name: 'Secret on A' });
    const space = await mk(alice, { preset: 'public_chat', name: 'Space on A', creation_content: { type: 'm.space' } });
    for (const id of [child, secret]) {
      const r = await alice.client.put(`/_matrix/client/v3/rooms/${enc(space)}/state/m.space.child/${enc(id)}`, { via: [a.serverName], suggested: id === child });
      expect(r.status).toBe(200);
    }
    const served = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/hierarchy/${enc(space)}`);
    expect(served.status).toBe(200);
    expect(served.body.room).toMatchObject({ room_id: space, name: 'Space on A', room_type: 'm.space' });
    expect((served.body.room as { children_state: unknown[] }).children_state).toHaveLength(2);
    expect(served.body.children).toEqual([expect.objectContaining({ room_id: child, name: 'Child on A', children_state: [] })]);
    expect(served.body.inaccessible_children).toEqual([secret]);
    const suggested = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/hierarchy/${enc(space)}?suggested_only=true`);
    expect((suggested.body.room as { children_state: unknown[] }).children_state).toHaveLength(1);
    expect((await signedFetch(b, a, 'GET', `/_matrix/federation/v1/hierarchy/${enc(secret)}`)).status).toBe(404);

    // bob's space on B holds A's space: walking it reads A's rooms over federation.
    const bobSpace = await mk(bob, { preset: 'public_chat', name: 'Space on B', creation_content: { type: 'm.space' } });
    await bob.client.put(`/_matrix/client/v3/rooms/${enc(bobSpace)}/state/m.space.child/${enc(space)}`, { via: [a.serverName] });
    const walk = await bob.client.get<{ rooms: Array<{ room_id: string; name?: string }> }>(`/_matrix/client/v1/rooms/${enc(bobSpace)}/hierarchy`);
    expect(walk.status).toBe(200);
    expect(walk.body.rooms.map((r) => r.name)).toEqual(['Space on B', 'Space on A', 'Child on A']);
  });
});
