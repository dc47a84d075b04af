// TURN server credentials for VoIP calls, in the form coturn's `use-auth-secret` checks (the
// "TURN REST API"): username `<expiry unix seconds>:<user ID>`, password
// base64(HMAC-SHA1(shared secret, username)). spec: client-server-api modules/voip_events
import { createHmac } from 'node:crypto';
import type { Config } from '../config.js';

export interface TurnCredentials { username: string; password: string; uris: string[]; ttl: number }

/** Credentials valid for `turn.user_lifetime_ms`, or null when no TURN server is configured. */
export function turnCredentials(turn: Config['turn'], userId: string, now: number): TurnCredentials | null {
  if (turn.uris.length === 0 || turn.shared_secret === null) return null;
  const expiry = Math.floor((now + turn.user_lifetime_ms) / 1000);
  const username = `${expiry}:${userId}`;
  const password = createHmac('sha1', turn.shared_secret).update(username).digest('base64');
  return { username, password, uris: [...turn.uris], ttl: Math.floor(turn.user_lifetime_ms / 1000) };
}
