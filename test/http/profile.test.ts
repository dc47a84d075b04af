// spec: client-server-api "Profiles" (fields by key, m.tz, custom fields, limits) and
// "Events on Change of Profile Information"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';

const enc = encodeURIComponent;
type Member = { type: string; state_key: string; sender: string; content: Record<string, unknown> };

describe.each(ENGINES)('profiles (%s)', (engine) => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer(engine);
    base = server.baseUrl;
  });
  afterAll(() => server.close());

  async function user(name: string): Promise<{ c: Client; id: string }> {
    const c = new Client(base);
    return { c, id: (await c.register(name)).user_id };
  }
  const field = (id: string, key: string) => `/_matrix/client/v3/profile/${enc(id)}/${enc(key)}`;
  const memberEvent = async (c: Client, roomId: string, userId: string) =>
    (await c.get<Member>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}?format=event`)).body;
  const memberEventCount = async (c: Client, roomId: string, userId: string) =>
    (await c.get<{ chunk: Member[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100`)).body.chunk
      .filter((e) => e.type === 'm.room.member' && e.state_key === userId).length;

  describe('fields', () => {
    it('sets, reads and deletes m.tz and custom fields, listed in the whole profile', async () => {
      const { c, id } = await user('fields');
      expect((await c.put(field(id, 'm.tz'), { 'm.tz': 'Europe/London' })).body).toEqual({});
      expect((await c.put(field(id, 'org.example.pronouns'), { 'org.example.pronouns': { en: ['they', 'them'] } })).status).toBe(200);
      expect((await c.put(field(id, 'org.example.null'), { 'org.example.null': null })).status).toBe(200);
      const other = new Client(base);
      await other.register('fields-reader');
      expect((await other.get(field(id, 'm.tz'))).body).toEqual({ 'm.tz': 'Europe/London' });
      expect((await other.get(field(id, 'org.example.pronouns'))).body).toEqual({ 'org.example.pronouns': { en: ['they', 'them'] } });
      // A stored null is a value, not an absence.
      expect((await other.get(field(id, 'org.example.null'))).body).toEqual({ 'org.example.null': null });
      expect((await other.get(`/_matrix/client/v3/profile/${enc(id)}`)).body).toEqual({
        displayname: 'fields', 'm.tz': 'Europe/London', 'org.example.pronouns': { en: ['they', 'them'] }, 'org.example.null': null,
      });
      expect((await c.delete(field(id, 'org.example.pronouns'))).body).toEqual({});
      const gone = await other.get(field(id, 'org.example.pronouns'));
      expect(gone.status).toBe(404);
      expect(gone.body.errcode).toBe('M_NOT_FOUND');
      // Deleting what is not there is fine.
      expect((await c.delete(field(id, 'org.example.never'))).status).toBe(200);
      expect((await other.get(`/_matrix/client/v3/profile/${enc(id)}`)).body).toEqual({ displayname: 'fields', 'm.tz': 'Europe/London', 'org.example.null': null });
    });

    it('deletes and clears the displayname and avatar_url', async () => {
      const { c, id } = await user('clear');
      await c.put(field(id, 'avatar_url'), { avatar_url: 'mxc://test.local/pic' });
      expect((await c.delete(field(id, 'avatar_url'))).status).toBe(200);
      expect((await c.get(field(id, 'avatar_url'))).status).toBe(404);
      expect((await c.put(field(id, 'displayname'), { displayname: null })).status).toBe(200);
      expect((await c.get(field(id, 'displayname'))).status).toBe(404);
      expect((await c.get(`/_matrix/client/v3/profile/${enc(id)}`)).body).toEqual({});
    });

    it('rejects bad keys and values with the spec\'s errors, changing nothing', async () => {
      const { c, id } = await user('badfields');
      await c.put(field(id, 'm.tz'), { 'm.tz': 'Europe/Paris' });
      const cases: Array<[string, unknown, number, string]> = [
        ['Bad.Key', { 'Bad.Key': 1 }, 400, 'M_INVALID_PARAM'],
        ['nodots', { nodots: 1 }, 400, 'M_INVALID_PARAM'],
        ['org.example.x', { other: 1 }, 400, 'M_MISSING_PARAM'],
        ['m.tz', { 'm.tz': 5 }, 400, 'M_BAD_JSON'],
        ['m.tz', { 'm.tz': null }, 400, 'M_BAD_JSON'],
        ['displayname', { displayname: 42 }, 400, 'M_BAD_JSON'],
        ['displayname', { displayname: 'x'.repeat(257) }, 400, 'M_BAD_JSON'],
        ['avatar_url', { avatar_url: 'https://example.org/a.png' }, 400, 'M_INVALID_PARAM'],
        ['org.example.x', [1], 400, 'M_BAD_JSON'],
        [`org.example.${'k'.repeat(250)}`, { [`org.example.${'k'.repeat(250)}`]: 1 }, 400, 'M_KEY_TOO_LARGE'],
      ];
      for (const [key, body, status, errcode] of cases) {
        const r = await c.put(field(id, key), body);
        expect([r.status, r.body.errcode], `${key} ${JSON.stringify(body)}`).toEqual([status, errcode]);
      }
      expect((await c.get(field(id, 'Bad.Key'))).body.errcode).toBe('M_INVALID_PARAM');
      expect((await c.delete(field(id, 'Bad.Key'))).body.errcode).toBe('M_INVALID_PARAM');
      expect((await c.get(`/_matrix/client/v3/profile/${enc(id)}`)).body).toEqual({ displayname: 'badfields', 'm.tz': 'Europe/Paris' });
    });

    it('keeps the whole profile under 64 KiB (M_PROFILE_TOO_LARGE)', async () => {
      const { c, id } = await user('big');
      expect((await c.put(field(id, 'org.example.a'), { 'org.example.a': 'a'.repeat(40_000) })).status).toBe(200);
      const tooBig = await c.put(field(id, 'org.example.b'), { 'org.example.b': 'b'.repeat(30_000) });
      expect(tooBig.status).toBe(400);
      expect(tooBig.body.errcode).toBe('M_PROFILE_TOO_LARGE');
      expect((await c.get(field(id, 'org.example.b'))).status).toBe(404);
      // Replacing a field counts its new value, not both.
      expect((await c.put(field(id, 'org.example.a'), { 'org.example.a': 'c'.repeat(60_000) })).status).toBe(200);
    });

    it('lets only the user change their profile', async () => {
      const { id } = await user('owner');
      const { c: other } = await user('intruder');
      for (const r of [
        await other.put(field(id, 'displayname'), { displayname: 'pwned' }),
        await other.put(field(id, 'org.example.x'), { 'org.example.x': 1 }),
        await other.delete(field(id, 'displayname')),
      ]) {
        expect(r.status).toBe(403);
        expect(r.body.errcode).toBe('M_FORBIDDEN');
      }
      expect((await other.get(`/_matrix/client/v3/profile/${enc(id)}`)).body).toEqual({ displayname: 'owner' });
      const anon = await new Client(base).put(field(id, 'displayname'), { displayname: 'anon' }, { token: null });
      expect(anon.status).toBe(401);
    });

    it('lets guests change only their displayname', async () => {
      const guest = new Client(base);
      const g = await guest.post<{ access_token: string; user_id: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
      guest.token = g.body.access_token;
      expect((await guest.put(field(g.body.user_id, 'displayname'), { displayname: 'Guesty' })).status).toBe(200);
      for (const r of [
        await guest.put(field(g.body.user_id, 'avatar_url'), { avatar_url: 'mxc://test.local/g' }),
        await guest.put(field(g.body.user_id, 'm.tz'), { 'm.tz': 'UTC' }),
        await guest.delete(field(g.body.user_id, 'm.tz')),
      ]) {
        expect(r.status).toBe(403);
        expect(r.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
      }
      expect((await guest.get(`/_matrix/client/v3/profile/${enc(g.body.user_id)}`)).body).toEqual({ displayname: 'Guesty' });
      expect((await guest.delete(field(g.body.user_id, 'displayname'))).status).toBe(200);
      expect((await guest.get(`/_matrix/client/v3/profile/${enc(g.body.user_id)}`)).body).toEqual({});
    });

    it('answers 404 for unknown users', async () => {
      const c = new Client(base);
      expect((await c.get(field('@nobody:test.local', 'm.tz'))).status).toBe(404);
      expect((await c.get('/_matrix/client/v3/profile/@nobody:test.local')).body.errcode).toBe('M_NOT_FOUND');
    });

    it('advertises m.profile_fields', async () => {
      const { c } = await user('caps');
      const caps = await c.get<{ capabilities: Record<string, unknown> }>('/_matrix/client/v3/capabilities');
      expect(caps.body.capabilities['m.profile_fields']).toEqual({ enabled: true });
    });
  });

  describe('propagation to rooms', () => {
    it('sends a new join event to every joined room when the displayname or avatar changes', async () => {
      const { c: owner, id: ownerId } = await user('prop-owner');
      const { c: u, id: uid } = await user('prop');
      const rooms: string[] = [];
      for (let i = 0; i < 2; i++) {
        const roomId = (await owner.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
        expect((await u.post(`/_matrix/client/v3/join/${enc(roomId)}`, { reason: 'hello' })).status).toBe(200);
        rooms.push(roomId);
      }
      const left = (await owner.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
      await u.post(`/_matrix/client/v3/join/${enc(left)}`, {});
      await u.post(`/_matrix/client/v3/rooms/${enc(left)}/leave`, {});
      const invited = (await owner.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { invite: [uid] })).body.room_id;

      expect((await u.put(field(uid, 'displayname'), { displayname: 'Prop Agated' })).status).toBe(200);
      expect((await u.put(field(uid, 'avatar_url'), { avatar_url: 'mxc://test.local/face' })).status).toBe(200);
      for (const roomId of rooms) {
        const ev = await memberEvent(owner, roomId, uid);
        expect(ev.sender).toBe(uid);
        // The join's reason belonged to the join, not to the profile.
        expect(ev.content).toEqual({ membership: 'join', displayname: 'Prop Agated', avatar_url: 'mxc://test.local/face' });
        expect(await memberEventCount(owner, roomId, uid)).toBe(3);
      }
      // Rooms the user left or is only invited to are not touched.
      expect((await memberEvent(owner, left, uid)).content.membership).toBe('leave');
      expect((await memberEvent(owner, invited, uid)).content).toEqual({ membership: 'invite', displayname: 'prop' });

      // Deleting the displayname removes it from the member events.
      await u.delete(field(uid, 'displayname'));
      for (const roomId of rooms) expect((await memberEvent(owner, roomId, uid)).content).toEqual({ membership: 'join', avatar_url: 'mxc://test.local/face' });
      expect(ownerId).not.toBe(uid);
    });

    it('sends nothing when nothing a member event shows has changed', async () => {
      const { c: u, id: uid } = await user('quiet');
      const roomId = (await u.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {})).body.room_id;
      expect(await memberEventCount(u, roomId, uid)).toBe(1);
      await u.put(field(uid, 'displayname'), { displayname: 'quiet' });
      await u.put(field(uid, 'm.tz'), { 'm.tz': 'Europe/Berlin' });
      await u.put(field(uid, 'org.example.x'), { 'org.example.x': 1 });
      expect(await memberEventCount(u, roomId, uid)).toBe(1);
      await u.put(field(uid, 'displayname'), { displayname: 'loud' });
      expect(await memberEventCount(u, roomId, uid)).toBe(2);
    });

    it('changes the profile and the other rooms even where one room refuses the new member event', async () => {
      const { c: owner } = await user('refuse-owner');
      const { c: u, id: uid } = await user('refused');
      const rooms: string[] = [];
      for (let i = 0; i < 2; i++) {
        const roomId = (await owner.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
        await u.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
        rooms.push(roomId);
      }
      // In the second room the user pads their own member event to just under the 65,536-byte
      // event limit, so that a long displayname no longer fits.
      const memberPath = `/_matrix/client/v3/rooms/${enc(rooms[1])}/state/m.room.member/${enc(uid)}`;
      let pad = 65_536;
      while ((await u.put(memberPath, { membership: 'join', 'org.example.pad': 'x'.repeat(pad) })).status !== 200) pad -= 50;
      const name = 'N'.repeat(250);
      expect((await u.put(field(uid, 'displayname'), { displayname: name })).status).toBe(200);
      expect((await u.get(field(uid, 'displayname'))).body).toEqual({ displayname: name });
      expect((await memberEvent(owner, rooms[0], uid)).content.displayname).toBe(name);
      expect((await memberEvent(owner, rooms[1], uid)).content).toEqual({ membership: 'join', 'org.example.pad': 'x'.repeat(pad) });
    });
  });
});
