// Pushers: POST /pushers/set and GET /pushers. A pusher belongs to the device whose access token
// set it and goes with that device (logout, device deletion, and the devices a password change
// logs out: the same path, AccountService.deleteDevices).
// spec: client-server-api modules/push "Pushers"; data/api/client-server/pusher.yaml
import type { JsonObject, JsonValue } from '../../core/pdu.js';
import { badJson, invalidParam, missingParam } from '../../errors.js';
import type { Pusher, PusherStore } from '../../storage/push-pushers.js';
import { KeyedMutex } from '../keyed-mutex.js';
import { MAX_PUSHERS_PER_USER, PUSHERS_INFO_URI, userLimitExceeded } from './limits.js';

/** The path every HTTP pusher's URL must have (spec v1.13: "MUST be an HTTPS URL with a path of /_matrix/push/v1/notify"). */
export const NOTIFY_PATH = '/_matrix/push/v1/notify';
const MAX_PUSHKEY_BYTES = 512;
const MAX_APP_ID_CHARS = 64;

/** The body of POST /pushers/set (the schema checked the types). */
export interface SetPusherRequest {
  kind: string | null;
  app_id: string;
  pushkey: string;
  app_display_name?: string;
  device_display_name?: string;
  profile_tag?: string;
  lang?: string;
  data?: JsonObject;
  append?: boolean;
}

export class PusherService {
  private readonly perUser = new KeyedMutex();

  constructor(private readonly store: PusherStore, private readonly allowHttp: boolean, private readonly now: () => number = Date.now) {}

  async list(userId: string): Promise<JsonObject[]> {
    return (await this.store.list(userId)).map(clientPusher);
  }

  /** Creates, updates or (kind null) deletes the user's pusher with this app_id and pushkey. */
  async set(userId: string, deviceId: string | null, req: SetPusherRequest): Promise<void> {
    if (Buffer.byteLength(req.pushkey, 'utf8') > MAX_PUSHKEY_BYTES) throw invalidParam(`pushkey may not exceed ${MAX_PUSHKEY_BYTES} bytes`);
    if ([...req.app_id].length > MAX_APP_ID_CHARS) throw invalidParam(`app_id may not exceed ${MAX_APP_ID_CHARS} characters`);
    // PostgreSQL text cannot hold NUL, and no legitimate value needs one.
    for (const key of ['pushkey', 'app_id', 'app_display_name', 'device_display_name', 'profile_tag', 'lang'] as const) {
      if (req[key]?.includes('\u0000')) throw invalidParam(`${key} may not contain NUL`);
    }
    if (req.kind === null) {
      // Deleting a pusher that does not exist is no error (Synapse answers 200 too).
      await this.store.delete(userId, req.app_id, req.pushkey);
      return;
    }
    const missing = (['app_display_name', 'device_display_name', 'lang', 'data'] as const).filter((k) => req[k] === undefined);
    if (missing.length > 0) throw missingParam(`Missing parameters: ${missing.join(', ')}`);
    // Email pushers need an email sender, which Weft does not have.
    if (req.kind !== 'http') throw invalidParam(`Unsupported pusher kind ${JSON.stringify(req.kind)}: only "http" is supported`);
    const data = req.data as JsonObject;
    checkHttpData(data, this.allowHttp);
    const kind = req.kind;
    // One change of a user's pushers at a time, so that concurrent requests cannot pass the cap together.
    await this.perUser.run(userId, async () => {
      const own = await this.store.list(userId);
      const existing = own.find((p) => p.appId === req.app_id && p.pushkey === req.pushkey);
      // A new pusher must stay within the cap; replacing one is always allowed.
      if (!existing && own.length >= MAX_PUSHERS_PER_USER) {
        throw userLimitExceeded(`A user may have at most ${MAX_PUSHERS_PER_USER} pushers`, PUSHERS_INFO_URI);
      }
      await this.store.set({
        userId, deviceId, kind, appId: req.app_id, pushkey: req.pushkey, pushkeyTs: existing?.pushkeyTs ?? this.now(),
        appDisplayName: req.app_display_name as string, deviceDisplayName: req.device_display_name as string,
        profileTag: req.profile_tag ?? null, lang: req.lang as string, data,
      }, req.append === true);
    });
  }

  /** The device's pushers go with it. */
  async deleteForDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    await this.store.deleteForDevices(userId, deviceIds);
  }
}

/** `data.url`: an absolute http(s) URL with the path /_matrix/push/v1/notify; `data.format` absent or event_id_only. */
function checkHttpData(data: JsonObject, allowHttp: boolean): void {
  if (data.url === undefined) throw missingParam('`data.url` is required for an http pusher');
  if (typeof data.url !== 'string') throw badJson('`data.url` must be a string');
  let url: URL;
  try {
    url = new URL(data.url);
  } catch {
    throw invalidParam('`data.url` must be an absolute URL');
  }
  const schemes = allowHttp ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) throw invalidParam(`\`data.url\` must be an ${allowHttp ? 'http(s)' : 'https'} URL`);
  if (url.pathname !== NOTIFY_PATH) throw invalidParam(`The path of \`data.url\` must be ${NOTIFY_PATH}`);
  if (url.username !== '' || url.password !== '') throw invalidParam('`data.url` may not carry credentials');
  if (data.format !== undefined && data.format !== 'event_id_only') throw invalidParam('`data.format` must be "event_id_only" when given');
}

/** A pusher as GET /pushers lists it. */
export function clientPusher(p: Pusher): JsonObject {
  return {
    pushkey: p.pushkey, kind: p.kind, app_id: p.appId, app_display_name: p.appDisplayName, device_display_name: p.deviceDisplayName,
    ...(p.profileTag === null ? {} : { profile_tag: p.profileTag }), lang: p.lang, data: p.data as JsonValue,
  };
}

