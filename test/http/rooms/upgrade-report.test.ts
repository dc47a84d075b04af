// spec: modules/room_upgrades "Server behaviour"; modules/report_content
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

type Ev = { type: string; state_key?: string; content: Record<string, unknown> };
const enc = encodeURIComponent;

describe.each(ENGINES)('room upgrades and reports (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  beforeAll(async () => {
    server = await startTestServer(engine);
    [alice, bob] = [new Client(server.baseUrl), new Client(server.baseUrl)];
    await alice.register('alice');
    await bob.register('bob');
  });
  afterAll(() => server.close());

  const stateOf = async (c: Client, roomId: string) => (await c.get<Ev[]>(`/_matrix/client/v3/rooms/${enc(roomId)}/state`)).body;
  const find = (s: Ev[], type: string, key = '') => s.find((e) => e.type === type && e.state_key === key);

  it.each([['10', '12'], ['12', '11'], ['1', '10']])('upgrades a v%s room to v%s: tombstone, predecessor, state, power levels and aliases carried over', async (from, to) => {
    const alias = `up${from}to${to}`;
    const old = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {
      room_version: from, preset: 'public_chat', name: 'Old name', topic: 'Old topic', room_alias_name: alias,
      power_level_content_override: { events: { 'm.room.name': 50, 'm.room.power_levels': 100, 'm.room.tombstone': from === '12' ? 150 : 100, 'org.example': 20 } },
    })).body.room_id;
    await bob.post(`/_matrix/client/v3/join/${enc(old)}`, {});
    await alice.post(`/_matrix/client/v3/rooms/${enc(old)}/ban`, { user_id: '@mallory:test.local', reason: 'spam' });
    // Bob may not upgrade.
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(old)}/upgrade`, { new_version: to })).status).toBe(403);

    const r = await alice.post<{ replacement_room: string }>(`/_matrix/client/v3/rooms/${enc(old)}/upgrade`, { new_version: to });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const fresh = r.body.replacement_room;
    const oldState = await stateOf(alice, old);
    expect(find(oldState, 'm.room.tombstone')!.content).toMatchObject({ replacement_room: fresh });
    const oldPl = find(oldState, 'm.room.power_levels')!.content;
    expect(oldPl.events_default).toBe(50);
    expect(oldPl.invite).toBe(50);
    expect((await bob.put(`/_matrix/client/v3/rooms/${enc(old)}/send/m.room.message/t`, { body: 'still here?' })).status).toBe(403);

    const newState = await stateOf(alice, fresh);
    const create = find(newState, 'm.room.create')!.content;
    expect(create.room_version).toBe(to);
    expect((create.predecessor as Record<string, unknown>).room_id).toBe(old);
    expect(find(newState, 'm.room.name')!.content).toEqual({ name: 'Old name' });
    expect(find(newState, 'm.room.topic')!.content.topic).toBe('Old topic');
    expect(find(newState, 'm.room.join_rules')!.content).toEqual({ join_rule: 'public' });
    expect(find(newState, 'm.room.member', '@mallory:test.local')!.content.membership).toBe('ban');
    const pl = find(newState, 'm.room.power_levels')!.content;
    expect((pl.events as Record<string, number>)['org.example']).toBe(20);
    if (to === '12') expect(pl.users).not.toHaveProperty('@alice:test.local');
    else expect((pl.users as Record<string, number>)['@alice:test.local']).toBe(100);
    // The alias now points at the new room, whose canonical alias it is.
    expect((await bob.post<{ room_id: string }>(`/_matrix/client/v3/join/${enc(`#${alias}:test.local`)}`, {})).body.room_id).toBe(fresh);
    expect(find(newState, 'm.room.canonical_alias')!.content.alias).toBe(`#${alias}:test.local`);
  });

  it('refuses unknown versions and outsiders', async () => {
    const roomId = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {})).body.room_id;
    const bad = await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/upgrade`, { new_version: '42' });
    expect(bad.status).toBe(400);
    expect(bad.body.errcode).toBe('M_UNSUPPORTED_ROOM_VERSION');
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/upgrade`, { new_version: '11' })).status).toBe(403);
    expect((await alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/upgrade`, {})).body.errcode).toBe('M_MISSING_PARAM');
  });

  it('takes reports of events, rooms and users', async () => {
    const roomId = (await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    const ev = (await alice.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/r`, { body: 'rude' })).body.event_id;
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/report/${enc(ev)}`, { reason: 'rude', score: -100 })).body).toEqual({});
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/report/${enc('$nope')}`, { reason: 'x' })).status).toBe(404);
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/report/${enc(ev)}`, { score: 5 })).status).toBe(400);
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc(roomId)}/report`, { reason: 'bad room' })).status).toBe(200);
    expect((await bob.post(`/_matrix/client/v3/rooms/${enc('!nope:test.local')}/report`, { reason: 'x' })).status).toBe(404);
    expect((await bob.post(`/_matrix/client/v3/users/${enc('@alice:test.local')}/report`, { reason: 'mean' })).status).toBe(200);
    expect((await bob.post(`/_matrix/client/v3/users/${enc('@ghost:test.local')}/report`, { reason: 'x' })).status).toBe(404);
    const outsider = new Client(server.baseUrl);
    await outsider.register('outsider');
    expect((await outsider.post(`/_matrix/client/v3/rooms/${enc(roomId)}/report/${enc(ev)}`, { reason: 'x' })).status).toBe(404);
  });
});
