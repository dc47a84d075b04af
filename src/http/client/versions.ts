// spec: client-server-api "GET /_matrix/client/versions" and "Capabilities negotiation"
import type { FastifyInstance } from 'fastify';
import { DEFAULT_ROOM_VERSION, ROOM_VERSIONS } from '../../core/room-versions.js';
import type { Homeserver } from '../../homeserver.js';

/**
 * The spec versions Weft implements completely enough to advertise. A version is
 * added here only when the client-facing features it introduced work (advertising
 * v1.N claims every version before it); clients need at least v1.1 to talk to a
 * server at all, and turn features on by version (matrix-js-sdk: threads and
 * private receipts at v1.4, intentional mentions at v1.7, recursive relations at
 * v1.10, authenticated media at v1.11, stable room summaries at v1.15, extended profiles at
 * v1.16). v1.17 waits for the legacy mention push rules to go (MSC4210); v1.18 for Policy
 * Servers in federation.
 */
export const SUPPORTED_SPEC_VERSIONS = [
  'v1.1', 'v1.2', 'v1.3', 'v1.4', 'v1.5', 'v1.6', 'v1.7', 'v1.8', 'v1.9', 'v1.10', 'v1.11', 'v1.12', 'v1.13', 'v1.14', 'v1.15', 'v1.16',
] as const;

export function versionsRoutes(app: FastifyInstance, _hs: Homeserver): void {
  app.get('/_matrix/client/versions', { config: { auth: 'optional', guest: true } }, async () => ({
    versions: SUPPORTED_SPEC_VERSIONS,
    unstable_features: {},
  }));

  app.get('/_matrix/client/v3/capabilities', { config: { auth: 'user', guest: true } }, async () => ({
    capabilities: {
      'm.change_password': { enabled: true },
      'm.room_versions': {
        default: DEFAULT_ROOM_VERSION,
        available: Object.fromEntries([...ROOM_VERSIONS.values()].map((v) => [v.id, v.stable ? 'stable' : 'unstable'])),
      },
      'm.set_displayname': { enabled: true },
      'm.set_avatar_url': { enabled: true },
      // Weft has no third-party identifiers yet: changing them is not possible.
      'm.3pid_changes': { enabled: false },
      'm.get_login_token': { enabled: true },
      'm.profile_fields': { enabled: true },
    },
  }));
}
