// Pushers: where a user's notifications are sent (see migrations/010-push.ts).
// spec: client-server-api modules/push "Pushers"; data/api/client-server/pusher.yaml
import type { JsonObject } from '../core/pdu.js';
import type { DB } from './database.js';

export interface Pusher {
  userId: string;
  /** The device whose access token set the pusher; null when none is known. */
  deviceId: string | null;
  kind: string;
  appId: string;
  pushkey: string;
  /** When the pushkey was last set, in ms. */
  pushkeyTs: number;
  appDisplayName: string;
  deviceDisplayName: string;
  profileTag: string | null;
  lang: string;
  data: JsonObject;
}

type PusherRow = {
  user_id: string; device_id: string | null; kind: string; app_id: string; pushkey: string; pushkey_ts: number;
  app_display_name: string; device_display_name: string; profile_tag: string | null; lang: string; data: string;
};

const COLUMNS = ['user_id', 'device_id', 'kind', 'app_id', 'pushkey', 'pushkey_ts', 'app_display_name', 'device_display_name', 'profile_tag', 'lang', 'data'] as const;

/** How long "there are no pushers" is believed before asking again (another process may add one). */
const NONE_TTL_MS = 10_000;

export class PusherStore {
  /** When the table was last seen empty (most servers have no pushers: delivery then costs no query). */
  private noneSince: number | undefined;

  constructor(private readonly db: DB) {}

  /** Whether any user has a pusher. */
  async any(): Promise<boolean> {
    if (this.noneSince !== undefined && Date.now() - this.noneSince < NONE_TTL_MS) return false;
    const row = await this.db.selectFrom('pushers').select('id').limit(1).executeTakeFirst();
    this.noneSince = row ? undefined : Date.now();
    return row !== undefined;
  }

  async list(userId: string): Promise<Pusher[]> {
    return (await this.db.selectFrom('pushers').select(COLUMNS).where('user_id', '=', userId).orderBy('id').execute()).map(fromRow);
  }

  /**
   * Creates or replaces the user's pusher with this app_id and pushkey. Unless `append`, the
   * pushers of other users with the same app_id and pushkey go (spec: POST /pushers/set `append`).
   * pushkey_ts keeps its value when the pushkey was already set for this user.
   */
  async set(p: Pusher, append: boolean): Promise<void> {
    this.noneSince = undefined;
    await this.db.transaction().execute(async (tx) => {
      if (!append) await tx.deleteFrom('pushers').where('app_id', '=', p.appId).where('pushkey', '=', p.pushkey).where('user_id', '!=', p.userId).execute();
      const row = {
        device_id: p.deviceId, kind: p.kind, app_display_name: p.appDisplayName, device_display_name: p.deviceDisplayName,
        profile_tag: p.profileTag, lang: p.lang, data: JSON.stringify(p.data),
      };
      await tx.insertInto('pushers').values({ ...row, user_id: p.userId, app_id: p.appId, pushkey: p.pushkey, pushkey_ts: p.pushkeyTs })
        .onConflict((oc) => oc.columns(['user_id', 'app_id', 'pushkey']).doUpdateSet(row)).execute();
    });
  }

  /** Deletes the user's pusher with this app_id and pushkey; false when there was none. */
  async delete(userId: string, appId: string, pushkey: string): Promise<boolean> {
    const r = await this.db.deleteFrom('pushers').where('user_id', '=', userId).where('app_id', '=', appId).where('pushkey', '=', pushkey).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Deletes the pushers set through these devices. */
  async deleteForDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    for (let i = 0; i < deviceIds.length; i += 500) {
      await this.db.deleteFrom('pushers').where('user_id', '=', userId).where('device_id', 'in', deviceIds.slice(i, i + 500)).execute();
    }
  }

  async deleteAll(userId: string): Promise<void> {
    await this.db.deleteFrom('pushers').where('user_id', '=', userId).execute();
  }

  /** The pushers of the room's joined members (one indexed query whatever the room's size). */
  async forJoinedMembers(roomId: string): Promise<Pusher[]> {
    const rows = await this.db.selectFrom('pushers as p').innerJoin('memberships as m', 'm.user_id', 'p.user_id')
      .select(COLUMNS.map((c) => `p.${c}` as const)).where('m.room_id', '=', roomId).where('m.membership', '=', 'join').orderBy('p.id').execute();
    return rows.map(fromRow);
  }

  async forUser(userId: string): Promise<Pusher[]> {
    return this.list(userId);
  }
}

function fromRow(r: PusherRow): Pusher {
  return {
    userId: r.user_id, deviceId: r.device_id, kind: r.kind, appId: r.app_id, pushkey: r.pushkey, pushkeyTs: Number(r.pushkey_ts),
    appDisplayName: r.app_display_name, deviceDisplayName: r.device_display_name, profileTag: r.profile_tag, lang: r.lang,
    data: JSON.parse(r.data) as JsonObject,
  };
}
