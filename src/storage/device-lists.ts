// The device-list stream: each row is a change that makes some users' clients re-fetch someone's
// keys (their devices or cross-signing keys changed), or changes who shares a room with whom (a
// join or a leave). Also the room-sharing queries the stream is read with.
// spec: client-server-api modules/end_to_end_encryption "Tracking the device list for a user"
import type { DB } from './database.js';
import { streamHighWater } from './stream-position.js';

export type DeviceListChangeKind = 'keys' | 'join' | 'leave';

export interface DeviceListChange {
  /** Whose keys changed, or who joined or left. */
  userId: string;
  kind: DeviceListChangeKind;
  deviceId?: string | null;
  /** The room joined or left. */
  roomId?: string | null;
  /** When set, only this user is told of the change (user-signing keys and signatures they made). */
  audience?: string | null;
}

export interface MembershipChange { userId: string; roomId: string; kind: 'join' | 'leave' }

const CHUNK = 1000;

export class DeviceListStore {
  constructor(private readonly db: DB) {}

  /** Appends changes; returns the position of the last one. */
  async append(changes: readonly DeviceListChange[]): Promise<number> {
    let last = 0;
    await this.db.transaction().execute(async (tx) => {
      for (let i = 0; i < changes.length; i += 500) {
        const rows = await tx.insertInto('device_list_changes').values(changes.slice(i, i + 500).map((c) => ({
          user_id: c.userId, kind: c.kind, device_id: c.deviceId ?? null, room_id: c.roomId ?? null, audience: c.audience ?? null,
        }))).returning('stream_id').execute();
        for (const r of rows) last = Math.max(last, Number(r.stream_id));
      }
    });
    return last;
  }

  highWater(): Promise<number> {
    return streamHighWater(this.db, 'device_list_changes', 'stream_id');
  }

  /** Users whose keys changed in (from, to] that `userId` may be told of, split by audience. */
  async keyChanges(userId: string, from: number, to: number): Promise<{ everyone: string[]; onlyMe: string[] }> {
    const rows = await this.db.selectFrom('device_list_changes').select(['user_id', 'audience']).distinct()
      .where('stream_id', '>', from).where('stream_id', '<=', to).where('kind', '=', 'keys')
      .where((eb) => eb.or([eb('audience', 'is', null), eb('audience', '=', userId)]))
      .execute();
    return {
      everyone: rows.filter((r) => r.audience === null).map((r) => r.user_id),
      onlyMe: rows.filter((r) => r.audience !== null).map((r) => r.user_id),
    };
  }

  /**
   * Joins and leaves in (from, to] that concern `userId`: their own, and other users' in rooms
   * `userId` is joined to now or left in that interval.
   */
  async membershipChanges(userId: string, from: number, to: number): Promise<MembershipChange[]> {
    const rows = await this.db.selectFrom('device_list_changes').select(['user_id', 'room_id', 'kind'])
      .where('stream_id', '>', from).where('stream_id', '<=', to).where('kind', 'in', ['join', 'leave'])
      .where((eb) => eb.or([
        eb('user_id', '=', userId),
        eb('room_id', 'in', eb.selectFrom('memberships').select('room_id').where('user_id', '=', userId).where('membership', '=', 'join')),
        eb('room_id', 'in', eb.selectFrom('device_list_changes as mine').select('mine.room_id')
          .where('mine.stream_id', '>', from).where('mine.stream_id', '<=', to).where('mine.user_id', '=', userId).where('mine.kind', '=', 'leave')),
      ]))
      .orderBy('stream_id').execute();
    return rows.map((r) => ({ userId: r.user_id, roomId: r.room_id as string, kind: r.kind as 'join' | 'leave' }));
  }

  /** Which of `candidates` share a room with `userId` now (both joined). */
  async sharingRoomWith(userId: string, candidates: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const list = [...new Set(candidates)];
    for (let i = 0; i < list.length; i += CHUNK) {
      const rows = await this.db.selectFrom('memberships as mine')
        .innerJoin('memberships as theirs', 'theirs.room_id', 'mine.room_id')
        .select('theirs.user_id').distinct()
        .where('mine.user_id', '=', userId).where('mine.membership', '=', 'join')
        .where('theirs.membership', '=', 'join').where('theirs.user_id', 'in', list.slice(i, i + CHUNK))
        .execute();
      for (const r of rows) out.add(r.user_id);
    }
    return out;
  }

  /** Everyone who shares a room with `userId` now, `userId` included when in any room. */
  async everyoneSharingRoomWith(userId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('memberships as mine')
      .innerJoin('memberships as theirs', 'theirs.room_id', 'mine.room_id')
      .select('theirs.user_id').distinct()
      .where('mine.user_id', '=', userId).where('mine.membership', '=', 'join').where('theirs.membership', '=', 'join')
      .execute();
    return rows.map((r) => r.user_id);
  }
}
