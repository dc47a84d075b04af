// Membership across servers, both sides of each handshake.
// As the resident server: make_join / send_join (v2), make_leave / send_leave (v2),
// make_knock / send_knock, and invites of our users by other servers (v2), with restricted
// joins authorised by one of our users.
// As the joining server: joining a room we are not in (make_join to a resident server, sign,
// send_join, then every event of the returned state and auth chain checked and the room's
// state stored in bulk), rejecting an invite or rescinding a knock (make_leave / send_leave),
// knocking, and inviting another server's user (the invited server counter-signs).
// spec: server-server-api "Joining Rooms", "Restricted rooms", "Knocking upon a room",
// "Inviting to a room", "Leaving Rooms (Rejecting Invites)"
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { authorizeEvent, getNamedPowerLevel, getPowerLevel } from '../../core/auth.js';
import {
  hashAndSignEvent, legacyEventId, parsePdu, signEvent, toFederationPdu, verifyEventSignatureFrom, type EventSigner,
} from '../../core/events.js';
import { domainOf, isValidUserId } from '../../core/identifiers.js';
import { stateKey, type JsonObject, type PDU, type RoomEvent, type StateKey } from '../../core/pdu.js';
import { DEFAULT_ROOM_VERSION, getRoomVersion, ROOM_VERSIONS, type RoomVersion } from '../../core/room-versions.js';
import { MatrixError, forbidden, notFound } from '../../errors.js';
import type { StoredEvent } from '../../storage/events.js';
import type { Storage } from '../../storage/index.js';
import type { RoomPipeline } from '../rooms/pipeline.js';
import { STRIPPED_TYPES } from '../sync/stripped.js';
import type { ServerAcls } from './acl.js';
import { RESPONSE_LIMITS, type FederationClient, type RequestOptions } from './client.js';
import { checkPdus, type KeySource } from './event-checks.js';
import type { OutboundEvents } from './outbound.js';
import type { FederationEventHandler } from './receive.js';
import type { FederationEventServer } from './serve.js';
import { loadAuthChain } from './room-state.js';
import { mayAuthoriseJoin } from '../rooms/restricted-joins.js';

export type RemoteMembership = 'join' | 'leave' | 'knock';

const JOIN_RULES = stateKey('m.room.join_rules', '');

export interface FederationMembershipDeps {
  storage: Storage;
  pipeline: RoomPipeline;
  keys: KeySource;
  /** The client's request, with its per-call answer limits (RequestOptions.maxResponseBytes). */
  client: Pick<FederationClient, 'request'>;
  acl: ServerAcls;
  handler: FederationEventHandler;
  server: FederationEventServer;
  outbound: OutboundEvents;
  signer: EventSigner;
  log: Logger;
  now?: () => number;
}

export class FederationMembership {
  private readonly now: () => number;
  private readonly serverName: string;

  constructor(private readonly d: FederationMembershipDeps) {
    this.now = d.now ?? Date.now;
    this.serverName = d.signer.serverName;
  }

  // ---- the resident server's side ----

