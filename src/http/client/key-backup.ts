// spec: client-server-api modules/end_to_end_encryption "Server-side key backups" (key_backup.yaml)
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { JsonObject } from '../../core/pdu.js';
import { invalidParam, notFound } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import type { BackedUpKey } from '../../services/e2ee/key-backup.js';
import type { BackedUpKeyRow } from '../../storage/key-backup.js';
import { requester } from '../server.js';
import { checkRoomId } from './rooms.js';

/** spec: definitions/key_backup_data.yaml */
const KeyBackupData = Type.Object({
  first_message_index: Type.Integer({ minimum: 0 }),
  forwarded_count: Type.Integer({ minimum: 0 }),
  is_verified: Type.Boolean(),
  session_data: Type.Object({}, { additionalProperties: true }),
}, { additionalProperties: true });
/** spec: definitions/room_key_backup.yaml */
const RoomKeyBackup = Type.Object({ sessions: Type.Record(Type.String(), KeyBackupData) }, { additionalProperties: true });
const AllKeysBody = Type.Object({ rooms: Type.Record(Type.String(), RoomKeyBackup) }, { additionalProperties: true });
const VersionBody = Type.Object({
  algorithm: Type.String(),
  auth_data: Type.Object({}, { additionalProperties: true }),
}, { additionalProperties: true });
const UpdateVersionBody = Type.Object({
  algorithm: Type.String(),
  auth_data: Type.Object({}, { additionalProperties: true }),
  version: Type.Optional(Type.String()),
}, { additionalProperties: true });
const VersionParams = Type.Object({ version: Type.String() });
const VersionQuery = Type.Object({ version: Type.String() }, { additionalProperties: true });
const RoomParams = Type.Object({ roomId: Type.String() });
const SessionParams = Type.Object({ roomId: Type.String(), sessionId: Type.String() });

type KeyData = Static<typeof KeyBackupData>;

/** Megolm session IDs are unpadded base64 of 32 bytes; anything bounded and without NUL is stored. */
function checkSessionId(sessionId: string): string {
  if (sessionId.length === 0 || sessionId.length > 255 || sessionId.includes('\u0000')) throw invalidParam('Invalid session ID');
  return sessionId;
}

const toKey = (k: KeyData): BackedUpKey => ({
  first_message_index: k.first_message_index, forwarded_count: k.forwarded_count, is_verified: k.is_verified, session_data: k.session_data as JsonObject,
});

function roomKeys(roomId: string, sessions: Record<string, KeyData>): BackedUpKeyRow[] {
  checkRoomId(roomId);
  return Object.entries(sessions).map(([sessionId, k]) => ({ roomId, sessionId: checkSessionId(sessionId), key: toKey(k) }));
}

function byRoom(rows: BackedUpKeyRow[]): Record<string, { sessions: Record<string, BackedUpKey> }> {
  const rooms: Record<string, { sessions: Record<string, BackedUpKey> }> = {};
  for (const r of rows) (rooms[r.roomId] ??= { sessions: {} }).sessions[r.sessionId] = r.key;
  return rooms;
}

