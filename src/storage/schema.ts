// Table types for Kysely. Booleans are stored as 0/1 integers and timestamps as
// milliseconds since the epoch in BIGINT columns, the same on both databases.

export interface UsersTable {
  user_id: string;
  password_hash: string | null;
  is_admin: number;
  is_guest: number;
  deactivated: number;
  created_ts: number;
}

export interface ProfilesTable {
  user_id: string;
  displayname: string | null;
  avatar_url: string | null;
}

export interface DevicesTable {
  user_id: string;
  device_id: string;
  display_name: string | null;
  last_seen_ts: number | null;
  last_seen_ip: string | null;
  created_ts: number;
}

export interface AccessTokensTable {
  token_hash: string;
  user_id: string;
  device_id: string;
  expires_ts: number | null;
  refresh_token_hash: string | null;
  created_ts: number;
}

export interface RefreshTokensTable {
  token_hash: string;
  user_id: string;
  device_id: string;
  expires_ts: number | null;
  /** Set once this token has been exchanged; the old token stays valid until the new one is used. */
  next_token_hash: string | null;
  created_ts: number;
}

export interface LoginTokensTable {
  token_hash: string;
  user_id: string;
  expires_ts: number;
}

export interface UiaSessionsTable {
  session_id: string;
  user_id: string | null;
  method: string;
  path: string;
  completed: string; // JSON array of completed stage types
  created_ts: number;
  /** What a completed stage produced that the endpoint needs (e.g. the registration token used). */
  data: string; // JSON object
}

export interface RegistrationTokensTable {
  token: string;
  uses_allowed: number | null;
  pending: number;
  completed: number;
  expiry_ts: number | null;
}

export interface RegistrationNoncesTable {
  nonce: string;
  created_ts: number;
}

export interface Schema {
  users: UsersTable;
  profiles: ProfilesTable;
  devices: DevicesTable;
  access_tokens: AccessTokensTable;
  refresh_tokens: RefreshTokensTable;
  login_tokens: LoginTokensTable;
  uia_sessions: UiaSessionsTable;
  registration_tokens: RegistrationTokensTable;
  registration_nonces: RegistrationNoncesTable;
}