  /**
   * spec: GET /make_join, /make_leave, /make_knock: a template of `userId`'s membership event,
   * if the rules would allow it now. `versions`: the room versions the asking server supports
   * (make_join and make_knock; default ["1"]).
   */
  async makeMembership(origin: string, roomId: string, userId: string, membership: RemoteMembership, versions?: string[]): Promise<{ event: JsonObject; room_version: string }> {
    if (!isValidUserId(userId, { historical: true })) throw new MatrixError('M_INVALID_PARAM', 'Invalid user ID', 400);
    if (domainOf(userId) !== origin) throw forbidden(`${origin} cannot ${membership} for ${userId}`);
    const { version } = await this.residentRoom(roomId, origin);
    if (membership !== 'leave' && !(versions ?? ['1']).includes(version.id)) {
      throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `Your server does not support room version ${version.id}`, 400, { room_version: version.id });
    }
    if (membership === 'knock' && !version.knockingSupported) throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `Room version ${version.id} does not support knocking`, 400, { room_version: version.id });
    const content: JsonObject = { membership };
    const request = { type: 'm.room.member', state_key: userId, sender: userId, content };
    let made = await this.d.pipeline.template(roomId, version, request);
    if (membership === 'join') {
      const via = await this.restrictedJoinAuthoriser(version, roomId, userId, made.authState, made.current);
      if (via !== undefined) {
        // The authoriser's member event becomes one of the join's auth events.
        content.join_authorised_via_users_server = via;
        made = await this.d.pipeline.template(roomId, version, request);
      }
    }
    // A draft with a placeholder ID (the auth rules do not read IDs or hashes), signed by us as
    // the authorising server of a restricted join will sign it (rule: "signed by the server of
    // join_authorised_via_users_server").
    let draft = { ...made.template, event_id: '$draft', hashes: { sha256: '' }, signatures: {} } as unknown as RoomEvent;
    if (content.join_authorised_via_users_server !== undefined) {
      const signed = signEvent(draft, version, this.serverName, this.d.signer.key);
      if (signed.ok) draft = signed.value;
    }
    const verdict = authorizeEvent(version, draft, made.authState);
    if (!verdict.ok) throw forbidden(`The ${membership} would not be allowed: ${verdict.reason}`);
    const event: JsonObject = {
      type: 'm.room.member', state_key: userId, sender: userId, room_id: roomId, content,
      prev_events: made.template.prev_events as JsonObject[string], auth_events: made.template.auth_events as JsonObject[string],
      depth: made.template.depth, origin: this.serverName, origin_server_ts: this.now(),
    };
    return { event, room_version: version.id };
  }

  /**
   * spec: PUT /v2/send_join, /v2/send_leave, /send_knock: the signed membership event of
   * `origin`'s user, checked and persisted like any received event, then sent to the other
   * servers in the room.
   */
  async sendMembership(origin: string, roomId: string, eventId: string, body: unknown, membership: RemoteMembership): Promise<{ event: RoomEvent; version: RoomVersion; stored: StoredEvent; signedByUs: boolean }> {
    const { version } = await this.residentRoom(roomId, origin);
    const parsed = parsePdu(body, version);
    if (!parsed.ok) throw new MatrixError('M_BAD_JSON', parsed.reason, 400);
    let event = parsed.value;
    if (event.event_id !== eventId) throw new MatrixError('M_BAD_JSON', 'The event ID does not match the path', 400);
    if (event.room_id !== roomId) throw new MatrixError('M_BAD_JSON', 'The room ID does not match the path', 400);
    if (event.type !== 'm.room.member' || event.state_key !== event.sender || event.content.membership !== membership) {
      throw new MatrixError('M_BAD_JSON', `Expected an m.room.member ${membership} event of its sender`, 400);
    }
    if (domainOf(event.sender) !== origin) throw forbidden(`${origin} cannot send a ${membership} for ${event.sender}`);
    if (membership === 'knock' && !version.knockingSupported) throw new MatrixError('M_BAD_JSON', 'This room version does not support knocking', 400);
    // spec: "Restricted rooms": the authorising server signs the join before accepting it.
    let signedByUs = false;
    const via = event.content.join_authorised_via_users_server;
    if (membership === 'join' && version.restrictedJoinsSupported && typeof via === 'string' && domainOf(via) === this.serverName) {
      // The allow list is checked again here: a server may send a send_join without a make_join,
      // and the auth rules only check the authoriser's power, not the joiner's rooms.
      if (!(await mayAuthoriseJoin(this.d.storage, roomId, event.state_key))) {
        throw forbidden(`${event.state_key} is not in a room that allows them to join`);
      }
      const signed = signEvent(toFederationPdu(event, version), version, this.serverName, this.d.signer.key);
      if (!signed.ok) throw new MatrixError('M_BAD_JSON', signed.reason, 400);
      event = { ...event, signatures: signed.value.signatures };
      signedByUs = true;
    }
    const [checked] = await checkPdus(this.d.keys, version, [toFederationPdu(event, version)]);
    if (!checked!.ok) throw forbidden(`The event failed its checks: ${checked!.error}`);
    if (checked!.redacted) throw new MatrixError('M_BAD_JSON', 'The event does not match its content hash', 400);
    const outcome = await this.d.pipeline.exclusive(roomId, () => this.d.handler.processEvent(origin, version, checked!.event, false));
    if (outcome.status === 'rejected' || outcome.status === 'refused') throw forbidden(`The ${membership} is not allowed: ${outcome.reason}`);
    if (outcome.status === 'soft_failed') throw forbidden(`The ${membership} is not allowed by the room's current state`);
    // Everyone else in the room learns of it from us (the joining server has it already).
    const stored = outcome.stored!;
    if (outcome.status === 'persisted') await this.d.outbound.distribute(stored, [origin]);
    return { event: checked!.event, version, stored, signedByUs };
  }

  /** spec: PUT /v2/send_join response: the state before the join and the auth chain. */
  async sendJoin(origin: string, roomId: string, eventId: string, body: unknown, omitMembers: boolean): Promise<JsonObject> {
    const { event, version, stored, signedByUs } = await this.sendMembership(origin, roomId, eventId, body, 'join');
    const before = await this.d.server.stateBeforeEvent(stored);
    const stateEvents = [...(await this.d.storage.events.getEventsByNid(before.values())).values()];
    const servers = new Set<string>();
    for (const s of stateEvents) {
      if (s.event.type === 'm.room.member' && s.event.content.membership === 'join') servers.add(domainOf(s.event.state_key!)!);
    }
    const kept = omitMembers ? stateEvents.filter((s) => s.event.type !== 'm.room.member') : stateEvents;
    const chain = await loadAuthChain(this.d.storage.events, [...stateEvents.map((s) => s.event.event_id), event.event_id]);
    if (omitMembers) for (const s of kept) chain.delete(s.event.event_id);
    const pdu = (s: StoredEvent) => toFederationPdu(s.event, version) as unknown as JsonObject;
    return {
      origin: this.serverName,
      state: kept.map(pdu),
      auth_chain: [...chain.values()].map(pdu),
      members_omitted: omitMembers,
      ...(omitMembers ? { servers_in_room: [...servers] } : {}),
      ...(signedByUs ? { event: toFederationPdu(event, version) as unknown as JsonObject } : {}),
    };
  }

  /** spec: PUT /send_knock response: the stripped state the knocking user sees. */
  async sendKnock(origin: string, roomId: string, eventId: string, body: unknown): Promise<{ knock_room_state: JsonObject[] }> {
    await this.sendMembership(origin, roomId, eventId, body, 'knock');
    return { knock_room_state: await this.strippedState(roomId) };
  }

  /**
   * spec: PUT /v2/invite: another server invites one of our users. Checked, counter-signed
   * and kept with the stripped state it came with, so that the user's /sync shows it.
   */
  async receiveInvite(origin: string, roomId: string, eventId: string, body: { room_version: string; event: unknown; invite_room_state?: unknown[] }): Promise<{ event: PDU }> {
    const version = getRoomVersion(body.room_version);
    if (!version) throw new MatrixError('M_INCOMPATIBLE_ROOM_VERSION', `Room version ${body.room_version} is not supported`, 400, { room_version: body.room_version });
    const parsed = parsePdu(body.event, version);
    if (!parsed.ok) throw new MatrixError('M_BAD_JSON', parsed.reason, 400);
    const event = parsed.value;
    if (event.event_id !== eventId || event.room_id !== roomId) throw new MatrixError('M_BAD_JSON', 'The event does not match the path', 400);
    if (event.type !== 'm.room.member' || event.content.membership !== 'invite' || typeof event.state_key !== 'string') {
      throw new MatrixError('M_BAD_JSON', 'Expected an m.room.member invite', 400);
    }
    if (domainOf(event.sender) !== origin) throw forbidden(`${origin} cannot invite on behalf of ${event.sender}`);
    if (domainOf(event.state_key) !== this.serverName || !(await this.d.storage.accounts.getUser(event.state_key))) {
      throw notFound(`Unknown user ${event.state_key}`);
    }
    // spec: modules/invite_permission: a user who blocks invites is not invited over federation either.
    if (await this.d.storage.accountData.blocksInvites(event.state_key)) {
      throw new MatrixError('M_INVITE_BLOCKED', `${event.state_key} does not accept invites`, 403);
    }
    if (await this.d.storage.events.getRoom(roomId)) await this.d.acl.require(roomId, origin);
    const [checked] = await checkPdus(this.d.keys, version, [toFederationPdu(event, version)]);
    if (!checked!.ok) throw forbidden(`The invite failed its checks: ${checked!.error}`);
    if (checked!.redacted) throw new MatrixError('M_BAD_JSON', 'The invite does not match its content hash', 400);
    const signed = signEvent(toFederationPdu(event, version), version, this.serverName, this.d.signer.key);
    if (!signed.ok) throw new MatrixError('M_BAD_JSON', signed.reason, 400);
    const invite: RoomEvent = { ...event, signatures: signed.value.signatures };
    const room = await this.d.storage.events.getRoom(roomId);
    if (room && room.currentStateGroup !== null && (await this.d.server.serverJoined(roomId, this.serverName))) {
      // We are in the room: the invite is an ordinary event of it.
      await this.d.pipeline.exclusive(roomId, () => this.d.handler.processEvent(origin, version, invite, true));
    } else {
      const stripped = Array.isArray(body.invite_room_state) ? body.invite_room_state.filter((e) => typeof e === 'object' && e !== null) : [];
      await this.recordOutOfRoom(invite, stripped);
    }
    return { event: signed.value as unknown as PDU };
  }

  // ---- the joining server's side ----

  /**
   * Joins (or knocks on) a room this server is not in through one of `servers`. Returns the
   * persisted membership event. spec: "Joining Rooms" (the joining server's steps).
   */
  async joinRemote(roomId: string, userId: string, servers: string[], content: JsonObject = {}): Promise<StoredEvent> {
    const candidates = this.candidates(roomId, servers);
    if (candidates.length === 0) throw notFound('No server to join the room through');
    let lastError: unknown;
    for (const server of candidates) {
      try {
        return await this.joinVia(server, roomId, userId, content);
      } catch (err) {
        lastError = err;
        this.d.log.info({ err, server, roomId }, 'remote join failed');
        if (err instanceof MatrixError && err.status === 403) break;
      }
    }
    if (lastError instanceof MatrixError) throw lastError;
    throw new MatrixError('M_UNKNOWN', 'No server could be reached to join the room', 502);
  }

  private async joinVia(server: string, roomId: string, userId: string, extra: JsonObject): Promise<StoredEvent> {
    const supported = [...ROOM_VERSIONS.keys()];
    const made = await this.remote<{ event?: JsonObject; room_version?: string }>(server, 'GET',
      `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(userId)}`, { query: { ver: supported }, maxResponseBytes: RESPONSE_LIMITS.small });
    const { event, version } = this.signTemplate(made, roomId, userId, 'join', extra);
    const sent = await this.remote<{ state?: unknown; auth_chain?: unknown; event?: unknown }>(server, 'PUT',
      `/_matrix/federation/v2/send_join/${enc(roomId)}/${enc(event.event_id)}`, { body: toFederationPdu(event, version), maxResponseBytes: RESPONSE_LIMITS.large });
    let join = event;
    if (sent.event !== undefined) {
      // A restricted join comes back signed by the authorising server too.
      const returned = parsePdu(sent.event, version);
      if (returned.ok && returned.value.event_id === event.event_id) join = returned.value;
    }
    const state = Array.isArray(sent.state) ? sent.state : [];
    const authChain = Array.isArray(sent.auth_chain) ? sent.auth_chain : [];
    return this.d.pipeline.exclusive(roomId, () => this.importJoinedRoom(server, version, roomId, join, [...state, ...authChain], state.length));
  }

  /**
   * The send_join response checked and stored: every event's format, signatures and hash
   * (a batch: keys fetched together, each event verified once), every event authorised against
   * its own auth events (auth chain order), the room's create event matching its version; then
   * the state stored in one transaction and our join persisted on top of it.
   */
  private async importJoinedRoom(server: string, version: RoomVersion, roomId: string, join: RoomEvent, raw: unknown[], stateCount: number): Promise<StoredEvent> {
    const existing = await this.d.storage.events.getRoom(roomId);
    if (existing && existing.currentStateGroup !== null && (await this.d.server.serverJoined(roomId, this.serverName))) {
      throw new MatrixError('M_UNKNOWN', 'This server joined the room meanwhile; retry the join', 409);
    }
    const checked = await checkPdus(this.d.keys, version, raw);
    const stateIds = new Set<string>();
    const events = new Map<string, RoomEvent>();
    checked.forEach((c, i) => {
      if (!c.ok || c.event.room_id !== roomId) return;
      events.set(c.event.event_id, c.event);
      if (i < stateCount) stateIds.add(c.event.event_id);
    });
    const verdicts = this.authoriseChain(version, roomId, [...events.values()]);
    const state = new Map<StateKey, string>();
    let create: RoomEvent | undefined;
    for (const id of stateIds) {
      const e = events.get(id)!;
      if (e.state_key === undefined || verdicts.get(id) !== null) continue;
      state.set(stateKey(e.type, e.state_key), id);
      if (e.type === 'm.room.create' && e.state_key === '') create = e;
    }
    if (!create) throw new MatrixError('M_UNKNOWN', `${server} sent no valid m.room.create event`, 502);
    const createdVersion = typeof create.content.room_version === 'string' ? create.content.room_version : '1';
    if (createdVersion !== version.id) throw new MatrixError('M_UNKNOWN', `${server} gave room version ${version.id}, the room has ${createdVersion}`, 502);
    const { group, state: nidState } = await this.d.storage.events.importRoomState(
      { roomId, roomVersion: version.id, creator: create.sender, now: this.now() },
      [...events.values()].map((event) => ({ event, rejectedReason: verdicts.get(event.event_id) ?? null })),
      state,
    );
    // The resident server sends our join to the room's other servers.
    this.d.outbound.alreadyDelivered(join.event_id);
    const outcome = await this.d.handler.persistWithStateBefore(version, join, { state: nidState, group });
    if (outcome.status === 'rejected' || outcome.status === 'refused') throw forbidden(`Our join was not allowed: ${outcome.reason}`);
    return outcome.stored!;
  }

  /** Each event authorised against its own auth events, auth events first. Null: accepted. */
  private authoriseChain(version: RoomVersion, roomId: string, events: RoomEvent[]): Map<string, string | null> {
    const byId = new Map(events.map((e) => [e.event_id, e]));
    const verdicts = new Map<string, string | null>();
    const createId = version.roomIdIsCreateEventHash ? `$${roomId.slice(1)}` : undefined;
    const visit = (e: RoomEvent, depth: number): string | null => {
      const known = verdicts.get(e.event_id);
      if (known !== undefined) return known;
      if (depth > 1000) return 'auth chain too deep';
      verdicts.set(e.event_id, 'auth chain cycle');
      const authIds = e.auth_events.map((r) => (typeof r === 'string' ? r : r[0]));
      if (createId !== undefined && e.type !== 'm.room.create') authIds.push(createId);
      const authEvents = new Map<string, StoredEvent>();
      let missing: string | undefined;
      for (const id of authIds) {
        const a = byId.get(id);
        if (!a) { missing = id; break; }
        const v = visit(a, depth + 1);
        authEvents.set(id, { nid: 0, event: a, rejectedReason: v, softFailed: false, outlier: true, stateGroup: null, replacesState: null, txn: null });
      }
      const reason = missing !== undefined ? `auth event ${missing} is missing` : this.d.handler.checkAgainstAuthEvents(version, e, authEvents);
      verdicts.set(e.event_id, reason);
      return reason;
    };
    for (const e of [...events].sort((a, b) => a.depth - b.depth)) visit(e, 0);
    return verdicts;
  }

  /**
   * Leaves a room this server is not in: rejects an invite, or rescinds a knock, through the
   * server that sent the invite (or the room's server). spec: "Leaving Rooms (Rejecting Invites)"
   */
  async leaveRemote(roomId: string, userId: string, reason?: string): Promise<void> {
    const row = await this.d.storage.rooms.membershipRow(roomId, userId);
    if (!row || (row.membership !== 'invite' && row.membership !== 'knock')) throw forbidden(`You are not invited to ${roomId}`);
    const member = (await this.d.storage.events.getEventsByNid([row.eventNid])).get(row.eventNid);
    const servers = [member ? domainOf(member.event.sender)! : '', ...this.candidates(roomId, [])].filter((s) => s !== '');
    let lastError: unknown;
    for (const server of [...new Set(servers)].filter((s) => s !== this.serverName)) {
      try {
        const made = await this.remote<{ event?: JsonObject; room_version?: string }>(server, 'GET', `/_matrix/federation/v1/make_leave/${enc(roomId)}/${enc(userId)}`, { maxResponseBytes: RESPONSE_LIMITS.small });
        const { event, version } = this.signTemplate(made, roomId, userId, 'leave', reason === undefined ? {} : { reason });
        await this.remote(server, 'PUT', `/_matrix/federation/v2/send_leave/${enc(roomId)}/${enc(event.event_id)}`, { body: toFederationPdu(event, version), maxResponseBytes: RESPONSE_LIMITS.small });
        await this.recordOutOfRoom(event, null);
        return;
      } catch (err) {
        lastError = err;
        this.d.log.info({ err, server, roomId }, 'remote leave failed');
      }
    }
    // spec: client-server-api "Leaving rooms": a server that cannot reach the room still
    // rejects the invite locally.
    this.d.log.warn({ err: lastError, roomId, userId }, 'rejecting the invite locally only');
    const local = await this.localLeave(roomId, userId, reason);
    await this.recordOutOfRoom(local, null);
  }

  /** Knocks on a room this server is not in. spec: "Knocking upon a room" */
  async knockRemote(roomId: string, userId: string, servers: string[], reason?: string): Promise<void> {
    const supported = [...ROOM_VERSIONS.values()].filter((v) => v.knockingSupported).map((v) => v.id);
    let lastError: unknown;
    for (const server of this.candidates(roomId, servers)) {
      try {
        const made = await this.remote<{ event?: JsonObject; room_version?: string }>(server, 'GET',
          `/_matrix/federation/v1/make_knock/${enc(roomId)}/${enc(userId)}`, { query: { ver: supported }, maxResponseBytes: RESPONSE_LIMITS.small });
        const { event, version } = this.signTemplate(made, roomId, userId, 'knock', reason === undefined ? {} : { reason });
        const r = await this.remote<{ knock_room_state?: unknown }>(server, 'PUT', `/_matrix/federation/v1/send_knock/${enc(roomId)}/${enc(event.event_id)}`, { body: toFederationPdu(event, version), maxResponseBytes: RESPONSE_LIMITS.small });
        const stripped = Array.isArray(r.knock_room_state) ? r.knock_room_state.filter((e) => typeof e === 'object' && e !== null) : [];
        await this.recordOutOfRoom(event, stripped);
        return;
      } catch (err) {
        lastError = err;
        if (err instanceof MatrixError && err.status === 403) break;
      }
    }
    if (lastError instanceof MatrixError) throw lastError;
    throw new MatrixError('M_UNKNOWN', 'No server could be reached to knock on the room', 502);
  }

  /**
   * The pipeline's hook for local invites of another server's user: the invited server must
   * counter-sign the invite before we persist it. spec: "Inviting to a room"
   */
  inviteHook = async (event: RoomEvent, version: RoomVersion): Promise<RoomEvent | undefined> => {
    if (event.type !== 'm.room.member' || event.content.membership !== 'invite' || typeof event.state_key !== 'string') return undefined;
    const target = domainOf(event.state_key);
    if (target === undefined || target === this.serverName) return undefined;
    const r = await this.remote<{ event?: unknown }>(target, 'PUT', `/_matrix/federation/v2/invite/${enc(event.room_id)}/${enc(event.event_id)}`, {
      body: { room_version: version.id, event: toFederationPdu(event, version), invite_room_state: await this.strippedState(event.room_id) },
      maxResponseBytes: RESPONSE_LIMITS.small,
    });
    const returned = parsePdu(r.event, version);
    if (!returned.ok || returned.value.event_id !== event.event_id) throw new MatrixError('M_UNKNOWN', `${target} returned another event`, 502);
    const lookup = await this.d.keys.prepareLookup(Object.keys(returned.value.signatures[target] ?? {}).map((keyId) => ({ serverName: target, keyId })));
    const verdict = verifyEventSignatureFrom(returned.value, version, target, lookup);
    if (!verdict.ok) throw new MatrixError('M_UNKNOWN', `${target} did not sign the invite: ${verdict.reason}`, 502);
    return { ...event, signatures: { ...event.signatures, ...returned.value.signatures } };
  };

  /** Whether this server is in the room (a local member joined): it answers for the room itself. */
  async isResident(roomId: string): Promise<boolean> {
    const room = await this.d.storage.events.getRoom(roomId);
    return room !== undefined && room.currentStateGroup !== null && (await this.d.server.serverJoined(roomId, this.serverName));
  }

  /**
   * The servers to join (or knock on) a room through when this server is not in it: those
   * named by the client or the alias, the server that invited or knows of the user, the room
   * ID's server, and servers of the room's last known members. Empty when this server is in the
   * room (it joins locally) or knows no other server of it.
   */
  async remoteJoinServers(roomId: string, userId: string, servers: string[]): Promise<string[]> {
    if (await this.isResident(roomId)) return [];
    const named = [...servers];
    const row = await this.d.storage.rooms.membershipRow(roomId, userId);
    if (row) {
      const member = (await this.d.storage.events.getEventsByNid([row.eventNid])).get(row.eventNid);
      if (member) named.push(domainOf(member.event.sender)!);
    }
    for (const member of await this.d.storage.rooms.joinedMemberIds(roomId)) named.push(domainOf(member)!);
    // Servers the room's ACL (as we last knew it) denies are not asked to let us in.
    const candidates = this.candidates(roomId, named);
    const allowed: string[] = [];
    for (const server of candidates) if (await this.d.acl.allows(roomId, server)) allowed.push(server);
    if (candidates.length > 0 && allowed.length === 0) throw forbidden("The room's server ACL denies every server that could let you in");
    return allowed;
  }

  /** Our user's member event content: their profile and the reason given. */
  async memberContent(userId: string, reason?: string): Promise<JsonObject> {
    const p = await this.d.storage.accounts.getProfile(userId);
    const out: JsonObject = {};
    if (p?.displayname) out.displayname = p.displayname;
    if (p?.avatar_url) out.avatar_url = p.avatar_url;
    if (reason !== undefined) out.reason = reason;
    return out;
  }

  /** spec: GET /query/directory on the alias's server: its room and servers. */
  lookupRemoteAlias = async (alias: string): Promise<{ room_id: string; servers: string[] } | undefined> => {
    const server = alias.slice(alias.indexOf(':') + 1);
    try {
      const r = await this.d.client.request<{ room_id?: unknown; servers?: unknown }>(server, 'GET', '/_matrix/federation/v1/query/directory', { query: { room_alias: alias }, maxResponseBytes: RESPONSE_LIMITS.small });
      if (typeof r.room_id !== 'string') return undefined;
      const servers = Array.isArray(r.servers) ? r.servers.filter((s): s is string => typeof s === 'string') : [];
      return { room_id: r.room_id, servers: [...servers, server] };
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw new MatrixError('M_UNKNOWN', `${server} could not be asked about ${alias}`, 502);
    }
  };

  // ---- helpers ----

  /** The room must be known here with a joined local member (we answer for the room), and `origin` allowed by its ACL. */
  private async residentRoom(roomId: string, origin: string): Promise<{ version: RoomVersion }> {
    const room = await this.d.storage.events.getRoom(roomId);
    const version = room && getRoomVersion(room.roomVersion);
    if (!room || !version || room.currentStateGroup === null || !(await this.d.server.serverJoined(roomId, this.serverName))) {
      throw notFound(`This server is not in room ${roomId}`);
    }
    await this.d.acl.require(roomId, origin);
    return { version };
  }

  /**
   * spec: "Restricted rooms": for a join that needs one, a local user who may invite, named in
   * `join_authorised_via_users_server`, once the user is known to be in one of the allowed rooms.
   * Undefined when the join needs no authoriser.
   */
  private async restrictedJoinAuthoriser(version: RoomVersion, roomId: string, userId: string, authState: Map<StateKey, RoomEvent>, current: Map<StateKey, number>): Promise<string | undefined> {
    if (!version.restrictedJoinsSupported) return undefined;
    const rulesNid = current.get(JOIN_RULES);
    const rules = rulesNid === undefined ? undefined : (await this.d.storage.events.getEventsByNid([rulesNid])).get(rulesNid)?.event;
    const rule = rules?.content.join_rule;
    if (rule !== 'restricted' && !(rule === 'knock_restricted' && version.knockRestrictedSupported)) return undefined;
    const membership = await this.d.storage.rooms.membership(roomId, userId);
    if (membership === 'join' || membership === 'invite') return undefined;
    const allow = Array.isArray(rules!.content.allow) ? rules!.content.allow : [];
    let satisfied = false;
    for (const a of allow) {
      const entry = a as { type?: unknown; room_id?: unknown };
      if (entry?.type !== 'm.room_membership' || typeof entry.room_id !== 'string') continue;
      if ((await this.d.storage.rooms.membership(entry.room_id, userId)) === 'join') satisfied = true;
    }
    if (!satisfied) throw new MatrixError('M_UNABLE_TO_AUTHORISE_JOIN', 'This server cannot tell that the user is in a room that allows them in', 400);
    const inviteLevel = getNamedPowerLevel(version, authState, 'invite');
    for (const member of await this.d.storage.rooms.joinedMemberIds(roomId)) {
      if (domainOf(member) === this.serverName && getPowerLevel(version, authState, member) >= inviteLevel) return member;
    }
    throw new MatrixError('M_UNABLE_TO_GRANT_JOIN', 'No user of this server may invite to the room', 400);
  }

  /** A make_* template made into our signed event. */
  private signTemplate(made: { event?: JsonObject; room_version?: string }, roomId: string, userId: string, membership: RemoteMembership, extra: JsonObject): { event: RoomEvent; version: RoomVersion } {
    const version = typeof made.room_version === 'string' ? getRoomVersion(made.room_version) : getRoomVersion('1');
    if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `Room version ${String(made.room_version)} is not supported`, 400);
    const t = made.event;
    if (typeof t !== 'object' || t === null || t.type !== 'm.room.member' || t.state_key !== userId || t.sender !== userId || t.room_id !== roomId) {
      throw new MatrixError('M_UNKNOWN', 'The resident server sent an unusable membership template', 502);
    }
    const templateContent = typeof t.content === 'object' && t.content !== null && !Array.isArray(t.content) ? t.content as JsonObject : {};
    const content: JsonObject = { ...extra, membership };
    const via = templateContent.join_authorised_via_users_server;
    if (membership === 'join' && typeof via === 'string') content.join_authorised_via_users_server = via;
    const pdu: Record<string, unknown> = {
      type: 'm.room.member', state_key: userId, sender: userId, room_id: roomId, content,
      prev_events: t.prev_events, auth_events: t.auth_events, depth: t.depth, origin_server_ts: this.now(),
    };
    if (version.eventIdFormat === 'v1') pdu.event_id = legacyEventId(randomBytes(16), this.serverName);
    const signed = hashAndSignEvent(pdu, version, this.serverName, this.d.signer.key);
    if (!signed.ok) throw new MatrixError('M_UNKNOWN', `Cannot sign the membership event: ${signed.reason}`, 502);
    const parsed = parsePdu(signed.value, version);
    if (!parsed.ok) throw new MatrixError('M_UNKNOWN', `The resident server's template is invalid: ${parsed.reason}`, 502);
    return { event: parsed.value, version };
  }

  /** A leave we sign ourselves when no server of the room can be reached (the invite's room and depth). */
  private async localLeave(roomId: string, userId: string, reason?: string): Promise<RoomEvent> {
    const row = await this.d.storage.rooms.membershipRow(roomId, userId);
    const invite = row && (await this.d.storage.events.getEventsByNid([row.eventNid])).get(row.eventNid);
    const version = getRoomVersion(DEFAULT_ROOM_VERSION)!;
    const made = {
      room_version: version.id,
      event: { type: 'm.room.member', state_key: userId, sender: userId, room_id: roomId, prev_events: invite ? [invite.event.event_id] : [], auth_events: [], depth: (invite?.event.depth ?? 0) + 1 } as JsonObject,
    };
    return this.signTemplate(made, roomId, userId, 'leave', reason === undefined ? {} : { reason }).event;
  }

  private async recordOutOfRoom(event: RoomEvent, stripped: unknown[] | null): Promise<void> {
    if (domainOf(event.sender) === this.serverName) this.d.outbound.alreadyDelivered(event.event_id);
    const nid = await this.d.storage.events.recordOutOfRoomMembership(event, stripped);
    await this.d.pipeline.announcePersisted(nid);
  }

  /** The stripped state of a room we are in (invite_room_state, knock_room_state). */
  private async strippedState(roomId: string): Promise<JsonObject[]> {
    const current = await this.d.storage.events.currentState(roomId);
    const nids = STRIPPED_TYPES.map((t) => current.get(stateKey(t, ''))).filter((n): n is number => n !== undefined);
    const loaded = await this.d.storage.events.getEventsByNid(nids);
    return nids.map((n) => loaded.get(n)).filter((s): s is StoredEvent => s !== undefined)
      .map(({ event: e }) => ({ type: e.type, state_key: e.state_key ?? '', sender: e.sender, content: e.content }));
  }

  /** Servers to try for a room: those given, then the room ID's server (rooms before v12 name one); never ourselves. */
  private candidates(roomId: string, servers: string[]): string[] {
    const out = [...servers];
    const own = domainOf(roomId);
    if (own !== undefined) out.push(own);
    return [...new Set(out)].filter((s) => s !== this.serverName);
  }

  /** A request to another server; its refusals become Matrix errors for our client. */
  private async remote<T>(server: string, method: 'GET' | 'PUT' | 'POST', path: string, opts: Pick<RequestOptions, 'query' | 'body' | 'maxResponseBytes'>): Promise<T> {
    try {
      return await this.d.client.request<T>(server, method, path, opts);
    } catch (err) {
      const e = err as { status?: number; errcode?: string; body?: unknown; message?: string };
      const body = (typeof e.body === 'object' && e.body !== null ? e.body : {}) as { error?: unknown };
      const message = typeof body.error === 'string' ? body.error : (e.message ?? 'request failed');
      // M_INVITE_BLOCKED reaches the inviting client as it is (spec: modules/invite_permission).
      if (e.status === 403) throw new MatrixError(e.errcode === 'M_INVITE_BLOCKED' ? e.errcode : 'M_FORBIDDEN', `${server}: ${message}`, 403);
      if (e.status === 404) throw new MatrixError(e.errcode ?? 'M_NOT_FOUND', `${server}: ${message}`, 404);
      if (e.status === 400 && typeof e.errcode === 'string') throw new MatrixError(e.errcode, `${server}: ${message}`, 400);
      throw new MatrixError('M_UNKNOWN', `${server} could not be reached: ${message}`, 502);
    }
  }
}

function enc(s: string): string {
  return encodeURIComponent(s);
}
