// Deactivation with `erase`: users who join after the erasure see the erased user's events
// redacted; those who could see them before still see them whole.
// spec: client-server-api POST /account/deactivate, `erase`
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';

const enc = encodeURIComponent;
const PASSWORD = 'correct horse battery staple';

type Ev = { event_id: string; type: string; sender: string; content: Record<string, unknown> };

describe.each(ENGINES)('deactivation with erase (%s)', (engine) => {
  let server: TestServer;
  beforeAll(async () => { server = await startTestServer(engine); });
  afterAll(() => server.close());

  const user = async (name: string) => {
    const c = new Client(server.baseUrl);
    await c.register(name);
    return c;
  };
  const deactivate = async (c: Client, name: string, erase: boolean | undefined) => {
    const challenge = await c.post<{ session: string }>('/_matrix/client/v3/account/deactivate', {});
    const r = await c.post('/_matrix/client/v3/account/deactivate', {
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: name }, password: PASSWORD, session: challenge.body.session },
      ...(erase === undefined ? {} : { erase }),
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
  };
  const say = async (c: Client, roomId: string, body: string) => {
    const r = await c.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${Math.random()}`, { msgtype: 'm.text', body });
    expect(r.status).toBe(200);
    return r.body.event_id;
  };
  const join = async (c: Client, roomId: string) => expect((await c.post(`/_matrix/client/v3/join/${enc(roomId)}`, {})).status).toBe(200);
  const eventAsSeenBy = async (c: Client, roomId: string, eventId: string) =>
    (await c.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`)).body;
  const messagesSeenBy = async (c: Client, roomId: string) =>
    (await c.get<{ chunk: Ev[] }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=50`)).body.chunk;

  it('serves redacted copies to users who join after the erasure, and whole ones to those who saw them', async () => {
    const [owner, early, late] = [await user('owner1'), await user('early1'), await user('late1')];
    const goner = await user('goner1');
    const roomId = (await owner.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    await join(goner, roomId);
    await join(early, roomId);
    const secret = await say(goner, roomId, 'something I regret');
    const ownerSays = await say(owner, roomId, 'an ordinary message');
    await deactivate(goner, 'goner1', true);
    await join(late, roomId);

    // Joined before the erasure: the event as it was.
    expect((await eventAsSeenBy(early, roomId, secret)).content).toEqual({ msgtype: 'm.text', body: 'something I regret' });
    // Joined after: a redacted copy, everywhere events are served.
    expect((await eventAsSeenBy(late, roomId, secret)).content).toEqual({});
    const chunk = await messagesSeenBy(late, roomId);
    expect(chunk.find((e) => e.event_id === secret)?.content).toEqual({});
    expect(chunk.find((e) => e.event_id === ownerSays)?.content).toEqual({ msgtype: 'm.text', body: 'an ordinary message' });
    const context = (await late.get<{ event: Ev }>(`/_matrix/client/v3/rooms/${enc(roomId)}/context/${enc(secret)}`)).body;
    expect(context.event.content).toEqual({});
    // The erased user's membership events keep what redaction keeps.
    const leave = chunk.find((e) => e.type === 'm.room.member' && e.sender === '@goner1:test.local' && e.content.membership === 'leave');
    expect(leave?.content).toEqual({ membership: 'leave' });

    // The erasure survives a restart.
    server = await server.restart();
    const lateAgain = new Client(server.baseUrl, late.token);
    expect((await eventAsSeenBy(lateAgain, roomId, secret)).content).toEqual({});
    const earlyAgain = new Client(server.baseUrl, early.token);
    expect((await eventAsSeenBy(earlyAgain, roomId, secret)).content).toEqual({ msgtype: 'm.text', body: 'something I regret' });
  });

  it('leaves events whole when the account is deactivated without erase', async () => {
    const [owner, late] = [await user('owner2'), await user('late2')];
    const goner = await user('goner2');
    const roomId = (await owner.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    await join(goner, roomId);
    const said = await say(goner, roomId, 'nothing to hide');
    await deactivate(goner, 'goner2', false);
    await join(late, roomId);
    expect((await eventAsSeenBy(late, roomId, said)).content).toEqual({ msgtype: 'm.text', body: 'nothing to hide' });
  });

  it('refuses a non-boolean erase', async () => {
    const c = await user('typo3');
    const challenge = await c.post<{ session: string }>('/_matrix/client/v3/account/deactivate', {});
    const r = await c.post('/_matrix/client/v3/account/deactivate', {
      auth: { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'typo3' }, password: PASSWORD, session: challenge.body.session },
      erase: 'yes',
    });
    expect(r.status).toBe(400);
    expect((await c.get('/_matrix/client/v3/account/whoami')).status).toBe(200);
  });
});
