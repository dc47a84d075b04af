// POST /search, category room_events: matching (words, phrases, prefixes, non-ASCII text),
// keys and filters, ordering, pagination, count, highlights, groupings, event_context and
// include_state. spec: client-server-api modules/search
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, send, text } from '../relations/helpers.js';
import { bodies, search, searchRaw } from './helpers.js';

describe.each(ENGINES)('search (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let room1: string;
  let room2: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    await alice.register('alice');
    await bob.register('bob');
    await alice.put('/_matrix/client/v3/profile/@alice:test.local/displayname', { displayname: 'Alice A.' });
    room1 = await createRoom(alice, { preset: 'public_chat', name: 'Kitchen talk', topic: 'recipes and the quick brown sauce' });
    room2 = await createRoom(alice, { preset: 'public_chat' });
    await join(bob, room1);
    await join(bob, room2);
    const msgs: Array<[string, Client, string, string]> = [
      ['fox1', alice, room1, 'The quick brown fox jumps over the lazy dog'],
      ['fox2', bob, room1, 'A brown quick fox? No, a quick brown one'],
      ['fox3', alice, room2, 'fox fox fox everywhere'],
      ['hello', bob, room2, 'hello world, helicopters and help'],
      ['cafe', alice, room1, 'Meet me at the Café, Grüße aus Köln'],
      ['jp', bob, room2, 'きょうは 東京タワー に行きます'],
      ['ru', alice, room2, 'Привет мир из Москвы'],
      ['email', bob, room1, 'mail alice@example.org about the e-mail'],
    ];
    for (const [key, c, roomId, body] of msgs) ids[key] = await send(c, roomId, text(body));
  });
  afterAll(() => server.close());

  it('finds messages by words, with results shaped as ClientEvents', async () => {
    const r = await search(alice, { search_term: 'fox' });
    expect(r.count).toBe(3);
    expect(r.results.map((x) => x.result.event_id).sort()).toEqual([ids.fox1, ids.fox2, ids.fox3].sort());
    const first = r.results[0];
    expect(typeof first.rank).toBe('number');
    expect(first.result).toMatchObject({ type: 'm.room.message', content: { msgtype: 'm.text' } });
    expect(typeof first.result.unsigned.age).toBe('number');
    // Every word must appear.
    expect(bodies(await search(alice, { search_term: 'fox lazy' }))).toEqual(['The quick brown fox jumps over the lazy dog']);
    expect((await search(alice, { search_term: 'fox zebra' })).results).toEqual([]);
    // Case does not matter.
    expect((await search(alice, { search_term: 'FOX' })).count).toBe(3);
  });

  it('orders by rank (more occurrences first) or by recency', async () => {
    const byRank = await search(alice, { search_term: 'fox' });
    expect(byRank.results[0].result.event_id).toBe(ids.fox3);
    for (let i = 1; i < byRank.results.length; i++) expect(byRank.results[i - 1].rank).toBeGreaterThanOrEqual(byRank.results[i].rank);
    const recent = await search(alice, { search_term: 'fox', order_by: 'recent' });
    expect(recent.results.map((x) => x.result.event_id)).toEqual([ids.fox3, ids.fox2, ids.fox1]);
    // In recent order, rank is the share of the words that match: 3 of 4 in "fox fox fox everywhere".
    expect(recent.results[0].rank).toBe(0.75);
  });

  it('matches phrases in order and prefixes', async () => {
    expect(bodies(await search(alice, { search_term: '"quick brown"', order_by: 'recent', keys: ['content.body'] }))).toEqual([
      'A brown quick fox? No, a quick brown one', 'The quick brown fox jumps over the lazy dog',
    ]);
    // "brown quick" as a phrase is only in fox2; as two words it is in both.
    expect(bodies(await search(alice, { search_term: '"brown quick"' }))).toEqual(['A brown quick fox? No, a quick brown one']);
    expect((await search(alice, { search_term: 'brown quick', keys: ['content.body'] })).count).toBe(2);
    // A trailing * is a prefix; without it the word must be whole.
    const hel = await search(alice, { search_term: 'hel*' });
    expect(bodies(hel)).toEqual(['hello world, helicopters and help']);
    expect(hel.highlights).toEqual(expect.arrayContaining(['hello', 'helicopters', 'help']));
    expect((await search(alice, { search_term: 'hel' })).results).toEqual([]);
    // The topic "… the quick brown sauce" matches too.
    expect((await search(alice, { search_term: '"quick bro"*' })).count).toBe(3);
  });

  it('matches non-ASCII words, and Latin letters without their accents', async () => {
    for (const term of ['Café', 'café', 'cafe', 'CAFE', 'Grüße', 'grüße', 'Köln', 'koln']) {
      expect(bodies(await search(alice, { search_term: term })), term).toEqual(['Meet me at the Café, Grüße aus Köln']);
    }
    const cafe = await search(alice, { search_term: 'cafe' });
    expect(cafe.highlights).toEqual(expect.arrayContaining(['cafe', 'Café']));
    expect(bodies(await search(alice, { search_term: '東京タワー' }))).toEqual(['きょうは 東京タワー に行きます']);
    expect(bodies(await search(alice, { search_term: '東京*' }))).toEqual(['きょうは 東京タワー に行きます']);
    expect(bodies(await search(alice, { search_term: 'привет' }))).toEqual(['Привет мир из Москвы']);
    expect(bodies(await search(alice, { search_term: '"мир из москвы"' }))).toEqual(['Привет мир из Москвы']);
    // Punctuation separates words on both databases alike.
    expect(bodies(await search(alice, { search_term: 'example' }))).toEqual(['mail alice@example.org about the e-mail']);
    expect(bodies(await search(alice, { search_term: 'e-mail' }))).toEqual(['mail alice@example.org about the e-mail']);
  });

  it('searches names and topics, and keys narrow to them', async () => {
    const kitchen = await search(alice, { search_term: 'kitchen' });
    expect(kitchen.results.map((x) => x.result.type)).toEqual(['m.room.name']);
    const brown = await search(alice, { search_term: 'brown', keys: ['content.topic'] });
    expect(brown.results.map((x) => x.result.type)).toEqual(['m.room.topic']);
    expect((await search(alice, { search_term: 'brown', keys: ['content.body'] })).count).toBe(2);
    expect((await search(alice, { search_term: 'brown' })).count).toBe(3);
    expect((await search(alice, { search_term: 'brown', keys: ['content.name'] })).count).toBe(0);
  });

  it('applies the filter: rooms, not_rooms, senders, not_senders, types, limit', async () => {
    expect((await search(alice, { search_term: 'fox', filter: { rooms: [room2] } })).results.map((x) => x.result.event_id)).toEqual([ids.fox3]);
    expect((await search(alice, { search_term: 'fox', filter: { not_rooms: [room2] } })).count).toBe(2);
    expect((await search(alice, { search_term: 'fox', filter: { senders: ['@bob:test.local'] } })).results.map((x) => x.result.event_id)).toEqual([ids.fox2]);
    expect((await search(alice, { search_term: 'fox', filter: { not_senders: ['@bob:test.local'] } })).count).toBe(2);
    expect((await search(alice, { search_term: 'brown', filter: { types: ['m.room.topic'] } })).results.map((x) => x.result.type)).toEqual(['m.room.topic']);
    expect((await search(alice, { search_term: 'brown', filter: { not_types: ['m.room.t*'] } })).count).toBe(2);
    // Lists too long for one SQL statement still apply.
    const many = Array.from({ length: 40_000 }, (_, i) => `@user${i}:test.local`);
    expect((await search(alice, { search_term: 'fox', filter: { senders: [...many, '@bob:test.local'] } })).results.map((x) => x.result.event_id)).toEqual([ids.fox2]);
    expect((await search(alice, { search_term: 'fox', filter: { not_senders: [...many, '@bob:test.local'] } })).results.map((x) => x.result.event_id).sort()).toEqual([ids.fox1, ids.fox3].sort());
    const limited = await search(alice, { search_term: 'fox', filter: { limit: 1 } });
    expect(limited.results).toHaveLength(1);
    expect(limited.count).toBe(3);
    expect(limited.next_batch).toBeTypeOf('string');
  });

  it('pages with next_batch without duplicates or gaps, in both orders', async () => {
    const roomId = await createRoom(alice);
    for (let i = 0; i < 23; i++) await send(alice, roomId, text(`pagination marker ${'word '.repeat(i % 5)}${i}`));
    for (const order_by of ['rank', 'recent']) {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const r = await search(alice, { search_term: 'marker', order_by, filter: { limit: 5 } }, token);
        expect(r.count).toBe(23);
        seen.push(...r.results.map((x) => x.result.event_id));
        token = r.next_batch;
        pages++;
      } while (token && pages < 10);
      expect(seen).toHaveLength(23);
      expect(new Set(seen).size).toBe(23);
      expect(pages).toBeLessThanOrEqual(5);
    }
    // A token is for the order it came from, and must be one of ours.
    const first = await search(alice, { search_term: 'marker', order_by: 'rank', filter: { limit: 5 } });
    const wrongOrder = await searchRaw(alice, { search_term: 'marker', order_by: 'recent' }, first.next_batch);
    expect(wrongOrder.status).toBe(400);
    expect(wrongOrder.body.errcode).toBe('M_INVALID_PARAM');
    for (const bad of ['nonsense', '!!', Buffer.from('{"o":"rank"}').toString('base64url'), 'e30']) {
      const r = await searchRaw(alice, { search_term: 'marker' }, bad);
      expect(r.status, bad).toBe(400);
      expect(r.body.errcode).toBe('M_INVALID_PARAM');
    }
  });

  it('refuses next_batch tokens it did not write for this user and search, altered or forged', async () => {
    const roomId = await createRoom(alice);
    await join(bob, roomId);
    for (let i = 0; i < 6; i++) await send(alice, roomId, text(`tamper proof ${i}`));
    const criteria = { search_term: 'tamper', filter: { limit: 2, rooms: [roomId] } };
    const first = await search(alice, criteria);
    const token = first.next_batch as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    // The genuine token goes on, also with another page size.
    const second = await search(alice, { ...criteria, filter: { limit: 3, rooms: [roomId] } }, token);
    expect(second.results).toHaveLength(3);
    expect(second.results.map((x) => x.result.event_id)).not.toContain(first.results[0].result.event_id);

    const [payload, mac] = token.split('.');
    const fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    const reencode = (f: Record<string, unknown>) => Buffer.from(JSON.stringify(f)).toString('base64url');
    const { w: _w, ...noWindow } = fields;
    const flipped = (mac[0] === 'A' ? 'B' : 'A') + mac.slice(1);
    const refused: Array<[string, Client, Record<string, unknown>, string]> = [
      ['payload changed, MAC kept', alice, criteria, `${reencode({ ...fields, n: Number(fields.n) + 1 })}.${mac}`],
      ['window changed, MAC kept', alice, criteria, `${reencode({ ...noWindow, w: 0 })}.${mac}`],
      ['MAC altered', alice, criteria, `${payload}.${flipped}`],
      ['MAC missing', alice, criteria, payload],
      ['an unsigned token of the old format', alice, criteria, reencode({ o: 'rank', r: 0, n: 1 })],
      ['another search term', alice, { ...criteria, search_term: 'proof' }, token],
      ['another filter', alice, { ...criteria, filter: { limit: 2 } }, token],
      ['another user', bob, criteria, token],
    ];
    for (const [what, client, c, bad] of refused) {
      const r = await searchRaw(client, c, bad);
      expect(r.status, what).toBe(400);
      expect(r.body.errcode, what).toBe('M_INVALID_PARAM');
    }
    // Nothing changed: the genuine token still pages the same.
    const again = await search(alice, { ...criteria, filter: { limit: 3, rooms: [roomId] } }, token);
    expect(again.results.map((x) => x.result.event_id)).toEqual(second.results.map((x) => x.result.event_id));
  });

  it('groups by room and sender, with tokens that page within a group', async () => {
    const r = await search(alice, { search_term: 'fox', order_by: 'recent', filter: { limit: 2 }, groupings: { group_by: [{ key: 'room_id' }, { key: 'sender' }] } });
    expect(r.results.map((x) => x.result.event_id)).toEqual([ids.fox3, ids.fox2]);
    expect(r.groups?.room_id).toEqual({
      [room2]: { results: [ids.fox3], order: 1, next_batch: expect.any(String) },
      [room1]: { results: [ids.fox2], order: 2, next_batch: expect.any(String) },
    });
    expect(r.groups?.sender).toEqual({
      '@alice:test.local': { results: [ids.fox3], order: 1, next_batch: expect.any(String) },
      '@bob:test.local': { results: [ids.fox2], order: 2, next_batch: expect.any(String) },
    });
    // Going on within room1 gives room1's next result only.
    const inRoom1 = await search(alice, { search_term: 'fox', order_by: 'recent', filter: { limit: 2 }, groupings: { group_by: [{ key: 'room_id' }] } }, r.groups?.room_id[room1].next_batch);
    expect(inRoom1.results.map((x) => x.result.event_id)).toEqual([ids.fox1]);
    expect(inRoom1.count).toBe(2);
    expect(inRoom1.next_batch).toBeUndefined();
    const byAlice = await search(alice, { search_term: 'fox', order_by: 'recent', filter: { limit: 2 } }, r.groups?.sender['@alice:test.local'].next_batch);
    expect(byAlice.results.map((x) => x.result.event_id)).toEqual([ids.fox1]);
  });

  it('returns event_context with before/after limits and profiles', async () => {
    const r = await search(alice, { search_term: 'lazy', event_context: { before_limit: 1, after_limit: 2, include_profile: true } });
    expect(r.results).toHaveLength(1);
    const ctx = r.results[0].context!;
    expect(ctx.events_before).toHaveLength(1);
    expect(ctx.events_after.map((e) => e.event_id)).toEqual([ids.fox2, ids.cafe]);
    expect(ctx.events_before[0].type).toBe('m.room.member');
    expect(ctx.start).toMatch(/^s\d+$/);
    expect(ctx.end).toMatch(/^s\d+$/);
    expect(ctx.profile_info?.['@alice:test.local']).toEqual({ displayname: 'Alice A.' });
    expect(ctx.profile_info?.['@bob:test.local']).toEqual({ displayname: 'bob' });
    // The tokens work with /messages.
    const more = await alice.get<{ chunk: Array<{ event_id: string }> }>(`/_matrix/client/v3/rooms/${enc(room1)}/messages?dir=f&limit=1&from=${ctx.end}`);
    expect(more.body.chunk.map((e) => e.event_id)).toEqual([ids.email]);
    // Defaults: 5 and 5, no profiles; no context unless asked.
    const d = await search(alice, { search_term: 'lazy', event_context: {} });
    expect(d.results[0].context!.events_after).toHaveLength(3);
    expect(d.results[0].context!.events_before).toHaveLength(5);
    expect(d.results[0].context!.profile_info).toBeUndefined();
    expect((await search(alice, { search_term: 'lazy' })).results[0].context).toBeUndefined();
  });

  it('returns the current state of the rooms in the results with include_state', async () => {
    const r = await search(alice, { search_term: 'lazy', include_state: true });
    expect(Object.keys(r.state ?? {})).toEqual([room1]);
    const types = r.state![room1].map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['m.room.create', 'm.room.name', 'm.room.topic', 'm.room.member']));
  });

  it('answers nothing for terms without words, and never fails on query syntax', async () => {
    for (const term of ['', '   ', '"', '""', '*', '"*', '***', '(', ')', 'NEAR(', 'NEAR(fox', 'fox OR', 'OR', 'AND', 'NOT', 'fox NOT dog',
      '-fox', 'fox:', 'text:fox', '^fox', '{fox}', "'", "fox's", '\\', '&', '|', '!', '<->', ':*', 'fox:*', "'fox':*", '\u0000', '\u0301', '"fox', 'fox"quick"brown']) {
      const r = await searchRaw(alice, { search_term: term });
      expect(r.status, JSON.stringify(term)).toBe(200);
    }
    expect((await search(alice, { search_term: '"' })).results).toEqual([]);
    expect((await search(alice, { search_term: '' })).count).toBe(0);
    // Operators are words like any other: "fox OR" needs a word "or", which no message has.
    expect((await search(alice, { search_term: 'fox OR' })).count).toBe(0);
    expect((await search(alice, { search_term: 'NEAR(fox' })).count).toBe(0);
    expect((await search(alice, { search_term: 'fox:*' })).count).toBe(3);
    expect((await search(alice, { search_term: '"fox' })).count).toBe(3);
    const tooMany = await searchRaw(alice, { search_term: 'w '.repeat(65) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errcode).toBe('M_INVALID_PARAM');
  });

  it('rejects bad bodies and unknown categories', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'M_MISSING_PARAM'],
      [{ search_categories: 'x' }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: {} } }, 'M_MISSING_PARAM'],
      [{ search_categories: { room_events: { search_term: 5 } } }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: { search_term: 'x', order_by: 'best' } } }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: { search_term: 'x', keys: ['content.url'] } } }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: { search_term: 'x', filter: { rooms: 'nope' } } } }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: { search_term: 'x', filter: { limit: 0 } } } }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: { search_term: 'x', event_context: { before_limit: -1 } } } }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: { search_term: 'x', event_context: { after_limit: 'five' } } } }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: { search_term: 'x', groupings: { group_by: [{ key: 'type' }] } } } }, 'M_BAD_JSON'],
      [{ search_categories: { room_events: { search_term: 'x', include_state: 'yes' } } }, 'M_BAD_JSON'],
      [{ search_categories: { people: { search_term: 'x' } } }, 'M_INVALID_PARAM'],
    ];
    for (const [body, errcode] of cases) {
      const r = await alice.post('/_matrix/client/v3/search', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errcode, JSON.stringify(body)).toBe(errcode);
    }
    const none = await alice.post('/_matrix/client/v3/search', { search_categories: {} });
    expect(none.status).toBe(200);
    expect(none.body).toEqual({ search_categories: {} });
    const anon = await alice.post('/_matrix/client/v3/search', { search_categories: {} }, { token: null });
    expect(anon.status).toBe(401);
    // spec: modules/guest_access does not list /search among the endpoints guests may call.
    const guest = await alice.post<{ access_token: string }>('/_matrix/client/v3/register?kind=guest', {}, { token: null });
    expect(guest.status).toBe(200);
    const asGuest = await alice.post('/_matrix/client/v3/search', { search_categories: { room_events: { search_term: 'fox' } } }, { token: guest.body.access_token });
    expect(asGuest.status).toBe(403);
    expect(asGuest.body.errcode).toBe('M_GUEST_ACCESS_FORBIDDEN');
  });
});
