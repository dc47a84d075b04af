// Redactions. v1–v2: auth rule 11 (redact level, or same event ID domain). v3+: no auth rule
// beyond the required power level; whether to apply a redaction is decided when both events
// are known. spec: rooms/v1 auth rule 11; rooms/v3 "Handling redactions"; rooms/v11 (redacts in content).

import type { RoomVersion } from '../room-versions.js';
import type { RoomEvent, Verdict } from '../pdu.js';
import { domainOf, getString } from './content.js';
import type { AuthState } from './creators.js';
import { PowerLevelsView } from './power-levels.js';
import { deny, ruleNumbers } from './rules.js';

/** The ID of the event a redaction redacts: content.redacts from v11, the top-level key before. */
export function redactsOf(version: RoomVersion, redaction: RoomEvent): string | undefined {
  if (version.redactsInContent) return getString(redaction.content, 'redacts');
  return typeof redaction.redacts === 'string' ? redaction.redacts : undefined;
}

/** spec: rooms/v1 auth rule 11. Only called when `redactionDomainCheckDeferred` is false. */
export function checkRedactionEvent(version: RoomVersion, event: RoomEvent, levels: PowerLevelsView, senderLevel: number): Verdict {
  const rule = ruleNumbers(version).redaction;
  const redactLevel = levels.namedLevel('redact');
  if (levels.malformed !== undefined) {
    return deny(version, 'power_levels_invalid', `${rule}.1`, `power level ${levels.malformed} is not an integer`);
  }
  if (senderLevel >= redactLevel) return { ok: true };
  const ownDomain = domainOf(event.event_id);
  if (ownDomain !== undefined && ownDomain === domainOf(redactsOf(version, event))) return { ok: true };
  return deny(version, 'redaction_forbidden', `${rule}.3`,
    "sender's power level is below the redact level and the redacted event ID's domain differs");
}

/**
 * Whether `redaction` may be applied to `original` (the event it names), given the state at the
 * redaction. v3+: sender's power level >= redact level, or the two senders share a domain.
 * v1–v2: the auth rule's conditions (redact level, or event ID domains match).
 * spec: rooms/v3 "Handling redactions"; rooms/v1 auth rule 11.
 */
export function userCanRedact(version: RoomVersion, state: AuthState, redaction: RoomEvent, original: RoomEvent | undefined): boolean {
  const redacts = redactsOf(version, redaction);
  if (redacts === undefined || (original !== undefined && original.event_id !== redacts)) return false;
  const levels = new PowerLevelsView(version, state);
  if (typeof redaction.sender === 'string' && levels.userLevel(redaction.sender) >= levels.namedLevel('redact')) return true;
  if (!version.redactionDomainCheckDeferred) {
    const domain = domainOf(redaction.event_id);
    return domain !== undefined && domain === domainOf(redacts);
  }
  if (original === undefined) return false;
  const domain = domainOf(redaction.sender);
  return domain !== undefined && domain === domainOf(original.sender);
}
