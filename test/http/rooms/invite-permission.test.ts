// Invite blocking: a user whose m.invite_permission_config says `block` is not invited, and
// invites already there are not served by /sync. spec: client-server-api modules/invite_permission
import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { withServer } from '../../helpers/context.js';

const enc = encodeURIComponent;
const CONFIG = '/_matrix/client/v3/user/@bob:test.local/account_data/m.invite_permission_config';

describe.each(ENGINES)('invite permission (%s)', (engine) => {
  const ctx = withServer(engine, ['alice', 'bob', 'carol']);
  const alice = () => ctx.users.alice;
  const bob = () => ctx.users.bob;

  const room = async () => (await alice().post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'private_chat' })).body.room_id;
  const membership = async (roomId: string, userId: string) =>
    (await alice().get<{ membership?: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`)).body.membership;
  const invitedRooms = async () => Object.keys((await bob().get<{ rooms?: { invite?: Record<string, unknown> } }>('/_matrix/client/v3/sync')).body.rooms?.invite ?? {});
  const block = async (content: Record<string, unknown>) => expect((await bob().put(CONFIG, content)).status).toBe(200);

  it('refuses invites with M_INVITE_BLOCKED on /invite, state and createRoom, and hides earlier ones from /sync', async () => {
    const earlier = await room();
    expect((await alice().post(`/_matrix/client/v3/rooms/${enc(earlier)}/invite`, { user_id: '@bob:test.local' })).status).toBe(200);
    expect(await invitedRooms()).toContain(earlier);

    await block({ default_action: 'block' });
    const roomId = await room();
    const byInvite = await alice().post<{ errcode?: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@bob:test.local' });
    expect(byInvite.status).toBe(403);
    expect(byInvite.body.errcode).toBe('M_INVITE_BLOCKED');
    const byState = await alice().put<{ errcode?: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc('@bob:test.local')}`, { membership: 'invite' });
    expect(byState.status).toBe(403);
    expect(byState.body.errcode).toBe('M_INVITE_BLOCKED');
    expect(await membership(roomId, '@bob:test.local')).toBeUndefined();

    // createRoom succeeds; only the blocked invitee is left out.
    const created = await alice().post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'private_chat', invite: ['@bob:test.local', '@carol:test.local'] });
    expect(created.status).toBe(200);
    expect(await membership(created.body.room_id, '@carol:test.local')).toBe('invite');
    expect(await membership(created.body.room_id, '@bob:test.local')).toBeUndefined();

    // The invite from before is not served while blocking, and comes back once unblocked.
    expect(await invitedRooms()).not.toContain(earlier);
    await block({});
    expect(await invitedRooms()).toContain(earlier);
    expect((await alice().post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@bob:test.local' })).status).toBe(200);
  });

  it('lets invites through for any other default_action', async () => {
    for (const action of ['allow', 'BLOCK', 1]) {
      await block({ default_action: action });
      const roomId = await room();
      expect((await alice().post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@bob:test.local' })).status, String(action)).toBe(200);
    }
    await block({});
  });
});
