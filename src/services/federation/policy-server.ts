// This server as a Policy Server (config policy_server.*): it signs the events of rooms that
// name it in m.room.policy (with its key) and in which one of our users is joined, unless the
// operator's moderation policy lists ban the sender, the sender's server or the room.
// spec: server-server-api "Policy Servers", POST /_matrix/policy/v1/sign; client-server-api
// GET /.well-known/matrix/policy_server, "Moderation policy lists"
import type { SigningKey } from '../../core/crypto.js';
import { domainOf } from '../../core/identifiers.js';
import { parsePdu } from '../../core/events.js';
import { splitStateKey, stateKey, type JsonObject, type RoomEvent } from '../../core/pdu.js';
import { POLICY_EVENT_TYPE, POLICY_SERVER_KEY_ID, decodePolicyKey, isPolicyStateEvent, parsePolicyContent, policySignature } from '../../core/policy-server.js';
import { compileGlob, type GlobMatcher } from '../../core/push/match.js';
import { getRoomVersion } from '../../core/room-versions.js';
import { MatrixError, badJson, notFound } from '../../errors.js';
import type { EventStore, StoredEvent } from '../../storage/events.js';
import type { ServerAcls } from './acl.js';
import type { JoinedServers } from './joined-servers.js';

const POLICY_KEY = stateKey(POLICY_EVENT_TYPE, '');
/** spec: client-server-api "Moderation policy lists": the rule types and what each rule names. */
const RULE_TYPES = { 'm.policy.rule.user': 'user', 'm.policy.rule.server': 'server', 'm.policy.rule.room': 'room' } as const;
type Entity = (typeof RULE_TYPES)[keyof typeof RULE_TYPES];

interface BanRules {
  user: GlobMatcher[];
  server: GlobMatcher[];
  room: GlobMatcher[];
}

export interface PolicyServerOptions {
  serverName: string;
  /** Its own key, not the server's (spec: "SHOULD NOT be the same key"); its ID is always ed25519:policy_server. */
  key: SigningKey;
  /** Room IDs of moderation policy lists whose m.ban rules are enforced. */
  banLists: string[];
}

export class PolicyServer {
  private rules: Promise<BanRules> | undefined;

  constructor(
    private readonly events: Pick<EventStore, 'getRoom' | 'currentState' | 'getEventsByNid'>,
    private readonly joinedServers: JoinedServers,
    private readonly acl: ServerAcls,
    private readonly opts: PolicyServerOptions,
  ) {}

  /** GET /.well-known/matrix/policy_server: the public key rooms put in m.room.policy. */
  wellKnown(): { public_keys: { ed25519: string } } {
    return { public_keys: { ed25519: this.opts.key.publicKeyBase64 } };
  }

  /** The pipeline's listener: a rule changed in a ban list is read again. */
  onPersisted = (stored: StoredEvent): void => {
    if (stored.event.type in RULE_TYPES && this.opts.banLists.includes(stored.event.room_id)) this.rules = undefined;
  };

  /**
   * POST /_matrix/policy/v1/sign from `origin`: our signature of the PDU, or the refusal.
   * A room that does not name us (with our key), or where no user of ours is joined, is not one
   * we protect: 404 M_NOT_FOUND, as for a room we don't know.
   */
  async sign(origin: string, body: unknown): Promise<Record<string, Record<string, string>>> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badJson('The body must be a PDU');
    const roomId = (body as JsonObject).room_id;
    if (typeof roomId !== 'string') throw badJson('The PDU has no room_id');
    const room = await this.events.getRoom(roomId);
    const version = room && getRoomVersion(room.roomVersion);
    if (!room || !version || room.currentStateGroup === null) throw notFound('Unknown room');
    if (!(await this.protects(roomId))) throw notFound('This room is not protected by this policy server');
    await this.acl.require(roomId, origin);
    const parsed = parsePdu(body, version);
    if (!parsed.ok) throw badJson(parsed.reason);
    const event = parsed.value;
    if (event.room_id !== roomId) throw badJson('The PDU names another room');
    if (isPolicyStateEvent(event)) throw badJson('The m.room.policy state event is not signed by the policy server');
    const refusal = await this.refusal(event);
    if (refusal !== undefined) throw new MatrixError('M_FORBIDDEN', refusal, 400);
    return { [this.opts.serverName]: { [POLICY_SERVER_KEY_ID]: policySignature(event, version, this.opts.key) } };
  }

  private async protects(roomId: string): Promise<boolean> {
    const nid = (await this.events.currentState(roomId)).get(POLICY_KEY);
    if (nid === undefined) return false;
    const policy = parsePolicyContent((await this.events.getEventsByNid([nid])).get(nid)?.event.content);
    if (policy?.via !== this.opts.serverName || !decodePolicyKey(policy.ed25519)?.equals(this.opts.key.publicKey)) return false;
    return (await this.joinedServers.of(roomId)).has(this.opts.serverName);
  }

  /** Why the event is not recommended, or undefined: a ban of its sender, its sender's server or its room. */
  private async refusal(event: RoomEvent): Promise<string | undefined> {
    const rules = await (this.rules ??= this.loadRules());
    const matches = (list: GlobMatcher[], value: string): boolean => list.some((m) => m(value.toLowerCase()));
    if (matches(rules.user, event.sender)) return 'The sender is banned by this policy server';
    if (matches(rules.server, domainOf(event.sender) ?? '')) return 'The sender\'s server is banned by this policy server';
    if (matches(rules.room, event.room_id)) return 'The room is banned by this policy server';
    return undefined;
  }

  /** The m.ban rules of the ban lists' current state (lists we are not in have none). */
  private async loadRules(): Promise<BanRules> {
    const rules: BanRules = { user: [], server: [], room: [] };
    for (const listId of this.opts.banLists) {
      const state = await this.events.currentState(listId);
      const kinds = new Map<number, Entity>();
      for (const [key, nid] of state) {
        const [type] = splitStateKey(key);
        if (type in RULE_TYPES) kinds.set(nid, RULE_TYPES[type as keyof typeof RULE_TYPES]);
      }
      for (const [nid, stored] of await this.events.getEventsByNid(kinds.keys())) {
        const { entity, recommendation } = stored.event.content;
        if (recommendation === 'm.ban' && typeof entity === 'string') rules[kinds.get(nid)!].push(compileGlob(entity, 'whole'));
      }
    }
    return rules;
  }
}
