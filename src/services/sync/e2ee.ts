// The end-to-end encryption parts of /sync: to-device messages for the syncing device, device
// list changes of users sharing rooms, and the device's one-time and fallback key state.
// spec: client-server-api modules/send_to_device "Extensions to /sync",
// modules/end_to_end_encryption "Extensions to /sync"
import type { JsonObject } from '../../core/pdu.js';
import type { DeviceListService } from '../e2ee/device-lists.js';
import type { ToDeviceService } from '../e2ee/to-device.js';

export interface E2eeSection {
  to_device: { events: JsonObject[] };
  /** Present in incremental syncs only (spec: "Note: only present on an incremental sync"). */
  device_lists?: { changed: string[]; left: string[] };
  device_one_time_keys_count: Record<string, number>;
  device_unused_fallback_key_types: string[];
}

export interface E2eeQuery {
  userId: string;
  deviceId: string;
  since?: { toDevice: number; deviceLists: number };
  upTo: { deviceLists: number };
}

/** The section, and the to-device position the next sync continues from. */
export async function e2eeSection(toDevice: ToDeviceService, deviceLists: DeviceListService, q: E2eeQuery): Promise<{ section: E2eeSection; toDevicePosition: number; empty: boolean }> {
  const [messages, lists, counts, fallback] = await Promise.all([
    toDevice.messagesFor(q.userId, q.deviceId, q.since?.toDevice ?? 0),
    q.since ? deviceLists.changesSince(q.userId, q.since.deviceLists, q.upTo.deviceLists) : undefined,
    deviceLists.oneTimeKeyCounts(q.userId, q.deviceId),
    deviceLists.unusedFallbackKeyTypes(q.userId, q.deviceId),
  ]);
  const section: E2eeSection = {
    to_device: { events: messages.events as unknown as JsonObject[] },
    ...(lists ? { device_lists: lists } : {}),
    device_one_time_keys_count: counts,
    device_unused_fallback_key_types: fallback,
  };
  const empty = messages.events.length === 0 && (!lists || (lists.changed.length === 0 && lists.left.length === 0));
  return { section, toDevicePosition: messages.position, empty };
}
