// Rooms that use a Policy Server: every event but the m.room.policy state event itself needs
// the Policy Server's signature. Our own events ask for it before they are persisted (a refusal
// fails the client's request with the Policy Server's error); a received event without a valid
// one asks for it too, and is soft failed if it still has none (check 7 on receipt of a PDU).
// spec: server-server-api "Policy Servers", "Checks performed on receipt of a PDU" step 7
import type { Logger } from 'pino';
import { toFederationPdu } from '../../core/events.js';
import { stateKey, type RoomEvent } from '../../core/pdu.js';
import {
  POLICY_EVENT_TYPE, POLICY_SERVER_KEY_ID, hasValidPolicySignature, isPolicyStateEvent, parsePolicyContent, withPolicySignature,
  type PolicyServerConfig,
} from '../../core/policy-server.js';
import type { RoomVersion } from '../../core/room-versions.js';
import { MatrixError } from '../../errors.js';
import type { EventStore } from '../../storage/events.js';
import type { NidStateMap } from '../../storage/state.js';
import { FederationRequestError } from './client.js';
import type { FederationRequester } from './event-checks.js';
import type { JoinedServers } from './joined-servers.js';

const POLICY_KEY = stateKey(POLICY_EVENT_TYPE, '');
/** How long a Policy Server may take to sign (a client's send waits for it). */
const SIGN_TIMEOUT_MS = 10_000;
/** The errors POST /_matrix/policy/v1/sign may answer that a client is told as they are. */
const PASSED_ERRCODES = new Set(['M_FORBIDDEN', 'M_BAD_JSON', 'M_NOT_JSON']);
const MAX_ERROR_CHARS = 1000;

/** Our own Policy Server role (policy-server.ts), when this server is the room's Policy Server. */
export interface LocalPolicySigner {
  sign(origin: string, pdu: unknown): Promise<Record<string, Record<string, string>>>;
}

export interface PolicyCheckDeps {
  events: Pick<EventStore, 'getEventsByNid'>;
  joinedServers: JoinedServers;
  client: FederationRequester;
  serverName: string;
  local: LocalPolicySigner | undefined;
  log: Logger;
}

export class PolicyCheck {
  constructor(private readonly d: PolicyCheckDeps) {}

  /**
   * The room's Policy Server under `current` (the room's current state), if it uses one: a valid
   * m.room.policy with an empty state key whose `via` server has a joined member.
   * spec: "Determining if a Policy Server is enabled in a room"
   */
  async policyOf(roomId: string, current: NidStateMap): Promise<PolicyServerConfig | undefined> {
    const nid = current.get(POLICY_KEY);
    if (nid === undefined) return undefined;
    const policy = parsePolicyContent((await this.d.events.getEventsByNid([nid])).get(nid)?.event.content);
    if (policy === undefined) return undefined;
    return (await this.d.joinedServers.of(roomId)).has(policy.via) ? policy : undefined;
  }

  /**
   * The pipeline's hook for our own events: in a room with a Policy Server, the event as the
   * Policy Server signed it; a refusal (or no valid signature) throws, failing the client's request.
   */
  builtHook = async (event: RoomEvent, version: RoomVersion, current: NidStateMap): Promise<RoomEvent | undefined> => {
    if (isPolicyStateEvent(event)) return undefined;
    const policy = await this.policyOf(event.room_id, current);
    return policy === undefined ? undefined : this.signed(event, version, policy);
  };

  /**
   * Check 7 for a received event: whether the room's Policy Server recommends it, and the event
   * with the signature that says so (asked for when it carries none, or an invalid one).
   */
  async check(event: RoomEvent, version: RoomVersion, current: NidStateMap): Promise<{ recommended: boolean; event: RoomEvent }> {
    if (isPolicyStateEvent(event)) return { recommended: true, event };
    const policy = await this.policyOf(event.room_id, current);
    if (policy === undefined) return { recommended: true, event };
    try {
      return { recommended: true, event: await this.signed(event, version, policy) };
    } catch (err) {
      this.d.log.info({ eventId: event.event_id, policyServer: policy.via, reason: (err as Error).message }, 'the policy server does not recommend an event');
      return { recommended: false, event };
    }
  }

