// Configuration: one YAML file, overridable by WEFT_* environment variables.
// Every option is documented with its default in docs/configuration.md.
import { readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { DEFAULT_IP_DENYLIST, parseCidr } from './services/net/ip-policy.js';
import { isValidRoomId } from './core/identifiers.js';

export type Resource = 'client' | 'federation' | 'keys' | 'media' | 'admin' | 'health' | 'metrics';
export const RESOURCES: readonly Resource[] = ['client', 'federation', 'keys', 'media', 'admin', 'health', 'metrics'];

export interface ListenerConfig {
  port: number;
  bind_address: string;
  tls: { certificate_path: string; private_key_path: string } | null;
  resources: Resource[];
}

export interface RateLimit { per_second: number; burst: number }

export type ThumbnailMethod = 'crop' | 'scale';
export interface ThumbnailSize { width: number; height: number; method: ThumbnailMethod }

export interface Config {
  server_name: string;
  public_baseurl: string;
  listeners: ListenerConfig[];
  database: {
    engine: 'sqlite' | 'postgres';
    path: string;
    url: string | null;
    pool_size: number;
  };
  registration: {
    mode: 'open' | 'token' | 'closed';
    shared_secret: string | null;
    allow_guests: boolean;
  };
  session: {
    refreshable_access_token_lifetime_ms: number;
    refresh_token_lifetime_ms: number | null;
    login_token_lifetime_ms: number;
    uia_session_lifetime_ms: number;
  };
  rate_limits: {
    enabled: boolean;
    client: RateLimit;
    login: RateLimit;
    registration: RateLimit;
  };
  presence: {
    enabled: boolean;
    idle_timeout_ms: number;
    /** A user whose syncs marked them online goes offline this long after their last sync ends. */
    offline_after_sync_ms: number;
  };
  max_request_body_bytes: number;
  log_level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  media_path: string;
  /** The media repository (spec: client-server-api modules/content_repo). */
  media: {
    max_upload_bytes: number;
    user_quota_bytes: number | null;
    max_image_pixels: number;
    thumbnail_sizes: ThumbnailSize[];
    legacy_unauthenticated_endpoints: boolean;
    pending_upload_lifetime_ms: number;
    max_pending_uploads: number;
  };
  /** URL previews (GET /_matrix/client/v1/media/preview_url). */
  url_preview: {
    enabled: boolean;
    ip_range_denylist: string[];
    ip_range_allowlist: string[];
    max_body_bytes: number;
    timeout_ms: number;
    max_redirects: number;
    cache_lifetime_ms: number;
  };
  /** Federation (spec: server-server-api): TLS trust, the outbound IP policy, key servers, retries. */
  federation: {
    trusted_ca_path: string | null;
    ip_range_denylist: string[];
    ip_range_allowlist: string[];
    trusted_key_servers: Array<{ server_name: string; verify_keys: Record<string, string> }>;
    old_verify_keys: Record<string, { key: string; expired_ts: number }>;
    request_timeout_ms: number;
    backoff_base_ms: number;
    backoff_max_ms: number;
  };
  signing_key_path: string;
  well_known: { client_base_url: string | null; server: string | null };
  /** TURN server credentials handed to clients (GET /voip/turnServer), coturn `use-auth-secret` style. */
  turn: {
    uris: string[];
    shared_secret: string | null;
    user_lifetime_ms: number;
    allow_guests: boolean;
  };
  /** Push rules and push gateway delivery (spec: client-server-api modules/push, push-gateway-api). */
  push: {
    include_content: boolean;
    allow_http_gateways: boolean;
    legacy_mention_rules: boolean;
    timeout_ms: number;
    max_attempts: number;
    retry_initial_ms: number;
    retry_max_ms: number;
    ip_range_denylist: string[];
    ip_range_allowlist: string[];
  };
  /**
   * This server acting as a Policy Server for rooms that name it in m.room.policy (spec:
   * server-server-api "Policy Servers"): it signs events unless their sender, the sender's server
   * or the room is banned (recommendation m.ban) by a moderation policy list in `ban_lists`.
   */
  policy_server: {
    enabled: boolean;
    signing_key_path: string;
    ban_lists: string[];
  };
}

export class ConfigError extends Error {
  constructor(readonly option: string, problem: string) {
    super(`config option \`${option}\`: ${problem}`);
    this.name = 'ConfigError';
  }
}

export function defaultConfig(): Config {
  return {
    server_name: 'localhost',
    public_baseurl: '',
    listeners: [{ port: 8008, bind_address: '127.0.0.1', tls: null, resources: ['client', 'federation', 'keys', 'media', 'admin', 'health'] }],
    database: { engine: 'sqlite', path: './data/weft.db', url: null, pool_size: 10 },
    registration: { mode: 'closed', shared_secret: null, allow_guests: false },
    session: {
      refreshable_access_token_lifetime_ms: 5 * 60_000,
      refresh_token_lifetime_ms: null,
      login_token_lifetime_ms: 2 * 60_000,
      uia_session_lifetime_ms: 15 * 60_000,
    },
    rate_limits: {
      enabled: true,
      client: { per_second: 50, burst: 300 },
      login: { per_second: 0.5, burst: 10 },
      registration: { per_second: 0.5, burst: 10 },
    },
    presence: { enabled: true, idle_timeout_ms: 5 * 60_000, offline_after_sync_ms: 30_000 },
    max_request_body_bytes: 1024 * 1024,
    log_level: 'info',
    media_path: './data/media',
    media: {
      max_upload_bytes: 50 * 1024 * 1024,
      user_quota_bytes: null,
      max_image_pixels: 32_000_000,
      // spec: content_repo "Thumbnails": the sizes servers SHOULD produce
      thumbnail_sizes: [
        { width: 32, height: 32, method: 'crop' },
        { width: 96, height: 96, method: 'crop' },
        { width: 320, height: 240, method: 'scale' },
        { width: 640, height: 480, method: 'scale' },
        { width: 800, height: 600, method: 'scale' },
      ],
      legacy_unauthenticated_endpoints: false,
      pending_upload_lifetime_ms: 24 * 60 * 60_000,
      max_pending_uploads: 10,
    },
    url_preview: {
      enabled: false,
      ip_range_denylist: [...DEFAULT_IP_DENYLIST],
      ip_range_allowlist: [],
      max_body_bytes: 10 * 1024 * 1024,
      timeout_ms: 10_000,
      max_redirects: 5,
      cache_lifetime_ms: 60 * 60_000,
    },
    federation: {
      trusted_ca_path: null,
      ip_range_denylist: [...DEFAULT_IP_DENYLIST],
      ip_range_allowlist: [],
      trusted_key_servers: [],
      old_verify_keys: {},
      request_timeout_ms: 30_000,
      backoff_base_ms: 5_000,
      backoff_max_ms: 60 * 60_000,
    },
    signing_key_path: './data/signing.key',
    well_known: { client_base_url: null, server: null },
    turn: { uris: [], shared_secret: null, user_lifetime_ms: 24 * 60 * 60_000, allow_guests: true },
    push: { include_content: true, allow_http_gateways: false, legacy_mention_rules: true, timeout_ms: 10_000, max_attempts: 6, retry_initial_ms: 2_000, retry_max_ms: 10 * 60_000,
      ip_range_denylist: [...DEFAULT_IP_DENYLIST], ip_range_allowlist: [] },
    policy_server: { enabled: false, signing_key_path: './data/policy_server.key', ban_lists: [] },
  };
}

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Overlays `over` onto `base`: objects merge key by key, everything else replaces. */
function merge(base: unknown, over: unknown): unknown {
  if (isPlain(base) && isPlain(over)) {
    const out: Plain = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? merge(base[k], v) : v;
    return out;
  }
  return over === undefined ? base : over;
}

/**
 * WEFT_SERVER_NAME=example.org, WEFT_DATABASE__URL=postgres://..., WEFT_LISTENERS__0__PORT=8448:
 * the path is the option's lower-cased name with `__` between levels; values are read as YAML scalars.
 */
export function applyEnvironment(raw: Plain, env: NodeJS.ProcessEnv): Plain {
  const out = structuredClone(raw);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('WEFT_') || value === undefined || name === 'WEFT_CONFIG') continue;
    if (name.startsWith('WEFT_TEST_')) continue;
    const path = name.slice(5).toLowerCase().split('__');
    let node: Plain | unknown[] = out;
    for (let i = 0; i < path.length - 1; i++) {
      const key = path[i];
      const next = (node as Plain)[key];
      if (typeof next !== 'object' || next === null) {
        (node as Plain)[key] = /^\d+$/.test(path[i + 1]) ? [] : {};
      }
      node = (node as Plain)[key] as Plain;
    }
    (node as Plain)[path[path.length - 1]] = YAML.parse(value);
  }
  return out;
}

