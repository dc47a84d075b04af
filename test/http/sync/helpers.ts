// Steps the /sync tests share: syncing with parameters, and reading a room out of a response.
import { expect } from 'vitest';
import type { Client } from '../../helpers/client.js';

export { createRoom, enc, join, send, sleep, eventually } from '../ephemeral/helpers.js';

export interface ClientEvent { type: string; sender: string; event_id: string; state_key?: string; content: Record<string, unknown>; unsigned?: Record<string, unknown>; room_id?: string; origin_server_ts?: number }
export interface Timeline { events: ClientEvent[]; limited: boolean; prev_batch?: string }
export interface JoinedRoom {
  timeline: Timeline;
  state?: { events: ClientEvent[] };
  state_after?: { events: ClientEvent[] };
  ephemeral: { events: Array<{ type: string; content: Record<string, unknown> }> };
  account_data: { events: Array<{ type: string; content: Record<string, unknown> }> };
  summary?: Record<string, unknown>;
  unread_notifications?: { notification_count: number; highlight_count: number };
  unread_thread_notifications?: Record<string, { notification_count: number; highlight_count: number }>;
}
export interface SyncBody {
  next_batch: string;
  rooms: {
    join: Record<string, JoinedRoom>;
    invite: Record<string, { invite_state: { events: Array<{ type: string; state_key: string; sender: string; content: Record<string, unknown> }> } }>;
    knock: Record<string, { knock_state: { events: Array<{ type: string; state_key: string; sender: string; content: Record<string, unknown> }> } }>;
    leave: Record<string, JoinedRoom>;
  };
  presence: { events: Array<{ type: string; sender: string; content: Record<string, unknown> }> };
  account_data: { events: Array<{ type: string; content: Record<string, unknown> }> };
  to_device?: { events: Array<{ type: string; sender: string; content: Record<string, unknown> }> };
  device_lists?: { changed?: string[]; left?: string[] };
  device_one_time_keys_count?: Record<string, number>;
  device_unused_fallback_key_types?: string[];
}

/** GET /sync with query parameters; fails the test unless it answers 200. */
export async function sync(client: Client, params: Record<string, string | number | boolean | object | undefined> = {}): Promise<SyncBody> {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    q.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  const r = await client.get<SyncBody>(`/_matrix/client/v3/sync?${q}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

export const bodies = (events: ClientEvent[] | undefined) => (events ?? []).filter((e) => e.type === 'm.room.message').map((e) => e.content.body);
export const types = (events: Array<{ type: string }> | undefined) => (events ?? []).map((e) => e.type);
