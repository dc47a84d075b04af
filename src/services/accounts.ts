// Accounts: registration, login, passwords, deactivation and devices.
// spec: client-server-api "Client Authentication", "Account registration and management", modules/device_management
import { randomBytes, randomInt } from 'node:crypto';
import { isValidLocalpart, isValidUserId } from '../core/identifiers.js';
import { MatrixError, forbidden } from '../errors.js';
import type { Storage } from '../storage/index.js';
import { hashPassword, newDeviceId, verifyPassword } from './secrets.js';
import type { IssuedTokens, SessionService } from './sessions.js';
import type { RoomService } from './rooms/rooms.js';

export interface RegisterOptions {
  localpart: string | null;
  password: string | null;
  deviceId: string | null;
  /** `initial_device_display_name`: names the device, not the user. */
  deviceDisplayName: string | null;
  /** The profile's display name; the localpart when not given. */
  displayName?: string | null;
  inhibitLogin: boolean;
  refresh: boolean;
  guest: boolean;
  admin?: boolean;
  ip: string | null;
}

export type RegisterResult = { user_id: string } & Partial<IssuedTokens>;

export class AccountService {
  private readonly devicesDeletedListeners: Array<(userId: string, deviceIds: string[]) => Promise<void>> = [];

  constructor(
    private readonly storage: Storage,
    private readonly sessions: SessionService,
    readonly serverName: string,
    /** For deactivation, which takes the user out of their rooms. */
    private readonly rooms?: RoomService,
    private readonly now: () => number = Date.now,
  ) {}

  userId(localpart: string): string {
    return `@${localpart}:${this.serverName}`;
  }

  /** Checks a requested localpart for a new account (spec: "/register/available"). */
  async checkUsername(localpart: string): Promise<string> {
    if (!isValidLocalpart(localpart, { historical: false })) {
      throw new MatrixError('M_INVALID_USERNAME', 'User ID may only contain a-z, 0-9, and the characters . _ = - / +', 400);
    }
    if (/^\d+$/.test(localpart)) throw new MatrixError('M_INVALID_USERNAME', 'Numeric user IDs are reserved for guest users', 400);
    const userId = this.userId(localpart);
    if (!isValidUserId(userId, { historical: false })) throw new MatrixError('M_INVALID_USERNAME', 'User ID is too long', 400);
    if (await this.storage.accounts.userExists(userId)) throw new MatrixError('M_USER_IN_USE', 'User ID already taken', 400);
    return userId;
  }

  async register(o: RegisterOptions): Promise<RegisterResult> {
    let userId: string;
    if (o.guest) {
      userId = await this.newGuestUserId();
    } else {
      if (o.localpart === null) {
        userId = await this.newRandomUserId();
      } else {
        userId = await this.checkUsername(o.localpart);
      }
    }
    const passwordHash = o.password === null ? null : await hashPassword(o.password);
    const created = await this.storage.accounts.createUser({
      userId, passwordHash, isAdmin: o.admin ?? false, isGuest: o.guest,
      displayname: o.displayName ?? (o.guest ? null : userId.slice(1, userId.indexOf(':'))), now: this.now(),
    });
    if (!created) throw new MatrixError('M_USER_IN_USE', 'User ID already taken', 400);
    if (o.inhibitLogin) return { user_id: userId };
    const tokens = await this.sessions.issue(userId, { deviceId: o.deviceId ?? newDeviceId(), displayName: o.deviceDisplayName, refresh: o.refresh, ip: o.ip });
    return { user_id: userId, ...tokens };
  }

  /** Finds the account a login names (`@user:server` or a bare localpart) and checks its password. */
  async checkPassword(user: string, password: string): Promise<string> {
    const userId = await this.resolveLoginUser(user);
    const row = userId ? await this.storage.accounts.getUser(userId) : undefined;
    // Hash even for unknown users so that timing does not reveal which accounts exist.
    const ok = await verifyPassword(row?.passwordHash ?? (await dummyHash()), password);
    if (!row || !ok) throw forbidden('Invalid username or password');
    if (row.deactivated) throw new MatrixError('M_USER_DEACTIVATED', 'This account has been deactivated', 403);
    return row.userId;
  }

  async login(userId: string, o: { deviceId: string | null; displayName: string | null; refresh: boolean; ip: string | null }): Promise<IssuedTokens & { user_id: string }> {
    const row = await this.storage.accounts.getUser(userId);
    if (!row) throw forbidden('Invalid login');
    if (row.deactivated) throw new MatrixError('M_USER_DEACTIVATED', 'This account has been deactivated', 403);
    // A re-used device ID keeps the device but logs out its previous tokens (spec: "/login" device_id).
    if (o.deviceId && (await this.storage.devices.getDevice(userId, o.deviceId))) {
      await this.logoutDeviceTokens(userId, o.deviceId);
    }
    const tokens = await this.sessions.issue(userId, { deviceId: o.deviceId ?? newDeviceId(), displayName: o.displayName, refresh: o.refresh, ip: o.ip });
    return { user_id: userId, ...tokens };
  }

