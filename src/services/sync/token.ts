// The /sync token: one position per stream, in one opaque string.
// spec: client-server-api "Syncing" (`next_batch`, `since`)
//
// Format: `s<events>_<typing>_<receipts>_<presence>_<account_data>_<to_device>_<device_lists>`.
// The events position comes first so that /messages and /context, which read only that, can
// take a sync token as a pagination token (services/rooms/timeline.ts, parseStreamToken).
// Every position but typing's comes from the database and survives a restart; typing's is
// clock-based and the typing service answers generously for positions it cannot place.

export interface SyncToken {
  events: number;
  typing: number;
  receipts: number;
  presence: number;
  accountData: number;
  toDevice: number;
  deviceLists: number;
}

const ORDER = ['events', 'typing', 'receipts', 'presence', 'accountData', 'toDevice', 'deviceLists'] as const;
const PATTERN = /^s(\d{1,15})_(\d{1,15})_(\d{1,15})_(\d{1,15})_(\d{1,15})_(\d{1,15})_(\d{1,15})$/;

export function formatSyncToken(t: SyncToken): string {
  return `s${ORDER.map((k) => t[k]).join('_')}`;
}

/** The positions of a sync token, or undefined when it is not one. */
export function parseSyncToken(token: string): SyncToken | undefined {
  const m = PATTERN.exec(token);
  if (!m) return undefined;
  const out = {} as SyncToken;
  ORDER.forEach((k, i) => { out[k] = Number(m[i + 1]); });
  return out;
}

/** Each stream at the later of two positions. */
export function laterOf(a: SyncToken, b: SyncToken): SyncToken {
  const out = {} as SyncToken;
  for (const k of ORDER) out[k] = Math.max(a[k], b[k]);
  return out;
}
