// What local clients ask about other servers' users and rooms, asked over federation: profiles,
// device keys (keys/query, keys/claim), published room directories and spaces' rooms. Local parts of a request
// are answered by the local services; remote parts go to each server concurrently, and a server
// that fails or is too slow shows up in `failures` (keys) or as an error (profiles, directory).
// spec: server-server-api "Querying for information", "End-to-End Encryption", "Published Room Directory"
import { domainOf, isValidServerName, isValidUserId } from '../../core/identifiers.js';
import type { JsonObject, JsonValue } from '../../core/pdu.js';
import { MatrixError, notFound } from '../../errors.js';
import type { E2eKeyService, KeysClaimResult, KeysQueryResult } from '../e2ee/keys.js';
import type { ProfileService } from '../profile.js';
import type { PublicRoomList, PublicRoomsQuery, PublicRoomsResponse } from '../public-rooms.js';
import type { HierarchyRoom } from '../rooms/hierarchy.js';
import { FederationRequestError, RESPONSE_LIMITS, type FederationClient } from './client.js';
import { userKeysFromAnswer, userKeysFromCache, type RemoteKeyCache, type RemoteUserKeys } from './remote-keys.js';

/** spec: keys/query `timeout` "defaults to 10 seconds". */
export const DEFAULT_KEYS_TIMEOUT_MS = 10_000;
/** A client may ask to wait longer; remote servers get at most this long (a request must not be held open at will). */
export const MAX_KEYS_TIMEOUT_MS = 60_000;

export interface FederationQueryDeps {
  serverName: string;
  client: FederationClient;
  profiles: ProfileService;
  e2eKeys: E2eKeyService;
  publicRooms: PublicRoomList;
  /** Other servers' users' keys, for users we share a room with. */
  remoteKeys: RemoteKeyCache;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A remote server's error as ours: its own 4xx Matrix errors pass through, anything else is 502. */
function remoteError(server: string, err: unknown): MatrixError {
  if (err instanceof FederationRequestError && err.status !== undefined && err.status >= 400 && err.status < 500 && err.errcode !== undefined) {
    return new MatrixError(err.errcode, `${server}: ${String((err.body as { error?: unknown } | undefined)?.error ?? err.message)}`, err.status);
  }
  return new MatrixError('M_UNKNOWN', `Could not reach ${server}: ${(err as Error).message}`, 502);
}

export class FederationQueries {
  constructor(private readonly d: FederationQueryDeps) {}

  private isRemote(userId: string): boolean {
    const server = domainOf(userId);
    return server !== undefined && server !== this.d.serverName && isValidUserId(userId, { historical: true });
  }

  // ---- profiles: spec GET /query/profile ----

  /**
   * GET /profile/{userId} needs no access token (profile.yaml names no security), and local
   * profiles stay public. A remote user's profile costs a request to their server, though, and
   * unauthenticated that would be an open relay: anyone could make this server send queries to
   * any server name, at the per-IP rate limit. So a lookup that needs federation needs a requester
   * (`requester` undefined: no access token), as Synapse's `require_auth_for_profile_requests`
   * asks for every lookup; without one it is 401 M_MISSING_TOKEN (the standard answer when a
   * token is needed and absent), which tells the client what to do. The spec requires answering
   * for users "visible to the requester" through rooms: a caller without a token is no requester
   * whose rooms could make anyone visible, and with a token every lookup is answered as before.
   * A cache of remote profiles was the other way; anonymous callers could still make the server
   * send a first query for every user ID they make up, and a cached profile goes stale.
   */
  async profile(userId: string, requester: string | undefined): Promise<JsonObject> {
    if (!this.isRemote(userId)) return this.d.profiles.profile(userId);
    const server = this.remoteForRequester(userId, requester);
    let r: unknown;
    try {
      r = await this.d.client.request(server, 'GET', '/_matrix/federation/v1/query/profile', { query: { user_id: userId }, maxResponseBytes: RESPONSE_LIMITS.small });
    } catch (err) {
      throw remoteError(server, err);
    }
    return isObject(r) ? (r as JsonObject) : {};
  }

  /** One field of a profile; remote ones need a requester as `profile` does. */
  async profileField(userId: string, field: string, requester: string | undefined): Promise<JsonValue> {
    if (!this.isRemote(userId)) return this.d.profiles.field(userId, field);
    const server = this.remoteForRequester(userId, requester);
    let r: unknown;
    try {
      r = await this.d.client.request(server, 'GET', '/_matrix/federation/v1/query/profile', { query: { user_id: userId, field }, maxResponseBytes: RESPONSE_LIMITS.small });
    } catch (err) {
      throw remoteError(server, err);
    }
    if (!isObject(r) || !Object.hasOwn(r, field)) throw notFound(`No ${field} set`);
    return r[field] as JsonValue;
  }

