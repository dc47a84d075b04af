// Membership transitions in /sync: invites (stripped state with the create event), knocks,
// joins (full state), leaves (timeline up to the leave, include_leave), a leave, re-invite and
// rejoin between two syncs, rejected invites, forgotten rooms, and invites from ignored users.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { SCAN_BUDGET } from '../../../src/services/sync/timeline.js';
import { bodies, createRoom, enc, join, send, sync, types } from './helpers.js';

describe.each(ENGINES)('/sync memberships (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let aliceId: string;
  let bobId: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
  });
  afterAll(() => server.close());

  const invite = (room: string, userId: string) => alice.post(`/_matrix/client/v3/rooms/${enc(room)}/invite`, { user_id: userId });
  const leave = (c: Client, room: string) => c.post(`/_matrix/client/v3/rooms/${enc(room)}/leave`, {});

  it('sends an invite with stripped state that includes the create event, then full state on joining', async () => {
    const room = await createRoom(alice, { preset: 'private_chat', name: 'Secret', topic: 'shh' });
    for (let i = 0; i < 12; i++) await send(alice, room, { msgtype: 'm.text', body: `before ${i}` });
    const s0 = await sync(bob);
    expect(s0.rooms.invite[room]).toBeUndefined();
    await invite(room, bobId);
    const s1 = await sync(bob, { since: s0.next_batch });
    const stripped = s1.rooms.invite[room].invite_state.events;
    // spec v1.16: m.room.create is required in invite_state; stripped events have only these keys.
    expect(stripped.find((e) => e.type === 'm.room.create')).toBeDefined();
    for (const e of stripped) expect(Object.keys(e).sort()).toEqual(['content', 'sender', 'state_key', 'type']);
    expect(stripped.find((e) => e.type === 'm.room.name')?.content.name).toBe('Secret');
    expect(stripped.find((e) => e.type === 'm.room.member' && e.state_key === bobId)?.content.membership).toBe('invite');
    expect(stripped.find((e) => e.type === 'm.room.member' && e.state_key === aliceId)?.content.membership).toBe('join');
    expect(s1.rooms.join[room]).toBeUndefined();

    await join(bob, room);
    const s2 = await sync(bob, { since: s1.next_batch });
    expect(s2.rooms.invite[room]).toBeUndefined();
    const r = s2.rooms.join[room];
    // Newly joined: the latest events (history is shared) with the full state before them.
    expect(r.timeline.limited).toBe(true);
    expect(types(r.timeline.events).at(-1)).toBe('m.room.member');
    expect(types(r.state?.events)).toEqual(expect.arrayContaining(['m.room.create', 'm.room.join_rules', 'm.room.name', 'm.room.topic', 'm.room.power_levels']));
    expect(r.summary).toMatchObject({ 'm.joined_member_count': 2, 'm.invited_member_count': 0 });
  });

  it('sends a room left in the window to leave, its timeline ending with the leave event, then nothing', async () => {
    const room = await createRoom(alice, { preset: 'public_chat' });
    await join(bob, room);
    const s0 = await sync(bob);
    await send(alice, room, { msgtype: 'm.text', body: 'while there' });
    await leave(bob, room);
    await send(alice, room, { msgtype: 'm.text', body: 'after leaving' });
    const s1 = await sync(bob, { since: s0.next_batch });
    expect(s1.rooms.join[room]).toBeUndefined();
    const left = s1.rooms.leave[room];
    expect(bodies(left.timeline.events)).toEqual(['while there']);
    expect(left.timeline.events.at(-1)).toMatchObject({ type: 'm.room.member', state_key: bobId, content: { membership: 'leave' } });
    expect(left.state?.events).toEqual([]);
    const s2 = await sync(bob, { since: s1.next_batch });
    expect(s2.rooms.leave[room]).toBeUndefined();
    // Initial syncs show left rooms only with include_leave.
    expect((await sync(bob)).rooms.leave[room]).toBeUndefined();
    const archived = (await sync(bob, { filter: { room: { include_leave: true } } })).rooms.leave[room];
    expect(archived.timeline.events.at(-1)).toMatchObject({ type: 'm.room.member', state_key: bobId, content: { membership: 'leave' } });
    expect(bodies(archived.timeline.events)).not.toContain('after leaving');
    // ...and not once forgotten.
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(room)}/forget`, {})).status).toBe(200);
    expect((await sync(bob, { filter: { room: { include_leave: true } } })).rooms.leave[room]).toBeUndefined();
  });

  it('sends kicks and bans to leave', async () => {
    const room = await createRoom(alice, { preset: 'public_chat' });
    await join(bob, room);
    const s0 = await sync(bob);
    await alice.post(`/_matrix/client/v3/rooms/${enc(room)}/kick`, { user_id: bobId, reason: 'out' });
    const s1 = await sync(bob, { since: s0.next_batch });
    expect(s1.rooms.leave[room].timeline.events.at(-1)).toMatchObject({ sender: aliceId, state_key: bobId, content: { membership: 'leave', reason: 'out' } });
    await join(bob, room);
    const s2 = await sync(bob, { since: s1.next_batch });
    expect(s2.rooms.join[room]).toBeDefined();
    await alice.post(`/_matrix/client/v3/rooms/${enc(room)}/ban`, { user_id: bobId });
    const s3 = await sync(bob, { since: s2.next_batch });
    expect(s3.rooms.leave[room].timeline.events.at(-1)).toMatchObject({ state_key: bobId, content: { membership: 'ban' } });
  });

  it('treats leave, re-invite and rejoin between two syncs as a new join with full state', async () => {
    const room = await createRoom(alice, { preset: 'private_chat', name: 'Again' });
    await invite(room, bobId);
    await join(bob, room);
    const s0 = await sync(bob);
    expect(s0.rooms.join[room]).toBeDefined();
    await leave(bob, room);
    await alice.put(`/_matrix/client/v3/rooms/${enc(room)}/state/m.room.topic`, { topic: 'while away' });
    await invite(room, bobId);
    await join(bob, room);
    const s1 = await sync(bob, { since: s0.next_batch, filter: { room: { timeline: { limit: 2 } } } });
    expect(s1.rooms.leave[room]).toBeUndefined();
    expect(s1.rooms.invite[room]).toBeUndefined();
    const r = s1.rooms.join[room];
    // Full state, though bob was joined at `since` and is joined now.
    expect(types(r.state?.events)).toEqual(expect.arrayContaining(['m.room.create', 'm.room.name', 'm.room.topic', 'm.room.power_levels']));
    expect(r.timeline.events.at(-1)).toMatchObject({ type: 'm.room.member', state_key: bobId, content: { membership: 'join' } });
    expect(r.summary).toBeDefined();
  });

  it('tells a client that left and was invited again of both', async () => {
    const room = await createRoom(alice, { preset: 'private_chat' });
    await invite(room, bobId);
    await join(bob, room);
    const s0 = await sync(bob);
    await leave(bob, room);
    await invite(room, bobId);
    const s1 = await sync(bob, { since: s0.next_batch });
    expect(s1.rooms.leave[room].timeline.events.at(-1)).toMatchObject({ state_key: bobId, content: { membership: 'leave' } });
    expect(s1.rooms.invite[room].invite_state.events.find((e) => e.state_key === bobId)?.content.membership).toBe('invite');
  });

  it('sends a rejected invite to leave, with no state of a room never joined', async () => {
    const room = await createRoom(alice, { preset: 'private_chat', name: 'Not for bob' });
    await invite(room, bobId);
    const s0 = await sync(bob);
    expect(s0.rooms.invite[room]).toBeDefined();
    await leave(bob, room);
    const s1 = await sync(bob, { since: s0.next_batch });
    const left = s1.rooms.leave[room];
    expect(left.state?.events).toEqual([]);
    expect(left.timeline.events.map((e) => [e.state_key, e.content.membership])).toEqual([[bobId, 'invite'], [bobId, 'leave']].slice(-left.timeline.events.length));
    expect(left.timeline.events.every((e) => e.type === 'm.room.member' && e.state_key === bobId)).toBe(true);
  });

  it('sends knocks with stripped state, and the knocker\'s join as a new room', async () => {
    const room = await createRoom(alice, { room_version: '7', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
    const s0 = await sync(bob);
    expect((await bob.post(`/_matrix/client/v3/knock/${enc(room)}`, { reason: 'please' })).status).toBe(200);
    const s1 = await sync(bob, { since: s0.next_batch });
    const knock = s1.rooms.knock[room].knock_state.events;
    expect(knock.find((e) => e.type === 'm.room.create')).toBeDefined();
    expect(knock.find((e) => e.type === 'm.room.join_rules')?.content.join_rule).toBe('knock');
    expect(knock.find((e) => e.type === 'm.room.member' && e.state_key === bobId)?.content).toMatchObject({ membership: 'knock', reason: 'please' });
    // The room's members see the knock in the timeline.
    const aliceView = await sync(alice, { filter: { room: { rooms: [room] } } });
    expect(aliceView.rooms.join[room].timeline.events.at(-1)).toMatchObject({ state_key: bobId, content: { membership: 'knock' } });
    await invite(room, bobId);
    await join(bob, room);
    const s2 = await sync(bob, { since: s1.next_batch, filter: { room: { timeline: { limit: 2 } } } });
    expect(s2.rooms.knock[room]).toBeUndefined();
    expect(types(s2.rooms.join[room].state?.events)).toContain('m.room.create');
  });

  it('stops looking for visible history after a bounded scan: a new member of a room with joined visibility', async () => {
    const room = await createRoom(alice, { preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', content: { history_visibility: 'joined' } }] });
    for (let i = 0; i < SCAN_BUDGET + 50; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => send(alice, room, { msgtype: 'm.text', body: `hidden ${i + j}` })));
    const s0 = await sync(bob);
    await join(bob, room);
    const r = (await sync(bob, { since: s0.next_batch })).rooms.join[room];
    // Bob may see nothing before his join; the server did not read all of the history to learn that.
    expect(r.timeline.events.map((e) => [e.type, e.state_key])).toEqual([['m.room.member', bobId]]);
    expect(r.timeline.limited).toBe(true);
    expect(r.state?.events.map((e) => e.type)).toContain('m.room.create');
  });

  it('leaves out invites from ignored users', async () => {
    const carol = new Client(server.baseUrl);
    const carolId = (await carol.register('carol')).user_id;
    await carol.put(`/_matrix/client/v3/user/${enc(carolId)}/account_data/m.ignored_user_list`, { ignored_users: { [aliceId]: {} } });
    const s0 = await sync(carol);
    const fromAlice = await createRoom(alice, { preset: 'private_chat' });
    await invite(fromAlice, carolId);
    const fromBob = await createRoom(bob, { preset: 'private_chat' });
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(fromBob)}/invite`, { user_id: carolId })).status).toBe(200);
    const s1 = await sync(carol, { since: s0.next_batch });
    expect(Object.keys(s1.rooms.invite)).toEqual([fromBob]);
    expect(Object.keys((await sync(carol)).rooms.invite)).toEqual([fromBob]);
  });
});
