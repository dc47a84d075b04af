// Concurrent conflicting state changes across three servers: a ban sent on B races a power-level
// change sent on A that takes the banner's power away. Each server sees the two events in its own
// order (B accepted the ban first, C too, A soft-fails it); state resolution must leave all three
// with the same current state: the higher-powered sender's change applies first, so the ban fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';

const engines = ENGINES.includes('postgres') ? ['sqlite', 'postgres', 'sqlite'] as const : ['sqlite'] as const;
const enc = encodeURIComponent;

type StateEvent = { type: string; state_key: string; event_id: string; content: Record<string, unknown> };

async function currentState(u: { client: Client }, roomId: string): Promise<Record<string, string>> {
  const r = await u.client.get<StateEvent[]>(`/_matrix/client/v3/rooms/${enc(roomId)}/state`);
  if (r.status !== 200) throw new Error(`state: ${r.status} ${JSON.stringify(r.body)}`);
  return Object.fromEntries(r.body.map((e) => [`${e.type}|${e.state_key}`, e.event_id]).sort(([x], [y]) => (x! < y! ? -1 : 1)));
}

describe('conflicting state changes across servers', () => {
  let a: FederatedServer, b: FederatedServer, c: FederatedServer;
  let alice: { client: Client; userId: string }, bob: { client: Client; userId: string }, carol: { client: Client; userId: string };

  beforeAll(async () => {
    [a, b, c] = await startFederation([...engines], 3);
    [alice, bob, carol] = await Promise.all([a.user('alice'), b.user('bob'), c.user('carol')]);
  }, 60_000);
  afterAll(async () => { await Promise.all([a, b, c].map((s) => s?.close())); });

  it('a ban racing a power-level change resolves to the same state on all three servers', async () => {
    const roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    for (const [u, via] of [[bob, a], [carol, a]] as const) {
      const r = await u.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(via.serverName)}`, {});
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    const pl = (await alice.client.get<Record<string, unknown>>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`)).body;
    const users = pl.users as Record<string, number>;
    expect((await alice.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`, { ...pl, users: { ...users, [bob.userId]: 50 } })).status).toBe(200);
    // Everyone agrees before the race: bob may ban, carol is joined.
    await eventually(async () => {
      const states = await Promise.all([alice, bob, carol].map((u) => currentState(u, roomId)));
      return states.every((s) => JSON.stringify(s) === JSON.stringify(states[0]) && s[`m.room.member|${carol.userId}`] !== undefined)
        && states[0]![`m.room.member|${bob.userId}`] !== undefined;
    }, 20_000, 'the three servers to agree before the race');
    await eventually(async () => {
      const r = await bob.client.get<Record<string, unknown>>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`);
      return (r.body.users as Record<string, number>)[bob.userId] === 50;
    }, 20_000, 'bob\'s power on B');

    // A is down while bob bans carol; A comes back and, before it hears of the ban (B waits
    // to retry), alice takes bob's power away.
    await a.stop();
    const ban = await bob.client.post(`/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: carol.userId });
    expect(ban.status, JSON.stringify(ban.body)).toBe(200);
    await eventually(async () => (await carol.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(carol.userId)}`)).body.membership === 'ban', 20_000, 'the ban on C');
    const banId = (await currentState(carol, roomId))[`m.room.member|${carol.userId}`]!;
    await a.start();
    const demote = await alice.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.power_levels/`, { ...pl, users: { ...users, [bob.userId]: 0 } });
    expect(demote.status).toBe(200);

    // All three end with the same state: the demotion applies first (alice's power is higher),
    // so the ban no longer passes and carol stays in the room.
    const agreed = await eventually(async () => {
      const states = await Promise.all([alice, bob, carol].map((u) => currentState(u, roomId)));
      return states.every((s) => JSON.stringify(s) === JSON.stringify(states[0])) ? states[0] : undefined;
    }, 30_000, 'the three servers to agree after the race');
    const member = await a.hs.storage.events.getEvent(agreed[`m.room.member|${carol.userId}`]!);
    expect(member?.event.content.membership).toBe('join');
    expect(agreed[`m.room.member|${carol.userId}`]).not.toBe(banId);
    // Every server has the ban: B and C had applied it, A soft-failed it (a real fork was resolved).
    for (const s of [a, b, c]) await eventually(async () => (await s.hs.storage.events.getEvent(banId)) !== undefined, 10_000, 'the ban everywhere');
    expect((await a.hs.storage.events.getEvent(banId))?.softFailed).toBe(true);
    expect((await b.hs.storage.events.getEvent(banId))?.softFailed).toBe(false);
    const power = await a.hs.storage.events.getEvent(agreed['m.room.power_levels|']!);
    expect((power?.event.content.users as Record<string, number>)[bob.userId]).toBe(0);
  }, 120_000);
});
