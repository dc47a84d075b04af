// EDUs both ways: typing notifications, read receipts, presence, device-list and signing-key
// updates, and send-to-device messages.
//
// Inbound, every EDU is checked against the server that sent it: it may only speak for its own
// users (the user's domain must be the origin), and typing and receipts only for rooms where that
// user is joined and that the room's server ACL lets the origin into. An EDU that fails a check is
// dropped (EDUs have no per-item results); the others of the transaction still apply.
//
// Outbound, local changes go to the servers that need them: typing and receipts to the servers
// joined to the room, presence and device-list changes to the servers sharing a room with the
// user, to-device messages to the recipients' servers. Typing and presence changes are taken from
// the Notifier (the services already announce them there); receipts, device-list changes and
// to-device messages come through hooks those services call.
// spec: server-server-api "EDUs", "Typing Notifications", "Presence", "Receipts",
// "Device Management", "End-to-End Encryption", "Send-to-device messaging"
import type { Logger } from 'pino';
import { domainOf, isValidUserId } from '../../core/identifiers.js';
import type { JsonObject } from '../../core/pdu.js';
import type { Storage } from '../../storage/index.js';
import type { Notifier, StreamChange } from '../notifier.js';
import type { TypingService } from '../typing.js';
import type { ReceiptService } from '../receipts.js';
import { PRESENCE_VALUES, type PresenceService, type PresenceValue } from '../presence.js';
import type { DeviceListService } from '../e2ee/device-lists.js';
import type { ToDeviceService } from '../e2ee/to-device.js';
import type { E2eKeyService } from '../e2ee/keys.js';
import type { FederationSender } from './sender.js';
import type { RemoteKeyCache } from './remote-keys.js';

/** How long a remote user's typing lasts unless their server says it stopped (spec leaves it to us; Synapse uses 30 s). */
export const REMOTE_TYPING_TIMEOUT_MS = 30_000;

export interface RoomAclCheck { allows(roomId: string, serverName: string): Promise<boolean> }

export interface FederationEduDeps {
  serverName: string;
  storage: Storage;
  notifier: Notifier;
  typing: TypingService;
  receipts: ReceiptService;
  presence: PresenceService;
  deviceLists: DeviceListService;
  toDevice: ToDeviceService;
  e2eKeys: E2eKeyService;
  sender: FederationSender;
  /** The cache of other servers' users' keys, kept up to date (or made stale) by their updates. */
  remoteKeys: RemoteKeyCache;
  /** The room's m.room.server_acl check (FED-EVENTS' ServerAcls), when wired. */
  acl: () => RoomAclCheck | undefined;
  log: Logger;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export class FederationEdus {
  /** Local users typing per room, as last told to other servers. */
  private readonly sentTyping = new Map<string, Set<string>>();
  /** The device-list stream ID last sent for each local user (m.device_list_update `prev_id`). */
  private readonly lastDeviceStreamId = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly d: FederationEduDeps) {}

