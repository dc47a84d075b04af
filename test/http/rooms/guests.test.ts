// Guest access: which rooms guests may join, guests leaving when guest access ends, and the
// endpoints guests may call. spec: client-server-api modules/guest_access
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

type Ev = { type: string; event_id: string; state_key?: string; content: Record<string, unknown>; sender: string };
const enc = encodeURIComponent;

describe.each(ENGINES)('guest access (%s)', (engine) => {
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

  const newGuest = async () => {
    const c = new Client(server.baseUrl);
    const r = await c.post<{ access_token: string; user_id: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    c.token = r.body.access_token;
    return { c, userId: r.body.user_id };
  };
  const room = async (body: Record<string, unknown>) => {
    const r = await alice.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.room_id;
  };
  const setGuestAccess = async (roomId: string, content: Record<string, unknown>) => {
    const r = await alice.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.guest_access/`, content);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  const member = async (roomId: string, userId: string) =>
    (await alice.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}?format=event`)).body;

  it('lets guests join only rooms whose guest_access is can_join', async () => {
    const { c: guest, userId } = await newGuest();
    // public_chat sets guest_access to forbidden.
    const roomId = await room({ preset: 'public_chat' });
    for (const path of [`/_matrix/client/v3/rooms/${enc(roomId)}/join`, `/_matrix/client/v3/join/${enc(roomId)}`]) {
      const denied = await guest.post(path, {});
      expect(denied.status).toBe(403);
      expect(denied.body.errcode).toBe('M_FORBIDDEN');
    }
    // Nothing was persisted.
    expect((await alice.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`)).status).toBe(404);
    // Guest access with content that is not can_join (or missing) does not let them in either.
    await setGuestAccess(roomId, {});
    expect((await guest.post(`/_matrix/client/v3/join/${enc(roomId)}`, {})).status).toBe(403);
    await setGuestAccess(roomId, { guest_access: 'can_join' });
    const ok = await guest.post(`/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect((await member(roomId, userId)).content.membership).toBe('join');
    // Registered users are not affected by guest_access.
    const forbiddenToGuests = await room({ preset: 'public_chat' });
    expect((await bob.post(`/_matrix/client/v3/join/${enc(forbiddenToGuests)}`, {})).status).toBe(200);
  });

  it('joins by alias, and the join rules still apply to guests', async () => {
    const { c: guest } = await newGuest();
    const roomId = await room({ preset: 'public_chat', room_alias_name: 'guests-welcome', initial_state: [{ type: 'm.room.guest_access', content: { guest_access: 'can_join' } }] });
    expect((await guest.post(`/_matrix/client/v3/join/${enc('#guests-welcome:test.local')}`, {})).body).toEqual({ room_id: roomId });
    // private_chat lets guests in (can_join), but only once invited.
    const privateRoom = await room({ preset: 'private_chat' });
    const uninvited = await guest.post(`/_matrix/client/v3/rooms/${enc(privateRoom)}/join`, {});
    expect(uninvited.status).toBe(403);
  });

  it('makes joined guests leave when guest access ends, and leaves other members alone', async () => {
    const g1 = await newGuest();
    const g2 = await newGuest();
    const roomId = await room({ preset: 'public_chat', initial_state: [{ type: 'm.room.guest_access', content: { guest_access: 'can_join' } }] });
    await g1.c.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    await g2.c.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    await g2.c.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
    await bob.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
    // Setting it to can_join again changes nothing.
    await setGuestAccess(roomId, { guest_access: 'can_join' });
    expect((await member(roomId, g1.userId)).content.membership).toBe('join');

    await setGuestAccess(roomId, { guest_access: 'forbidden' });
    const left = await member(roomId, g1.userId);
    expect(left.content).toEqual({ membership: 'leave' });
    // The guest leaves by their own event: no power level is needed.
    expect(left.sender).toBe(g1.userId);
    expect((await member(roomId, '@bob:test.local')).content.membership).toBe('join');
    expect((await member(roomId, g2.userId)).content.membership).toBe('leave');
    const joined = (await alice.get<{ joined: Record<string, unknown> }>(`/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`)).body.joined;
    expect(Object.keys(joined).sort()).toEqual(['@alice:test.local', '@bob:test.local']);
    // And they cannot come back.
    expect((await g1.c.post(`/_matrix/client/v3/join/${enc(roomId)}`, {})).status).toBe(403);
  });

  it('lets guests call the endpoints the spec lists, and refuses the others with M_GUEST_ACCESS_FORBIDDEN', async () => {
    const { c: guest, userId } = await newGuest();
    const roomId = await room({
      preset: 'public_chat', power_level_content_override: { state_default: 0 },
      initial_state: [{ type: 'm.room.guest_access', content: { guest_access: 'can_join' } }],
    });
    expect((await guest.post(`/_matrix/client/v3/rooms/${enc(roomId)}/join`, {})).status).toBe(200);
    const sent = await guest.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/g1`, { msgtype: 'm.text', body: 'hi' });
    expect(sent.status).toBe(200);
    const eventId = sent.body.event_id;
    const r = `/_matrix/client/v3/rooms/${enc(roomId)}`;
    const allowed: Array<[string, string, unknown?]> = [
      ['GET', `${r}/state`],
      ['GET', `${r}/state/m.room.create`],
      ['GET', `${r}/state/m.room.create/`],
      ['GET', `${r}/members`],
      ['GET', `${r}/messages?dir=b`],
      ['GET', `${r}/event/${enc(eventId)}`],
      ['GET', `${r}/context/${enc(eventId)}`],
      ['GET', `${r}/initialSync`],
      ['GET', `/_matrix/client/v3/events?room_id=${enc(roomId)}&timeout=0`],
      ['PUT', `${r}/state/org.example.guest/${enc(userId)}`, { hello: true }],
    ];
    for (const [method, path, body] of allowed) {
      const res = await guest.request(method, path, body);
      expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(200);
    }
    const refused: Array<[string, string, unknown?]> = [
      ['GET', `${r}/joined_members`],
      ['GET', `/_matrix/client/v1/rooms/${enc(roomId)}/timestamp_to_event?ts=0&dir=f`],
      ['GET', '/_matrix/client/v3/joined_rooms'],
      ['POST', '/_matrix/client/v3/createRoom', {}],
      ['POST', `${r}/invite`, { user_id: '@bob:test.local' }],
      ['POST', `${r}/kick`, { user_id: '@bob:test.local' }],
      ['POST', `${r}/ban`, { user_id: '@bob:test.local' }],
      ['POST', `${r}/unban`, { user_id: '@bob:test.local' }],
      ['POST', `/_matrix/client/v3/knock/${enc(roomId)}`, {}],
      ['POST', `${r}/forget`, {}],
      ['PUT', `${r}/redact/${enc(eventId)}/g2`, {}],
      ['POST', `${r}/upgrade`, { new_version: '11' }],
      ['POST', `${r}/report/${enc(eventId)}`, {}],
      ['POST', `${r}/report`, {}],
    ];
    for (const [method, path, body] of refused) {
      const res = await guest.request(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.errcode, `${method} ${path}`).toBe('M_GUEST_ACCESS_FORBIDDEN');
    }
    // The message is still the only thing the guest sent, and the event was not redacted.
    const ev = await alice.get<Ev>(`${r}/event/${enc(eventId)}`);
    expect(ev.body.content).toEqual({ msgtype: 'm.text', body: 'hi' });
    expect((await guest.post(`${r}/leave`, {})).status).toBe(200);
  });
});
