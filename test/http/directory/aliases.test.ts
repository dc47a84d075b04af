// Room aliases: PUT/GET/DELETE /directory/room/{roomAlias}, GET /rooms/{roomId}/aliases,
// and the checks on m.room.canonical_alias. spec: client-server-api "Room aliases"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, getState, join, registerAdmin, setState } from './helpers.js';

const ALIAS = (a: string) => `/_matrix/client/v3/directory/room/${enc(a)}`;

describe.each(ENGINES)('room aliases (%s)', (engine) => {
  let server: TestServer;
  let alice: Client; // creates the rooms: room admin
  let bob: Client; // joins them: no power
  let carol: Client; // in no room
  let admin: Client; // server admin
  let anon: Client;
  let roomId: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    anon = new Client(server.baseUrl);
    await alice.register('alice');
    await bob.register('bob');
    await carol.register('carol');
    admin = await registerAdmin(server.baseUrl, 'root');
    roomId = await createRoom(alice, { preset: 'public_chat' });
    await join(bob, roomId);
  });
  afterAll(() => server.close());

  it('creates an alias that anyone can resolve, and refuses a second mapping with 409', async () => {
    const put = await bob.put(ALIAS('#cats:test.local'), { room_id: roomId });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toEqual({});
    const got = await anon.get(ALIAS('#cats:test.local'));
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ room_id: roomId, servers: ['test.local'] });

    const other = await createRoom(alice);
    const again = await alice.put(ALIAS('#cats:test.local'), { room_id: other });
    expect(again.status).toBe(409);
    expect(again.body.errcode).toBe('M_UNKNOWN');
    expect((await anon.get(ALIAS('#cats:test.local'))).body.room_id).toBe(roomId);
  });

  it('refuses malformed aliases, aliases of other servers and bad room IDs, creating nothing', async () => {
    for (const bad of ['#nocolon', 'cats2:test.local', '#a:b:c:d', '#x:bad server']) {
      const r = await alice.put(ALIAS(bad), { room_id: roomId });
      expect(r.status, bad).toBe(400);
      expect(r.body.errcode, bad).toBe('M_INVALID_PARAM');
    }
    const remote = await alice.put(ALIAS('#cats2:elsewhere.example'), { room_id: roomId });
    expect(remote.status).toBe(400);
    expect(remote.body.errcode).toBe('M_INVALID_PARAM');

    const missing = await alice.put(ALIAS('#cats2:test.local'), {});
    expect(missing.status).toBe(400);
    expect(missing.body.errcode).toBe('M_MISSING_PARAM');
    const notString = await alice.put(ALIAS('#cats2:test.local'), { room_id: 42 });
    expect(notString.status).toBe(400);
    expect(notString.body.errcode).toBe('M_BAD_JSON');
    const badRoom = await alice.put(ALIAS('#cats2:test.local'), { room_id: 'not-a-room' });
    expect(badRoom.status).toBe(400);
    expect(badRoom.body.errcode).toBe('M_INVALID_PARAM');
    const unknown = await alice.put(ALIAS('#cats2:test.local'), { room_id: '!nowhere:test.local' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe('M_NOT_FOUND');
    const tooLong = await alice.put(ALIAS(`#${'a'.repeat(260)}:test.local`), { room_id: roomId });
    expect(tooLong.status).toBe(400);

    expect((await anon.get(ALIAS('#cats2:test.local'))).status).toBe(404);
    expect((await alice.get<{ aliases: string[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/aliases`)).body.aliases).not.toContain('#cats2:test.local');
  });

  it('lets only members of the room (or server admins) add an alias', async () => {
    const outsider = await carol.put(ALIAS('#carols:test.local'), { room_id: roomId });
    expect(outsider.status).toBe(403);
    expect(outsider.body.errcode).toBe('M_FORBIDDEN');
    expect((await anon.get(ALIAS('#carols:test.local'))).status).toBe(404);

    const byAdmin = await admin.put(ALIAS('#admins:test.local'), { room_id: roomId });
    expect(byAdmin.status, JSON.stringify(byAdmin.body)).toBe(200);
    expect((await anon.get(ALIAS('#admins:test.local'))).body.room_id).toBe(roomId);

    const noToken = await anon.put(ALIAS('#anon:test.local'), { room_id: roomId });
    expect(noToken.status).toBe(401);
    expect(noToken.body.errcode).toBe('M_MISSING_TOKEN');

    const guest = await anon.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
    const asGuest = await anon.put(ALIAS('#guest:test.local'), { room_id: roomId }, { token: guest.body.access_token });
    expect(asGuest.status).toBe(403);
    expect(asGuest.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
    expect((await anon.get(ALIAS('#guest:test.local'))).status).toBe(404);
  });

  it('answers 404 for unknown aliases, 502 for those of servers that cannot be reached, and 400 for malformed ones', async () => {
    const unknown = await anon.get(ALIAS('#nothing:test.local'));
    expect(unknown.status).toBe(404);
    expect(unknown.body.errcode).toBe('M_NOT_FOUND');
    // An alias of another server is asked of that server (federation query/directory); one that
    // cannot be reached is 502.
    expect((await anon.get(ALIAS('#cats:elsewhere.example'))).status).toBe(502);
    const bad = await anon.get(ALIAS('nosigil'));
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe('M_INVALID_PARAM');
  });

  it('lists a room\'s local aliases to its members, and to nobody else unless history is world_readable', async () => {
    const rid = await createRoom(alice, { preset: 'public_chat', room_alias_name: 'listed' });
    await join(bob, rid);
    expect((await bob.put(ALIAS('#listed2:test.local'), { room_id: rid })).status).toBe(200);
    const path = `/_matrix/client/v3/rooms/${enc(rid)}/aliases`;
    const asMember = await bob.get<{ aliases: string[] }>(path);
    expect(asMember.status).toBe(200);
    expect(asMember.body.aliases.sort()).toEqual(['#listed2:test.local', '#listed:test.local']);

    const outsider = await carol.get(path);
    expect(outsider.status).toBe(403);
    expect(outsider.body.errcode).toBe('M_FORBIDDEN');
    expect((await admin.get(path)).status).toBe(200);
    expect((await anon.get(path)).status).toBe(401);

    // Someone who left is no longer in the room.
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(rid)}/leave`, {})).status).toBe(200);
    expect((await bob.get(path)).status).toBe(403);

    expect((await setState(alice, rid, 'm.room.history_visibility', '', { history_visibility: 'world_readable' })).status).toBe(200);
    const readable = await carol.get<{ aliases: string[] }>(path);
    expect(readable.status).toBe(200);
    expect(readable.body.aliases).toContain('#listed:test.local');

    expect((await alice.get('/_matrix/client/v3/rooms/not-a-room/aliases')).body.errcode).toBe('M_INVALID_PARAM');
    expect((await alice.get(`/_matrix/client/v3/rooms/${enc('!unknown:test.local')}/aliases`)).status).toBe(403);
  });

  it('lets the alias creator, room moderators and server admins delete an alias, and nobody else', async () => {
    const rid = await createRoom(alice, { preset: 'public_chat' });
    await join(bob, rid);
    await join(carol, rid);
    for (const a of ['#del1:test.local', '#del2:test.local', '#del3:test.local']) expect((await bob.put(ALIAS(a), { room_id: rid })).status).toBe(200);

    // carol is in the room but neither created the alias nor may send m.room.canonical_alias.
    const denied = await carol.delete(ALIAS('#del1:test.local'));
    expect(denied.status).toBe(403);
    expect(denied.body.errcode).toBe('M_FORBIDDEN');
    expect((await anon.get(ALIAS('#del1:test.local'))).body.room_id).toBe(rid);
    expect((await anon.delete(ALIAS('#del1:test.local'))).status).toBe(401);

    expect((await bob.delete(ALIAS('#del1:test.local'))).status).toBe(200); // the creator
    expect((await anon.get(ALIAS('#del1:test.local'))).status).toBe(404);
    expect((await alice.delete(ALIAS('#del2:test.local'))).status).toBe(200); // a room admin
    expect((await anon.get(ALIAS('#del2:test.local'))).status).toBe(404);
    expect((await admin.delete(ALIAS('#del3:test.local'))).status).toBe(200); // a server admin
    expect((await anon.get(ALIAS('#del3:test.local'))).status).toBe(404);

    const gone = await bob.delete(ALIAS('#del1:test.local'));
    expect(gone.status).toBe(404);
    expect(gone.body.errcode).toBe('M_NOT_FOUND');
    expect((await bob.delete(ALIAS('#x:elsewhere.example'))).status).toBe(404);
    expect((await bob.delete(ALIAS('nosigil'))).body.errcode).toBe('M_INVALID_PARAM');
  });

  it('a room member whose power is raised may delete others\' aliases', async () => {
    const rid = await createRoom(alice, { preset: 'public_chat', room_version: '10' });
    await join(bob, rid);
    await join(carol, rid);
    expect((await bob.put(ALIAS('#pl:test.local'), { room_id: rid })).status).toBe(200);
    expect((await carol.delete(ALIAS('#pl:test.local'))).status).toBe(403);
    const pl = (await getState(alice, rid, 'm.room.power_levels')).body as { users: Record<string, number> };
    pl.users['@carol:test.local'] = 50;
    expect((await setState(alice, rid, 'm.room.power_levels', '', pl)).status).toBe(200);
    expect((await carol.delete(ALIAS('#pl:test.local'))).status).toBe(200);
  });

  describe('m.room.canonical_alias', () => {
    let rid: string;
    let elsewhere: string;
    beforeAll(async () => {
      rid = await createRoom(alice, { preset: 'public_chat' });
      elsewhere = await createRoom(alice);
      await join(bob, rid);
      for (const a of ['#ca1', '#ca2', '#ca3']) expect((await alice.put(ALIAS(`${a}:test.local`), { room_id: rid })).status).toBe(200);
      expect((await bob.put(ALIAS('#cabob:test.local'), { room_id: rid })).status).toBe(200);
      expect((await alice.put(ALIAS('#other:test.local'), { room_id: elsewhere })).status).toBe(200);
    });

    it('accepts aliases that point to the room', async () => {
      const r = await setState(alice, rid, 'm.room.canonical_alias', '', { alias: '#ca1:test.local', alt_aliases: ['#ca1:test.local', '#ca2:test.local'] });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    });

    it('refuses aliases that point elsewhere or nowhere with M_BAD_ALIAS, and bad syntax with M_INVALID_PARAM', async () => {
      const before = (await getState(alice, rid, 'm.room.canonical_alias')).body;
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ alias: '#other:test.local' }, 'M_BAD_ALIAS'],
        [{ alias: '#unknown:test.local' }, 'M_BAD_ALIAS'],
        [{ alias: '#ca1:test.local', alt_aliases: ['#ca2:test.local', '#unknown:test.local'] }, 'M_BAD_ALIAS'],
        [{ alias: '#somewhere:elsewhere.example' }, 'M_BAD_ALIAS'],
        [{ alias: 'not-an-alias' }, 'M_INVALID_PARAM'],
        [{ alias: 42 }, 'M_INVALID_PARAM'],
        [{ alias: '#ca1:test.local', alt_aliases: '#ca2:test.local' }, 'M_INVALID_PARAM'],
        [{ alt_aliases: [null] }, 'M_INVALID_PARAM'],
        [{ alt_aliases: ['#bad'] }, 'M_INVALID_PARAM'],
      ];
      for (const [content, errcode] of cases) {
        const r = await setState(alice, rid, 'm.room.canonical_alias', '', content);
        expect(r.status, JSON.stringify(content)).toBe(400);
        expect(r.body.errcode, JSON.stringify(content)).toBe(errcode);
      }
      expect((await getState(alice, rid, 'm.room.canonical_alias')).body).toEqual(before);
    });

    it('accepts an empty or null alias, and a state key other than "" is not checked', async () => {
      expect((await setState(alice, rid, 'm.room.canonical_alias', '', { alias: null, alt_aliases: ['#ca2:test.local'] })).status).toBe(200);
      expect((await setState(alice, rid, 'm.room.canonical_alias', '', { alias: '' })).status).toBe(200);
      expect((await setState(alice, rid, 'm.room.canonical_alias', 'x', { alias: '#unknown:test.local' })).status).toBe(200);
    });

    it('takes a deleted alias out of the canonical alias event', async () => {
      expect((await setState(alice, rid, 'm.room.canonical_alias', '', { alias: '#ca1:test.local', alt_aliases: ['#ca1:test.local', '#ca2:test.local'] })).status).toBe(200);
      expect((await alice.delete(ALIAS('#ca1:test.local'))).status).toBe(200);
      expect((await getState(alice, rid, 'm.room.canonical_alias')).body).toEqual({ alt_aliases: ['#ca2:test.local'] });
      expect((await alice.delete(ALIAS('#ca2:test.local'))).status).toBe(200);
      expect((await getState(alice, rid, 'm.room.canonical_alias')).body).toEqual({});
    });

    it('deletes the alias even when its creator may not edit the canonical alias event; only new aliases are checked later', async () => {
      expect((await setState(alice, rid, 'm.room.canonical_alias', '', { alias: '#cabob:test.local' })).status).toBe(200);
      const del = await bob.delete(ALIAS('#cabob:test.local'));
      expect(del.status, JSON.stringify(del.body)).toBe(200);
      expect((await anon.get(ALIAS('#cabob:test.local'))).status).toBe(404);
      expect((await getState(alice, rid, 'm.room.canonical_alias')).body).toEqual({ alias: '#cabob:test.local' });
      // The stale alias was already there; adding a valid alternative is fine, adding a stale one is not.
      expect((await setState(alice, rid, 'm.room.canonical_alias', '', { alias: '#cabob:test.local', alt_aliases: ['#ca3:test.local'] })).status).toBe(200);
      expect((await setState(alice, rid, 'm.room.canonical_alias', '', { alias: '#ca3:test.local', alt_aliases: ['#ca1:test.local'] })).body.errcode).toBe('M_BAD_ALIAS');
    });

    it('createRoom with room_alias_name creates the alias and the canonical alias', async () => {
      const r = await createRoom(alice, { room_alias_name: 'fresh' });
      expect((await anon.get(ALIAS('#fresh:test.local'))).body.room_id).toBe(r);
      expect((await getState(alice, r, 'm.room.canonical_alias')).body).toEqual({ alias: '#fresh:test.local' });
    });
  });
});
