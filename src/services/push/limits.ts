// Per-user caps on push rules and pushers. Neither the spec nor Synapse bounds them, but each is a
// row (pushers) or part of one account data entry that every change rewrites and every event's
// push evaluation reads (rules): a hostile client must not grow them without end. The caps are
// far above what any client sets (Element sets a few dozen rules and one pusher per device).
// Constants, not configuration: no real user comes near them.
import { MatrixError } from '../../errors.js';

/** A user's own push rules, all kinds together (changes to server-default rules are not counted: they are bounded by the defaults). */
export const MAX_PUSH_RULES_PER_USER = 1_000;
/** A user's pushers, all devices together. */
export const MAX_PUSHERS_PER_USER = 100;

/**
 * The error for a cap reached. spec: client-server-api "Common error codes", M_USER_LIMIT_EXCEEDED
 * (v1.18): "the user has exceeded (or the request would cause them to exceed) a limit associated
 * with their account … a maximum number of allowed rooms, devices, or other account-scoped
 * resources". That is exactly this case, so it is chosen over the others that come close:
 * M_LIMIT_EXCEEDED means rate limiting (429; clients wait and retry, which would never succeed),
 * M_RESOURCE_LIMIT_EXCEEDED a limit of the whole homeserver (with an admin_contact), M_TOO_LARGE a
 * request or entity too large (the request is small), M_BAD_JSON / M_INVALID_PARAM a malformed
 * request (it is well formed). The status "depends on the endpoint": 400, the status of every
 * other refusal of PUT /pushrules and POST /pushers/set. `info_uri` is required; with no page of
 * the operator's to point to (and no configuration for one), it names the spec's section on the
 * resource. `can_upgrade` is false: a hard limit.
 */
export function userLimitExceeded(message: string, infoUri: string): MatrixError {
  return new MatrixError('M_USER_LIMIT_EXCEEDED', message, 400, { info_uri: infoUri, can_upgrade: false });
}

export const PUSH_RULES_INFO_URI = 'https://spec.matrix.org/latest/client-server-api/#push-rules';
export const PUSHERS_INFO_URI = 'https://spec.matrix.org/latest/client-server-api/#post_matrixclientv3pushersset';
