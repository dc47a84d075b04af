// Filters for /sync: uploading and downloading them, and resolving the `filter` parameter
// (an uploaded filter's ID, or a filter as JSON) to a validated Filter.
// spec: client-server-api "Filtering", POST/GET /user/{userId}/filter, GET /sync `filter`
import { parseFilter, type Filter } from '../../core/filter.js';
import type { JsonObject } from '../../core/pdu.js';
import { MatrixError, badJson, invalidParam, notFound } from '../../errors.js';
import type { FilterStore } from '../../storage/filters.js';

/** Larger filters are refused: no real filter comes near this. */
export const MAX_FILTER_BYTES = 65_536;
const CACHE_FILTERS = 10_000;

export class FilterService {
  /** Parsed filters by `user\nid` (uploaded ones never change) and by inline JSON text. */
  private readonly cache = new Map<string, Filter>();

  constructor(private readonly store: FilterStore) {}

  /** spec: POST /user/{userId}/filter. Returns the filter ID (never starting with `{`). */
  async create(userId: string, body: unknown): Promise<string> {
    const json = JSON.stringify(body);
    if (Buffer.byteLength(json, 'utf8') > MAX_FILTER_BYTES) throw new MatrixError('M_TOO_LARGE', `Filters may not exceed ${MAX_FILTER_BYTES} bytes`, 413);
    const parsed = parseFilter(body);
    if (!parsed.ok) throw badJson(`Invalid filter: ${parsed.reason}`);
    const id = await this.store.create(userId, json);
    this.remember(`${userId}\n${id}`, parsed.value);
    return id;
  }

  /** spec: GET /user/{userId}/filter/{filterId}: the filter as uploaded. */
  async get(userId: string, filterId: string): Promise<JsonObject> {
    const json = await this.store.get(userId, filterId);
    if (json === undefined) throw notFound('No such filter');
    return JSON.parse(json) as JsonObject;
  }

  /**
   * spec: GET /sync `filter`: JSON when it starts with `{`, else the ID of one of the user's
   * filters. No filter is the empty filter.
   */
  async resolve(userId: string, param: string | undefined): Promise<Filter> {
    if (param === undefined || param === '') return {};
    const inline = param.startsWith('{');
    const key = inline ? param : `${userId}\n${param}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    let json: unknown;
    if (inline) {
      if (Buffer.byteLength(param, 'utf8') > MAX_FILTER_BYTES) throw invalidParam(`Filters may not exceed ${MAX_FILTER_BYTES} bytes`);
      try { json = JSON.parse(param); } catch { throw invalidParam('`filter` is not valid JSON'); }
    } else {
      const stored = await this.store.get(userId, param);
      if (stored === undefined) throw invalidParam(`Unknown filter ${JSON.stringify(param)}`);
      json = JSON.parse(stored);
    }
    const parsed = parseFilter(json);
    if (!parsed.ok) throw invalidParam(`Invalid filter: ${parsed.reason}`);
    this.remember(key, parsed.value);
    return parsed.value;
  }

  private remember(key: string, filter: Filter): void {
    if (this.cache.size >= CACHE_FILTERS) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, filter);
  }
}
