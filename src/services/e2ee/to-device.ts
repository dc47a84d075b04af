// Send-to-device messaging: messages for devices, stored with a stream position per target
// device until the device acknowledges them, so each is delivered exactly once.
// spec: client-server-api modules/send_to_device
import { domainOf, isValidUserId } from '../../core/identifiers.js';
import type { JsonObject } from '../../core/pdu.js';
import { badJson, invalidParam } from '../../errors.js';
import type { Storage } from '../../storage/index.js';
import type { ToDeviceEvent, ToDeviceMessage } from '../../storage/to-device.js';
import type { Notifier } from '../notifier.js';
import { OrderedStream } from './ordered-stream.js';
import { checkIdentifier, isObject } from './signed.js';
import { createHash } from 'node:crypto';

export type { ToDeviceEvent } from '../../storage/to-device.js';

/** spec: modules/send_to_device "100 messages is recommended as a reasonable limit" per /sync. */
export const DEFAULT_TO_DEVICE_LIMIT = 100;
/** The device ID meaning every device of the user. */
const ALL_DEVICES = '*';
/** How long a transaction ID is remembered: a client retries within minutes. */
const TXN_LIFETIME_MS = 24 * 60 * 60 * 1000;

export class ToDeviceService {
  private readonly stream: OrderedStream;
  private lastPrune = 0;

  constructor(
    private readonly storage: Storage,
    private readonly notifier: Notifier,
    private readonly serverName: string,
    private readonly now: () => number = Date.now,
  ) {
    this.stream = new OrderedStream(() => storage.toDevice.highWater());
  }

  /** Messages for users of other servers go here (federation: m.direct_to_device EDUs). */
  remoteDelivery: ((sender: string, type: string, messageId: string, messages: Record<string, unknown>) => void) | undefined;

  /**
   * PUT /sendToDevice/{eventType}/{txnId}: one message per target device (`*` is every device the
   * user has now; a device named explicitly takes precedence over `*`). A transaction already
   * handled for this device and event type is not sent again. Messages for users of other
   * servers go to `remoteDelivery` (spec: server-server-api "Send-to-device messaging").
   */
  async send(sender: { userId: string; deviceId: string }, eventType: string, txnId: string, messages: Record<string, unknown>): Promise<void> {
    checkIdentifier(eventType, 'The event type');
    checkIdentifier(txnId, 'The transaction ID');
    // Everything is checked before anything is stored.
    const perUser: Array<[string, Record<string, JsonObject>]> = [];
    for (const [userId, devices] of Object.entries(messages)) {
      if (!isValidUserId(userId, { historical: true })) throw invalidParam(`${JSON.stringify(userId)} is not a valid user ID`);
      if (!isObject(devices)) throw badJson(`\`messages.${userId}\` must map device IDs to message contents`);
      for (const [deviceId, content] of Object.entries(devices)) {
        checkIdentifier(deviceId, 'A device ID');
        if (!isObject(content)) throw badJson(`The message for ${userId} ${deviceId} must be an object`);
      }
      perUser.push([userId, devices as Record<string, JsonObject>]);
    }

    const out: ToDeviceMessage[] = [];
    const targets = new Set<string>();
    const remote: Record<string, unknown> = {};
    for (const [userId, devices] of perUser) {
      if (domainOf(userId) !== this.serverName) {
        remote[userId] = devices;
        continue;
      }
      const known = new Set((await this.storage.devices.listDevices(userId)).map((d) => d.deviceId));
      const wildcard = devices[ALL_DEVICES];
      for (const deviceId of known) {
        const content = devices[deviceId] ?? wildcard;
        if (content === undefined) continue;
        out.push({ userId, deviceId, content: JSON.stringify(content) });
        targets.add(userId);
      }
    }

    const txn = { userId: sender.userId, deviceId: sender.deviceId, eventType, txnId, now: this.now() };
    const { position } = await this.stream.write(async () => ({ position: (await this.storage.toDevice.send(txn, sender.userId, eventType, out)) ?? 0 }));
    if (position > 0) this.notifier.notify({ stream: 'to_device', position, users: [...targets] });
    // Sent on once: a repeated transaction ID finds its transaction claimed (position 0) unless it had no local recipient,
    // and then the receiving servers drop the repeat by its message_id.
    if (Object.keys(remote).length > 0 && this.remoteDelivery && (position > 0 || out.length === 0)) {
      const messageId = createHash('sha256').update(`${sender.userId}\u0000${sender.deviceId}\u0000${txnId}`).digest('base64url');
      this.remoteDelivery(sender.userId, eventType, messageId, remote);
    }
    await this.pruneTransactions();
  }

  /** The position of the latest to-device message (the `to_device` part of a sync token). */
  currentPosition(): Promise<number> {
    return this.stream.position();
  }

  /**
   * The device's messages after `since`, oldest first, at most `limit`. `position` is where the
   * next read starts: the last message returned when there may be more, else the stream's
   * current position. Messages stay stored until `acknowledge`d.
   */
  async messagesFor(userId: string, deviceId: string, since: number, limit = DEFAULT_TO_DEVICE_LIMIT): Promise<{ events: ToDeviceEvent[]; position: number }> {
    const upTo = await this.stream.position();
    if (since >= upTo) return { events: [], position: upTo };
    const rows = await this.storage.toDevice.pending(userId, deviceId, since, upTo, limit);
    const position = rows.length === limit ? rows[rows.length - 1].position : upTo;
    return { events: rows.map((r) => r.event), position };
  }

  /**
   * The device has received everything up to `upTo` (spec: the next /sync with a later `since`
   * acknowledges the messages of the previous response): they are deleted.
   */
  async acknowledge(userId: string, deviceId: string, upTo: number): Promise<void> {
    if (upTo > 0) await this.storage.toDevice.deleteUpTo(userId, deviceId, upTo);
  }

  /** A deleted device's pending messages go with it. */
  deleteDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    return this.storage.toDevice.deleteDevices(userId, deviceIds);
  }

  private async pruneTransactions(): Promise<void> {
    const now = this.now();
    if (now - this.lastPrune < TXN_LIFETIME_MS / 24) return;
    this.lastPrune = now;
    await this.storage.toDevice.deleteTxnsBefore(now - TXN_LIFETIME_MS);
  }
}
