// spec: client-server-api "POST /createRoom"
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

type Ev = { type: string; state_key?: string; content: Record<string, unknown>; sender: string; event_id: string };
const enc = encodeURIComponent;

describe.each(ENGINES)('createRoom (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    await alice.register('alice');
    await bob.register('bob');
  });
  afterAll(() => server.close());

  const state = async (c: Client, roomId: string) => (await c.get<Ev[]>(`/_matrix/client/v3/rooms/${enc(roomId)}/state`)).body;
  const find = (evs: Ev[], type: string, key = '') => evs.find((e) => e.type === type && e.state_key === key);

  it('defaults to room version 12 with a hashed room ID and a private_chat preset', async () => {
    const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {});
    expect(r.status).toBe(200);
    expect(r.body.room_id).toMatch(/^![A-Za-z0-9_-]{43}$/);
    const s = await state(alice, r.body.room_id);
    const create = find(s, 'm.room.create')!;
    expect(create.content.room_version).toBe('12');
    expect(create.content.creator).toBeUndefined();
    expect(find(s, 'm.room.join_rules')!.content).toEqual({ join_rule: 'invite' });
    expect(find(s, 'm.room.history_visibility')!.content).toEqual({ history_visibility: 'shared' });
    expect(find(s, 'm.room.guest_access')!.content).toEqual({ guest_access: 'can_join' });
    const pl = find(s, 'm.room.power_levels')!.content;
    expect(pl.users).toEqual({}); // v12 creators have infinite power and are not listed
    expect((pl.events as Record<string, number>)['m.room.tombstone']).toBe(150);
  });

  it('lists the creator at 100 in older versions and keeps the spec order of events', async () => {
    const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { room_version: '10', preset: 'public_chat', name: 'N', topic: 'T', room_alias_name: 'order' });
    const msgs = await alice.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(r.body.room_id)}/messages?dir=f&limit=50`);
    expect(msgs.body.chunk.map((e) => e.type)).toEqual([
      'm.room.create', 'm.room.member', 'm.room.power_levels', 'm.room.canonical_alias',
      'm.room.join_rules', 'm.room.history_visibility', 'm.room.guest_access', 'm.room.name', 'm.room.topic',
    ]);
    const s = await state(alice, r.body.room_id);
    expect(find(s, 'm.room.create')!.content.creator).toBe('@alice:test.local');
    expect(find(s, 'm.room.power_levels')!.content.users).toEqual({ '@alice:test.local': 100 });
    expect(find(s, 'm.room.join_rules')!.content.join_rule).toBe('public');
    expect(find(s, 'm.room.guest_access')!.content.guest_access).toBe('forbidden');
    expect(find(s, 'm.room.canonical_alias')!.content).toEqual({ alias: '#order:test.local' });
    expect(find(s, 'm.room.topic')!.content).toEqual({ topic: 'T', 'm.topic': { 'm.text': [{ mimetype: 'text/plain', body: 'T' }] } });
    // The alias resolves, and a second room cannot take it.
    const join = await bob.post<{ room_id: string }>(`/_matrix/client/v3/join/${enc('#order:test.local')}`, {});
    expect(join.body.room_id).toBe(r.body.room_id);
    const taken = await alice.post('/_matrix/client/v3/createRoom', { room_alias_name: 'order' });
    expect(taken.status).toBe(400);
    expect(taken.body.errcode).toBe('M_ROOM_IN_USE');
  });

  it('invites with is_direct, and trusted_private_chat gives invitees the creator\'s power', async () => {
    const v10 = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { room_version: '10', preset: 'trusted_private_chat', invite: ['@bob:test.local'], is_direct: true });
    const s = await state(alice, v10.body.room_id);
    expect(find(s, 'm.room.member', '@bob:test.local')!.content).toMatchObject({ membership: 'invite', is_direct: true });
    expect(find(s, 'm.room.power_levels')!.content.users).toEqual({ '@alice:test.local': 100, '@bob:test.local': 100 });
    const v12 = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'trusted_private_chat', invite: ['@bob:test.local'] });
    const s12 = await state(alice, v12.body.room_id);
    expect(find(s12, 'm.room.create')!.content.additional_creators).toEqual(['@bob:test.local']);
    expect(find(s12, 'm.room.power_levels')!.content.users).toEqual({});
  });

  it('applies initial_state, creation_content and power_level_content_override; name and topic win over initial_state', async () => {
    const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {
      room_version: '11',
      creation_content: { 'm.federate': false, type: 'm.space', creator: '@mallory:test.local', room_version: '1' },
      initial_state: [
        { type: 'm.room.name', content: { name: 'overridden' } },
        { type: 'm.room.join_rules', content: { join_rule: 'public' } },
        { type: 'org.example.custom', state_key: 'k', content: { x: 1 } },
      ],
      name: 'Final',
      power_level_content_override: { events_default: 10, users: { '@alice:test.local': 100, '@bob:test.local': 50 } },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const s = await state(alice, r.body.room_id);
    const create = find(s, 'm.room.create')!;
    expect(create.content).toMatchObject({ 'm.federate': false, type: 'm.space', room_version: '11' });
    expect(create.content.creator).toBeUndefined();
    expect(find(s, 'm.room.name')!.content).toEqual({ name: 'Final' });
    expect(find(s, 'm.room.join_rules')!.content).toEqual({ join_rule: 'public' });
    expect(find(s, 'org.example.custom', 'k')!.content).toEqual({ x: 1 });
    const pl = find(s, 'm.room.power_levels')!.content;
    expect(pl.events_default).toBe(10);
    expect(pl.users).toEqual({ '@alice:test.local': 100, '@bob:test.local': 50 });
  });

  it('gives rooms created at the same moment their own IDs', async () => {
    const created = await Promise.all(Array.from({ length: 6 }, () => alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {})));
    expect(created.every((r) => r.status === 200)).toBe(true);
    expect(new Set(created.map((r) => r.body.room_id)).size).toBe(6);
  });

  it('supports every room version', async () => {
    for (const v of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']) {
      const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { room_version: v });
      expect(r.status, v).toBe(200);
      expect(find(await state(alice, r.body.room_id), 'm.room.create')!.content.room_version).toBe(v);
    }
  });

  it('rejects bad requests and creates nothing', async () => {
    const before = (await alice.get<{ joined_rooms: string[] }>('/_matrix/client/v3/joined_rooms')).body.joined_rooms.length;
    const cases: Array<[unknown, number, string]> = [
      [{ room_version: '99' }, 400, 'M_UNSUPPORTED_ROOM_VERSION'],
      [{ preset: 'party' }, 400, 'M_BAD_JSON'],
      [{ visibility: 'secret' }, 400, 'M_BAD_JSON'],
      [{ invite: ['not-a-user'] }, 400, 'M_INVALID_PARAM'],
      [{ invite: 'x' }, 400, 'M_BAD_JSON'],
      [{ initial_state: [{ type: 'm.room.x' }] }, 400, 'M_MISSING_PARAM'],
      [{ room_alias_name: 'bad alias' }, 400, 'M_INVALID_PARAM'],
      [{ initial_state: [{ type: 'm.room.canonical_alias', content: { alias: '#elsewhere:test.local' } }] }, 400, 'M_BAD_ALIAS'],
      [{ power_level_content_override: { users: { '@alice:test.local': 'lots' } } }, 400, 'M_BAD_JSON'],
      [{ room_version: '10', power_level_content_override: { users: { '@alice:test.local': '100' } } }, 400, 'M_BAD_JSON'],
    ];
    for (const [body, status, errcode] of cases) {
      const r = await alice.post('/_matrix/client/v3/createRoom', body);
      expect(r.status, JSON.stringify(body)).toBe(status);
      expect(r.body.errcode, JSON.stringify(body)).toBe(errcode);
    }
    expect((await alice.get<{ joined_rooms: string[] }>('/_matrix/client/v3/joined_rooms')).body.joined_rooms.length).toBe(before);
    const anon = await alice.post('/_matrix/client/v3/createRoom', {}, { token: null });
    expect(anon.status).toBe(401);
  });
});
