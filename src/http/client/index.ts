// The Client-Server API, one file per spec module.
import type { FastifyInstance } from 'fastify';
import type { Homeserver } from '../../homeserver.js';
import { versionsRoutes } from './versions.js';
import { registrationRoutes } from './registration.js';
import { loginRoutes } from './login.js';
import { accountRoutes } from './account.js';
import { deviceRoutes } from './devices.js';
import { profileRoutes } from './profile.js';
import { roomRoutes } from './rooms.js';
import { roomReadRoutes } from './room-read.js';
import { roomExtraRoutes } from './room-extras.js';
import { accountDataRoutes } from './account-data.js';
import { openIdRoutes } from './openid.js';
import { voipRoutes } from './voip.js';
import { userDirectoryRoutes } from './user-directory.js';
import { directoryRoutes } from './directory.js';
import { relationRoutes } from './relations.js';
import { typingRoutes } from './typing.js';
import { presenceRoutes } from './presence.js';
import { receiptRoutes } from './receipts.js';
import { syncRoutes } from './sync.js';
import { filterRoutes } from './filter.js';
import { keyRoutes } from './keys.js';
import { toDeviceRoutes } from './to-device.js';
import { keyBackupRoutes } from './key-backup.js';
import { searchRoutes } from './search.js';
import { pushRoutes } from './push.js';
import { mutualRoomsRoutes } from './mutual-rooms.js';

export function clientRoutes(app: FastifyInstance, hs: Homeserver): void {
  for (const routes of [versionsRoutes, registrationRoutes, loginRoutes, accountRoutes, deviceRoutes, profileRoutes, roomRoutes, roomReadRoutes, roomExtraRoutes, directoryRoutes, relationRoutes, typingRoutes, presenceRoutes, receiptRoutes]) routes(app, hs);
  for (const routes of [accountDataRoutes, openIdRoutes, voipRoutes, userDirectoryRoutes]) routes(app, hs);
  for (const routes of [syncRoutes, filterRoutes]) routes(app, hs);
  searchRoutes(app, hs);
  for (const routes of [keyRoutes, toDeviceRoutes, keyBackupRoutes]) routes(app, hs);
  pushRoutes(app, hs);
  mutualRoomsRoutes(app, hs);
}