  /** The server of a remote user whose profile is asked for, once there is a requester to ask for. */
  private remoteForRequester(userId: string, requester: string | undefined): string {
    if (requester === undefined) throw new MatrixError('M_MISSING_TOKEN', 'An access token is required to look up the profile of a user on another server', 401);
    return domainOf(userId)!;
  }

  // ---- keys/query and keys/claim: spec POST /user/keys/query, /user/keys/claim ----

  /**
   * Remote users we share a room with are answered from the cache of their keys while it is
   * fresh; otherwise their server is asked for all their devices (so the answer can be cached) and
   * the answer cut to the devices asked for. When their server cannot be reached, a stale entry
   * answers; a user without one makes the server a failure. Users we share no room with are
   * always asked live (`RemoteKeyCache`).
   */
  async keysQuery(requester: string, deviceKeys: Record<string, string[]>, timeout = DEFAULT_KEYS_TIMEOUT_MS): Promise<KeysQueryResult> {
    const timeoutMs = Math.min(timeout, MAX_KEYS_TIMEOUT_MS);
    const { local, remote } = this.split(deviceKeys);
    const out = await this.d.e2eKeys.query(requester, local);
    if (remote.size === 0) return out;
    const { sharing, cached } = await this.d.remoteKeys.lookup([...remote.values()].flatMap((w) => Object.keys(w)));
    await Promise.all([...remote].map(async ([server, wanted]) => {
      const serve = (userId: string, keys: RemoteUserKeys): void => {
        const only = wanted[userId];
        out.device_keys[userId] = only.length === 0 ? keys.devices
          : Object.fromEntries(only.filter((d) => Object.hasOwn(keys.devices, d)).map((d) => [d, keys.devices[d]]));
        if (keys.masterKey) out.master_keys[userId] = keys.masterKey;
        if (keys.selfSigningKey) out.self_signing_keys[userId] = keys.selfSigningKey;
      };
      const ask: Record<string, string[]> = {};
      for (const [userId, devices] of Object.entries(wanted)) {
        const entry = cached.get(userId);
        if (entry !== undefined && !entry.stale) serve(userId, userKeysFromCache(entry));
        else ask[userId] = sharing.has(userId) ? [] : devices;
      }
      const asked = Object.keys(ask);
      if (asked.length === 0) return;
      const fetch = this.d.remoteKeys.beginFetch(asked.filter((u) => sharing.has(u)));
      try {
        let r: Json;
        try {
          r = await this.d.client.request<Json>(server, 'POST', '/_matrix/federation/v1/user/keys/query', {
            body: { device_keys: ask }, timeoutMs, maxResponseBytes: RESPONSE_LIMITS.default, // many users' devices at once
          });
        } catch (err) {
          let unanswered = false;
          for (const userId of asked) {
            const entry = cached.get(userId);
            if (entry !== undefined) serve(userId, userKeysFromCache(entry));
            else unanswered = true;
          }
          if (unanswered) out.failures[server] = failureOf(err);
          return;
        }
        // Only what the server may speak for: its own users, and only those asked about.
        const answers = new Map<string, RemoteUserKeys>();
        for (const userId of asked) {
          const keys = isObject(r) ? userKeysFromAnswer(r, userId) : undefined;
          if (keys === undefined) continue;
          answers.set(userId, keys);
          serve(userId, keys);
        }
        await fetch.store(answers);
      } finally {
        fetch.end();
      }
    }));
    return out;
  }

  async keysClaim(oneTimeKeys: Record<string, Record<string, string>>, timeout = DEFAULT_KEYS_TIMEOUT_MS): Promise<KeysClaimResult> {
    const timeoutMs = Math.min(timeout, MAX_KEYS_TIMEOUT_MS);
    const { local, remote } = this.split(oneTimeKeys);
    const out = await this.d.e2eKeys.claim(local);
    await Promise.all([...remote].map(async ([server, wanted]) => {
      try {
        const r = await this.d.client.request<Json>(server, 'POST', '/_matrix/federation/v1/user/keys/claim', {
          body: { one_time_keys: wanted }, timeoutMs, maxResponseBytes: RESPONSE_LIMITS.default, // many users' devices at once
        });
        const keys = isObject(r.one_time_keys) ? r.one_time_keys : {};
        for (const [u, devices] of Object.entries(keys)) {
          if (domainOf(u) === server && Object.hasOwn(wanted, u) && isObject(devices)) out.one_time_keys[u] = devices as KeysClaimResult['one_time_keys'][string];
        }
      } catch (err) {
        out.failures[server] = failureOf(err);
      }
    }));
    return out;
  }