  start(): void {
    this.unsubscribe ??= this.d.notifier.subscribe((change) => this.onStreamChange(change));
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private isLocal(userId: string): boolean {
    return domainOf(userId) === this.d.serverName;
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound

  /** The EDUs of a transaction from `origin`. Never throws: a bad EDU is logged and dropped. */
  async receive(origin: string, edus: readonly unknown[]): Promise<void> {
    for (const edu of edus) {
      if (!isObject(edu) || typeof edu.edu_type !== 'string' || !isObject(edu.content)) continue;
      try {
        await this.receiveOne(origin, edu.edu_type, edu.content);
      } catch (err) {
        this.d.log.info({ origin, edu_type: edu.edu_type, err: (err as Error).message }, 'dropped an EDU');
      }
    }
  }

  private async receiveOne(origin: string, type: string, content: Json): Promise<void> {
    switch (type) {
      case 'm.typing': return this.receiveTyping(origin, content);
      case 'm.receipt': return this.receiveReceipts(origin, content);
      case 'm.presence': return this.receivePresence(origin, content);
      case 'm.device_list_update': return this.receiveDeviceListUpdate(origin, content);
      case 'm.signing_key_update': return this.receiveSigningKeyUpdate(origin, content);
      case 'm.direct_to_device': return this.receiveDirectToDevice(origin, content);
      default: return undefined; // spec: unknown EDU types are ignored
    }
  }

  /** The user speaks through its own server, and is joined to a room the origin may act in. */
  private async mayActInRoom(origin: string, userId: unknown, roomId: unknown): Promise<boolean> {
    if (typeof userId !== 'string' || typeof roomId !== 'string' || !isValidUserId(userId, { historical: true })) return false;
    if (domainOf(userId) !== origin) return false;
    if ((await this.d.storage.rooms.membership(roomId, userId)) !== 'join') return false;
    const acl = this.d.acl();
    return acl === undefined || acl.allows(roomId, origin);
  }

  private async receiveTyping(origin: string, c: Json): Promise<void> {
    if (typeof c.typing !== 'boolean' || !(await this.mayActInRoom(origin, c.user_id, c.room_id))) return;
    this.d.typing.setTyping(c.room_id as string, c.user_id as string, c.typing, REMOTE_TYPING_TIMEOUT_MS);
  }

  private async receiveReceipts(origin: string, c: Json): Promise<void> {
    for (const [roomId, byType] of Object.entries(c)) {
      if (!isObject(byType)) continue;
      // Only public read receipts travel between servers (m.read.private never leaves its server).
      const reads = byType['m.read'];
      if (!isObject(reads)) continue;
      for (const [userId, receipt] of Object.entries(reads)) {
        if (!isObject(receipt) || !Array.isArray(receipt.event_ids) || typeof receipt.event_ids[0] !== 'string') continue;
        if (!(await this.mayActInRoom(origin, userId, roomId))) continue;
        const data = isObject(receipt.data) ? receipt.data : {};
        const threadId = typeof data.thread_id === 'string' ? data.thread_id : undefined;
        await this.d.receipts.receiveRemoteReceipt(userId, roomId, 'm.read', receipt.event_ids[0], threadId);
      }
    }
  }

  private async receivePresence(origin: string, c: Json): Promise<void> {
    if (!Array.isArray(c.push)) return;
    for (const p of c.push) {
      if (!isObject(p) || typeof p.user_id !== 'string' || domainOf(p.user_id) !== origin || !isValidUserId(p.user_id, { historical: true })) continue;
      if (!PRESENCE_VALUES.includes(p.presence as PresenceValue)) continue;
      await this.d.presence.setRemotePresence(p.user_id, {
        presence: p.presence as PresenceValue,
        ...(typeof p.status_msg === 'string' ? { statusMsg: p.status_msg } : {}),
        ...(typeof p.last_active_ago === 'number' && p.last_active_ago >= 0 ? { lastActiveAgo: p.last_active_ago } : {}),
        currentlyActive: p.currently_active === true,
      });
    }
  }

  /**
   * The update is applied to the user's cached keys (`RemoteKeyCache`) when it follows on from the
   * last one seen, and otherwise makes them stale, so that the next keys/query asks their server;
   * then local users who share a room with them are told to fetch the keys again.
   */
  private async receiveDeviceListUpdate(origin: string, c: Json): Promise<void> {
    if (typeof c.user_id !== 'string' || typeof c.device_id !== 'string' || domainOf(c.user_id) !== origin || !isValidUserId(c.user_id, { historical: true })) return;
    await this.d.remoteKeys.applyDeviceListUpdate(c.user_id, c);
    await this.d.deviceLists.keysChanged(c.user_id, [c.device_id]);
  }

  private async receiveSigningKeyUpdate(origin: string, c: Json): Promise<void> {
    if (typeof c.user_id !== 'string' || domainOf(c.user_id) !== origin || !isValidUserId(c.user_id, { historical: true })) return;
    await this.d.remoteKeys.invalidate(c.user_id);
    await this.d.deviceLists.keysChanged(c.user_id);
  }

  private async receiveDirectToDevice(origin: string, c: Json): Promise<void> {
    if (typeof c.sender !== 'string' || domainOf(c.sender) !== origin || typeof c.type !== 'string' || typeof c.message_id !== 'string') return;
    if (!isObject(c.messages)) return;
    // Only our own users: a remote server cannot make us forward messages elsewhere.
    const local: Record<string, unknown> = {};
    for (const [userId, devices] of Object.entries(c.messages)) if (this.isLocal(userId)) local[userId] = devices;
    if (Object.keys(local).length === 0) return;
    // The transaction key (sender, pseudo-device, type, message_id) makes a repeated EDU a no-op.
    await this.d.toDevice.send({ userId: c.sender, deviceId: `federation:${origin}` }, c.type, c.message_id, local);
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound

  /** The servers joined to a room, without us and without those its ACL denies. */
  async serversInRoom(roomId: string): Promise<string[]> {
    const servers = new Set<string>();
    for (const u of await this.d.storage.rooms.joinedMemberIds(roomId)) {
      const s = domainOf(u);
      if (s !== undefined && s !== this.d.serverName) servers.add(s);
    }
    const acl = this.d.acl();
    if (acl === undefined) return [...servers];
    const allowed = await Promise.all([...servers].map(async (s) => ((await acl.allows(roomId, s)) ? s : undefined)));
    return allowed.filter((s): s is string => s !== undefined);
  }

  /** The servers sharing at least one joined room with `userId`. */
  private async serversSharingRoomWith(userId: string): Promise<string[]> {
    const servers = new Set<string>();
    for (const u of await this.d.storage.deviceLists.everyoneSharingRoomWith(userId)) {
      const s = domainOf(u);
      if (s !== undefined && s !== this.d.serverName) servers.add(s);
    }
    return [...servers];
  }

  private onStreamChange(change: StreamChange): void {
    if (change.stream === 'typing') {
      for (const roomId of change.rooms ?? []) this.typingChanged(roomId).catch((err: unknown) => this.d.log.error({ err }, 'sending typing EDUs failed'));
    } else if (change.stream === 'presence') {
      for (const userId of change.users ?? []) {
        if (this.isLocal(userId)) this.presenceChanged(userId).catch((err: unknown) => this.d.log.error({ err }, 'sending presence EDUs failed'));
      }
    }
  }

  private async typingChanged(roomId: string): Promise<void> {
    const now = new Set(this.d.typing.typingUsers(roomId).filter((u) => this.isLocal(u)));
    const before = this.sentTyping.get(roomId) ?? new Set<string>();
    const changes: Array<[string, boolean]> = [];
    for (const u of now) if (!before.has(u)) changes.push([u, true]);
    for (const u of before) if (!now.has(u)) changes.push([u, false]);
    if (now.size > 0) this.sentTyping.set(roomId, now);
    else this.sentTyping.delete(roomId);
    if (changes.length === 0) return;
    const servers = await this.serversInRoom(roomId);
    for (const server of servers) {
      for (const [userId, typing] of changes) this.d.sender.sendEdu(server, { edu_type: 'm.typing', content: { room_id: roomId, user_id: userId, typing } });
    }
  }

  private async presenceChanged(userId: string): Promise<void> {
    if (!this.d.presence.config.enabled) return;
    const record = await this.d.presence.get(userId);
    const content = this.d.presence.format(record);
    const push = { user_id: userId, presence: content.presence, last_active_ago: content.last_active_ago ?? 0, currently_active: content.currently_active ?? false, ...(content.status_msg !== undefined ? { status_msg: content.status_msg } : {}) };
    for (const server of await this.serversSharingRoomWith(userId)) this.d.sender.sendEdu(server, { edu_type: 'm.presence', content: { push: [push] } });
  }

  /** ReceiptService hook: a public read receipt of a local user goes to the room's servers. */
  readonly onReceipt = (r: { userId: string; roomId: string; receiptType: string; eventId: string; ts: number; threadId?: string }): void => {
    if (r.receiptType !== 'm.read' || !this.isLocal(r.userId)) return;
    const data: Json = { ts: r.ts, ...(r.threadId !== undefined ? { thread_id: r.threadId } : {}) };
    const content = { [r.roomId]: { 'm.read': { [r.userId]: { event_ids: [r.eventId], data } } } };
    this.serversInRoom(r.roomId).then((servers) => {
      for (const server of servers) this.d.sender.sendEdu(server, { edu_type: 'm.receipt', content });
    }).catch((err: unknown) => this.d.log.error({ err }, 'sending receipt EDUs failed'));
  };

  /**
   * DeviceListService hook: a local user's devices (or cross-signing keys, when `ids` name no
   * device) changed. Devices go out as m.device_list_update (with their keys, or `deleted`), the
   * cross-signing keys as m.signing_key_update.
   */
  readonly onKeysChanged = (userId: string, ids: readonly string[]): void => {
    if (!this.isLocal(userId)) return;
    this.sendKeyUpdates(userId, ids).catch((err: unknown) => this.d.log.error({ err }, 'sending device list EDUs failed'));
  };

  private async sendKeyUpdates(userId: string, ids: readonly string[]): Promise<void> {
    const servers = await this.serversSharingRoomWith(userId);
    if (servers.length === 0) return;
    const devices = new Map((await this.d.storage.devices.listDevices(userId)).map((dv) => [dv.deviceId, dv]));
    const keys = await this.d.e2eKeys.query(userId, { [userId]: [] });
    const deviceKeys = keys.device_keys[userId] ?? {};
    let signingKeysChanged = ids.length === 0;
    for (const id of ids) {
      const device = devices.get(id);
      const known = device !== undefined || deviceKeys[id] !== undefined;
      const wasDevice = known || !(await this.isCrossSigningKeyId(keys, userId, id));
      if (!wasDevice) {
        signingKeysChanged = true;
        continue;
      }
      const position = await this.d.deviceLists.currentPosition();
      const prev = this.lastDeviceStreamId.get(userId);
      // Unique and increasing per user (spec: the receiver follows prev_id to stream_id), also
      // when one change covers several devices and the stream moved once for all of them.
      const streamId = prev === undefined ? position : Math.max(position, prev + 1);
      this.lastDeviceStreamId.set(userId, streamId);
      const content: Json = {
        user_id: userId, device_id: id, stream_id: streamId, prev_id: prev === undefined ? [] : [prev],
        ...(device === undefined ? { deleted: true } : {}),
        ...(device?.displayName ? { device_display_name: device.displayName } : {}),
        ...(deviceKeys[id] !== undefined ? { keys: stripUnsigned(deviceKeys[id]) } : {}),
      };
      for (const server of servers) this.d.sender.sendEdu(server, { edu_type: 'm.device_list_update', content });
    }
    if (signingKeysChanged) {
      const content: Json = {
        user_id: userId,
        ...(keys.master_keys[userId] ? { master_key: keys.master_keys[userId] } : {}),
        ...(keys.self_signing_keys[userId] ? { self_signing_key: keys.self_signing_keys[userId] } : {}),
      };
      for (const server of servers) this.d.sender.sendEdu(server, { edu_type: 'm.signing_key_update', content });
    }
  }

  private async isCrossSigningKeyId(keys: { master_keys: Record<string, JsonObject>; self_signing_keys: Record<string, JsonObject> }, userId: string, id: string): Promise<boolean> {
    for (const k of [keys.master_keys[userId], keys.self_signing_keys[userId]]) {
      const ids = isObject(k?.keys) ? Object.keys(k.keys).map((kid) => kid.slice(kid.indexOf(':') + 1)) : [];
      if (ids.includes(id)) return true;
    }
    return false;
  }

  /** ToDeviceService hook: messages for users on other servers, one m.direct_to_device EDU per server. */
  readonly onRemoteToDevice = (sender: string, type: string, messageId: string, messages: Record<string, unknown>): void => {
    const perServer = new Map<string, Record<string, unknown>>();
    for (const [userId, devices] of Object.entries(messages)) {
      const server = domainOf(userId);
      if (server === undefined || server === this.d.serverName) continue;
      let m = perServer.get(server);
      if (m === undefined) perServer.set(server, (m = {}));
      m[userId] = devices;
    }
    for (const [server, m] of perServer) {
      this.d.sender.sendEdu(server, { edu_type: 'm.direct_to_device', content: { sender, type, message_id: messageId, messages: m } });
    }
  };
}

function stripUnsigned(keys: JsonObject): JsonObject {
  const { unsigned: _u, ...rest } = keys;
  return rest;
}
