// Many matches: `rank` order ranks the newest RANKED_MATCHES of them, the window stays fixed
// across pages, and `count` becomes an estimate. Driven through the service with a window of
// 8 instead of 10,000 (filling 10,000 messages would take the test suite's time).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { SearchService } from '../../../src/services/search.js';
import { createRoom, send, text } from '../relations/helpers.js';

describe.each(ENGINES)('search with more matches than are ranked (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let service: SearchService;
  const viewer = { userId: '@alice:test.local' };
  const ids: string[] = [];

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    await alice.register('alice');
    const roomId = await createRoom(alice);
    // 20 matches; the oldest ones say "heron" more often, so they would rank first overall.
    for (let i = 0; i < 20; i++) {
      ids.push(await send(alice, roomId, text(i < 10 ? `heron heron heron heron ${i}` : `heron and others ${i}`)));
      if (i % 2) await send(alice, roomId, text(`filler ${i}`));
    }
    const hs = server.hs;
    service = new SearchService(hs.storage, hs.visibility, hs.formatter, hs.timeline, hs.signingKey.seed, 8);
  });
  afterAll(() => server.close());

  it('ranks only the newest matches, on every page, and estimates the count', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await service.roomEvents(viewer, { search_term: 'heron', filter: { limit: 3 } }, token);
      // The estimate: 8 matches over the newest 12 positions of a span of 28: about 19.
      expect(r.count).toBeGreaterThanOrEqual(15);
      expect(r.count).toBeLessThanOrEqual(25);
      seen.push(...r.results.map((x) => x.result.event_id));
      token = r.next_batch;
      pages++;
    } while (token && pages < 10);
    expect(seen).toHaveLength(8);
    expect(new Set(seen)).toEqual(new Set(ids.slice(12)));
    // Recent order walks all of them.
    const recent: string[] = [];
    token = undefined;
    pages = 0;
    do {
      const r = await service.roomEvents(viewer, { search_term: 'heron', order_by: 'recent', filter: { limit: 7 } }, token);
      recent.push(...r.results.map((x) => x.result.event_id));
      token = r.next_batch;
      pages++;
    } while (token && pages < 10);
    expect(recent).toEqual([...ids].reverse());
  });

  it('refuses a token whose window was dropped or that comes from another search', async () => {
    const first = await service.roomEvents(viewer, { search_term: 'heron', filter: { limit: 3 } });
    const [payload, mac] = (first.next_batch as string).split('.');
    const fields = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(fields.w).toBeTypeOf('number');
    const { w: _w, ...rest } = fields;
    const dropped = `${Buffer.from(JSON.stringify(rest)).toString('base64url')}.${mac}`;
    await expect(service.roomEvents(viewer, { search_term: 'heron', filter: { limit: 3 } }, dropped)).rejects.toMatchObject({ errcode: 'M_INVALID_PARAM' });
    // A genuine token of another search (with another window) does not carry over to this one.
    const other = await service.roomEvents(viewer, { search_term: 'filler', filter: { limit: 3 } });
    expect(other.next_batch).toBeTypeOf('string');
    await expect(service.roomEvents(viewer, { search_term: 'heron', filter: { limit: 3 } }, other.next_batch)).rejects.toMatchObject({ errcode: 'M_INVALID_PARAM' });
  });

  it('counts exactly below the window', async () => {
    const r = await service.roomEvents(viewer, { search_term: 'filler' });
    expect(r.count).toBe(10);
    const over = await service.roomEvents(viewer, { search_term: 'heron', filter: { limit: 50 } });
    expect(over.results).toHaveLength(8);
    expect(over.next_batch).toBeUndefined();
  });
});
