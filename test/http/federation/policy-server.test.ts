// Policy Servers across three Weft servers over real HTTPS: C acts as the Policy Server of a
// room on A (C's user is joined; C bans a user of B through its moderation policy list). Every
// event of the room gets C's signature before it is sent; C's refusal reaches the sending client
// as C gave it; a server that sends without asking has its event soft failed by the others;
// POST /_matrix/policy/v1/sign refuses what it should.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEvent, toFederationPdu } from '../../../src/core/events.js';
import { POLICY_SERVER_KEY_ID, hasValidPolicySignature } from '../../../src/core/policy-server.js';
import { getRoomVersion } from '../../../src/core/room-versions.js';
import type { JsonObject } from '../../../src/core/pdu.js';
import { ENGINES } from '../../helpers/databases.js';
import { eventually, federationFetch, signedFetch, startFederation, type FederatedServer } from '../../helpers/federation.js';
import type { Client } from '../../helpers/client.js';

type Msgs = { chunk: Array<{ type: string; sender: string; content: Record<string, unknown>; event_id: string }> };
type User = { client: Client; userId: string };

const engines = ENGINES.includes('postgres') ? ['postgres', 'sqlite', 'sqlite'] as const : ['sqlite'] as const;
const enc = encodeURIComponent;

describe('Policy Servers across servers', () => {
  let a: FederatedServer, b: FederatedServer, c: FederatedServer;
  let alice: User, bob: User, spammer: User, moderator: User;
  let roomId: string;
  let policyKey: string;

  const messages = (u: User) => u.client.get<Msgs>(`/_matrix/client/v3/rooms/${enc(roomId)}/messages?dir=b&limit=100`);
  const sees = (u: User, body: string) => eventually(async () => {
    const r = await messages(u);
    return r.status === 200 && r.body.chunk.some((e) => e.content.body === body);
  }, 15_000, `"${body}" to arrive`);
  const say = (u: User, body: string) => u.client.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/${Math.random()}`, { msgtype: 'm.text', body });
  const policyOf = () => ({ via: c.serverName, ed25519: policyKey });

  beforeAll(async () => {
    [a, b, c] = await startFederation([...engines], 3);
    [alice, bob, spammer, moderator] = await Promise.all([a.user('alice'), b.user('bob'), b.user('spammer'), c.user('moderator')]);
    // C's moderation policy list bans B's spammer; C then acts as a Policy Server enforcing it.
    const list = await moderator.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { name: 'ban list' });
    const rule = await moderator.client.put(`/_matrix/client/v3/rooms/${enc(list.body.room_id)}/state/m.policy.rule.user/rule1`, {
      entity: spammer.userId, recommendation: 'm.ban', reason: 'spam',
    });
    expect(rule.status).toBe(200);
    c.config.policy_server = { ...c.config.policy_server, enabled: true, ban_lists: [list.body.room_id] };
    await c.restart();

    roomId = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    for (const u of [bob, spammer, moderator]) {
      const joined = await u.client.post(`/_matrix/client/v3/join/${enc(roomId)}?via=${enc(a.serverName)}`, {});
      expect(joined.status, JSON.stringify(joined.body)).toBe(200);
    }
    await eventually(async () => (await a.hs.joinedServers.of(roomId)).has(c.serverName), 15_000, 'C\'s join to reach A');
  }, 90_000);
  afterAll(async () => { await Promise.all([a, b, c].map((s) => s?.close())); });

  it('publishes its key at /.well-known/matrix/policy_server; a server that is not one answers 404', async () => {
    const wk = await fetch(`${c.baseUrl}/.well-known/matrix/policy_server`);
    expect(wk.status).toBe(200);
    const body = await wk.json() as { public_keys: { ed25519: string } };
    expect(body.public_keys.ed25519).toMatch(/^[A-Za-z0-9+/]{43}$/);
    // Its own key, not the server's signing key.
    expect(body.public_keys.ed25519).not.toBe(c.hs.signingKey.publicKeyBase64);
    policyKey = body.public_keys.ed25519;
    expect((await fetch(`${a.baseUrl}/.well-known/matrix/policy_server`)).status).toBe(404);
  });

  it('once the room names C, every event is signed by C before it is sent, on every server', async () => {
    const set = await alice.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.policy/`, { via: c.serverName, public_keys: { ed25519: policyKey } });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    // C signs for rooms whose state (as C knows it) names it.
    for (const [server, u] of [[c, moderator], [b, bob]] as const) {
      await eventually(async () => (await u.client.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.policy/`)).body.via === c.serverName, 15_000, `the policy to reach ${server.serverName}`);
    }
    const hello = await say(alice, 'hello, protected room');
    expect(hello.status, JSON.stringify(hello.body)).toBe(200);
    const version = getRoomVersion((await a.hs.storage.events.getRoom(roomId))!.roomVersion)!;
    const onA = await a.hs.storage.events.getEvent(hello.body.event_id);
    expect(hasValidPolicySignature(onA!.event, version, policyOf())).toBe(true);
    await sees(bob, 'hello, protected room');
    const onB = await b.hs.storage.events.getEvent(hello.body.event_id);
    expect(onB?.event.signatures[c.serverName]?.[POLICY_SERVER_KEY_ID]).toBe(onA!.event.signatures[c.serverName]![POLICY_SERVER_KEY_ID]);
    expect(onB?.softFailed).toBe(false);

    const reply = await say(bob, 'hi from B');
    expect(reply.status).toBe(200);
    await sees(alice, 'hi from B');
    expect(hasValidPolicySignature((await a.hs.storage.events.getEvent(reply.body.event_id))!.event, version, policyOf())).toBe(true);
  });

  it('a refusal reaches the sending client as the Policy Server gave it, and nothing is sent', async () => {
    const before = await b.hs.storage.events.forwardExtremities(roomId);
    const refused = await say(spammer, 'buy cheap watches');
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ errcode: 'M_FORBIDDEN', error: 'The sender is banned by this policy server' });
    expect(await b.hs.storage.events.forwardExtremities(roomId)).toEqual(before);
    expect((await messages(spammer)).body.chunk.some((e) => e.content.body === 'buy cheap watches')).toBe(false);
  });

  it('an event sent without asking is soft failed by the servers that receive it', async () => {
    // B's server builds and signs the spammer's event itself and pushes it to A.
    const version = getRoomVersion((await b.hs.storage.events.getRoom(roomId))!.roomVersion)!;
    const { template } = await b.hs.pipeline.template(roomId, version, { type: 'm.room.message', sender: spammer.userId, content: { msgtype: 'm.text', body: 'sneaky spam' } });
    const built = buildEvent(template, version, { serverName: b.serverName, key: b.hs.signingKey });
    if (!built.ok) throw new Error(built.reason);
    const before = await a.hs.storage.events.forwardExtremities(roomId);
    const sent = await signedFetch(b, a, 'PUT', `/_matrix/federation/v1/send/sneaky-${Date.now()}`, {
      origin: b.serverName, origin_server_ts: Date.now(), pdus: [toFederationPdu(built.value, version)],
    });
    expect(sent.status).toBe(200);
    const stored = await a.hs.storage.events.getEvent(built.value.event_id);
    expect(stored?.softFailed).toBe(true);
    expect(await a.hs.storage.events.forwardExtremities(roomId)).toEqual(before);
    expect((await messages(alice)).body.chunk.some((e) => e.content.body === 'sneaky spam')).toBe(false);
  });

  it('POST /_matrix/policy/v1/sign refuses what it should', async () => {
    const version = getRoomVersion((await a.hs.storage.events.getRoom(roomId))!.roomVersion)!;
    const pdu = async (type: string, content: JsonObject, stateKey?: string) => {
      const { template } = await a.hs.pipeline.template(roomId, version, { type, sender: alice.userId, content, ...(stateKey !== undefined ? { state_key: stateKey } : {}) });
      const built = buildEvent(template, version, { serverName: a.serverName, key: a.hs.signingKey });
      if (!built.ok) throw new Error(built.reason);
      return toFederationPdu(built.value, version);
    };
    const message = await pdu('m.room.message', { msgtype: 'm.text', body: 'x' });
    // Signed by C for a server in the room.
    const ok = await signedFetch(a, c, 'POST', '/_matrix/policy/v1/sign', message);
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body)).toEqual([c.serverName]);
    // Unsigned request.
    expect((await federationFetch(c, 'POST', '/_matrix/policy/v1/sign', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(message) })).status).toBe(401);
    // The room's own m.room.policy state event is never signed.
    const policy = await signedFetch(a, c, 'POST', '/_matrix/policy/v1/sign', await pdu('m.room.policy', { via: c.serverName, public_keys: { ed25519: policyKey } }, ''));
    expect(policy).toMatchObject({ status: 400, body: { errcode: 'M_BAD_JSON' } });
    // A PDU without the fields of its room version.
    const { auth_events: _omitted, ...malformed } = message as Record<string, unknown>;
    expect(await signedFetch(a, c, 'POST', '/_matrix/policy/v1/sign', malformed)).toMatchObject({ status: 400, body: { errcode: 'M_BAD_JSON' } });
    expect(await signedFetch(a, c, 'POST', '/_matrix/policy/v1/sign', [1, 2])).toMatchObject({ status: 400, body: { errcode: 'M_BAD_JSON' } });
    // Rooms C does not know, or that do not name C: not protected.
    expect(await signedFetch(a, c, 'POST', '/_matrix/policy/v1/sign', { ...message, room_id: '!nowhere:example.org' })).toMatchObject({ status: 404, body: { errcode: 'M_NOT_FOUND' } });
    const other = (await alice.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    expect((await moderator.client.post(`/_matrix/client/v3/join/${enc(other)}?via=${enc(a.serverName)}`, {})).status).toBe(200);
    expect(await signedFetch(a, c, 'POST', '/_matrix/policy/v1/sign', { ...message, room_id: other })).toMatchObject({ status: 404, body: { errcode: 'M_NOT_FOUND' } });
    // A server that is not a Policy Server.
    expect(await signedFetch(c, a, 'POST', '/_matrix/policy/v1/sign', message)).toMatchObject({ status: 404, body: { errcode: 'M_UNRECOGNIZED' } });
  });

  it('signs its own users\' events without a request; a room naming it with another key is refused, not "not found"', async () => {
    const own = (await moderator.client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', { preset: 'public_chat' })).body.room_id;
    const setPolicy = (ed25519: string) => moderator.client.put(`/_matrix/client/v3/rooms/${enc(own)}/state/m.room.policy/`, { via: c.serverName, public_keys: { ed25519 } });
    expect((await setPolicy(policyKey)).status).toBe(200);
    const sent = await moderator.client.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(own)}/send/m.room.message/own1`, { msgtype: 'm.text', body: 'signed at home' });
    expect(sent.status).toBe(200);
    const version = getRoomVersion((await c.hs.storage.events.getRoom(own))!.roomVersion)!;
    expect(hasValidPolicySignature((await c.hs.storage.events.getEvent(sent.body.event_id))!.event, version, policyOf())).toBe(true);
    // C's policy server key is not this one: it does not protect the room, and says so as a refusal.
    expect((await setPolicy(c.hs.signingKey.publicKeyBase64)).status).toBe(200);
    const refused = await moderator.client.put(`/_matrix/client/v3/rooms/${enc(own)}/send/m.room.message/own2`, { msgtype: 'm.text', body: 'not signed' });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ errcode: 'M_FORBIDDEN' });
  });

  it('with the Policy Server down, sends are refused until the room stops using it', async () => {
    await c.stop();
    try {
      const refused = await say(alice, 'anyone there?');
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ errcode: 'M_FORBIDDEN' });
      // The m.room.policy state event itself needs no signature: the room can switch it off.
      expect((await alice.client.put(`/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.policy/`, {})).status).toBe(200);
      expect((await say(alice, 'unprotected again')).status).toBe(200);
      await sees(bob, 'unprotected again');
    } finally {
      await c.start();
    }
  });
});
