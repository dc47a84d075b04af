// The matching primitives of push conditions: glob patterns and dot-separated property paths.
// "Case-insensitive" is left to the server by the spec; here it means equal after
// String.prototype.toLowerCase(), so that values can be lowered once per event and literal
// patterns (most of them) compare without regular expressions.
// spec: appendices "Glob-style matching", "Dot-separated property paths";
// client-server-api modules/push "Conditions" (event_match, content.body word boundaries)

/** A word boundary is the start or end of the value or a character outside [A-Za-z0-9_]. */
const WORD_CHAR = '[A-Za-z0-9_]';

/** Tests a lower-cased value against a glob; see compileGlob. */
export type GlobMatcher = (loweredValue: string) => boolean;

/**
 * A glob as a matcher of lower-cased values. `whole`: the pattern must match the entire value.
 * `word`: it must match a substring that starts and ends at word boundaries (how content.body is
 * matched). `*` matches any number of characters, `?` exactly one (code point).
 */
export function compileGlob(pattern: string, mode: 'whole' | 'word'): GlobMatcher {
  const lowered = pattern.toLowerCase();
  if (isGlobLiteral(lowered) && !(mode === 'word' && lowered === '')) {
    return mode === 'whole' ? (v) => v === lowered : (v) => containsWord(v, lowered);
  }
  let body = '';
  for (const ch of lowered) {
    if (ch === '*') body += '[^]*';
    else if (ch === '?') body += '[^]';
    else body += escapeRegExp(ch);
  }
  const re = new RegExp(mode === 'whole' ? `^${body}$` : `(?<!${WORD_CHAR})${body}(?!${WORD_CHAR})`, 'u');
  return (v) => re.test(v);
}

/** A glob test of one value, case-insensitively (for tests and one-off checks). */
export function globMatches(pattern: string, value: string, mode: 'whole' | 'word'): boolean {
  return compileGlob(pattern, mode)(value.toLowerCase());
}

/** Whether `word` occurs in `text` between word boundaries (both already lower-cased; `word` not empty). */
export function containsWord(text: string, word: string): boolean {
  for (let i = text.indexOf(word); i !== -1; i = text.indexOf(word, i + 1)) {
    if (!isWordChar(text.charCodeAt(i - 1)) && !isWordChar(text.charCodeAt(i + word.length))) return true;
  }
  return false;
}

/** [A-Za-z0-9_]; NaN (before the start or after the end) is a boundary. */
function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isGlobLiteral(glob: string): boolean {
  return !glob.includes('*') && !glob.includes('?');
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/**
 * Splits a dot-separated property path: `\.` is a literal dot and `\\` a literal backslash; any
 * other backslash is itself (`content.m\.relates_to` → ['content', 'm.relates_to']).
 */
export function parsePropertyPath(path: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i];
    if (ch === '\\' && (path[i + 1] === '.' || path[i + 1] === '\\')) {
      current += path[++i];
    } else if (ch === '.') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** The value at a property path through nested objects, or undefined when any step is missing. */
export function lookupProperty(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Canonical JSON's non-compound values: strings, integers in ±(2^53−1), booleans and null. */
export function isNonCompoundValue(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isSafeInteger(v));
}
