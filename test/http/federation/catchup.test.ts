// A server stopped while the others talk catches up once it is back: the others' queues retry
// (and resume at once when it contacts them), events whose prev events it lacks are filled in
// with get_missing_events, and it ends with the same current state and every message.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';

const engines = ENGINES.includes('postgres') ? ['sqlite', 'sqlite', 'postgres'] as const : ['sqlite'] as const;
const enc = encodeURIComponent;

async function currentState(u: { client: Client }, roomId: string): Promise<string> {
  const r = await u.client.get<Array<{ type: string; state_key: string; event_id: string }>>(`/_matrix/client/v3/rooms/${enc(roomId)}/state`);
  if (r.status !== 200) throw new Error(`state: ${r.status}`);
  return JSON.stringify(r.body.map((e) => `${e.type}|${e.state_key}|${e.event_id}`).sort());
}

async function bodies(u: { client: Client }, roomId: string): Promise<string[]> {
  const r = await u.client.get<{ chunk: Array<{ type: string; content: { body?: string } }> }>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100`);
  return r.body.chunk.filter((e) => e.type === 'm.room.message').map((e) => e.content.body ?? '').reverse();
}

describe('catching up after downtime', () => {
  let a: FederatedServer, b: FederatedServer, c: FederatedServer;
  let alice: { client: Client; userId: string }, bob: { client: Client; userId: string }, carol: { client: Client; userId: string };

  beforeAll(async () => {
    [a, b, c] = await startFederation([...engines], 3);
    [alice, bob, carol] = await Promise.all([a.user('alice'), b.user('bob'), c.user('carol')]);
  }, 60_000);
  afterAll(async () => { await Promise.all([a, b, c].map((s) => s?.close())); });

  it('a restarted server receives what it missed and ends with the same state', async () => {
    const roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    for (const u of [bob, carol]) {
      const r = await u.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.serverName)}`, {});
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    await eventually(async () => {
      const s = await Promise.all([alice, bob, carol].map((u) => currentState(u, roomId)));
      return s.every((x) => x === s[0]);
    }, 20_000, 'agreement before the downtime');

    await c.stop();
    // A and B talk (each sees the other's messages) and change the topic while C is down.
    const sent: string[] = [];
    for (let i = 0; i < 4; i++) {
      for (const [u, who] of [[alice, 'a'], [bob, 'b']] as const) {
        const body = `${who}${i}`;
        expect((await u.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${body}`, { msgtype: 'm.text', body })).status).toBe(200);
        sent.push(body);
        await eventually(async () => (await bodies(u === alice ? bob : alice, roomId)).includes(body), 15_000, `${body} across`);
      }
    }
    expect((await alice.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic/`, { topic: 'while C was away' })).status).toBe(200);

    await c.start();
    // C speaks first: its message reaches A and B, which then retry their queues for C at once.
    expect((await carol.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/back`, { msgtype: 'm.text', body: 'back' })).status).toBe(200);
    sent.push('back');
    await eventually(async () => {
      const s = await Promise.all([alice, bob, carol].map((u) => currentState(u, roomId)));
      return s.every((x) => x === s[0]);
    }, 30_000, 'the same current state on all three');
    const topic = await carol.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.topic/`);
    expect(topic.body.topic).toBe('while C was away');
    for (const u of [alice, bob, carol]) {
      await eventually(async () => (await bodies(u, roomId)).filter((x) => sent.includes(x)).length === sent.length, 30_000, 'every message everywhere');
    }
    expect(new Set(await bodies(carol, roomId))).toEqual(new Set(sent));
  }, 120_000);
});
