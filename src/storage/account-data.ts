// Account data, global and per room, as a stream: each change gets a new position, so a
// sync can ask for everything that changed after the position it last saw.
// spec: client-server-api "Client Config" (modules/account_data), "Room Tagging", "Ignoring Users"
import type { JsonObject } from '../core/pdu.js';
import type { DB } from './database.js';

/** An account data event as /sync delivers it. */
export interface AccountDataEvent { type: string; content: JsonObject }

export interface AccountDataChanges {
  global: AccountDataEvent[];
  /** Room ID → that room's changed account data. */
  rooms: Record<string, AccountDataEvent[]>;
  /** The highest position among the changes, or the `from` position when there are none. */
  position: number;
}

/** The room_id of global account data (a real room ID is never empty). */
const GLOBAL = '';
const IGNORED_USER_LIST = 'm.ignored_user_list';
const INVITE_PERMISSION_CONFIG = 'm.invite_permission_config';
const IGNORE_CACHE_MAX = 10_000;

export class AccountDataStore {
  /**
   * Writes run one at a time in this process, so positions become visible in the order they
   * were allocated: a reader that saw position P never later finds a change below P.
   * (Several processes writing to one PostgreSQL database would need more than this.)
   */
  private writes: Promise<unknown> = Promise.resolve();
  private readonly ignored = new Map<string, Set<string>>();
  /** Counts ignore-list writes, so a read that raced with a write does not cache what it read. */
  private ignoredWrites = 0;

  constructor(private readonly db: DB) {}

  async get(userId: string, roomId: string | null, type: string): Promise<JsonObject | undefined> {
    const r = await this.db.selectFrom('account_data').select('content')
      .where('user_id', '=', userId).where('room_id', '=', roomId ?? GLOBAL).where('type', '=', type).executeTakeFirst();
    return r && (JSON.parse(r.content) as JsonObject);
  }

  /** Stores `content` and returns the position of this change. */
  put(userId: string, roomId: string | null, type: string, content: JsonObject): Promise<number> {
    return this.serialised(() => this.write(userId, roomId, type, content));
  }

  /**
   * Reads, changes and writes one entry with no other write in between (tags are edited this
   * way). `change` returns the new content, or undefined to leave it as it is. Returns the
   * position of the change, or undefined when nothing changed.
   */
  update(userId: string, roomId: string | null, type: string, change: (current: JsonObject | undefined) => JsonObject | undefined): Promise<number | undefined> {
    return this.serialised(async () => {
      const next = change(await this.get(userId, roomId, type));
      return next === undefined ? undefined : this.write(userId, roomId, type, next);
    });
  }

  /** Everything of `userId`'s account data that changed after position `from` (up to `to`, if given). */
  async changesSince(userId: string, from: number, to?: number): Promise<AccountDataChanges> {
    if (to !== undefined && to <= from) return { global: [], rooms: {}, position: from }; // nothing can be in (from, to]
    let q = this.db.selectFrom('account_data').select(['stream_id', 'room_id', 'type', 'content'])
      .where('user_id', '=', userId).where('stream_id', '>', from);
    if (to !== undefined) q = q.where('stream_id', '<=', to);
    const rows = await q.orderBy('stream_id').execute();
    const out: AccountDataChanges = { global: [], rooms: {}, position: from };
    for (const r of rows) {
      const ev: AccountDataEvent = { type: r.type, content: JSON.parse(r.content) as JsonObject };
      if (r.room_id === GLOBAL) out.global.push(ev);
      else (out.rooms[r.room_id] ??= []).push(ev);
      out.position = Math.max(out.position, Number(r.stream_id));
    }
    return out;
  }

  /** The position of the latest change of anyone's account data (0 before the first). */
  async currentPosition(): Promise<number> {
    const r = await this.db.selectFrom('account_data').select((eb) => eb.fn.max('stream_id').as('max')).executeTakeFirst();
    return Number(r?.max ?? 0);
  }

  /**
   * The users `userId` ignores (their `m.ignored_user_list`), cached until it changes.
   * spec: modules/ignore_users. The set is shared: do not modify it.
   */
  async ignoredUsers(userId: string): Promise<ReadonlySet<string>> {
    const cached = this.ignored.get(userId);
    if (cached) return cached;
    const writesBefore = this.ignoredWrites;
    const content = await this.get(userId, null, IGNORED_USER_LIST);
    const list = content?.ignored_users;
    const users = new Set(typeof list === 'object' && list !== null && !Array.isArray(list) ? Object.keys(list) : []);
    // Ignoring yourself has no effect: your own events are never hidden from you.
    users.delete(userId);
    if (writesBefore === this.ignoredWrites) {
      if (this.ignored.size >= IGNORE_CACHE_MAX) this.ignored.delete(this.ignored.keys().next().value as string);
      this.ignored.set(userId, users);
    }
    return users;
  }

  /**
   * Whether the user blocks every invite (`m.invite_permission_config` with `default_action`
   * `block`; any other value lets invites through). spec: modules/invite_permission
   */
  async blocksInvites(userId: string): Promise<boolean> {
    return (await this.get(userId, null, INVITE_PERMISSION_CONFIG))?.default_action === 'block';
  }

  /** Deletes all of the user's account data, global and per room (account deactivation). */
  deleteAll(userId: string): Promise<void> {
    return this.serialised(async () => {
      await this.db.deleteFrom('account_data').where('user_id', '=', userId).execute();
      this.ignoredWrites++;
      this.ignored.delete(userId);
    });
  }

  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.writes.then(fn, fn);
    this.writes = result.catch(() => undefined);
    return result;
  }

  /** Replaces the entry with a new row, whose new stream_id is the position of this change. */
  private async write(userId: string, roomId: string | null, type: string, content: JsonObject): Promise<number> {
    const room = roomId ?? GLOBAL;
    const position = await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('account_data').where('user_id', '=', userId).where('room_id', '=', room).where('type', '=', type).execute();
      const r = await tx.insertInto('account_data').values({ user_id: userId, room_id: room, type, content: JSON.stringify(content) })
        .returning('stream_id').executeTakeFirstOrThrow();
      return Number(r.stream_id);
    });
    if (room === GLOBAL && type === IGNORED_USER_LIST) {
      this.ignoredWrites++;
      this.ignored.delete(userId);
    }
    return position;
  }
}