// ---- validation: each check names the option and what is wrong with it ----

function describe(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}
function str(v: unknown, option: string, nonEmpty = true): string {
  if (typeof v !== 'string' || (nonEmpty && v.length === 0)) throw new ConfigError(option, `must be a non-empty string (got ${describe(v)})`);
  return v;
}
function optStr(v: unknown, option: string): string | null {
  return v === null || v === undefined ? null : str(v, option);
}
function int(v: unknown, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(option, `must be an integer from ${min} to ${max} (got ${describe(v)})`);
  }
  return v;
}
function positive(v: unknown, option: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(option, `must be a positive number (got ${describe(v)})`);
  return v;
}
function bool(v: unknown, option: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(option, `must be true or false (got ${describe(v)})`);
  return v;
}
function oneOf<T extends string>(v: unknown, option: string, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) {
    throw new ConfigError(option, `must be one of ${allowed.join(', ')} (got ${describe(v)})`);
  }
  return v as T;
}
function obj(v: unknown, option: string): Plain {
  if (!isPlain(v)) throw new ConfigError(option, `must be a mapping (got ${describe(v)})`);
  return v;
}
function noUnknownKeys(v: Plain, option: string, known: object): void {
  for (const k of Object.keys(v)) {
    if (!(k in known)) throw new ConfigError(option ? `${option}.${k}` : k, 'is not a known option');
  }
}