  /**
   * The event with a valid signature of the Policy Server: its own, or one asked for.
   * spec: "If the Policy Server's signature is invalid or missing, the homeserver SHOULD ask
   * for a new signature" (its key may have rotated).
   */
  private async signed(event: RoomEvent, version: RoomVersion, policy: PolicyServerConfig): Promise<RoomEvent> {
    if (hasValidPolicySignature(event, version, policy)) return event;
    const answer = await this.ask(policy.via, toFederationPdu(event, version));
    const signature = answer[policy.via]?.[POLICY_SERVER_KEY_ID];
    if (typeof signature !== 'string') throw new MatrixError('M_FORBIDDEN', `The room's policy server ${policy.via} did not sign the event`, 403);
    const signed = withPolicySignature(event, policy.via, signature);
    if (!hasValidPolicySignature(signed, version, policy)) {
      throw new MatrixError('M_FORBIDDEN', `The room's policy server ${policy.via} signed the event with a key other than the room's`, 403);
    }
    return signed;
  }

  /**
   * POST /_matrix/policy/v1/sign. A refusal reaches the client as the Policy Server gave it
   * (spec: "that error SHOULD be provided to the client verbatim"), within what a client may be
   * told by another server: M_FORBIDDEN, M_BAD_JSON, M_NOT_JSON or M_LIMIT_EXCEEDED, with 400,
   * 403 or 429; a code such as M_UNKNOWN_TOKEN would make a client log its user out. Our own
   * Policy Server's refusals are passed on the same way.
   */
  private async ask(via: string, pdu: unknown): Promise<Record<string, Record<string, unknown> | undefined>> {
    if (via === this.d.serverName) {
      if (this.d.local === undefined) throw new MatrixError('M_FORBIDDEN', `This server (${via}) is the room's policy server but does not act as one`, 403);
      try {
        return await this.d.local.sign(via, pdu);
      } catch (err) {
        if (err instanceof MatrixError) throw refusal(via, err.status, err.errcode, err.toJSON());
        throw err;
      }
    }
    try {
      return await this.d.client.request(via, 'POST', '/_matrix/policy/v1/sign', { body: pdu, timeoutMs: SIGN_TIMEOUT_MS });
    } catch (err) {
      if (err instanceof FederationRequestError && err.status !== undefined && err.status >= 400 && err.status < 500) throw refusal(via, err.status, err.errcode, err.body);
      throw new MatrixError('M_FORBIDDEN', `The room's policy server ${via} could not be asked to sign the event: ${(err as Error).message}`, 403);
    }
  }
}

/** The client's error for a Policy Server's 4xx answer (see `ask`). */
function refusal(via: string, status: number, errcode: string | undefined, answer: unknown): MatrixError {
  const body = typeof answer === 'object' && answer !== null ? answer as Record<string, unknown> : {};
  const error = typeof body.error === 'string' ? body.error.slice(0, MAX_ERROR_CHARS) : `Refused by the room's policy server ${via}`;
  if (status === 429) {
    const retry = typeof body.retry_after_ms === 'number' ? { retry_after_ms: body.retry_after_ms } : undefined;
    return new MatrixError('M_LIMIT_EXCEEDED', error, 429, retry);
  }
  // Its 404s (M_NOT_FOUND: the room is not one it protects; M_UNRECOGNIZED: not a Policy
  // Server) are a refusal to the client, not "no such room".
  return new MatrixError(errcode !== undefined && PASSED_ERRCODES.has(errcode) ? errcode : 'M_FORBIDDEN', error, status === 400 ? 400 : 403);
}
