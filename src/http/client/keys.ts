// spec: client-server-api modules/end_to_end_encryption "Key management API" (keys.yaml) and
// "Cross-signing" (cross_signing.yaml)
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { JsonObject, JsonValue } from '../../core/pdu.js';
import { invalidParam } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { parseDeviceListToken } from '../../services/e2ee/device-lists.js';
import { parseSyncToken } from '../../services/sync/token.js';
import { requester } from '../server.js';
import { passwordStage } from './auth-stages.js';
import { AuthDict } from './schemas.js';

const AnyObject = Type.Object({}, { additionalProperties: true });
/** spec: keys/query, keys/claim `timeout`: how long to wait for remote servers, in ms. */
const Timeout = Type.Optional(Type.Integer({ minimum: 0 }));

const UploadBody = Type.Object({
  device_keys: Type.Optional(AnyObject),
  one_time_keys: Type.Optional(AnyObject),
  fallback_keys: Type.Optional(AnyObject),
}, { additionalProperties: true });
const QueryBody = Type.Object({ device_keys: Type.Record(Type.String(), Type.Array(Type.String())), timeout: Timeout }, { additionalProperties: true });
const ClaimBody = Type.Object({ one_time_keys: Type.Record(Type.String(), Type.Record(Type.String(), Type.String())), timeout: Timeout }, { additionalProperties: true });
const ChangesQuery = Type.Object({ from: Type.String(), to: Type.String() }, { additionalProperties: true });
const DeviceSigningBody = Type.Object({
  master_key: Type.Optional(AnyObject),
  self_signing_key: Type.Optional(AnyObject),
  user_signing_key: Type.Optional(AnyObject),
  auth: AuthDict,
}, { additionalProperties: true });
const SignaturesBody = Type.Record(Type.String(), AnyObject);

export function keyRoutes(app: FastifyInstance, hs: Homeserver): void {
  app.post<{ Body: Static<typeof UploadBody> }>('/_matrix/client/v3/keys/upload', {
    schema: { body: UploadBody }, config: { auth: 'user', guest: true },
  }, async (req) => {
    const { userId, deviceId } = requester(req);
    return hs.e2eKeys.upload({ userId, deviceId }, req.body as { device_keys?: JsonValue; one_time_keys?: JsonValue; fallback_keys?: JsonValue });
  });

  app.post<{ Body: Static<typeof QueryBody> }>('/_matrix/client/v3/keys/query', {
    schema: { body: QueryBody }, config: { auth: 'user', guest: true },
  }, async (req) => hs.federationQueries.keysQuery(requester(req).userId, req.body.device_keys, req.body.timeout));

  app.post<{ Body: Static<typeof ClaimBody> }>('/_matrix/client/v3/keys/claim', {
    schema: { body: ClaimBody }, config: { auth: 'user', guest: true },
  }, async (req) => hs.federationQueries.keysClaim(req.body.one_time_keys, req.body.timeout));

  app.get<{ Querystring: Static<typeof ChangesQuery> }>('/_matrix/client/v3/keys/changes', {
    schema: { querystring: ChangesQuery }, config: { auth: 'user' },
  }, async (req) => {
    const from = keysChangesPosition(req.query.from, 'from');
    const to = keysChangesPosition(req.query.to, 'to');
    return hs.deviceLists.changesSince(requester(req).userId, from, to);
  });

  app.post<{ Body: Static<typeof DeviceSigningBody> }>('/_matrix/client/v3/keys/device_signing/upload', {
    schema: { body: DeviceSigningBody }, config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    await hs.e2eKeys.uploadCrossSigningKeys(userId, req.body as Record<string, JsonValue | undefined>, async () => {
      await hs.uia.authenticate({ method: req.method, path: '/keys/device_signing/upload', userId, auth: req.body.auth },
        [{ stages: ['m.login.password'] }], { 'm.login.password': passwordStage(hs) });
    });
    return {};
  });

  app.post<{ Body: Static<typeof SignaturesBody> }>('/_matrix/client/v3/keys/signatures/upload', {
    schema: { body: SignaturesBody }, config: { auth: 'user' },
  }, async (req) => hs.e2eKeys.uploadSignatures(requester(req).userId, req.body as Record<string, JsonObject>));
}

/**
 * keys/changes takes /sync's `next_batch` tokens (spec: "Should be the next_batch field from a
 * response to an earlier call to /sync"), or a bare device-list token. Either way the position
 * used is the device-list one.
 */
function keysChangesPosition(token: string, name: string): number {
  const position = parseDeviceListToken(token) ?? parseSyncToken(token)?.deviceLists;
  if (position === undefined) throw invalidParam(`\`${name}\` is not a token this server issued`);
  return position;
}
