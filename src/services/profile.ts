// Profiles: displayname, avatar_url, m.tz and custom fields, and the propagation of a new
// displayname or avatar_url to the user's member event in every room they are joined to.
// spec: client-server-api "Profiles", "Events on Change of Profile Information"
import type { Logger } from 'pino';
import { canonicalJson } from '../core/json.js';
import { stateKey, type JsonObject, type JsonValue } from '../core/pdu.js';
import { MatrixError, badJson, missingParam, notFound } from '../errors.js';
import type { Storage } from '../storage/index.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { RoomPipeline } from './rooms/pipeline.js';

/** The fields kept in the `profiles` table and copied into member events. */
export type MemberProfileField = 'displayname' | 'avatar_url';
const MEMBER_FIELDS: readonly string[] = ['displayname', 'avatar_url'];

/**
 * spec: PUT /profile/{userId}/{keyName}: the defined keys, or a custom key in the Common
 * Namespaced Identifier Grammar (lower-case, namespaced with dots; `-` as the grammar allows).
 */
const PROFILE_KEY = /^(?:avatar_url|displayname|m\.tz|[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)+)$/;
const MAX_KEY_BYTES = 255;
/** spec: "the total profile MUST be under 64 KiB". */
const MAX_PROFILE_BYTES = 64 * 1024;
const MAX_DISPLAYNAME_LENGTH = 256;
const MAX_AVATAR_URL_LENGTH = 1024;
const MXC_URI = /^mxc:\/\/[^/]+\/[A-Za-z0-9_-]+$/;

/** Member event keys that belong to the original membership change, not to the profile. */
const NOT_CARRIED_OVER = ['reason', 'join_authorised_via_users_server', 'third_party_invite', 'is_direct'];

/** M_KEY_TOO_LARGE for a key over 255 bytes, M_INVALID_PARAM for one outside the grammar. */
export function checkProfileKey(key: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new MatrixError('M_KEY_TOO_LARGE', `Profile keys may not exceed ${MAX_KEY_BYTES} bytes`, 400);
  if (!PROFILE_KEY.test(key)) throw new MatrixError('M_INVALID_PARAM', `Invalid profile key ${JSON.stringify(key)}`, 400);
}

export class ProfileService {
  /** One profile change at a time per user: the size check and the member events stay in order. */
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly storage: Storage,
    private readonly pipeline: RoomPipeline,
    private readonly log: Logger,
  ) {}

  /** The whole profile, without unset fields; M_NOT_FOUND for an unknown user. */
  async profile(userId: string): Promise<JsonObject> {
    const base = await this.storage.accounts.getProfile(userId);
    if (!base) throw notFound('Profile not found');
    const out: JsonObject = {};
    if (base.displayname !== null) out.displayname = base.displayname;
    if (base.avatar_url !== null) out.avatar_url = base.avatar_url;
    for (const [k, v] of await this.storage.profileFields.fields(userId)) out[k] = v;
    return out;
  }

  /** One field; M_NOT_FOUND when the user does not exist or the field is not set. */
  async field(userId: string, key: string): Promise<JsonValue> {
    checkProfileKey(key);
    const profile = await this.profile(userId);
    if (!Object.hasOwn(profile, key)) throw notFound(`No ${key} set`);
    return profile[key];
  }

  /** PUT /profile/{userId}/{keyName}: `body` must hold `key`. */
  async setField(userId: string, key: string, body: JsonObject): Promise<void> {
    checkProfileKey(key);
    if (!Object.hasOwn(body, key)) throw missingParam(`Missing field \`${key}\``);
    const value = body[key];
    checkValue(key, value);
    await this.locks.run(userId, async () => {
      const profile = await this.profile(userId);
      const next = { ...profile, [key]: value };
      if (value === null && MEMBER_FIELDS.includes(key)) delete next[key];
      if (Buffer.byteLength(JSON.stringify(next), 'utf8') >= MAX_PROFILE_BYTES) {
        throw new MatrixError('M_PROFILE_TOO_LARGE', `The profile may not exceed ${MAX_PROFILE_BYTES} bytes`, 400);
      }
      if (MEMBER_FIELDS.includes(key)) {
        await this.storage.accounts.setProfileField(userId, key as MemberProfileField, value as string | null);
        await this.propagate(userId);
      } else {
        await this.storage.profileFields.set(userId, key, value);
      }
    });
  }

  /** DELETE /profile/{userId}/{keyName}: removing an unset field is not an error. */
  async deleteField(userId: string, key: string): Promise<void> {
    checkProfileKey(key);
    await this.locks.run(userId, async () => {
      await this.profile(userId);
      if (MEMBER_FIELDS.includes(key)) {
        await this.storage.accounts.setProfileField(userId, key as MemberProfileField, null);
        await this.propagate(userId);
      } else {
        await this.storage.profileFields.delete(userId, key);
      }
    });
  }

  /**
   * Sends a new join event with the current displayname and avatar_url to every room the user
   * is joined to (content otherwise kept from their current member event). A room that refuses
   * it is logged and skipped: the profile itself has changed either way.
   */
  private async propagate(userId: string): Promise<void> {
    const profile = await this.storage.accounts.getProfile(userId);
    if (!profile) return;
    for (const roomId of await this.storage.rooms.roomsWithMembership(userId, 'join')) {
      try {
        const state = await this.storage.events.currentState(roomId);
        const nid = state.get(stateKey('m.room.member', userId));
        const current = nid === undefined ? undefined : (await this.storage.events.getEventsByNid([nid])).get(nid);
        if (!current || current.event.content.membership !== 'join') continue;
        const content: JsonObject = { ...current.event.content };
        for (const k of NOT_CARRIED_OVER) delete content[k];
        for (const field of MEMBER_FIELDS as MemberProfileField[]) {
          if (profile[field] === null) delete content[field];
          else content[field] = profile[field];
        }
        if (sameJson(content, current.event.content)) continue;
        await this.pipeline.send(roomId, { type: 'm.room.member', state_key: userId, sender: userId, content });
      } catch (err) {
        this.log.warn({ err, room_id: roomId, user_id: userId }, 'could not update the member event after a profile change');
      }
    }
  }
}

/** spec: PUT /profile/{userId}/{keyName}: displayname a string, avatar_url an MXC URI, m.tz a string. */
function checkValue(key: string, value: JsonValue): void {
  if (!canonicalJson(value).ok) throw badJson(`\`${key}\` is not valid JSON for a profile`);
  switch (key) {
    case 'displayname':
      if (value !== null && (typeof value !== 'string' || value.length > MAX_DISPLAYNAME_LENGTH)) {
        throw badJson(`\`displayname\` must be a string of at most ${MAX_DISPLAYNAME_LENGTH} characters`);
      }
      break;
    case 'avatar_url':
      if (value !== null && (typeof value !== 'string' || value.length > MAX_AVATAR_URL_LENGTH)) throw badJson('`avatar_url` must be a string');
      if (typeof value === 'string' && !MXC_URI.test(value)) throw new MatrixError('M_INVALID_PARAM', '`avatar_url` must be an mxc:// URI', 400);
      break;
    case 'm.tz':
      if (typeof value !== 'string') throw badJson('`m.tz` must be a string');
      break;
  }
}

function sameJson(a: JsonObject, b: JsonObject): boolean {
  const x = canonicalJson(a);
  const y = canonicalJson(b);
  return x.ok && y.ok && x.value === y.value;
}
