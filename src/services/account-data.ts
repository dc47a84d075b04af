// Account data and the kinds of it with their own rules: room tags (m.tag) and the ignore list
// (m.ignored_user_list). Every change is reported to the notifier as the 'account_data' stream.
// spec: client-server-api modules/account_data, modules/tags, modules/ignore_users
import { isValidUserId } from '../core/identifiers.js';
import type { JsonObject, JsonValue } from '../core/pdu.js';
import { MatrixError, badJson, invalidParam, notFound } from '../errors.js';
import type { AccountDataStore } from '../storage/account-data.js';
import type { Notifier } from './notifier.js';

/**
 * Types the server manages: clients may read them but not set them through the account data API.
 * spec: modules/account_data "Server Behaviour" (a 405 with M_BAD_JSON)
 */
export const SERVER_MANAGED_TYPES: ReadonlySet<string> = new Set(['m.fully_read', 'm.push_rules']);

export const TAG_EVENT_TYPE = 'm.tag';
export const IGNORED_USER_LIST_TYPE = 'm.ignored_user_list';
/** spec: modules/tags "The name of a tag MUST NOT exceed 255 bytes." */
const MAX_TAG_NAME_BYTES = 255;

export class AccountDataService {
  /** Server-managed global types every user has before anything sets them (m.push_rules). */
  private readonly defaults = new Map<string, (userId: string) => Promise<JsonObject>>();

  constructor(private readonly store: AccountDataStore, private readonly notifier: Notifier) {}

  provideDefault(type: string, content: (userId: string) => Promise<JsonObject>): void {
    this.defaults.set(type, content);
  }

  /** The content of one entry; M_NOT_FOUND when it was never set (and has no default). */
  async get(userId: string, roomId: string | null, type: string): Promise<JsonObject> {
    const content = await this.store.get(userId, roomId, type);
    if (content !== undefined) return content;
    const fallback = roomId === null ? this.defaults.get(type) : undefined;
    if (fallback) return fallback(userId);
    throw notFound(roomId === null ? 'Account data not found' : 'Room account data not found');
  }

  /** PUT /user/{userId}[/rooms/{roomId}]/account_data/{type}: the client-facing rules, then set. */
  async setFromClient(userId: string, roomId: string | null, type: string, content: JsonObject): Promise<void> {
    if (SERVER_MANAGED_TYPES.has(type)) throw new MatrixError('M_BAD_JSON', `Cannot set ${type} through this API`, 405);
    if (type === IGNORED_USER_LIST_TYPE && roomId === null) checkIgnoredUserList(content);
    if (type === TAG_EVENT_TYPE && roomId !== null) checkTagContent(content);
    await this.set(userId, roomId, type, content);
  }

  /** Sets an entry without the client-facing restrictions (read markers and push rules use this). */
  async set(userId: string, roomId: string | null, type: string, content: JsonObject): Promise<void> {
    const position = await this.store.put(userId, roomId, type, content);
    this.notifier.notify({ stream: 'account_data', position, users: [userId] });
  }

  // ---- tags: the room account data m.tag, edited one tag at a time ----

  async tags(userId: string, roomId: string): Promise<Record<string, JsonObject>> {
    return tagsOf(await this.store.get(userId, roomId, TAG_EVENT_TYPE));
  }

  async setTag(userId: string, roomId: string, tag: string, info: JsonObject): Promise<void> {
    checkTagName(tag);
    checkTag(tag, info);
    await this.updateTags(userId, roomId, (tags) => ({ ...tags, [tag]: info }));
  }

  /** Removing a tag the room does not have is not an error and changes nothing. */
  async deleteTag(userId: string, roomId: string, tag: string): Promise<void> {
    checkTagName(tag);
    await this.updateTags(userId, roomId, (tags) => {
      if (!Object.hasOwn(tags, tag)) return undefined;
      const rest = { ...tags };
      delete rest[tag];
      return rest;
    });
  }

  private async updateTags(userId: string, roomId: string, change: (tags: Record<string, JsonObject>) => Record<string, JsonObject> | undefined): Promise<void> {
    const position = await this.store.update(userId, roomId, TAG_EVENT_TYPE, (current) => {
      const next = change(tagsOf(current));
      return next === undefined ? undefined : { ...(current ?? {}), tags: next };
    });
    if (position !== undefined) this.notifier.notify({ stream: 'account_data', position, users: [userId] });
  }
}

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function tagsOf(content: JsonObject | undefined): Record<string, JsonObject> {
  const tags = content?.tags;
  if (!isObject(tags)) return {};
  return Object.fromEntries(Object.entries(tags).filter((e): e is [string, JsonObject] => isObject(e[1])));
}

function checkTagName(tag: string): void {
  if (tag.length === 0 || Buffer.byteLength(tag, 'utf8') > MAX_TAG_NAME_BYTES) throw invalidParam(`Tag names must be 1 to ${MAX_TAG_NAME_BYTES} bytes long`);
  if (tag.includes('\u0000')) throw invalidParam('Tag names may not contain NUL');
}

/** spec: definitions/tag.yaml: `order` is a number in [0, 1]. */
function checkTag(tag: string, info: JsonValue): void {
  if (!isObject(info)) throw badJson(`Tag ${JSON.stringify(tag)} must be an object`);
  const order = info.order;
  if (order !== undefined && (typeof order !== 'number' || order < 0 || order > 1)) {
    throw badJson(`The order of tag ${JSON.stringify(tag)} must be a number from 0 to 1`);
  }
}

/** spec: event-schemas m.tag: `tags` maps tag names to Tag objects. */
function checkTagContent(content: JsonObject): void {
  if (content.tags === undefined) return;
  if (!isObject(content.tags)) throw badJson('`tags` must be an object');
  for (const [tag, info] of Object.entries(content.tags)) {
    if (Buffer.byteLength(tag, 'utf8') > MAX_TAG_NAME_BYTES) throw badJson(`Tag names may not exceed ${MAX_TAG_NAME_BYTES} bytes`);
    checkTag(tag, info);
  }
}

/** spec: event-schemas m.ignored_user_list: `ignored_users` maps user IDs to (empty) objects. */
function checkIgnoredUserList(content: JsonObject): void {
  const users = content.ignored_users;
  if (!isObject(users)) throw badJson('`ignored_users` must be an object mapping user IDs to objects');
  for (const [userId, value] of Object.entries(users)) {
    if (!isValidUserId(userId, { historical: true })) throw badJson(`${JSON.stringify(userId)} in \`ignored_users\` is not a valid user ID`);
    if (!isObject(value)) throw badJson(`The value for ${userId} in \`ignored_users\` must be an object`);
  }
}
