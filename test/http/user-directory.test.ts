// spec: client-server-api "User Directory" (POST /user_directory/search)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

const enc = encodeURIComponent;
const SEARCH = '/_matrix/client/v3/user_directory/search';
type Result = { user_id: string; display_name?: string; avatar_url?: string };
type Search = { results: Result[]; limited: boolean };

describe.each(ENGINES)('user directory (%s)', (engine) => {
  let server: TestServer;
  const clients = new Map<string, Client>();

  async function user(name: string, displayname?: string): Promise<Client> {
    const c = new Client(server.baseUrl);
    const { user_id } = await c.register(name);
    if (displayname !== undefined) await c.put(`/_matrix/client/v3/profile/${enc(user_id)}/displayname`, { displayname });
    clients.set(name, c);
    return c;
  }
  const room = async (c: Client, body: Record<string, unknown>) => (await c.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body)).body.room_id;
  const join = async (c: Client, roomId: string) => expect((await c.post(`/_matrix/client/v3/join/${enc(roomId)}`, {})).status).toBe(200);
  const search = async (c: Client, body: unknown) => c.post<Search>(SEARCH, body);
  const ids = (r: { body: Search }) => r.body.results.map((x) => x.user_id);

  beforeAll(async () => {
    server = await startTestServer(engine);
    const searcher = await user('searcher', 'The Searcher');
    // A private room shared with the searcher.
    const friend = await user('friend', 'Ärger Friend');
    await friend.put(`/_matrix/client/v3/profile/${enc('@friend:test.local')}/avatar_url`, { avatar_url: 'mxc://test.local/friend' });
    const shared = await room(searcher, { preset: 'private_chat', invite: ['@friend:test.local', '@invitee:test.local'] });
    await join(friend, shared);
    await user('invitee', 'Invited Only');
    // A public room the searcher is not in.
    const publicOwner = await user('pubowner', 'Public Owner');
    const pub = await room(publicOwner, { preset: 'public_chat' });
    await join(await user('stranger', 'Public Stranger'), pub);
    // A private room with world-readable history.
    const readableOwner = await user('readowner', 'Reader Owner');
    await room(readableOwner, { preset: 'private_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'world_readable' } }] });
    // A private room the searcher is not in: its members are hidden.
    const hidden = await user('hidden', 'Hidden Person');
    await room(hidden, { preset: 'private_chat' });
    // A user in no room at all.
    await user('loner', 'Lonely Person');
  });
  afterAll(() => server.close());

  it('finds users sharing a room with the searcher and users in public or world-readable rooms, and no others', async () => {
    const r = await search(clients.get('searcher') as Client, { search_term: '', limit: 50 });
    expect(r.status).toBe(200);
    expect(ids(r).sort()).toEqual(['@friend:test.local', '@pubowner:test.local', '@readowner:test.local', '@searcher:test.local', '@stranger:test.local']);
    expect(r.body.limited).toBe(false);
  });

  it('matches user IDs and display names case-insensitively, Unicode included', async () => {
    const s = clients.get('searcher') as Client;
    expect((await search(s, { search_term: 'ärger' })).body).toEqual({
      results: [{ user_id: '@friend:test.local', display_name: 'Ärger Friend', avatar_url: 'mxc://test.local/friend' }],
      limited: false,
    });
    expect(ids(await search(s, { search_term: 'ÄRGER' }))).toEqual(['@friend:test.local']);
    expect(ids(await search(s, { search_term: 'FRIEND' }))).toEqual(['@friend:test.local']);
    expect(ids(await search(s, { search_term: '@Stranger:TEST' }))).toEqual(['@stranger:test.local']);
    expect(ids(await search(s, { search_term: 'public' })).sort()).toEqual(['@pubowner:test.local', '@stranger:test.local']);
    expect((await search(s, { search_term: 'hidden' })).body).toEqual({ results: [], limited: false });
    expect(ids(await search(s, { search_term: 'lonely' }))).toEqual([]);
    expect(ids(await search(s, { search_term: 'invited' }))).toEqual([]);
  });

  it('ranks whole matches before prefixes before other matches', async () => {
    const s = clients.get('searcher') as Client;
    // "owner": a word of two display names and inside two user IDs; "readowner" is a whole localpart.
    expect(ids(await search(s, { search_term: 'readowner' }))).toEqual(['@readowner:test.local']);
    const r = await search(s, { search_term: 'o' });
    const ranks = ids(r);
    // "Owner" starts a word of both owners' names: they come before users matching elsewhere.
    expect(ranks.indexOf('@pubowner:test.local')).toBeLessThan(ranks.indexOf('@friend:test.local'));
    expect(ranks.indexOf('@readowner:test.local')).toBeLessThan(ranks.indexOf('@searcher:test.local'));
  });

  it('limits the results and says so', async () => {
    const s = clients.get('searcher') as Client;
    const r = await search(s, { search_term: 'test.local', limit: 2 });
    expect(r.body.results).toHaveLength(2);
    expect(r.body.limited).toBe(true);
    const all = await search(s, { search_term: 'test.local' });
    expect(all.body.results).toHaveLength(5);
    expect(all.body.limited).toBe(false);
    const none = await search(s, { search_term: 'test.local', limit: 0 });
    expect(none.body).toEqual({ results: [], limited: true });
  });

  it('follows membership changes and leaves deactivated users out', async () => {
    const s = clients.get('searcher') as Client;
    const late = await user('latecomer', 'Late Comer');
    expect(ids(await search(s, { search_term: 'late' }))).toEqual([]);
    const pub = await room(clients.get('pubowner') as Client, { preset: 'public_chat' });
    await join(late, pub);
    expect(ids(await search(s, { search_term: 'late' }))).toEqual(['@latecomer:test.local']);
    await late.post(`/_matrix/client/v3/rooms/${enc(pub)}/leave`, {});
    expect(ids(await search(s, { search_term: 'late' }))).toEqual([]);

    const gone = await user('goner', 'Soon Gone');
    await join(gone, pub);
    expect(ids(await search(s, { search_term: 'goner' }))).toEqual(['@goner:test.local']);
    const challenge = await gone.post<{ session: string }>('/_matrix/client/v3/account/deactivate', {});
    const deactivated = await gone.post('/_matrix/client/v3/account/deactivate', {
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'goner' }, password: 'correct horse battery staple', session: challenge.body.session },
    });
    expect(deactivated.status).toBe(200);
    expect(ids(await search(s, { search_term: 'goner' }))).toEqual([]);
  });

  it('rejects bad requests', async () => {
    const s = clients.get('searcher') as Client;
    const missing = await search(s, { limit: 5 });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ errcode: 'M_MISSING_PARAM' });
    for (const body of [{ search_term: 5 }, { search_term: 'x', limit: -1 }, { search_term: 'x', limit: '5' }, { search_term: 'x', limit: 1.5 }, ['x']]) {
      const r = await search(s, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ errcode: 'M_BAD_JSON' });
    }
  });

  it('is for logged-in users who are not guests', async () => {
    const anon = await new Client(server.baseUrl).post(SEARCH, { search_term: 'x' }, { token: null });
    expect(anon.status).toBe(401);
    const guest = new Client(server.baseUrl);
    const g = await guest.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
    guest.token = g.body.access_token;
    const r = await guest.post(SEARCH, { search_term: 'x' });
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
  });
});
