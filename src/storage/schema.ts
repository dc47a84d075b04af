import type { ColumnType, Generated } from 'kysely';

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

export interface RoomsTable {
  room_id: string;
  room_version: string;
  creator: string;
  is_public: number;
  created_ts: number;
  current_state_group: number | null;
  forward_extremities: string;
}

export interface EventsTable {
  nid: Generated<number>;
  event_id: string;
  room_id: string;
  type: string;
  state_key: string | null;
  sender: string;
  depth: number;
  origin_server_ts: number;
  json: string;
  outlier: number;
  rejected_reason: string | null;
  soft_failed: number;
  state_group: number | null;
  replaces_state: string | null;
  txn_user_id: string | null;
  txn_device_id: string | null;
  txn_id: string | null;
  /** Migration 016: the timeline position of a backfilled event (negative), NULL for the others (position = nid). */
  backfill_pos: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface EventEdgesTable { event_nid: number; prev_event_id: string }
export interface StateKeysTable { id: Generated<number>; type: string; state_key: string }
export interface StateGroupsTable { id: Generated<number>; room_id: string; parent: number | null; chain: number }
export interface StateGroupDeltasTable { group_id: number; state_key_id: number; event_nid: number | null }
export interface CurrentStateTable { room_id: string; type: string; state_key: string; event_nid: number; membership: string | null }
export interface MembershipsTable { room_id: string; user_id: string; membership: string; event_nid: number; forgotten: number; last_join_nid: number | null }
export interface RoomAliasesTable { alias: string; room_id: string; creator: string }
export interface ReportsTable { id: Generated<number>; reporter: string; room_id: string | null; event_id: string | null; user_id: string | null; reason: string | null; score: number | null; created_ts: number }
export interface RedactionsTable { redacts: string; redaction_id: string }
export interface EventRelationsTable { event_nid: number; event_id: string; room_id: string; relates_to: string; rel_type: string; type: string; sender: string; thread_root: string | null }
export interface ThreadsTable { room_id: string; thread_root: string; latest_nid: number }
/** room_id is '' for global account data; stream_id is the position of the latest change. */
export interface AccountDataTable { stream_id: Generated<number>; user_id: string; room_id: string; type: string; content: string }
export interface ProfileFieldsTable { user_id: string; field: string; value: string }
export interface OpenIdTokensTable { token_hash: string; user_id: string; expires_ts: number }

/** The latest receipt per (room, type, user, thread); thread_id is '' when unthreaded. */
export interface ReceiptsTable { stream_id: Generated<number>; room_id: string; receipt_type: string; user_id: string; thread_id: string; event_id: string; event_nid: number; ts: number }
/** Filters uploaded by clients (POST /user/{userId}/filter); filter_hash is the SHA-256 of filter_json. */
export interface FiltersTable { filter_id: Generated<number>; user_id: string; filter_hash: string; filter_json: string }
export interface PresenceTable { stream_id: Generated<number>; user_id: string; presence: string; status_msg: string | null; last_active_ts: number | null; currently_active: number }

// End-to-end encryption (migration 008).
export interface E2eDeviceKeysTable { user_id: string; device_id: string; key_json: string }
export interface E2eOneTimeKeysTable { id: Generated<number>; user_id: string; device_id: string; algorithm: string; key_id: string; key_json: string }
export interface E2eFallbackKeysTable { user_id: string; device_id: string; algorithm: string; key_id: string; key_json: string; used: number }
export interface E2eCrossSigningKeysTable { user_id: string; key_type: string; public_key: string; key_json: string }
export interface E2eKeySignaturesTable { target_user_id: string; target_key_id: string; signer_user_id: string; signer_key_id: string; signature: string }
export interface DeviceListChangesTable { stream_id: Generated<number>; user_id: string; kind: string; device_id: string | null; room_id: string | null; audience: string | null }
export interface ToDeviceMessagesTable { stream_id: Generated<number>; user_id: string; device_id: string; sender: string; type: string; content: string }
export interface ToDeviceTxnsTable { user_id: string; device_id: string; event_type: string; txn_id: string; created_ts: number }
export interface E2eRoomKeysVersionsTable { user_id: string; version: number; algorithm: string; auth_data: string; etag: number; deleted: number }
export interface E2eRoomKeysTable { user_id: string; version: number; room_id: string; session_id: string; first_message_index: number; forwarded_count: number; is_verified: number; session_data: string }

/** What an event did for local members (migration 009): user_id '' for every member without a row of their own. */
export interface EventPushActionsTable { room_id: string; event_nid: number; user_id: string; thread_id: string; notify: number; highlight: number; actions: string }
/** Read positions without receipts: thread_id '' where the user joined, else their latest own event in the thread. */
export interface EventPushReadTable { room_id: string; user_id: string; thread_id: string; read_nid: number }
/** Cached unread counts per (room, user): counts is JSON { thread: [notifications, highlights, read position] }. */
export interface EventPushSummaryTable { room_id: string; user_id: string; counted_nid: number; counts: string }

/** Federation events (migration 014): the stripped state sent with an invite from another server. */
export interface InviteStrippedStateTable { event_id: string; state: string }

// Pushers (migration 010): one per (user, app_id, pushkey); `data` is the JSON PusherData.
export interface PushersTable {
  id: Generated<number>; user_id: string; device_id: string | null; kind: string; app_id: string; pushkey: string; pushkey_ts: number;
  app_display_name: string; device_display_name: string; profile_tag: string | null; lang: string; data: string;
}

/** Users who deactivated with erase (migrations/015-erased-users.ts). */
export interface ErasedUsersTable {
  user_id: string;
  erased_at_nid: number;
}

// Federation transport (migration 013).
export interface ServerKeysTable { server_name: string; key_id: string; verify_key: string; valid_until_ts: number | null; expired_ts: number | null; fetched_ts: number }
export interface ServerKeyResponsesTable { server_name: string; response_json: string; valid_until_ts: number; fetched_ts: number }
export interface FederationOutboxTable { id: Generated<number>; destination: string; kind: string; json: string; created_ts: number }
export interface FederationInboundTxnsTable { origin: string; txn_id: string; response_json: string; received_ts: number }
export interface FederationDestinationsTable { destination: string; failures: number; retry_after_ts: number; last_failure_ts: number }

// The media repository (migration 012).
export interface MediaTable {
  server_name: string; media_id: string; user_id: string | null; content_type: string | null; upload_name: string | null;
  size: number | null; sha256: string | null; created_ts: number; expires_ts: number | null;
}
export interface MediaThumbnailsTable {
  server_name: string; media_id: string; width: number; height: number; method: string; animated: number;
  content_type: string; actual_width: number; actual_height: number; size: number; sha256: string;
}
/** Other servers' users' keys as their servers last answered keys/query (migration 018). */
export interface RemoteKeyCacheTable {
  user_id: string; master_key: string | null; self_signing_key: string | null; stale: number; fetched_ts: number;
  /** The `stream_id` of the last m.device_list_update seen for the user (migration 019). */
  device_list_stream_id: number | null;
}
export interface RemoteDeviceKeysTable { user_id: string; device_id: string; key_json: string }
export interface UrlPreviewsTable { url: string; og: string; fetched_ts: number; expires_ts: number }

export interface Schema {
  erased_users: ErasedUsersTable;
  users: UsersTable;
  profiles: ProfilesTable;
  devices: DevicesTable;
  access_tokens: AccessTokensTable;
  refresh_tokens: RefreshTokensTable;
  login_tokens: LoginTokensTable;
  uia_sessions: UiaSessionsTable;
  registration_tokens: RegistrationTokensTable;
  registration_nonces: RegistrationNoncesTable;
  rooms: RoomsTable;
  events: EventsTable;
  event_edges: EventEdgesTable;
  state_keys: StateKeysTable;
  state_groups: StateGroupsTable;
  state_group_deltas: StateGroupDeltasTable;
  current_state: CurrentStateTable;
  memberships: MembershipsTable;
  redactions: RedactionsTable;
  event_relations: EventRelationsTable;
  threads: ThreadsTable;
  room_aliases: RoomAliasesTable;
  account_data: AccountDataTable;
  profile_fields: ProfileFieldsTable;
  openid_tokens: OpenIdTokensTable;
  reports: ReportsTable;
  receipts: ReceiptsTable;
  presence: PresenceTable;
  filters: FiltersTable;
  e2e_device_keys: E2eDeviceKeysTable;
  e2e_one_time_keys: E2eOneTimeKeysTable;
  e2e_fallback_keys: E2eFallbackKeysTable;
  e2e_cross_signing_keys: E2eCrossSigningKeysTable;
  e2e_key_signatures: E2eKeySignaturesTable;
  device_list_changes: DeviceListChangesTable;
  to_device_messages: ToDeviceMessagesTable;
  to_device_txns: ToDeviceTxnsTable;
  e2e_room_keys_versions: E2eRoomKeysVersionsTable;
  e2e_room_keys: E2eRoomKeysTable;
  event_push_actions: EventPushActionsTable;
  event_push_read: EventPushReadTable;
  event_push_summary: EventPushSummaryTable;
  media: MediaTable;
  media_thumbnails: MediaThumbnailsTable;
  url_previews: UrlPreviewsTable;
  server_keys: ServerKeysTable;
  server_key_responses: ServerKeyResponsesTable;
  federation_outbox: FederationOutboxTable;
  federation_inbound_txns: FederationInboundTxnsTable;
  federation_destinations: FederationDestinationsTable;
  pushers: PushersTable;
  invite_stripped_state: InviteStrippedStateTable;
  remote_key_cache: RemoteKeyCacheTable;
  remote_device_keys: RemoteDeviceKeysTable;
}
