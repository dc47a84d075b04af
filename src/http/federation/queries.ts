// What other servers may ask about our users and rooms.
// spec: server-server-api "Querying for information" (GET /query/directory, /query/profile),
// "Published Room Directory" (GET and POST /publicRooms), "Device Management" (GET
// /user/devices/{userId}), "End-to-End Encryption" (POST /user/keys/query, /user/keys/claim),
// and GET /timestamp_to_event/{roomId}.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Homeserver } from '../../homeserver.js';
import { domainOf, isValidRoomAlias, isValidRoomId, isValidUserId } from '../../core/identifiers.js';
import type { JsonObject } from '../../core/pdu.js';
import { invalidParam, notFound } from '../../errors.js';
import { federationOrigin } from './auth.js';

const ProfileQuery = Type.Object({ user_id: Type.String(), field: Type.Optional(Type.String()) }, { additionalProperties: true });
const DirectoryQuery = Type.Object({ room_alias: Type.String() }, { additionalProperties: true });
const PublicRoomsGetQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
  since: Type.Optional(Type.String()),
  include_all_networks: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])),
  third_party_instance_id: Type.Optional(Type.String()),
}, { additionalProperties: true });
const PublicRoomsBody = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 0 })),
  since: Type.Optional(Type.String()),
  filter: Type.Optional(Type.Object({
    generic_search_term: Type.Optional(Type.String()),
    room_types: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Null()]))),
  }, { additionalProperties: true })),
  include_all_networks: Type.Optional(Type.Boolean()),
  third_party_instance_id: Type.Optional(Type.String()),
}, { additionalProperties: true });
const UserParams = Type.Object({ userId: Type.String() });
const KeysQueryBody = Type.Object({ device_keys: Type.Record(Type.String(), Type.Array(Type.String())) }, { additionalProperties: true });
const KeysClaimBody = Type.Object({ one_time_keys: Type.Record(Type.String(), Type.Record(Type.String(), Type.String())) }, { additionalProperties: true });
const TimestampQuery = Type.Object({ ts: Type.String({ pattern: '^[0-9]{1,16}$' }), dir: Type.Union([Type.Literal('f'), Type.Literal('b')]) }, { additionalProperties: true });