  /**
   * Local users (and anything malformed, which the local service rejects with the right error)
   * stay local; well-formed remote users are grouped by server.
   */
  private split<T>(byUser: Record<string, T>): { local: Record<string, T>; remote: Map<string, Record<string, T>> } {
    const local: Record<string, T> = {};
    const remote = new Map<string, Record<string, T>>();
    for (const [userId, value] of Object.entries(byUser)) {
      if (!this.isRemote(userId)) {
        local[userId] = value;
        continue;
      }
      const server = domainOf(userId)!;
      let m = remote.get(server);
      if (m === undefined) remote.set(server, (m = {}));
      m[userId] = value;
    }
    return { local, remote };
  }

  // ---- spaces: spec GET /hierarchy/{roomId} ----

  /** A room we do not hold, from the first of `via` that describes it (children the server cannot show us are left out). */
  async hierarchy(roomId: string, via: string[], suggestedOnly: boolean): Promise<{ room: HierarchyRoom; children: HierarchyRoom[] } | undefined> {
    for (const server of via.slice(0, 5)) {
      if (server === this.d.serverName || !isValidServerName(server)) continue;
      try {
        const r = await this.d.client.request<Json>(server, 'GET', `/_matrix/federation/v1/hierarchy/${encodeURIComponent(roomId)}`, {
          query: { suggested_only: suggestedOnly ? 'true' : 'false' }, timeoutMs: 10_000, maxResponseBytes: RESPONSE_LIMITS.default,
        });
        const room = hierarchyRoom(r.room);
        if (room === undefined || room.room_id !== roomId) continue;
        const children = (Array.isArray(r.children) ? r.children : []).map(hierarchyRoom).filter((c): c is HierarchyRoom => c !== undefined);
        return { room, children };
      } catch {
        // the next server
      }
    }
    return undefined;
  }

  // ---- the published room directory of another server: spec GET/POST /publicRooms ----

  async publicRooms(q: PublicRoomsQuery, post: boolean): Promise<PublicRoomsResponse> {
    if (q.server === undefined || q.server === this.d.serverName) return this.d.publicRooms.list(q);
    if (!isValidServerName(q.server)) throw new MatrixError('M_INVALID_PARAM', `Invalid server name ${JSON.stringify(q.server)}`, 400);
    const { server, ...rest } = q;
    try {
      if (post) return await this.d.client.request<PublicRoomsResponse>(server, 'POST', '/_matrix/federation/v1/publicRooms', { body: rest, maxResponseBytes: RESPONSE_LIMITS.default });
      const query: Record<string, string> = {};
      if (rest.limit !== undefined) query.limit = String(rest.limit);
      if (rest.since !== undefined) query.since = rest.since;
      return await this.d.client.request<PublicRoomsResponse>(server, 'GET', '/_matrix/federation/v1/publicRooms', { query, maxResponseBytes: RESPONSE_LIMITS.default });
    } catch (err) {
      throw remoteError(server, err);
    }
  }
}

/** A room of another server's /hierarchy answer, if it has the shape of one (only what we pass on). */
function hierarchyRoom(v: unknown): HierarchyRoom | undefined {
  if (!isObject(v) || typeof v.room_id !== 'string' || typeof v.num_joined_members !== 'number') return undefined;
  const children = Array.isArray(v.children_state) ? v.children_state.filter((c): c is HierarchyRoom['children_state'][number] =>
    isObject(c) && c.type === 'm.space.child' && typeof c.state_key === 'string' && isObject(c.content) && typeof c.sender === 'string' && typeof c.origin_server_ts === 'number') : [];
  return { ...(v as unknown as HierarchyRoom), world_readable: v.world_readable === true, guest_can_join: v.guest_can_join === true, children_state: children };
}

function failureOf(err: unknown): JsonObject {
  if (err instanceof FederationRequestError) {
    return { ...(err.status !== undefined ? { status: err.status } : { status: 503 }), message: err.message };
  }
  return { status: 503, message: (err as Error).message };
}