export function keyBackupRoutes(app: FastifyInstance, hs: Homeserver): void {
  const config = { auth: 'user' as const };
  const backup = hs.keyBackup;

  // ---- versions ----

  app.post<{ Body: Static<typeof VersionBody> }>('/_matrix/client/v3/room_keys/version', { schema: { body: VersionBody }, config },
    async (req) => ({ version: await backup.createVersion(requester(req).userId, req.body.algorithm, req.body.auth_data as JsonObject) }));

  app.get('/_matrix/client/v3/room_keys/version', { config }, async (req) => backup.info(requester(req).userId));

  app.get<{ Params: Static<typeof VersionParams> }>('/_matrix/client/v3/room_keys/version/:version', { schema: { params: VersionParams }, config },
    async (req) => backup.info(requester(req).userId, req.params.version));

  app.put<{ Params: Static<typeof VersionParams>; Body: Static<typeof UpdateVersionBody> }>('/_matrix/client/v3/room_keys/version/:version', {
    schema: { params: VersionParams, body: UpdateVersionBody }, config,
  }, async (req) => {
    await backup.updateVersion(requester(req).userId, req.params.version, { ...req.body, auth_data: req.body.auth_data as JsonObject });
    return {};
  });

  app.delete<{ Params: Static<typeof VersionParams> }>('/_matrix/client/v3/room_keys/version/:version', { schema: { params: VersionParams }, config },
    async (req) => {
      await backup.deleteVersion(requester(req).userId, req.params.version);
      return {};
    });

  // ---- keys: all rooms, one room, one session ----

  app.put<{ Querystring: Static<typeof VersionQuery>; Body: Static<typeof AllKeysBody> }>('/_matrix/client/v3/room_keys/keys', {
    schema: { querystring: VersionQuery, body: AllKeysBody }, config,
  }, async (req) => {
    const rows = Object.entries(req.body.rooms).flatMap(([roomId, room]) => roomKeys(roomId, room.sessions));
    return backup.putKeys(requester(req).userId, req.query.version, rows);
  });

  app.get<{ Querystring: Static<typeof VersionQuery> }>('/_matrix/client/v3/room_keys/keys', { schema: { querystring: VersionQuery }, config },
    async (req) => ({ rooms: byRoom(await backup.keys(requester(req).userId, req.query.version)) }));

  app.delete<{ Querystring: Static<typeof VersionQuery> }>('/_matrix/client/v3/room_keys/keys', { schema: { querystring: VersionQuery }, config },
    async (req) => backup.deleteKeys(requester(req).userId, req.query.version));

  app.put<{ Params: Static<typeof RoomParams>; Querystring: Static<typeof VersionQuery>; Body: Static<typeof RoomKeyBackup> }>('/_matrix/client/v3/room_keys/keys/:roomId', {
    schema: { params: RoomParams, querystring: VersionQuery, body: RoomKeyBackup }, config,
  }, async (req) => backup.putKeys(requester(req).userId, req.query.version, roomKeys(req.params.roomId, req.body.sessions)));

  app.get<{ Params: Static<typeof RoomParams>; Querystring: Static<typeof VersionQuery> }>('/_matrix/client/v3/room_keys/keys/:roomId', {
    schema: { params: RoomParams, querystring: VersionQuery }, config,
  }, async (req) => {
    const roomId = checkRoomId(req.params.roomId);
    const rows = await backup.keys(requester(req).userId, req.query.version, roomId);
    // spec: "If no keys are found, then an object with an empty sessions property will be returned".
    return { sessions: byRoom(rows)[roomId]?.sessions ?? {} };
  });

  app.delete<{ Params: Static<typeof RoomParams>; Querystring: Static<typeof VersionQuery> }>('/_matrix/client/v3/room_keys/keys/:roomId', {
    schema: { params: RoomParams, querystring: VersionQuery }, config,
  }, async (req) => backup.deleteKeys(requester(req).userId, req.query.version, checkRoomId(req.params.roomId)));

  app.put<{ Params: Static<typeof SessionParams>; Querystring: Static<typeof VersionQuery>; Body: KeyData }>('/_matrix/client/v3/room_keys/keys/:roomId/:sessionId', {
    schema: { params: SessionParams, querystring: VersionQuery, body: KeyBackupData }, config,
  }, async (req) => backup.putKeys(requester(req).userId, req.query.version, roomKeys(req.params.roomId, { [req.params.sessionId]: req.body })));

  app.get<{ Params: Static<typeof SessionParams>; Querystring: Static<typeof VersionQuery> }>('/_matrix/client/v3/room_keys/keys/:roomId/:sessionId', {
    schema: { params: SessionParams, querystring: VersionQuery }, config,
  }, async (req) => {
    const [row] = await backup.keys(requester(req).userId, req.query.version, checkRoomId(req.params.roomId), checkSessionId(req.params.sessionId));
    if (!row) throw notFound('Key not found');
    return row.key;
  });

  app.delete<{ Params: Static<typeof SessionParams>; Querystring: Static<typeof VersionQuery> }>('/_matrix/client/v3/room_keys/keys/:roomId/:sessionId', {
    schema: { params: SessionParams, querystring: VersionQuery }, config,
  }, async (req) => backup.deleteKeys(requester(req).userId, req.query.version, checkRoomId(req.params.roomId), checkSessionId(req.params.sessionId)));
}