  async changePassword(userId: string, newPassword: string, logoutDevices: boolean, keepDeviceId: string | null): Promise<void> {
    await this.storage.accounts.setPasswordHash(userId, await hashPassword(newPassword));
    if (logoutDevices) {
      const others = (await this.storage.devices.listDevices(userId)).map((d) => d.deviceId).filter((d) => d !== keepDeviceId);
      await this.deleteDevices(userId, others);
    }
  }

  /**
   * spec: POST /account/deactivate. As Synapse does: the devices and tokens go, the profile is
   * emptied (displayname and avatar_url, and here every custom field too), the user leaves every
   * room they are joined to and rejects every invite and knock, the rooms are forgotten, and all
   * account data (global and per room, the ignore list and push rules with it) is deleted
   * (spec: the `erase` parameter names account data as "non-event data" to erase; Synapse
   * deletes it in any case). A room that refuses the leave is skipped: the account is
   * deactivated either way. With `erase`, users who join a room later see the user's events
   * redacted (services/rooms/visibility.ts); those who could see them before still can.
   */
  async deactivate(userId: string, erase = false): Promise<void> {
    const all = (await this.storage.devices.listDevices(userId)).map((d) => d.deviceId);
    await this.deleteDevices(userId, all);
    await this.storage.accounts.deactivate(userId);
    this.sessions.forgetUser(userId);
    await this.storage.profileFields.deleteAll(userId);
    await this.leaveAllRooms(userId);
    await this.storage.accountData.deleteAll(userId);
    // Pushers without a device would outlive the devices deleted above.
    await this.storage.pushers.deleteAll(userId);
    if (erase) await this.storage.accounts.markErased(userId);
  }

  private async leaveAllRooms(userId: string): Promise<void> {
    if (!this.rooms) return;
    for (const membership of ['join', 'invite', 'knock']) {
      for (const roomId of await this.storage.rooms.roomsWithMembership(userId, membership)) {
        try {
          await this.rooms.setMembership(roomId, userId, userId, 'leave');
          await this.storage.rooms.forget(roomId, userId);
        } catch (err) {
          // The membership changed in between (kicked, banned, or left): nothing to undo.
          if (!(err instanceof MatrixError)) throw err;
        }
      }
    }
  }

  async deleteDevices(userId: string, deviceIds: string[]): Promise<void> {
    this.sessions.forget(await this.storage.devices.deleteDevices(userId, deviceIds));
    for (const listener of this.devicesDeletedListeners) await listener(userId, deviceIds);
  }

  /** Work to do once devices are deleted: E2EE deletes their keys and to-device messages. */
  onDevicesDeleted(listener: (userId: string, deviceIds: string[]) => Promise<void>): void {
    this.devicesDeletedListeners.push(listener);
  }

  async isAdmin(userId: string): Promise<boolean> {
    return (await this.storage.accounts.getUser(userId))?.isAdmin ?? false;
  }

  private async logoutDeviceTokens(userId: string, deviceId: string): Promise<void> {
    this.sessions.forget(await this.storage.devices.deleteDeviceTokens(userId, deviceId));
  }

  private async resolveLoginUser(user: string): Promise<string | null> {
    const userId = user.startsWith('@') ? user : this.userId(user);
    if (!isValidUserId(userId, { historical: true })) return null;
    if (!userId.endsWith(`:${this.serverName}`)) return null;
    if (await this.storage.accounts.userExists(userId)) return userId;
    // Localparts are case-insensitive at login, as Synapse does: new ones are lower-case.
    const lower = `${userId.slice(0, userId.lastIndexOf(':')).toLowerCase()}:${this.serverName}`;
    return (await this.storage.accounts.userExists(lower)) ? lower : null;
  }

  private async newGuestUserId(): Promise<string> {
    for (;;) {
      const id = this.userId(String(randomInt(1, 2 ** 47)));
      if (!(await this.storage.accounts.userExists(id))) return id;
    }
  }

  private async newRandomUserId(): Promise<string> {
    for (;;) {
      const id = this.userId(`u${randomInt(1, 2 ** 47).toString(36)}`);
      if (!(await this.storage.accounts.userExists(id))) return id;
    }
  }
}

// A hash of a random password, verified against when the user does not exist.
let dummy: Promise<string> | undefined;
const dummyHash = () => (dummy ??= hashPassword(randomBytes(16).toString('hex')));
