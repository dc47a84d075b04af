// spec: client-server-api modules/device_management
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { notFound } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import type { DeviceRow } from '../../storage/devices.js';
import { requester } from '../server.js';
import { AuthDict, DeviceIdParams } from './schemas.js';
import { passwordStage } from './auth-stages.js';

const toClient = (userId: string, d: DeviceRow) => ({
  device_id: d.deviceId,
  display_name: d.displayName ?? undefined,
  last_seen_ip: d.lastSeenIp ?? undefined,
  last_seen_ts: d.lastSeenTs ?? undefined,
  user_id: userId,
});

const DeleteDevicesBody = Type.Object({ devices: Type.Array(Type.String(), { maxItems: 1000 }), auth: AuthDict }, { additionalProperties: true });

export function deviceRoutes(app: FastifyInstance, hs: Homeserver): void {
  const uia = (req: { method: string }, userId: string, auth: unknown, path: string) =>
    hs.uia.authenticate({ method: req.method, path, userId, auth }, [{ stages: ['m.login.password'] }], { 'm.login.password': passwordStage(hs) });

  app.get('/_matrix/client/v3/devices', { config: { auth: 'user', guest: true } }, async (req) => {
    const { userId } = requester(req);
    return { devices: (await hs.storage.devices.listDevices(userId)).map((d) => toClient(userId, d)) };
  });

  app.get<{ Params: Static<typeof DeviceIdParams> }>('/_matrix/client/v3/devices/:deviceId', {
    schema: { params: DeviceIdParams }, config: { auth: 'user', guest: true },
  }, async (req) => {
    const { userId } = requester(req);
    const d = await hs.storage.devices.getDevice(userId, req.params.deviceId);
    if (!d) throw notFound('Device not found');
    return toClient(userId, d);
  });

  app.put<{ Params: Static<typeof DeviceIdParams>; Body: { display_name?: string } }>('/_matrix/client/v3/devices/:deviceId', {
    schema: { params: DeviceIdParams, body: Type.Object({ display_name: Type.Optional(Type.String({ maxLength: 255 })) }, { additionalProperties: true }) },
    config: { auth: 'user', guest: true },
  }, async (req) => {
    const { userId } = requester(req);
    if (req.body.display_name !== undefined) {
      if (!(await hs.storage.devices.renameDevice(userId, req.params.deviceId, req.body.display_name))) throw notFound('Device not found');
      await hs.e2eKeys.deviceRenamed(userId, req.params.deviceId);
    } else if (!(await hs.storage.devices.getDevice(userId, req.params.deviceId))) {
      throw notFound('Device not found');
    }
    return {};
  });

  app.delete<{ Params: Static<typeof DeviceIdParams>; Body: { auth?: unknown } | undefined }>('/_matrix/client/v3/devices/:deviceId', {
    schema: { params: DeviceIdParams, body: Type.Optional(Type.Object({ auth: AuthDict }, { additionalProperties: true })) },
    config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    if (!(await hs.storage.devices.getDevice(userId, req.params.deviceId))) throw notFound('Device not found');
    await uia(req, userId, req.body?.auth, `/devices/${req.params.deviceId}`);
    await hs.accounts.deleteDevices(userId, [req.params.deviceId]);
    return {};
  });

  app.post<{ Body: Static<typeof DeleteDevicesBody> }>('/_matrix/client/v3/delete_devices', {
    schema: { body: DeleteDevicesBody }, config: { auth: 'user' },
  }, async (req) => {
    const { userId } = requester(req);
    await uia(req, userId, req.body.auth, '/delete_devices');
    await hs.accounts.deleteDevices(userId, req.body.devices);
    return {};
  });
}
