// What a server serves to others about its rooms, over signed HTTPS requests: make_join and
// send_join (hostile variants refused and changing nothing), /event, /state_ids, /state,
// /event_auth, /backfill and /get_missing_events for a server in the room, 403 for a server that
// is not, the room's ACL, history visibility applied per server, knocking, restricted joins.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent, parsePdu, toFederationPdu } from '../../../src/core/events.js';
import { getRoomVersion } from '../../../src/core/room-versions.js';
import type { JsonObject } from '../../../src/core/pdu.js';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, signedFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';

const engines = ENGINES.includes('postgres') ? ['postgres', 'sqlite', 'sqlite'] as const : ['sqlite'] as const;
const enc = encodeURIComponent;

describe('serving rooms to other servers', () => {
  let a: FederatedServer, b: FederatedServer, c: FederatedServer;
  let alice: { client: Client; userId: string }, bob: { client: Client; userId: string };
  let roomId: string;

  beforeAll(async () => {
    [a, b, c] = await startFederation([...engines], 3);
    [alice, bob] = await Promise.all([a.user('alice'), b.user('bob')]);
    roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat', name: 'Served' })).body.room_id;
    await alice.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/m1`, { msgtype: 'm.text', body: 'first' });
  }, 60_000);
  afterAll(async () => { await Promise.all([a, b, c].map((s) => s?.close())); });

  /** B's user's join, made by A's template and signed by B's key, as B would send it. */
  async function signedJoin(userId: string, mutate?: (pdu: Record<string, unknown>) => void) {
    const made = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(userId)}?ver=10&ver=11&ver=12`);
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    const version = getRoomVersion(made.body.room_version as string)!;
    const t = made.body.event as Record<string, unknown>;
    const built = buildEvent({
      type: 'm.room.member', state_key: userId, sender: userId, room_id: roomId, content: t.content as JsonObject,
      prev_events: t.prev_events as string[], auth_events: t.auth_events as string[], depth: t.depth as number, origin_server_ts: Date.now(),
    }, version, { serverName: b.serverName, key: b.hs.signingKey });
    if (!built.ok) throw new Error(built.reason);
    const pdu = toFederationPdu(built.value, version) as Record<string, unknown>;
    mutate?.(pdu);
    return { eventId: built.value.event_id, pdu, version };
  }

  it('refuses hostile send_join requests and stores nothing', async () => {
    const path = (id: string) => `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(id)}`;
    // A join for a user of another server than the one asking.
    const made = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(`@mallory:${c.serverName}`)}?ver=12`);
    expect(made.status).toBe(403);
    // An incompatible room version list.
    const old = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(bob.userId)}?ver=1`);
    expect(old.status).toBe(400);
    expect(old.body.errcode).toBe('M_INCOMPATIBLE_ROOM_VERSION');

    // A forged signature: the content changed after signing a protected key (membership).
    const forged = await signedJoin(bob.userId, (pdu) => { pdu.content = { membership: 'join', displayname: 'x' }; pdu.signatures = { [b.serverName]: { [b.hs.signingKey.keyId]: 'A'.repeat(86) } }; });
    const r1 = await signedFetch(b, a, 'PUT', path(forged.eventId), forged.pdu);
    expect(r1.status).toBe(403);
    // A wrong content hash.
    const badHash = await signedJoin(bob.userId, (pdu) => { pdu.content = { membership: 'join', displayname: 'changed after hashing' }; });
    const r2 = await signedFetch(b, a, 'PUT', path(badHash.eventId), badHash.pdu);
    expect(r2.status).toBe(400);
    // The event ID of the path does not match the event.
    const good = await signedJoin(bob.userId);
    const r3 = await signedFetch(b, a, 'PUT', path('$not-this-one'), good.pdu);
    expect(r3.status).toBe(400);
    // C sending B's user's join.
    const r4 = await signedFetch(c, a, 'PUT', path(good.eventId), good.pdu);
    expect(r4.status).toBe(403);
    // Unsigned.
    const r5 = await signedFetch(b, a, 'PUT', path(good.eventId), good.pdu, { header: () => 'X-Matrix origin="nobody"' });
    expect(r5.status).toBe(401);
    expect(await a.hs.storage.rooms.membership(roomId, bob.userId)).toBeUndefined();
    for (const e of [forged, badHash]) expect(await a.hs.storage.events.getEvent(e.eventId)).toBeUndefined();

    // The real one: accepted, with the room's state and auth chain.
    const ok = await signedFetch(b, a, 'PUT', path(good.eventId), good.pdu);
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    const state = ok.body.state as Array<{ type: string }>;
    expect(state.map((e) => e.type)).toEqual(expect.arrayContaining(['m.room.create', 'm.room.power_levels', 'm.room.name', 'm.room.member']));
    expect(Array.isArray(ok.body.auth_chain)).toBe(true);
    expect(await a.hs.storage.rooms.membership(roomId, bob.userId)).toBe('join');
    // omit_members: no member events, and the servers in the room instead.
    const again = await signedFetch(b, a, 'PUT', `${path(good.eventId)}?omit_members=true`, good.pdu);
    expect(again.status).toBe(200);
    expect((again.body.state as Array<{ type: string }>).some((e) => e.type === 'm.room.member')).toBe(false);
    expect(again.body.members_omitted).toBe(true);
    expect(again.body.servers_in_room).toEqual(expect.arrayContaining([a.serverName]));
  }, 60_000);

  it('serves events, state and history to a server in the room, and nothing to one outside it', async () => {
    const room = await a.hs.storage.events.getRoom(roomId);
    const head = room!.forwardExtremities[0]!;
    const version = getRoomVersion(room!.roomVersion)!;
    // B is in the room now (previous test).
    const ev = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/event/${enc(head)}`);
    expect(ev.status).toBe(200);
    const pdu = parsePdu((ev.body.pdus as unknown[])[0], version);
    expect(pdu.ok && pdu.value.event_id).toBe(head);

    const ids = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/state_ids/${enc(roomId)}?event_id=${enc(head)}`);
    expect(ids.status).toBe(200);
    const state = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/state/${enc(roomId)}?event_id=${enc(head)}`);
    expect(state.status).toBe(200);
    expect((state.body.pdus as unknown[]).length).toBe((ids.body.pdu_ids as unknown[]).length);
    const auth = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/event_auth/${enc(roomId)}/${enc(head)}`);
    expect(auth.status).toBe(200);
    expect((auth.body.auth_chain as unknown[]).length).toBeGreaterThan(0);

    const back = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/backfill/${enc(roomId)}?v=${enc(head)}&limit=5`);
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect((back.body.pdus as unknown[]).length).toBe(5);
    const missing = await signedFetch(b, a, 'POST', `/_matrix/federation/v1/get_missing_events/${enc(roomId)}`, { earliest_events: [], latest_events: [head], limit: 3, min_depth: 0 });
    expect(missing.status).toBe(200);
    const depths = (missing.body.events as Array<{ depth: number }>).map((e) => e.depth);
    expect(depths.length).toBe(3);
    expect([...depths].sort((x, y) => x - y)).toEqual(depths); // oldest first

    // C has no one in the room: every room-scoped request is refused.
    for (const [method, p] of [
      ['GET', `/_matrix/federation/v1/state_ids/${enc(roomId)}?event_id=${enc(head)}`],
      ['GET', `/_matrix/federation/v1/backfill/${enc(roomId)}?v=${enc(head)}&limit=5`],
      ['GET', `/_matrix/federation/v1/event_auth/${enc(roomId)}/${enc(head)}`],
      ['GET', `/_matrix/federation/v1/event/${enc(head)}`],
    ] as const) {
      const r = await signedFetch(c, a, method, p);
      expect(r.status, p).toBe(403);
    }
  }, 60_000);

  it('applies history visibility per server: a server that was never in the room gets redacted history', async () => {
    const room = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {
      preset: 'public_chat', initial_state: [{ type: 'm.room.history_visibility', state_key: '', content: { history_visibility: 'joined' } }],
    })).body.room_id;
    const secret = await alice.client.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(room)}/send/m.room.message/s1`, { msgtype: 'm.text', body: 'before C joined' });
    const carol = await c.user('carol');
    expect((await carol.client.post(`/_matrix/client/v3/join/${enc(room)}?via=${enc(a.serverName)}`, {})).status).toBe(200);
    const r = await signedFetch(c, a, 'GET', `/_matrix/federation/v1/event/${enc(secret.body.event_id)}`);
    expect(r.status).toBe(200);
    expect((r.body.pdus as Array<{ content: Record<string, unknown> }>)[0]!.content).toEqual({});
  }, 60_000);

  it('enforces the room ACL on room-scoped requests', async () => {
    const room = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    expect((await alice.client.put(`/_matrix/client/v3/rooms/${enc(room)}/state/m.room.server_acl/`, { allow: ['*'], deny: ['127.0.0.1'], allow_ip_literals: true })).status).toBe(200);
    const r = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/make_join/${enc(room)}/${enc(bob.userId)}?ver=12`);
    expect(r.status).toBe(403);
    expect(r.body.errcode).toBe('M_FORBIDDEN');
    const viaClient = await bob.client.post(`/_matrix/client/v3/join/${enc(room)}?via=${enc(a.serverName)}`, {});
    expect(viaClient.status).toBe(403);
  }, 30_000);

  it('knocks across servers, and restricted rooms admit members of the allowed room through a resident server', async () => {
    const knockRoom = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {
      preset: 'private_chat', initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'knock' } }],
    })).body.room_id;
    const dave = await b.user('dave');
    const knock = await dave.client.post(`/_matrix/client/v3/knock/${enc(knockRoom)}?via=${enc(a.serverName)}`, { reason: 'let me in' });
    expect(knock.status, JSON.stringify(knock.body)).toBe(200);
    await eventually(async () => (await a.hs.storage.rooms.membership(knockRoom, dave.userId)) === 'knock', 10_000, 'the knock on A');
    const synced = await dave.client.get<{ rooms?: { knock?: Record<string, unknown> } }>('/_matrix/client/v3/sync');
    expect(synced.body.rooms?.knock?.[knockRoom]).toBeDefined();

    // A restricted room that admits members of `space`: dave joins `space`, then the room.
    const space = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    const restricted = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', {
      preset: 'private_chat',
      initial_state: [{ type: 'm.room.join_rules', state_key: '', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: space }] } }],
    })).body.room_id;
    const early = await dave.client.post(`/_matrix/client/v3/join/${enc(restricted)}?via=${enc(a.serverName)}`, {});
    expect(early.status).not.toBe(200);
    expect((await dave.client.post(`/_matrix/client/v3/join/${enc(space)}?via=${enc(a.serverName)}`, {})).status).toBe(200);
    await eventually(async () => (await a.hs.storage.rooms.membership(space, dave.userId)) === 'join', 10_000, 'dave in the space on A');
    const joined = await dave.client.post(`/_matrix/client/v3/join/${enc(restricted)}?via=${enc(a.serverName)}`, {});
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    const memberNid = (await a.hs.storage.events.currentState(restricted)).get(`m.room.member\u0000${dave.userId}`)!;
    const member = (await a.hs.storage.events.getEventsByNid([memberNid])).get(memberNid);
    expect(member?.event.content.join_authorised_via_users_server).toBe(alice.userId);
    expect(Object.keys(member!.event.signatures).sort()).toEqual([a.serverName, b.serverName].sort());

    // B skips make_join for a user outside the space, naming alice as the authoriser anyway (dave's
    // template, retargeted): A refuses to sign, and nothing is stored.
    const eve = `@eve:${b.serverName}`;
    const made = await signedFetch(b, a, 'GET', `/_matrix/federation/v1/make_join/${enc(restricted)}/${enc(eve)}?ver=12`);
    expect(made.status).toBe(400);
    const template = (await signedFetch(b, a, 'GET', `/_matrix/federation/v1/make_join/${enc(restricted)}/${enc(dave.userId)}?ver=12`)).body;
    const version = getRoomVersion(template.room_version as string)!;
    const t = template.event as Record<string, unknown>;
    const built = buildEvent({
      type: 'm.room.member', state_key: eve, sender: eve, room_id: restricted, content: { membership: 'join', join_authorised_via_users_server: alice.userId },
      prev_events: t.prev_events as string[], auth_events: t.auth_events as string[], depth: t.depth as number, origin_server_ts: Date.now(),
    }, version, { serverName: b.serverName, key: b.hs.signingKey });
    if (!built.ok) throw new Error(built.reason);
    const sent = await signedFetch(b, a, 'PUT', `/_matrix/federation/v2/send_join/${enc(restricted)}/${enc(built.value.event_id)}`, toFederationPdu(built.value, version));
    expect(sent.status).toBe(403);
    expect(await a.hs.storage.rooms.membership(restricted, eve)).toBeUndefined();
  }, 60_000);
});
