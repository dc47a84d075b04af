// What a URL preview reads from an HTML page: OpenGraph `og:*` meta tags, with the page's
// <title> and <meta name="description"> as fallbacks. A small scanner rather than a DOM: it
// only needs <meta> and <title>, and ignores comments, scripts and styles where a tag-like
// string could hide. No I/O.

const MAX_VALUE_CHARS = 1000;
const MAX_DESCRIPTION_CHARS = 500;
const MAX_KEYS = 50;

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,8});/gi, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff) ? String.fromCodePoint(code) : '\ufffd';
    }
    return NAMED_ENTITIES[ref.toLowerCase()] ?? whole;
  });
}

function clean(text: string, max = MAX_VALUE_CHARS): string {
  const t = decodeEntities(text).replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

const ATTRIBUTE = /([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(ATTRIBUTE)) {
    const name = m[1].toLowerCase();
    if (!out.has(name)) out.set(name, m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/** The charset an HTML document declares in a <meta> near its start, if any. */
export function declaredCharset(head: string): string | undefined {
  const m = /<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)/i.exec(head.slice(0, 4096));
  return m?.[1];
}

/** OpenGraph properties of a page, `og:title` and `og:description` filled from the fallbacks. */
export function parseHtmlMeta(html: string): Record<string, string> {
  const text = html
    .replace(/<!--[\s\S]*?(?:-->|$)/g, ' ')
    .replace(/<(script|style|template|noscript)\b[\s\S]*?(?:<\/\1\s*>|$)/gi, ' ');
  const og: Record<string, string> = {};
  let description: string | undefined;
  let count = 0;
  for (const m of text.matchAll(/<meta\b([^>]*)>/gi)) {
    const attrs = attributes(m[1]);
    const key = (attrs.get('property') ?? attrs.get('name') ?? '').trim();
    const content = attrs.get('content');
    if (content === undefined || key === '') continue;
    if (key.toLowerCase() === 'description' && description === undefined) description = content;
    if (!key.startsWith('og:') || key in og || count >= MAX_KEYS) continue;
    og[key] = clean(content, key === 'og:description' ? MAX_DESCRIPTION_CHARS : MAX_VALUE_CHARS);
    count++;
  }
  if (og['og:title'] === undefined) {
    const title = /<title\b[^>]*>([\s\S]*?)<\/title\s*>/i.exec(text);
    if (title && clean(title[1]) !== '') og['og:title'] = clean(title[1]);
  }
  if (og['og:description'] === undefined && description !== undefined && clean(description) !== '') {
    og['og:description'] = clean(description, MAX_DESCRIPTION_CHARS);
  }
  return og;
}
