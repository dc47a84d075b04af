// Small steps the typing, receipt and presence tests share: rooms, joins, messages.
import { expect } from 'vitest';
import type { Client } from '../../helpers/client.js';

export const enc = encodeURIComponent;

export async function createRoom(client: Client, body: Record<string, unknown> = { preset: 'public_chat' }): Promise<string> {
  const r = await client.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.room_id;
}

export async function join(client: Client, roomId: string): Promise<void> {
  const r = await client.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

let txn = 0;
export async function send(client: Client, roomId: string, content: Record<string, unknown>, type = 'm.room.message'): Promise<string> {
  const r = await client.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/send/${type}/t${++txn}`, content);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.event_id;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` passes or the time is up (then fails with the last error). */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(20);
    }
  }
}
