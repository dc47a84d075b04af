// spec: client-server-api modules/mutual_rooms: GET /v1/mutual_rooms
import { describe, expect, it } from 'vitest';
import { MUTUAL_ROOMS_BATCH } from '../../src/services/rooms/rooms.js';
import { ENGINES } from '../helpers/databases.js';
import { withServer } from '../helpers/context.js';
import { Client } from '../helpers/client.js';

const enc = encodeURIComponent;
type Mutual = { joined: string[]; count: number; next_batch?: string; errcode?: string };

describe.each(ENGINES)('mutual rooms (%s)', (engine) => {
  const ctx = withServer(engine, ['alice', 'bob']);

  const mutual = (c: Client, userId: string, from?: string) =>
    c.get<Mutual>(`/_matrix/client/v1/mutual_rooms?user_id=${enc(userId)}${from === undefined ? '' : `&from=${enc(from)}`}`);
  const room = async (bobJoins: boolean | 'invite' | 'leave') => {
    const { alice, bob } = ctx.users;
    const roomId = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    if (bobJoins === 'invite') await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@bob:test.local' });
    else if (bobJoins) await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    if (bobJoins === 'leave') await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    return roomId;
  };

  it('lists the rooms both users are joined to, not those with another membership', async () => {
    const { alice, bob } = ctx.users;
    const shared = [await room(true), await room(true)];
    await room(false);
    await room('invite');
    await room('leave');
    const r = await mutual(alice, '@bob:test.local');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ joined: [...shared].sort(), count: 2 });
    expect((await mutual(bob, '@alice:test.local')).body.joined).toEqual([...shared].sort());
    // An unknown (but valid) user: nothing in common.
    expect((await mutual(alice, '@nobody:test.local')).body).toEqual({ joined: [], count: 0 });
  });

  it('pages through many rooms with next_batch, each room once', async () => {
    const c = new Client(ctx.server.baseUrl);
    const d = new Client(ctx.server.baseUrl);
    await c.register('pager');
    await d.register('paged');
    const ids: string[] = [];
    for (let i = 0; i < MUTUAL_ROOMS_BATCH + 5; i++) {
      const roomId = (await c.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
      await d.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
      ids.push(roomId);
    }
    const first = await mutual(c, '@paged:test.local');
    expect(first.body.joined).toHaveLength(MUTUAL_ROOMS_BATCH);
    expect(first.body.count).toBe(ids.length);
    const second = await mutual(c, '@paged:test.local', first.body.next_batch);
    expect(second.body.next_batch).toBeUndefined();
    expect([...first.body.joined, ...second.body.joined]).toEqual([...ids].sort());
  }, 120_000);

  it('refuses a missing, invalid or own user ID and a bad token', async () => {
    const { alice } = ctx.users;
    expect((await alice.get<Mutual>('/_matrix/client/v1/mutual_rooms')).body.errcode).toBe('M_MISSING_PARAM');
    for (const bad of ['bob', '@alice:test.local', '@bob', '@bob:bad_server!']) {
      const r = await mutual(alice, bad);
      expect(r.status, bad).toBe(400);
      expect(r.body.errcode).toBe('M_INVALID_PARAM');
    }
    for (const token of ['nope!', 'bm9wZQ', '']) expect((await mutual(alice, '@bob:test.local', token)).status, token).toBe(400);
    expect((await alice.get('/_matrix/client/v1/mutual_rooms?user_id=%40bob%3Atest.local', { token: null })).status).toBe(401);
  });
});
