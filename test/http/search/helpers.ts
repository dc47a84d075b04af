// Helpers for the /search tests.
import { expect } from 'vitest';
import type { Client } from '../../helpers/client.js';
import type { Ev } from '../relations/helpers.js';

export interface Result { rank: number; result: Ev; context?: Context }
export interface Context {
  start: string; end: string; events_before: Ev[]; events_after: Ev[];
  profile_info?: Record<string, { displayname?: string; avatar_url?: string }>;
}
export interface RoomEvents {
  count: number;
  highlights: string[];
  results: Result[];
  next_batch?: string;
  groups?: Record<string, Record<string, { results: string[]; order: number; next_batch?: string }>>;
  state?: Record<string, Ev[]>;
}

export async function searchRaw(c: Client, criteria: Record<string, unknown>, nextBatch?: string) {
  const q = nextBatch === undefined ? '' : `?next_batch=${encodeURIComponent(nextBatch)}`;
  return c.post<{ search_categories: { room_events: RoomEvents }; errcode?: string }>(`/_matrix/client/v3/search${q}`, { search_categories: { room_events: criteria } });
}

export async function search(c: Client, criteria: Record<string, unknown>, nextBatch?: string): Promise<RoomEvents> {
  const r = await searchRaw(c, criteria, nextBatch);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.search_categories.room_events;
}

/** The bodies of the results, in order. */
export const bodies = (r: RoomEvents) => r.results.map((x) => x.result.content.body);
