// Authorization rules for room versions 1–12. spec: rooms/v1 … rooms/v12 "Authorisation rules";
// server-server-api "Auth events selection". Pure functions: no I/O, no clock.
// Every version-dependent rule reads a flag of the RoomVersion (core/room-versions.ts).

export { authorizeEvent } from './auth/authorize.js';
export {
  authTypesForEvent, checkAuthEventsList, authEventsToState, type AuthEventsListContext,
} from './auth/auth-events.js';
export { checkCreateEvent } from './auth/create.js';
export {
  isCreator, roomCreator, roomCreators, CREATE_KEY, POWER_LEVELS_KEY, JOIN_RULES_KEY, memberKey, type AuthState,
} from './auth/creators.js';
export {
  getPowerLevel, userPowerLevel, getRequiredPowerLevel, getNamedPowerLevel, getNotificationPowerLevel, parsePowerLevel,
  PowerLevelsView, TOP_LEVEL_POWER_LEVEL_KEYS, type NamedPowerLevel,
} from './auth/power-levels.js';
export { redactsOf, userCanRedact } from './auth/redaction.js';
export { thirdPartyInvitePublicKeys, isSignedByThirdPartyInvite } from './auth/third-party-invite.js';
export { isValidUserId, domainOf } from './auth/content.js';
export { type AuthRejectionCode, type AuthRejection } from './auth/rules.js';