export function federationQueryRoutes(app: FastifyInstance, hs: Homeserver): void {
  const serverName = hs.config.server_name;
  /** A user of ours that exists: other servers only ask about our users. */
  const localUser = async (userId: string): Promise<void> => {
    if (!isValidUserId(userId, { historical: true })) throw invalidParam('Invalid user ID');
    if (domainOf(userId) !== serverName || !(await hs.storage.accounts.getProfile(userId))) throw notFound('User not found');
  };
  /** The keys of a request that name our users (others are not ours to answer for). */
  const ours = <T>(byUser: Record<string, T>): Record<string, T> =>
    Object.fromEntries(Object.entries(byUser).filter(([u]) => domainOf(u) === serverName && isValidUserId(u, { historical: true })));

  app.get<{ Querystring: Static<typeof ProfileQuery> }>('/_matrix/federation/v1/query/profile', { schema: { querystring: ProfileQuery } }, async (req) => {
    const { user_id: userId, field } = req.query;
    await localUser(userId);
    const profile = await hs.profiles.profile(userId);
    if (field === undefined) return profile;
    // spec: 404 when "the queried field does not exist".
    if (!Object.hasOwn(profile, field)) throw notFound(`No ${field} set`);
    return { [field]: profile[field] };
  });

  app.get<{ Querystring: Static<typeof DirectoryQuery> }>('/_matrix/federation/v1/query/directory', { schema: { querystring: DirectoryQuery } }, async (req) => {
    const alias = req.query.room_alias;
    if (!isValidRoomAlias(alias)) throw invalidParam('Invalid room alias');
    if (!hs.directory.isLocal(alias)) throw notFound('Room alias not found');
    return hs.directory.lookupAlias(alias);
  });

  app.get<{ Querystring: Static<typeof PublicRoomsGetQuery> }>('/_matrix/federation/v1/publicRooms', { schema: { querystring: PublicRoomsGetQuery } }, async (req) => hs.publicRooms.list({
    ...(req.query.limit !== undefined ? { limit: Number(req.query.limit) } : {}),
    ...(req.query.since !== undefined ? { since: req.query.since } : {}),
    ...(req.query.include_all_networks !== undefined ? { include_all_networks: req.query.include_all_networks === 'true' } : {}),
    ...(req.query.third_party_instance_id !== undefined ? { third_party_instance_id: req.query.third_party_instance_id } : {}),
  }));

  app.post<{ Body: Static<typeof PublicRoomsBody> }>('/_matrix/federation/v1/publicRooms', { schema: { body: PublicRoomsBody } },
    async (req) => hs.publicRooms.list({ ...req.body, server: undefined }));

  app.get<{ Params: Static<typeof UserParams> }>('/_matrix/federation/v1/user/devices/:userId', { schema: { params: UserParams } }, async (req) => {
    const { userId } = req.params;
    await localUser(userId);
    const [devices, keys, streamId] = await Promise.all([
      hs.storage.devices.listDevices(userId), hs.e2eKeys.query(federationOrigin(req), { [userId]: [] }), hs.deviceLists.currentPosition(),
    ]);
    const deviceKeys = keys.device_keys[userId] ?? {};
    return {
      user_id: userId,
      stream_id: streamId,
      devices: devices.map((d) => {
        const k = deviceKeys[d.deviceId];
        const { unsigned: _u, ...withoutUnsigned } = (k ?? {}) as JsonObject;
        return { device_id: d.deviceId, ...(k !== undefined ? { keys: withoutUnsigned } : {}), ...(d.displayName !== null ? { device_display_name: d.displayName } : {}) };
      }),
      ...(keys.master_keys[userId] ? { master_key: keys.master_keys[userId] } : {}),
      ...(keys.self_signing_keys[userId] ? { self_signing_key: keys.self_signing_keys[userId] } : {}),
    };
  });

  app.post<{ Body: Static<typeof KeysQueryBody> }>('/_matrix/federation/v1/user/keys/query', { schema: { body: KeysQueryBody } }, async (req) => {
    // The requester is a server, not a user: only signatures by the keys' owners are shown, and
    // never user-signing keys (spec: "only visible to the user that it belongs to").
    const r = await hs.e2eKeys.query(federationOrigin(req), ours(req.body.device_keys));
    return { device_keys: r.device_keys, master_keys: r.master_keys, self_signing_keys: r.self_signing_keys };
  });

  app.post<{ Body: Static<typeof KeysClaimBody> }>('/_matrix/federation/v1/user/keys/claim', { schema: { body: KeysClaimBody } }, async (req) => {
    const r = await hs.e2eKeys.claim(ours(req.body.one_time_keys));
    return { one_time_keys: r.one_time_keys };
  });

  app.get<{ Params: { roomId: string }; Querystring: Static<typeof TimestampQuery> }>('/_matrix/federation/v1/timestamp_to_event/:roomId', {
    schema: { params: Type.Object({ roomId: Type.String() }), querystring: TimestampQuery },
  }, async (req) => {
    const { roomId } = req.params;
    if (!isValidRoomId(roomId)) throw invalidParam('Invalid room ID');
    await hs.federationEventServer.roomAccess(roomId, federationOrigin(req));
    const nid = await hs.storage.rooms.eventNearTimestamp(roomId, Number(req.query.ts), req.query.dir);
    const s = nid === undefined ? undefined : (await hs.storage.events.getEventsByNid([nid])).get(nid);
    if (!s) throw notFound('No event found');
    return { event_id: s.event.event_id, origin_server_ts: s.event.origin_server_ts };
  });
}
