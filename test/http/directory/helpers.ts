// Shared steps for the directory tests.
import { registrationMac } from '../../../src/http/admin/index.js';
import { Client } from '../../helpers/client.js';

export const enc = encodeURIComponent;

/** Registers a server admin through the shared-secret admin API. */
export async function registerAdmin(baseUrl: string, username: string): Promise<Client> {
  const c = new Client(baseUrl);
  const n = await c.get<{ nonce: string }>('/_synapse/admin/v1/register', { token: null });
  const body = { nonce: n.body.nonce, username, password: 'pw', admin: true };
  const r = await c.post<{ access_token: string }>('/_synapse/admin/v1/register', { ...body, mac: registrationMac('test-shared-secret', body) }, { token: null });
  if (r.status !== 200) throw new Error(`admin register: ${r.status} ${JSON.stringify(r.body)}`);
  c.token = r.body.access_token;
  return c;
}

export async function createRoom(c: Client, body: Record<string, unknown> = {}): Promise<string> {
  const r = await c.post<{ room_id: string }>('/_matrix/client/v3/createRoom', body);
  if (r.status !== 200) throw new Error(`createRoom: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.room_id;
}

export async function join(c: Client, roomId: string): Promise<void> {
  const r = await c.post(`/_matrix/client/v3/join/${enc(roomId)}`, {});
  if (r.status !== 200) throw new Error(`join: ${r.status} ${JSON.stringify(r.body)}`);
}

export async function setState(c: Client, roomId: string, type: string, key: string, content: Record<string, unknown>) {
  return c.put<{ event_id: string; errcode?: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(key)}`, content);
}

export async function getState(c: Client, roomId: string, type: string, key = '') {
  return c.get(`/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(key)}`);
}
