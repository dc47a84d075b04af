// Joining restricted rooms on one server: members of an allowed room join, with a local user who
// may invite as the authoriser; everyone else is refused.
// spec: client-server-api "Restricted rooms"; rooms/v8 auth rules for m.room.member joins
import { describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { withServer } from '../../helpers/context.js';
import type { Client } from '../../helpers/client.js';

const enc = encodeURIComponent;
type Member = Record<string, unknown>; // GET /state/{type}/{key} answers the content

describe.each(ENGINES)('restricted joins (%s)', (engine) => {
  const ctx = withServer(engine, ['admin', 'member', 'stranger']);

  const create = async (body: Record<string, unknown>) => {
    const r = await ctx.users.admin.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id;
  };
  const join = (c: Client, roomId: string) => c.post<{ room_id?: string; errcode?: string }>(`/_matrix/client/v3/join/${enc(roomId)}`, {});

  it.each([['restricted', '12'], ['knock_restricted', '10'], ['restricted', '8']])('lets members of an allowed room join a %s room (v%s), naming a local authoriser', async (rule, version) => {
    const { member, stranger } = ctx.users;
    const space = await create({ preset: 'public_chat', creation_content: { type: 'm.space' } });
    const roomId = await create({
      preset: 'private_chat', room_version: version,
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: rule, allow: [{ type: 'm.room_membership', room_id: space }] } }],
    });
    // Not in the space yet: refused, nothing written.
    const refused = await join(member, roomId);
    expect(refused.status).toBe(403);
    expect(refused.body.errcode).toBe('M_FORBIDDEN');

    expect((await join(member, space)).status).toBe(200);
    const joined = await join(member, roomId);
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    const ev = await member.get<Member>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc('@member:test.local')}`);
    expect(ev.body).toMatchObject({ membership: 'join', join_authorised_via_users_server: '@admin:test.local' });

    // Joined already: a second join (a profile refresh) needs no authoriser.
    expect((await join(member, roomId)).status).toBe(200);
    // Someone outside the allowed room is still refused.
    expect((await join(stranger, roomId)).status).toBe(403);
    expect((await member.post(`/_matrix/client/v3/rooms/${enc(space)}/leave`, {})).status).toBe(200);
  });

  it('refuses when no local user may invite, and lets an invited user join without an authoriser', async () => {
    const { admin, member, stranger } = ctx.users;
    const space = await create({ preset: 'public_chat' });
    // Before v12 the creator's power is a number (100), below this invite level.
    const roomId = await create({
      preset: 'private_chat', room_version: '10',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
      power_level_content_override: { invite: 200 },
    });
    expect((await join(stranger, space)).status).toBe(200);
    expect((await join(stranger, roomId)).status).toBe(403);

    expect((await admin.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: '@member:test.local' })).status).toBe(403);
    const open = await create({
      preset: 'private_chat',
      initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [] } }],
    });
    expect((await admin.post(`/_matrix/client/v3/rooms/${enc(open)}/invite`, { user_id: '@member:test.local' })).status).toBe(200);
    expect((await join(member, open)).status).toBe(200);
    const ev = await member.get<Member>(`/_matrix/client/v3/rooms/${enc(open)}/state/m.room.member/${enc('@member:test.local')}`);
    expect(ev.body).toMatchObject({ membership: 'join' });
    expect(ev.body.join_authorised_via_users_server).toBeUndefined();
  });
});
