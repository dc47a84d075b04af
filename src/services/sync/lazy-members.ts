// Lazy-loaded members: which member events each device has already been sent, so that
// incremental syncs can leave out redundant ones.
// spec: client-server-api "Lazy-loading room members" (`include_redundant_members`)
//
// What a device was sent is recorded with the token of the response that carried it, and is
// trusted only by a request that continues from that token: a client that retries an older
// token (the response was lost) gets its members again. After a restart nothing is trusted.

const CACHE_DEVICES = 10_000;

/** Per room, per member: the nid of the member event sent. */
type Sent = Map<string, Map<string, number>>;

export interface MemberLedger {
  /** Whether this device already has this member event. */
  has(roomId: string, userId: string, nid: number): boolean;
  /** Notes a member event this response sends. */
  record(roomId: string, userId: string, nid: number): void;
}

export class LazyMemberCache {
  private readonly devices = new Map<string, { token: string; sent: Sent }>();

  /** A ledger for one sync of one device, continuing from `since` (undefined: an initial sync). */
  begin(userId: string, deviceId: string, since: string | undefined): MemberLedger & { commit(nextBatch: string): void } {
    const key = `${userId}\n${deviceId}`;
    const entry = this.devices.get(key);
    const known: Sent = since !== undefined && entry?.token === since ? entry.sent : new Map();
    const pending: Array<[string, string, number]> = [];
    return {
      has: (roomId, userId, nid) => known.get(roomId)?.get(userId) === nid,
      record: (roomId, userId, nid) => { pending.push([roomId, userId, nid]); },
      commit: (nextBatch) => {
        for (const [roomId, u, nid] of pending) {
          let room = known.get(roomId);
          if (!room) known.set(roomId, room = new Map());
          room.set(u, nid);
        }
        this.devices.delete(key);
        if (this.devices.size >= CACHE_DEVICES) this.devices.delete(this.devices.keys().next().value as string);
        this.devices.set(key, { token: nextBatch, sent: known });
      },
    };
  }
}
