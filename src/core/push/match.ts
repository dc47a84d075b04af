// The matching primitives of push conditions: glob patterns and dot-separated property paths.
// spec: appendices "Glob-style matching", "Dot-separated property paths";
// client-server-api modules/push "Conditions" (event_match, content.body word boundaries)

/** A word boundary is the start or end of the value or a character outside [A-Za-z0-9_]. */
const WORD_CHAR = '[A-Za-z0-9_]';

/**
 * A glob as a RegExp. `whole`: the pattern must match the entire value. `word`: it must match a
 * substring that starts and ends at word boundaries (how content.body is matched). Matching is
 * case-insensitive (Unicode case folding); `?` is one character (code point), `*` any number.
 */
export function globToRegExp(glob: string, mode: 'whole' | 'word'): RegExp {
  let body = '';
  for (const ch of glob) {
    if (ch === '*') body += '[^]*';
    else if (ch === '?') body += '[^]';
    else body += escapeRegExp(ch);
  }
  const source = mode === 'whole' ? `^${body}$` : `(?<!${WORD_CHAR})${body}(?!${WORD_CHAR})`;
  return new RegExp(source, 'iu');
}

/** A literal string as a RegExp matching it between word boundaries, case-insensitively. */
export function wordRegExp(literal: string): RegExp {
  return new RegExp(`(?<!${WORD_CHAR})${escapeRegExp(literal)}(?!${WORD_CHAR})`, 'iu');
}

export function isGlobLiteral(glob: string): boolean {
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
