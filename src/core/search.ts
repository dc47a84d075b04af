// Full-text search, the pure part: which text of an event is searched, how text becomes
// tokens, and how a user's search term becomes a query. Both databases index the tokens made
// here (joined by spaces), so a word means the same on SQLite and PostgreSQL.
// spec: client-server-api modules/search "room_events"
import type { JsonObject } from './pdu.js';

/** spec: the keys searched and the event type each belongs to. */
export const SEARCH_KEYS = { 'content.body': 'm.room.message', 'content.name': 'm.room.name', 'content.topic': 'm.room.topic' } as const;
export type SearchKey = keyof typeof SEARCH_KEYS;

/**
 * The searchable text of an event, or undefined when it has none: content.body of
 * m.room.message, content.name of m.room.name, and for m.room.topic content.topic plus the
 * text/plain bodies of content["m.topic"].
 */
export function searchableText(type: string, content: JsonObject): string | undefined {
  let text: string | undefined;
  if (type === 'm.room.message') text = str(content.body);
  else if (type === 'm.room.name') text = str(content.name);
  else if (type === 'm.room.topic') {
    const parts = [str(content.topic)];
    const rich = content['m.topic'];
    const reprs = isObj(rich) ? rich['m.text'] : undefined;
    if (Array.isArray(reprs)) {
      for (const r of reprs) {
        // spec: m.topic: a representation without mimetype is text/plain.
        if (isObj(r) && (r.mimetype === undefined || r.mimetype === 'text/plain')) parts.push(str(r.body));
      }
    }
    const distinct = [...new Set(parts.filter((p): p is string => p !== undefined && p !== ''))];
    text = distinct.length ? distinct.join('\n') : undefined;
  }
  return text === undefined || text === '' ? undefined : text;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A word: letters, digits and combining marks of any script. Everything else separates words. */
const WORD = /[\p{L}\p{N}\p{M}]+/gu;
/** Accents on Latin letters, after canonical decomposition ("café" → "cafe", "Grüße" → "gruße"). */
const LATIN_ACCENTS = /(\p{Script=Latin})[\u0300-\u036f]+/gu;
/** Words longer than this are not indexed (PostgreSQL refuses lexemes over 2 KiB anyway). */
const MAX_TOKEN_LENGTH = 200;

/** One word as it is indexed: lower case, Latin letters without accents, NFC. */
export function normalizeToken(word: string): string {
  return word.toLowerCase().normalize('NFD').replace(LATIN_ACCENTS, '$1').normalize('NFC');
}

/** The words of a text, as written (for highlights) and as indexed. */
export function words(text: string): Array<{ surface: string; token: string }> {
  const out: Array<{ surface: string; token: string }> = [];
  for (const m of text.matchAll(WORD)) {
    if (m[0].length > MAX_TOKEN_LENGTH) continue;
    const token = normalizeToken(m[0]);
    if (token !== '') out.push({ surface: m[0], token });
  }
  return out;
}

/** The text handed to the database's indexer: the normalized words, space-separated. */
export function indexText(text: string): string {
  return words(text).map((w) => w.token).join(' ');
}

/**
 * A query clause: `tokens` in this order, next to each other (one token for a plain word; a
 * quoted phrase or a word like "e-mail" gives several). With `prefix`, the last token matches
 * any word starting with it.
 */
export interface SearchClause { tokens: string[]; prefix: boolean }

/** Every clause must match (AND). */
export interface SearchQuery { clauses: SearchClause[] }

export const MAX_SEARCH_TOKENS = 64;

export class SearchTermError extends Error {}

/**
 * The search term's grammar: `"…"` is a phrase (an unclosed quote runs to the end), a word
 * ending in `*` matches as a prefix, and every other word must appear; all clauses must
 * match. Nothing else is syntax: `OR`, `NEAR(`, `-`, `:` and the like are ordinary text, and
 * punctuation only separates words.
 */
export function parseSearchTerm(term: string): SearchQuery {
  const clauses: SearchClause[] = [];
  let i = 0;
  while (i < term.length) {
    if (term[i] === '"') {
      const end = term.indexOf('"', i + 1);
      const body = term.slice(i + 1, end === -1 ? term.length : end);
      i = end === -1 ? term.length : end + 1;
      let prefix = false;
      if (term[i] === '*') { prefix = true; i++; }
      const tokens = words(body).map((w) => w.token);
      if (tokens.length) clauses.push({ tokens, prefix });
      continue;
    }
    if (/\s/u.test(term[i])) { i++; continue; }
    let end = i;
    while (end < term.length && term[end] !== '"' && !/\s/u.test(term[end])) end++;
    const word = term.slice(i, end);
    i = end;
    const tokens = words(word).map((w) => w.token);
    if (tokens.length) clauses.push({ tokens, prefix: word.endsWith('*') && isWordEnd(word) });
  }
  const total = clauses.reduce((n, c) => n + c.tokens.length, 0);
  if (total > MAX_SEARCH_TOKENS) throw new SearchTermError(`The search term has more than ${MAX_SEARCH_TOKENS} words`);
  return { clauses };
}

/** `hel*` is a prefix; `hel-*` or `*` alone are not (the star does not follow a word). */
function isWordEnd(word: string): boolean {
  const before = word.slice(0, -1).replace(/\*+$/u, '');
  return before.length > 0 && new RegExp(`${WORD.source}$`, 'u').test(before);
}

/** Whether an indexed token satisfies one token of a clause. */
function tokenMatches(token: string, wanted: string, prefix: boolean): boolean {
  return prefix ? token.startsWith(wanted) : token === wanted;
}

/**
 * spec: `highlights`: the words to highlight. The query's own words, plus the words of the
 * given texts (as written there, e.g. "Café" for "cafe", "hello" for "hel*") that matched.
 */
export function highlightsOf(q: SearchQuery, texts: string[]): string[] {
  const out = new Set<string>();
  const wanted: Array<{ token: string; prefix: boolean }> = [];
  for (const c of q.clauses) {
    c.tokens.forEach((t, i) => {
      const prefix = c.prefix && i === c.tokens.length - 1;
      wanted.push({ token: t, prefix });
      if (!prefix) out.add(t);
    });
  }
  for (const text of texts) {
    for (const w of words(text)) {
      if (wanted.some((x) => tokenMatches(w.token, x.token, x.prefix))) out.add(w.surface);
    }
  }
  return [...out];
}

/**
 * A cheap relevance for results ordered by recency: the share of the text's words that are
 * query words (in (0, 1]). It needs no statistics over other matches, which bm25 reads in full.
 */
export function shareOfMatchingWords(q: SearchQuery, text: string): number {
  const all = words(text);
  if (all.length === 0) return 0;
  const wanted = q.clauses.flatMap((c) => c.tokens.map((token, i) => ({ token, prefix: c.prefix && i === c.tokens.length - 1 })));
  const hits = all.filter((w) => wanted.some((x) => tokenMatches(w.token, x.token, x.prefix))).length;
  return hits / all.length;
}

/**
 * The query in FTS5 syntax. Every token is a quoted string, so no user text is ever read as
 * FTS5 syntax (tokens hold only letters, digits and marks, so they contain no quote either).
 */
export function toFts5Query(q: SearchQuery): string {
  return q.clauses.map((c) => `"${c.tokens.join(' ').replaceAll('"', '""')}"${c.prefix ? '*' : ''}`).join(' AND ');
}

/**
 * The query for PostgreSQL's to_tsquery: quoted lexemes, `<->` between the words of a phrase,
 * `:*` for a prefix, `&` between clauses.
 */
export function toTsQuery(q: SearchQuery): string {
  const lexeme = (t: string) => `'${t.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  return q.clauses.map((c) => {
    const parts = c.tokens.map((t, i) => lexeme(t) + (c.prefix && i === c.tokens.length - 1 ? ':*' : ''));
    return parts.length > 1 ? `(${parts.join(' <-> ')})` : parts[0];
  }).join(' & ');
}
