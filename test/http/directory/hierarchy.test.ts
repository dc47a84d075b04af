// The space hierarchy: GET /_matrix/client/v1/rooms/{roomId}/hierarchy.
// spec: client-server-api modules/spaces
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, setState } from './helpers.js';

interface Entry { room_id: string; children_state: Array<Record<string, unknown>>; [k: string]: unknown }
interface Page { rooms: Entry[]; next_batch?: string }

const HIERARCHY = (roomId: string, query = '') => `/_matrix/client/v1/rooms/${enc(roomId)}/hierarchy${query ? `?${query}` : ''}`;

describe.each(ENGINES)('space hierarchy (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let anon: Client;
  const via = { via: ['test.local'] };
  const space = (c: Client, name: string, extra: Record<string, unknown> = {}) =>
    createRoom(c, { preset: 'public_chat', name, creation_content: { type: 'm.space' }, ...extra });
  const addChild = async (parent: string, child: string, content: Record<string, unknown> = via) => {
    const r = await setState(alice, parent, 'm.space.child', child, content);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.event_id;
  };
  const ids = (p: Page) => p.rooms.map((r) => r.room_id);

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    anon = new Client(server.baseUrl);
    await alice.register('alice');
    await bob.register('bob');
  });
  afterAll(() => server.close());

  describe('walking a tree', () => {
    // S ─┬─ T (order "a") ─┬─ C
    //    │                 ├─ P (invite-only)
    //    │                 └─ S (a loop)
    //    ├─ A (order "b"; not a space, so its own child Z is not walked)
    //    └─ B (suggested)
    let S: string; let T: string; let A: string; let B: string; let C: string; let P: string; let Z: string;

    beforeAll(async () => {
      S = await space(alice, 'Space S', { topic: 'The top' });
      T = await space(alice, 'Space T');
      A = await createRoom(alice, { preset: 'public_chat', name: 'A' });
      B = await createRoom(alice, { preset: 'public_chat', name: 'B' });
      C = await createRoom(alice, { preset: 'public_chat', name: 'C' });
      P = await createRoom(alice, { preset: 'private_chat', name: 'P' });
      Z = await createRoom(alice, { preset: 'public_chat', name: 'Z' });
      await addChild(S, A, { ...via, order: 'b' });
      await addChild(S, B, { ...via, suggested: true });
      await addChild(S, T, { ...via, order: 'a' });
      await addChild(T, C);
      await addChild(T, P);
      await addChild(T, S);
      await addChild(A, Z);
    });

    it('walks depth first in the spec\'s order of children, once per room, with summaries and children_state', async () => {
      const r = await alice.get<Page>(HIERARCHY(S));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(ids(r.body)).toEqual([S, T, C, P, A, B]);
      expect(r.body.next_batch).toBeUndefined();

      const [s] = r.body.rooms;
      const { children_state, ...summary } = s;
      expect(summary).toEqual({
        room_id: S, name: 'Space S', topic: 'The top', num_joined_members: 1, world_readable: false, guest_can_join: false,
        join_rule: 'public', room_type: 'm.space', room_version: '12',
      });
      expect(children_state.map((c) => c.state_key)).toEqual([T, A, B]);
      for (const c of children_state) {
        expect(Object.keys(c).sort()).toEqual(['content', 'origin_server_ts', 'sender', 'state_key', 'type']);
        expect(c.type).toBe('m.space.child');
        expect(c.sender).toBe('@alice:test.local');
        expect(typeof c.origin_server_ts).toBe('number');
      }
      expect(children_state[0].content).toEqual({ ...via, order: 'a' });
      // A is not a space: no children_state, and Z is not reached through it.
      expect(r.body.rooms.find((x) => x.room_id === A)?.children_state).toEqual([]);
      expect(ids(r.body)).not.toContain(Z);
    });

    it('leaves out rooms the requester may not see', async () => {
      const r = await bob.get<Page>(HIERARCHY(S));
      expect(r.status).toBe(200);
      expect(ids(r.body)).toEqual([S, T, C, A, B]);
      // The child events themselves are part of the space's state, which bob may see.
      expect(r.body.rooms[1].children_state.map((c) => c.state_key)).toEqual([C, P, S]);
    });

    it('stops at max_depth', async () => {
      expect(ids((await alice.get<Page>(HIERARCHY(S, 'max_depth=1'))).body)).toEqual([S, T, A, B]);
      const root = await alice.get<Page>(HIERARCHY(S, 'max_depth=0'));
      expect(ids(root.body)).toEqual([S]);
      expect(root.body.next_batch).toBeUndefined();
    });

    it('walks only suggested children with suggested_only', async () => {
      const r = await alice.get<Page>(HIERARCHY(S, 'suggested_only=true'));
      expect(ids(r.body)).toEqual([S, B]);
      expect(r.body.rooms[0].children_state.map((c) => c.state_key)).toEqual([B]);
      expect(ids((await alice.get<Page>(HIERARCHY(S, 'suggested_only=false'))).body)).toEqual([S, T, C, P, A, B]);
    });

    it('pages with limit and next_batch', async () => {
      const seen: string[] = [];
      let from: string | undefined;
      let pages = 0;
      do {
        const r: { status: number; body: Page } = await alice.get<Page>(HIERARCHY(S, `limit=2${from ? `&from=${enc(from)}` : ''}`));
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        expect(r.body.rooms.length).toBeLessThanOrEqual(2);
        seen.push(...ids(r.body));
        from = r.body.next_batch;
        pages++;
      } while (from !== undefined && pages < 10);
      expect(seen).toEqual([S, T, C, P, A, B]);
      expect(pages).toBe(3);
    });

    it('refuses a token whose parameters changed, a foreign token and bad parameters', async () => {
      const first = await alice.get<Page>(HIERARCHY(S, 'limit=1&max_depth=3'));
      const token = enc(first.body.next_batch as string);
      expect((await alice.get<Page>(HIERARCHY(S, `limit=1&max_depth=3&from=${token}`))).status).toBe(200);
      for (const q of [`limit=1&max_depth=2&from=${token}`, `limit=1&max_depth=3&suggested_only=true&from=${token}`, 'from=garbage']) {
        const r = await alice.get(HIERARCHY(S, q));
        expect(r.status, q).toBe(400);
        expect(r.body.errcode, q).toBe('M_INVALID_PARAM');
      }
      expect((await alice.get(HIERARCHY(T, `limit=1&max_depth=3&from=${token}`))).body.errcode).toBe('M_INVALID_PARAM');
      for (const q of ['limit=0', 'limit=abc', 'limit=-1', 'max_depth=-1', 'max_depth=x', 'suggested_only=yes']) {
        const r = await alice.get(HIERARCHY(S, q));
        expect(r.status, q).toBe(400);
        expect(r.body.errcode, q).toBe('M_INVALID_PARAM');
      }
    });

    it('answers 403 for rooms the requester may not see or that do not exist, 400 for bad IDs, 401 without a token', async () => {
      const hidden = await bob.get(HIERARCHY(P));
      expect(hidden.status).toBe(403);
      expect(hidden.body.errcode).toBe('M_FORBIDDEN');
      expect((await bob.get(HIERARCHY('!nothere:test.local'))).status).toBe(403);
      expect((await bob.get(HIERARCHY('nothere'))).body.errcode).toBe('M_INVALID_PARAM');
      expect((await anon.get(HIERARCHY(S))).status).toBe(401);
      const guest = await anon.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
      const asGuest = await anon.get<Page>(HIERARCHY(S), { token: guest.body.access_token });
      expect(asGuest.status).toBe(200);
      expect(ids(asGuest.body)).toEqual([S, T, C, A, B]);
    });
  });

  describe('which children count, and who sees them', () => {
    it('applies the spec\'s visibility rules to each child', async () => {
      const S2 = await space(alice, 'S2');
      const restricted = await createRoom(alice, { preset: 'private_chat', name: 'restricted', initial_state: [
        { type: 'm.room.join_rules', content: { join_rule: 'restricted', allow: [{ type: 'm.room_membership', room_id: S2 }] } },
      ] });
      const knock = await createRoom(alice, { preset: 'private_chat', name: 'knock', initial_state: [{ type: 'm.room.join_rules', content: { join_rule: 'knock' } }] });
      const readable = await createRoom(alice, { preset: 'private_chat', name: 'readable', initial_state: [
        { type: 'm.room.history_visibility', content: { history_visibility: 'world_readable' } },
      ] });
      const invited = await createRoom(alice, { preset: 'private_chat', name: 'invited', invite: ['@bob:test.local'] });
      const closed = await createRoom(alice, { preset: 'private_chat', name: 'closed' });
      const banned = await createRoom(alice, { preset: 'public_chat', name: 'banned' });
      await join(bob, banned);
      expect((await alice.post(`/_matrix/client/v3/rooms/${enc(banned)}/ban`, { user_id: '@bob:test.local' })).status).toBe(200);
      const encrypted = await createRoom(alice, { preset: 'public_chat', name: 'encrypted', initial_state: [
        { type: 'm.room.encryption', content: { algorithm: 'm.megolm.v1.aes-sha2' } },
      ] });
      for (const child of [restricted, knock, readable, invited, closed, banned, encrypted, '!elsewhere:remote.example']) await addChild(S2, child);

      const before = await bob.get<Page>(HIERARCHY(S2));
      expect(before.status).toBe(200);
      expect(ids(before.body).sort()).toEqual([S2, knock, readable, invited, encrypted].sort());
      expect(before.body.rooms.find((r) => r.room_id === encrypted)?.encryption).toBe('m.megolm.v1.aes-sha2');
      expect(before.body.rooms.find((r) => r.room_id === readable)?.world_readable).toBe(true);

      // Joining the space is what the restricted room allows.
      await join(bob, S2);
      const after = await bob.get<Page>(HIERARCHY(S2));
      const r = after.body.rooms.find((x) => x.room_id === restricted);
      expect(r).toMatchObject({ join_rule: 'restricted', allowed_room_ids: [S2] });
      expect(ids(after.body)).not.toContain(closed);
      expect(ids(after.body)).not.toContain(banned);

      expect(ids((await alice.get<Page>(HIERARCHY(S2))).body).sort()).toEqual([S2, restricted, knock, readable, invited, closed, banned, encrypted].sort());
    });

    it('ignores children without a valid via, and children whose event was redacted; non-spaces have no children_state', async () => {
      const S3 = await space(alice, 'S3');
      const rooms: string[] = [];
      for (const name of ['ok', 'empty', 'notlist', 'badentry', 'redacted']) rooms.push(await createRoom(alice, { preset: 'public_chat', name }));
      const [ok, empty, notList, badEntry, redacted] = rooms;
      await addChild(S3, ok);
      await addChild(S3, empty, { via: [] });
      await addChild(S3, notList, { via: 'test.local' });
      await addChild(S3, badEntry, { via: ['test.local', 5] });
      const redactedChild = await addChild(S3, redacted);
      expect(ids((await alice.get<Page>(HIERARCHY(S3))).body)).toEqual([S3, ok, redacted]);

      expect((await alice.put(`/_matrix/client/v3/rooms/${enc(S3)}/redact/${enc(redactedChild)}/r1`, {})).status).toBe(200);
      const r = await alice.get<Page>(HIERARCHY(S3));
      expect(ids(r.body)).toEqual([S3, ok]);
      expect(r.body.rooms[0].children_state.map((c) => c.state_key)).toEqual([ok]);

      // Clearing the content removes the child too.
      await addChild(S3, ok, {});
      expect(ids((await alice.get<Page>(HIERARCHY(S3))).body)).toEqual([S3]);

      // A room that is not a space shows no children, even with m.space.child events.
      const plain = await createRoom(alice, { preset: 'public_chat' });
      await addChild(plain, ok);
      const p = await alice.get<Page>(HIERARCHY(plain));
      expect(ids(p.body)).toEqual([plain]);
      expect(p.body.rooms[0].children_state).toEqual([]);
    });

    it('orders children by order, then timestamp, then room ID; invalid orders count as none', async () => {
      const S4 = await space(alice, 'S4');
      const made: string[] = [];
      // One at a time: identical v12 create events in the same millisecond would get the same room ID.
      for (let i = 0; i < 5; i++) made.push(await createRoom(alice, { preset: 'public_chat', name: `child ${i}` }));
      await addChild(S4, made[0], { ...via, order: 'zz' });
      await addChild(S4, made[1], { ...via, order: '\u00e9' }); // outside \x20-\x7E: no order
      await addChild(S4, made[2], { ...via, order: ' ' });
      await addChild(S4, made[3], { ...via, order: 'x'.repeat(51) }); // too long: no order
      await addChild(S4, made[4], { ...via, order: 7 }); // not a string: no order
      const r = await alice.get<Page>(HIERARCHY(S4));
      const children = r.body.rooms[0].children_state;
      expect(children.map((c) => c.state_key).slice(0, 2)).toEqual([made[2], made[0]]);
      // The rest by timestamp, ties broken by room ID (events sent in one millisecond share a timestamp).
      const rest = children.slice(2).map((c) => [c.origin_server_ts as number, c.state_key as string] as const);
      expect(rest.map(([, k]) => k).sort()).toEqual([made[1], made[3], made[4]].sort());
      const sorted = [...rest].sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1));
      expect(rest).toEqual(sorted);
    });
  });
});
