// Small helpers for the relations tests: rooms, events with relations, redactions.
import { expect } from 'vitest';
import type { Client } from '../../helpers/client.js';

export const enc = encodeURIComponent;

export interface Ev {
  event_id: string;
  type: string;
  sender: string;
  room_id: string;
  origin_server_ts: number;
  content: Record<string, unknown>;
  unsigned: Record<string, unknown> & { 'm.relations'?: Bundle };
}
export interface Bundle {
  'm.thread'?: { latest_event: Ev; count: number; current_user_participated: boolean };
  'm.replace'?: Ev;
  'm.reference'?: { chunk: Array<{ event_id: string }> };
}
export interface Page { chunk: Ev[]; next_batch?: string; prev_batch?: string; recursion_depth?: number }

let txn = 0;

export async function createRoom(c: Client, body: Record<string, unknown> = { preset: 'public_chat' }): Promise<string> {
  const r = await c.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.room_id;
}

export async function join(c: Client, roomId: string): Promise<void> {
  const r = await c.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

export async function leave(c: Client, roomId: string): Promise<void> {
  const r = await c.post(`/_matrix/client/v3/rooms/${enc(roomId)}/leave`, {});
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

export async function send(c: Client, roomId: string, content: Record<string, unknown>, type = 'm.room.message'): Promise<string> {
  const r = await c.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(type)}/rel${++txn}`, content);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.event_id;
}

export const text = (body: string, extra: Record<string, unknown> = {}) => ({ msgtype: 'm.text', body, ...extra });
export const relatesTo = (relType: string, eventId: string) => ({ 'm.relates_to': { rel_type: relType, event_id: eventId } });

export async function reply(c: Client, roomId: string, root: string, body: string): Promise<string> {
  return send(c, roomId, text(body, relatesTo('m.thread', root)));
}

/** Edits are ordered by origin_server_ts: a few ms apart keeps "the most recent" unambiguous. */
export async function edit(c: Client, roomId: string, original: string, body: string, type = 'm.room.message'): Promise<string> {
  await new Promise((r) => setTimeout(r, 3));
  return send(c, roomId, { ...text(`* ${body}`), 'm.new_content': text(body), ...relatesTo('m.replace', original) }, type);
}

export async function redact(c: Client, roomId: string, eventId: string): Promise<void> {
  const r = await c.put(`/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(eventId)}/red${++txn}`, {});
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

export async function getEvent(c: Client, roomId: string, eventId: string): Promise<Ev> {
  const r = await c.get<Ev>(`/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

export function relationsPath(roomId: string, eventId: string, ...rest: string[]): string {
  return ['/_matrix/client/v1/rooms', enc(roomId), 'relations', enc(eventId), ...rest.map(enc)].join('/');
}

export async function relations(c: Client, roomId: string, eventId: string, rest: string[] = [], query = ''): Promise<Page> {
  const r = await c.get<Page>(`${relationsPath(roomId, eventId, ...rest)}${query ? `?${query}` : ''}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

export async function threads(c: Client, roomId: string, query = ''): Promise<Page> {
  const r = await c.get<Page>(`/_matrix/client/v1/rooms/${enc(roomId)}/threads${query ? `?${query}` : ''}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body;
}

export const ids = (p: { chunk: Ev[] }) => p.chunk.map((e) => e.event_id);