// spec: appendices "Server name": hostname, IPv4 literal or [IPv6 literal], optional port.
const SERVER_NAME = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(?::\d{1,5})?$/;

/** A list of CIDR ranges (the ip_range_* options), each checked; errors name the option and entry. */
function ipRanges(list: unknown, option: string): string[] {
  if (!Array.isArray(list)) throw new ConfigError(option, `must be a list of IP ranges (got ${describe(list)})`);
  return list.map((r, i) => {
    const range = str(r, `${option}[${i}]`);
    try { parseCidr(range); } catch (err) { throw new ConfigError(`${option}[${i}]`, (err as Error).message); }
    return range;
  });
}

export function validateConfig(raw: unknown, baseDir = process.cwd()): Config {
  const d = defaultConfig();
  const c = obj(merge(d, raw ?? {}), '(top level)');
  noUnknownKeys(c, '', d);

  const server_name = str(c.server_name, 'server_name');
  if (!SERVER_NAME.test(server_name)) throw new ConfigError('server_name', `is not a valid server name (got ${describe(server_name)})`);

  if (!Array.isArray(c.listeners) || c.listeners.length === 0) throw new ConfigError('listeners', 'must be a non-empty list');
  const listeners = c.listeners.map((l, i): ListenerConfig => {
    const o = `listeners[${i}]`;
    const lo = obj(l, o);
    noUnknownKeys(lo, o, d.listeners[0]);
    const tlsRaw = lo.tls ?? null;
    let tls: ListenerConfig['tls'] = null;
    if (tlsRaw !== null) {
      const t = obj(tlsRaw, `${o}.tls`);
      tls = {
        certificate_path: resolve(baseDir, str(t.certificate_path, `${o}.tls.certificate_path`)),
        private_key_path: resolve(baseDir, str(t.private_key_path, `${o}.tls.private_key_path`)),
      };
    }
    const resources = lo.resources ?? d.listeners[0].resources;
    if (!Array.isArray(resources) || resources.length === 0) throw new ConfigError(`${o}.resources`, 'must be a non-empty list');
    return {
      port: int(lo.port, `${o}.port`, 0, 65535),
      bind_address: str(lo.bind_address ?? '127.0.0.1', `${o}.bind_address`),
      tls,
      resources: resources.map((r, j) => oneOf(r, `${o}.resources[${j}]`, RESOURCES)),
    };
  });

  const db = obj(c.database, 'database');
  noUnknownKeys(db, 'database', d.database);
  const engine = oneOf(db.engine, 'database.engine', ['sqlite', 'postgres'] as const);
  const url = optStr(db.url, 'database.url');
  if (engine === 'postgres' && !url) throw new ConfigError('database.url', 'is required when database.engine is postgres');
  if (url && !/^postgres(ql)?:\/\//.test(url)) throw new ConfigError('database.url', 'must be a postgres:// or postgresql:// URL');

  const reg = obj(c.registration, 'registration');
  noUnknownKeys(reg, 'registration', d.registration);
  const sess = obj(c.session, 'session');
  noUnknownKeys(sess, 'session', d.session);
  const rl = obj(c.rate_limits, 'rate_limits');
  noUnknownKeys(rl, 'rate_limits', d.rate_limits);
  const limit = (name: 'client' | 'login' | 'registration'): RateLimit => {
    const o = obj(rl[name], `rate_limits.${name}`);
    noUnknownKeys(o, `rate_limits.${name}`, d.rate_limits.client);
    return { per_second: positive(o.per_second, `rate_limits.${name}.per_second`), burst: int(o.burst, `rate_limits.${name}.burst`, 1) };
  };
  const presence = obj(c.presence, 'presence');
  noUnknownKeys(presence, 'presence', d.presence);
  const wk = obj(c.well_known, 'well_known');
  noUnknownKeys(wk, 'well_known', d.well_known);
  const turn = obj(c.turn, 'turn');
  noUnknownKeys(turn, 'turn', d.turn);
  if (!Array.isArray(turn.uris)) throw new ConfigError('turn.uris', `must be a list (got ${describe(turn.uris)})`);
  const turnUris = turn.uris.map((u, i) => {
    const uri = str(u, `turn.uris[${i}]`);
    if (!/^turns?:/.test(uri)) throw new ConfigError(`turn.uris[${i}]`, `must be a turn: or turns: URI (got ${describe(uri)})`);
    return uri;
  });
  const turnSecret = optStr(turn.shared_secret, 'turn.shared_secret');
  if (turnUris.length > 0 && turnSecret === null) throw new ConfigError('turn.shared_secret', 'is required when turn.uris is set');
  const push = obj(c.push, 'push');
  noUnknownKeys(push, 'push', d.push);
  const pushRetryInitial = int(push.retry_initial_ms, 'push.retry_initial_ms', 1);
  const pushCidrs = (name: 'ip_range_denylist' | 'ip_range_allowlist'): string[] => ipRanges(push[name], `push.${name}`);
  const policyServer = obj(c.policy_server, 'policy_server');
  noUnknownKeys(policyServer, 'policy_server', d.policy_server);
  if (!Array.isArray(policyServer.ban_lists)) throw new ConfigError('policy_server.ban_lists', `must be a list of room IDs (got ${describe(policyServer.ban_lists)})`);
  const banLists = policyServer.ban_lists.map((r, i) => {
    const roomId = str(r, `policy_server.ban_lists[${i}]`);
    if (!isValidRoomId(roomId)) throw new ConfigError(`policy_server.ban_lists[${i}]`, `${JSON.stringify(roomId)} is not a room ID`);
    return roomId;
  });

  const firstClient = listeners.find((l) => l.resources.includes('client')) ?? listeners[0];
  let public_baseurl = c.public_baseurl === '' || c.public_baseurl == null
    ? `${firstClient.tls ? 'https' : 'http'}://${server_name === 'localhost' ? '127.0.0.1' : server_name}:${firstClient.port}/`
    : str(c.public_baseurl, 'public_baseurl');
  try {
    const u = new URL(public_baseurl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new ConfigError('public_baseurl', `must be an http(s) URL (got ${describe(public_baseurl)})`);
  }
  if (!public_baseurl.endsWith('/')) public_baseurl += '/';

  const federation = validateFederation(obj(c.federation, 'federation'), d.federation, baseDir);

  const media = obj(c.media, 'media');
  noUnknownKeys(media, 'media', d.media);
  if (!Array.isArray(media.thumbnail_sizes) || media.thumbnail_sizes.length === 0) {
    throw new ConfigError('media.thumbnail_sizes', `must be a non-empty list (got ${describe(media.thumbnail_sizes)})`);
  }
  const thumbnailSizes = media.thumbnail_sizes.map((t, i): ThumbnailSize => {
    const o = `media.thumbnail_sizes[${i}]`;
    const to = obj(t, o);
    noUnknownKeys(to, o, d.media.thumbnail_sizes[0]);
    return { width: int(to.width, `${o}.width`, 1, 4096), height: int(to.height, `${o}.height`, 1, 4096), method: oneOf(to.method, `${o}.method`, ['crop', 'scale'] as const) };
  });
  const quota = media.user_quota_bytes;
  const preview = obj(c.url_preview, 'url_preview');
  noUnknownKeys(preview, 'url_preview', d.url_preview);
  const cidrs = (name: 'ip_range_denylist' | 'ip_range_allowlist'): string[] => ipRanges(preview[name], `url_preview.${name}`);

  const refreshLifetime = sess.refresh_token_lifetime_ms;
  return {
    server_name,
    public_baseurl,
    listeners,
    database: {
      engine,
      path: resolve(baseDir, str(db.path, 'database.path')),
      url,
      pool_size: int(db.pool_size, 'database.pool_size', 1, 1000),
    },
    registration: {
      mode: oneOf(reg.mode, 'registration.mode', ['open', 'token', 'closed'] as const),
      shared_secret: optStr(reg.shared_secret, 'registration.shared_secret'),
      allow_guests: bool(reg.allow_guests, 'registration.allow_guests'),
    },
    session: {
      refreshable_access_token_lifetime_ms: int(sess.refreshable_access_token_lifetime_ms, 'session.refreshable_access_token_lifetime_ms', 1000),
      refresh_token_lifetime_ms: refreshLifetime === null ? null : int(refreshLifetime, 'session.refresh_token_lifetime_ms', 1000),
      login_token_lifetime_ms: int(sess.login_token_lifetime_ms, 'session.login_token_lifetime_ms', 1000),
      uia_session_lifetime_ms: int(sess.uia_session_lifetime_ms, 'session.uia_session_lifetime_ms', 1000),
    },
    rate_limits: { enabled: bool(rl.enabled, 'rate_limits.enabled'), client: limit('client'), login: limit('login'), registration: limit('registration') },
    presence: {
      enabled: bool(presence.enabled, 'presence.enabled'),
      idle_timeout_ms: int(presence.idle_timeout_ms, 'presence.idle_timeout_ms', 100),
      offline_after_sync_ms: int(presence.offline_after_sync_ms, 'presence.offline_after_sync_ms', 100),
    },
    max_request_body_bytes: int(c.max_request_body_bytes, 'max_request_body_bytes', 1024),
    log_level: oneOf(c.log_level, 'log_level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    media_path: resolve(baseDir, str(c.media_path, 'media_path')),
    media: {
      max_upload_bytes: int(media.max_upload_bytes, 'media.max_upload_bytes', 1),
      user_quota_bytes: quota === null ? null : int(quota, 'media.user_quota_bytes', 1),
      max_image_pixels: int(media.max_image_pixels, 'media.max_image_pixels', 1),
      thumbnail_sizes: thumbnailSizes,
      legacy_unauthenticated_endpoints: bool(media.legacy_unauthenticated_endpoints, 'media.legacy_unauthenticated_endpoints'),
      pending_upload_lifetime_ms: int(media.pending_upload_lifetime_ms, 'media.pending_upload_lifetime_ms', 1000),
      max_pending_uploads: int(media.max_pending_uploads, 'media.max_pending_uploads', 1),
    },
    url_preview: {
      enabled: bool(preview.enabled, 'url_preview.enabled'),
      ip_range_denylist: cidrs('ip_range_denylist'),
      ip_range_allowlist: cidrs('ip_range_allowlist'),
      max_body_bytes: int(preview.max_body_bytes, 'url_preview.max_body_bytes', 1024),
      timeout_ms: int(preview.timeout_ms, 'url_preview.timeout_ms', 100),
      max_redirects: int(preview.max_redirects, 'url_preview.max_redirects', 0, 20),
      cache_lifetime_ms: int(preview.cache_lifetime_ms, 'url_preview.cache_lifetime_ms', 0),
    },
    federation,
    signing_key_path: resolve(baseDir, str(c.signing_key_path, 'signing_key_path')),
    well_known: {
      client_base_url: optStr(wk.client_base_url, 'well_known.client_base_url'),
      server: optStr(wk.server, 'well_known.server'),
    },
    turn: {
      uris: turnUris,
      shared_secret: turnSecret,
      user_lifetime_ms: int(turn.user_lifetime_ms, 'turn.user_lifetime_ms', 1000),
      allow_guests: bool(turn.allow_guests, 'turn.allow_guests'),
    },
    push: {
      include_content: bool(push.include_content, 'push.include_content'),
      allow_http_gateways: bool(push.allow_http_gateways, 'push.allow_http_gateways'),
      legacy_mention_rules: bool(push.legacy_mention_rules, 'push.legacy_mention_rules'),
      timeout_ms: int(push.timeout_ms, 'push.timeout_ms', 100),
      max_attempts: int(push.max_attempts, 'push.max_attempts', 1, 100),
      retry_initial_ms: pushRetryInitial,
      retry_max_ms: int(push.retry_max_ms, 'push.retry_max_ms', pushRetryInitial),
      ip_range_denylist: pushCidrs('ip_range_denylist'),
      ip_range_allowlist: pushCidrs('ip_range_allowlist'),
    },
    policy_server: {
      enabled: bool(policyServer.enabled, 'policy_server.enabled'),
      signing_key_path: resolve(baseDir, str(policyServer.signing_key_path, 'policy_server.signing_key_path')),
      ban_lists: banLists,
    },
  };
}

function validateFederation(f: Plain, d: Config['federation'], baseDir: string): Config['federation'] {
  noUnknownKeys(f, 'federation', d);
  const caPath = optStr(f.trusted_ca_path, 'federation.trusted_ca_path');
  const trusted_ca_path = caPath === null ? null : resolve(baseDir, caPath);
  if (trusted_ca_path !== null && !existsSync(trusted_ca_path)) throw new ConfigError('federation.trusted_ca_path', `no such file ${trusted_ca_path}`);
  const cidrs = (name: 'ip_range_denylist' | 'ip_range_allowlist'): string[] => ipRanges(f[name], `federation.${name}`);
  const keyId = /^ed25519:[a-zA-Z0-9_]+$/;
  const base64Key = (v: unknown, option: string): string => {
    const k = str(v, option);
    if (!/^[A-Za-z0-9+/]{43}$/.test(k)) throw new ConfigError(option, 'must be an unpadded base64 ed25519 public key (43 characters)');
    return k;
  };
  if (!Array.isArray(f.trusted_key_servers)) throw new ConfigError('federation.trusted_key_servers', `must be a list (got ${describe(f.trusted_key_servers)})`);
  const trusted_key_servers = f.trusted_key_servers.map((t, i) => {
    const o = `federation.trusted_key_servers[${i}]`;
    const to = obj(t, o);
    noUnknownKeys(to, o, { server_name: 0, verify_keys: 0 });
    const server_name = str(to.server_name, `${o}.server_name`);
    if (!SERVER_NAME.test(server_name)) throw new ConfigError(`${o}.server_name`, `is not a valid server name (got ${describe(server_name)})`);
    const vk = obj(to.verify_keys, `${o}.verify_keys`);
    if (Object.keys(vk).length === 0) throw new ConfigError(`${o}.verify_keys`, 'must name at least one key');
    const verify_keys: Record<string, string> = {};
    for (const [id, key] of Object.entries(vk)) {
      if (!keyId.test(id)) throw new ConfigError(`${o}.verify_keys.${id}`, 'is not an ed25519 key ID (ed25519:<version>)');
      verify_keys[id] = base64Key(key, `${o}.verify_keys.${id}`);
    }
    return { server_name, verify_keys };
  });
  const old = obj(f.old_verify_keys, 'federation.old_verify_keys');
  const old_verify_keys: Config['federation']['old_verify_keys'] = {};
  for (const [id, v] of Object.entries(old)) {
    const o = `federation.old_verify_keys.${id}`;
    if (!keyId.test(id)) throw new ConfigError(o, 'is not an ed25519 key ID (ed25519:<version>)');
    const vo = obj(v, o);
    noUnknownKeys(vo, o, { key: 0, expired_ts: 0 });
    old_verify_keys[id] = { key: base64Key(vo.key, `${o}.key`), expired_ts: int(vo.expired_ts, `${o}.expired_ts`, 0) };
  }
  const backoff_base_ms = int(f.backoff_base_ms, 'federation.backoff_base_ms', 10);
  const backoff_max_ms = int(f.backoff_max_ms, 'federation.backoff_max_ms', 10);
  if (backoff_max_ms < backoff_base_ms) throw new ConfigError('federation.backoff_max_ms', 'must not be less than federation.backoff_base_ms');
  return {
    trusted_ca_path,
    ip_range_denylist: cidrs('ip_range_denylist'),
    ip_range_allowlist: cidrs('ip_range_allowlist'),
    trusted_key_servers,
    old_verify_keys,
    request_timeout_ms: int(f.request_timeout_ms, 'federation.request_timeout_ms', 100),
    backoff_base_ms,
    backoff_max_ms,
  };
}

/** Reads the YAML file (if it exists), applies WEFT_* variables, and validates. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let raw: unknown = {};
  if (existsSync(path)) {
    try {
      raw = YAML.parse(readFileSync(path, 'utf8')) ?? {};
    } catch (err) {
      throw new ConfigError('(file)', `${path} is not valid YAML: ${(err as Error).message}`);
    }
    if (!isPlain(raw)) throw new ConfigError('(top level)', `${path} must contain a mapping of options`);
  }
  return validateConfig(applyEnvironment(raw as Plain, env), dirname(resolve(path)));
}

/** The file `generate-config` writes: the defaults, with a fresh registration shared secret. */
export function generateConfigText(serverName = 'localhost'): string {
  const d = defaultConfig();
  const doc = {
    server_name: serverName,
    listeners: d.listeners,
    database: { engine: d.database.engine, path: './weft.db' },
    registration: { mode: d.registration.mode, shared_secret: randomBytes(32).toString('base64url'), allow_guests: false },
    log_level: d.log_level,
    media_path: './media',
    signing_key_path: `./${serverName.replace(/[^A-Za-z0-9.-]/g, '_')}.signing.key`,
  };
  return `# Weft configuration. Every option, with its default, is described in docs/configuration.md.\n` +
    `# Relative paths are relative to this file's folder.\n${YAML.stringify(doc)}`;
}

export function writeConfigIfMissing(path: string, serverName?: string): boolean {
  if (existsSync(path)) return false;
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, generateConfigText(serverName), { mode: 0o600 });
  return true;
}
