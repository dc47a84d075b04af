// The published room directory: GET/PUT /directory/list/room/{roomId}, GET and POST /publicRooms.
// spec: client-server-api "Published room directory"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, registerAdmin, setState } from './helpers.js';

const LIST = (roomId: string) => `/_matrix/client/v3/directory/list/room/${enc(roomId)}`;
const PUBLIC_ROOMS = '/_matrix/client/v3/publicRooms';

interface Chunk { room_id: string; num_joined_members: number; name?: string; topic?: string; canonical_alias?: string; world_readable: boolean; guest_can_join: boolean; join_rule?: string; room_type?: string; avatar_url?: string }
interface Page { chunk: Chunk[]; next_batch?: string; prev_batch?: string; total_room_count_estimate: number }

describe.each(ENGINES)('published room directory (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let admin: Client;
  let anon: Client;

  beforeAll(async () => {
    server = await startTestServer(engine);
    [alice, bob, carol, anon] = [0, 1, 2, 3].map(() => new Client(server.baseUrl));
    await alice.register('alice');
    await bob.register('bob');
    await carol.register('carol');
    admin = await registerAdmin(server.baseUrl, 'root');
  });
  afterAll(() => server.close());

  describe('directory visibility', () => {
    it('reads the visibility without a token; createRoom with visibility public publishes', async () => {
      const priv = await createRoom(alice);
      const pub = await createRoom(alice, { visibility: 'public', preset: 'public_chat' });
      expect((await anon.get(LIST(priv))).body).toEqual({ visibility: 'private' });
      expect((await anon.get(LIST(pub))).body).toEqual({ visibility: 'public' });
      const unknown = await anon.get(LIST('!nowhere:test.local'));
      expect(unknown.status).toBe(404);
      expect(unknown.body.errcode).toBe('M_NOT_FOUND');
      const bad = await anon.get(LIST('nowhere'));
      expect(bad.status).toBe(400);
      expect(bad.body.errcode).toBe('M_INVALID_PARAM');
    });

    it('lets room moderators and server admins change it, and nobody else', async () => {
      const rid = await createRoom(alice, { preset: 'public_chat' });
      await join(bob, rid);
      const member = await bob.put(LIST(rid), { visibility: 'public' });
      expect(member.status).toBe(403);
      expect(member.body.errcode).toBe('M_FORBIDDEN');
      expect((await carol.put(LIST(rid), { visibility: 'public' })).status).toBe(403);
      expect((await anon.put(LIST(rid), { visibility: 'public' })).status).toBe(401);
      expect((await anon.get(LIST(rid))).body.visibility).toBe('private');

      expect((await alice.put(LIST(rid), { visibility: 'public' })).status).toBe(200);
      expect((await anon.get(LIST(rid))).body.visibility).toBe('public');
      expect((await admin.put(LIST(rid), { visibility: 'private' })).status).toBe(200);
      expect((await anon.get(LIST(rid))).body.visibility).toBe('private');
      // spec: visibility defaults to public.
      expect((await alice.put(LIST(rid), {})).status).toBe(200);
      expect((await anon.get(LIST(rid))).body.visibility).toBe('public');

      // A moderator who left the room has no say any more.
      expect((await alice.post(`/_matrix/client/v3/rooms/${enc(rid)}/leave`, {})).status).toBe(200);
      expect((await alice.put(LIST(rid), { visibility: 'private' })).status).toBe(403);
      expect((await anon.get(LIST(rid))).body.visibility).toBe('public');
    });

    it('refuses bad input and unknown rooms, changing nothing', async () => {
      const rid = await createRoom(alice, { preset: 'public_chat' });
      const bad = await alice.put(LIST(rid), { visibility: 'secret' });
      expect(bad.status).toBe(400);
      expect(bad.body.errcode).toBe('M_BAD_JSON');
      expect((await alice.put(LIST(rid), { visibility: true })).status).toBe(400);
      expect((await anon.get(LIST(rid))).body.visibility).toBe('private');
      expect((await alice.put(LIST('!nowhere:test.local'), { visibility: 'public' })).status).toBe(404);
      expect((await alice.put(LIST('nowhere'), { visibility: 'public' })).body.errcode).toBe('M_INVALID_PARAM');
    });
  });

  describe('listing', () => {
    // Rooms of this block: big (3 members), small (1), space (2), readable (invite-only but world_readable).
    let big: string;
    let small: string;
    let space: string;
    let readable: string;
    let unlisted: string;
    let hidden: string;
    let srv: TestServer;
    let a: Client;
    let b: Client;
    let c: Client;
    let anyone: Client;

    beforeAll(async () => {
      // A server of its own, so that only these rooms are published.
      srv = await startTestServer(engine);
      [a, b, c, anyone] = [0, 1, 2, 3].map(() => new Client(srv.baseUrl));
      await a.register('a');
      await b.register('b');
      await c.register('c');
      big = await createRoom(a, { visibility: 'public', preset: 'public_chat', name: 'Big Cheese', topic: 'All about cheddar', room_alias_name: 'big' });
      await join(b, big);
      await join(c, big);
      expect((await setState(a, big, 'm.room.avatar', '', { url: 'mxc://test.local/avatar' })).status).toBe(200);
      small = await createRoom(a, { visibility: 'public', preset: 'public_chat', name: 'Small talk' });
      space = await createRoom(a, { visibility: 'public', preset: 'public_chat', name: 'A space', creation_content: { type: 'm.space' } });
      await join(b, space);
      readable = await createRoom(a, { visibility: 'public', preset: 'private_chat', initial_state: [
        { type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } },
        { type: 'm.room.guest_access', content: { guest_access: 'can_join' } },
        { type: 'm.room.topic', content: { 'm.topic': { 'm.text': [{ mimetype: 'text/html', body: '<b>Readers</b>' }, { body: 'Readers welcome' }] } } },
      ] });
      // Published but invite-only and not world_readable: not listed (as Synapse).
      hidden = await createRoom(a, { visibility: 'public', preset: 'private_chat' });
      // Public but not published.
      unlisted = await createRoom(a, { preset: 'public_chat', name: 'Unlisted' });
    });
    afterAll(() => srv.close());

    it('lists published rooms anyone may join or read, largest first, with the spec\'s fields', async () => {
      const r = await anyone.get<Page>(PUBLIC_ROOMS);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const ids = r.body.chunk.map((x) => x.room_id);
      expect(ids.slice(0, 2)).toEqual([big, space]);
      expect(ids.slice(2).sort()).toEqual([readable, small].sort());
      expect(ids).not.toContain(hidden);
      expect(ids).not.toContain(unlisted);
      expect(r.body.total_room_count_estimate).toBe(4);
      expect(r.body.next_batch).toBeUndefined();
      expect(r.body.prev_batch).toBeUndefined();

      const byId = new Map(r.body.chunk.map((x) => [x.room_id, x]));
      expect(byId.get(big)).toEqual({
        room_id: big, num_joined_members: 3, name: 'Big Cheese', topic: 'All about cheddar', canonical_alias: '#big:test.local',
        avatar_url: 'mxc://test.local/avatar', world_readable: false, guest_can_join: false, join_rule: 'public',
      });
      expect(byId.get(space)).toMatchObject({ room_type: 'm.space', num_joined_members: 2 });
      expect(byId.get(readable)).toEqual({
        room_id: readable, num_joined_members: 1, topic: 'Readers welcome', world_readable: true, guest_can_join: true, join_rule: 'invite',
      });
    });

    it('pages forwards with next_batch and back with prev_batch', async () => {
      const p1 = await anyone.get<Page>(`${PUBLIC_ROOMS}?limit=1`);
      expect(p1.body.chunk.map((x) => x.room_id)).toEqual([big]);
      expect(p1.body.prev_batch).toBeUndefined();
      const p2 = await anyone.get<Page>(`${PUBLIC_ROOMS}?limit=2&since=${enc(p1.body.next_batch as string)}`);
      expect(p2.body.chunk.map((x) => x.room_id)[0]).toBe(space);
      expect(p2.body.chunk).toHaveLength(2);
      expect(p2.body.prev_batch).toBeDefined();
      const p3 = await anyone.get<Page>(`${PUBLIC_ROOMS}?limit=2&since=${enc(p2.body.next_batch as string)}`);
      expect(p3.body.chunk).toHaveLength(1);
      expect(p3.body.next_batch).toBeUndefined();
      const all = [...p1.body.chunk, ...p2.body.chunk, ...p3.body.chunk].map((x) => x.room_id);
      expect(new Set(all).size).toBe(4);

      const back = await anyone.get<Page>(`${PUBLIC_ROOMS}?limit=2&since=${enc(p3.body.prev_batch as string)}`);
      expect(back.body.chunk.map((x) => x.room_id)).toEqual(p2.body.chunk.map((x) => x.room_id));
      const first = await anyone.get<Page>(`${PUBLIC_ROOMS}?limit=5&since=${enc(p2.body.prev_batch as string)}`);
      expect(first.body.chunk.map((x) => x.room_id)).toEqual([big]);
      expect(first.body.prev_batch).toBeUndefined();
      expect(first.body.next_batch).toBeDefined();

      // The same through POST.
      const post = await a.post<Page>(PUBLIC_ROOMS, { limit: 1, since: p1.body.next_batch });
      expect(post.body.chunk.map((x) => x.room_id)).toEqual([space]);
    });

    it('filters by a search term over name, topic and canonical alias, case-insensitively', async () => {
      const search = async (term: string) => (await a.post<Page>(PUBLIC_ROOMS, { filter: { generic_search_term: term } })).body.chunk.map((x) => x.room_id);
      expect(await search('CHEESE')).toEqual([big]);
      expect(await search('cheddar')).toEqual([big]);
      expect(await search('#big:')).toEqual([big]);
      expect(await search('readers')).toEqual([readable]);
      expect(await search('talk')).toEqual([small]);
      expect(await search('no such room')).toEqual([]);
      expect(await search('unlisted')).toEqual([]);
      expect((await search('')).length).toBe(4);
    });

    it('filters by room type, null meaning rooms without one', async () => {
      const types = async (room_types: Array<string | null>) => (await a.post<Page>(PUBLIC_ROOMS, { filter: { room_types } })).body.chunk.map((x) => x.room_id);
      expect(await types(['m.space'])).toEqual([space]);
      expect((await types([null])).sort()).toEqual([big, small, readable].sort());
      expect((await types([null, 'm.space'])).length).toBe(4);
      expect(await types(['org.example.other'])).toEqual([]);
      expect((await types([])).length).toBe(4);
    });

    it('accepts the network options; a third-party network has no rooms here', async () => {
      expect((await a.post<Page>(PUBLIC_ROOMS, { include_all_networks: true })).body.chunk.length).toBe(4);
      expect((await a.post<Page>(PUBLIC_ROOMS, { include_all_networks: false })).body.chunk.length).toBe(4);
      const irc = await a.post<Page>(PUBLIC_ROOMS, { third_party_instance_id: 'irc' });
      expect(irc.status).toBe(200);
      expect(irc.body.chunk).toEqual([]);
      const both = await a.post(PUBLIC_ROOMS, { include_all_networks: true, third_party_instance_id: 'irc' });
      expect(both.status).toBe(400);
      expect(both.body.errcode).toBe('M_INVALID_PARAM');
    });

    it('serves its own server, refuses others (no federation yet) and malformed server names', async () => {
      expect((await anyone.get<Page>(`${PUBLIC_ROOMS}?server=test.local`)).body.chunk.length).toBe(4);
      expect((await a.post<Page>(`${PUBLIC_ROOMS}?server=test.local`, {})).body.chunk.length).toBe(4);
      const remote = await anyone.get(`${PUBLIC_ROOMS}?server=elsewhere.example`);
      expect(remote.status).toBe(502);
      expect(remote.body.errcode).toBe('M_UNKNOWN');
      const bad = await a.post(`${PUBLIC_ROOMS}?server=${enc('bad server')}`, {});
      expect(bad.status).toBe(400);
      expect(bad.body.errcode).toBe('M_INVALID_PARAM');
    });

    it('refuses bad limits, tokens and filters', async () => {
      for (const q of ['limit=abc', 'limit=-1', 'since=garbage', `since=${enc('x1_!a:b')}`]) {
        const r = await anyone.get(`${PUBLIC_ROOMS}?${q}`);
        expect(r.status, q).toBe(400);
        expect(r.body.errcode, q).toBe('M_INVALID_PARAM');
      }
      for (const body of [{ limit: -1 }, { limit: 1.5 }, { limit: '5' }, { filter: { room_types: 'm.space' } }, { filter: { generic_search_term: 5 } }, { filter: 'x' }, { include_all_networks: 'yes' }]) {
        const r = await a.post(PUBLIC_ROOMS, body);
        expect(r.status, JSON.stringify(body)).toBe(400);
        expect(r.body.errcode, JSON.stringify(body)).toBe('M_BAD_JSON');
      }
      expect((await a.post(PUBLIC_ROOMS, { since: 'garbage' })).body.errcode).toBe('M_INVALID_PARAM');
    });

    it('needs a token for POST but not GET; guests may use both', async () => {
      expect((await anyone.post(PUBLIC_ROOMS, {})).status).toBe(401);
      const guest = await anyone.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
      expect((await anyone.get(PUBLIC_ROOMS, { token: guest.body.access_token })).status).toBe(200);
      expect((await anyone.post(PUBLIC_ROOMS, {}, { token: guest.body.access_token })).status).toBe(200);
    });

    it('follows changes: renamed, redacted, emptied and unpublished rooms', async () => {
      const r = await createRoom(a, { visibility: 'public', preset: 'public_chat', name: 'Before', topic: 'Secret topic' });
      const find = async () => (await anyone.get<Page>(PUBLIC_ROOMS)).body.chunk.find((x) => x.room_id === r);
      expect((await find())?.name).toBe('Before');
      expect((await setState(a, r, 'm.room.name', '', { name: 'After' })).status).toBe(200);
      expect((await find())?.name).toBe('After');

      // A redacted topic is no topic.
      const topic = await a.get<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(r)}/state/m.room.topic?format=event`);
      expect((await find())?.topic).toBe('Secret topic');
      expect((await a.put(`/_matrix/client/v3/rooms/${enc(r)}/redact/${enc(topic.body.event_id)}/t1`, {})).status).toBe(200);
      expect((await find())?.topic).toBeUndefined();

      expect((await join(b, r), (await find())?.num_joined_members)).toBe(2);
      expect((await a.put(LIST(r), { visibility: 'private' })).status).toBe(200);
      expect(await find()).toBeUndefined();
      expect((await a.put(LIST(r), { visibility: 'public' })).status).toBe(200);
      expect(await find()).toBeDefined();

      // A room nobody is in is not listed.
      await a.post(`/_matrix/client/v3/rooms/${enc(r)}/leave`, {});
      await b.post(`/_matrix/client/v3/rooms/${enc(r)}/leave`, {});
      expect(await find()).toBeUndefined();
    });
  });
});
