import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  canonicalJson,
  checkStrictNumberSyntax,
  compareCodePoints,
  decodeBase64,
  decodeBase64Url,
  encodeBase64,
  encodeBase64Url,
  encodeCanonicalJson,
  CanonicalJsonError,
} from '../../src/core/json.js';

function canonical(value: unknown, strict = true): string {
  const v = canonicalJson(value, { strict });
  if (!v.ok) throw new Error(`unexpected rejection: ${v.reason}`);
  return v.value;
}

describe('canonical JSON: the appendix examples, verbatim', () => {
  // spec: appendices "Canonical JSON" > Examples. Inputs are parsed from the exact text given.
  const examples: [string, string][] = [
    ['{}', '{}'],
    ['{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'],
    ['{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'],
    ['{"b":"2","a":"1"}', '{"a":"1","b":"2"}'],
    [
      `{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`,
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
    ],
    ['{\n    "a": "日本語"\n}', '{"a":"日本語"}'],
    ['{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'],
    ['{\n    "a": "\\u65E5"\n}', '{"a":"日"}'],
    ['{\n    "a": null\n}', '{"a":null}'],
    ['{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'],
  ];
  it.each(examples)('%s', (input, expected) => {
    expect(canonical(JSON.parse(input))).toBe(expected);
    expect(canonical(JSON.parse(input), false)).toBe(expected);
  });
});

describe('canonical JSON: strings', () => {
  it('uses the short escapes, lowercase \\u00XX for other controls, and nothing else', () => {
    expect(canonical('\b\t\n\f\r"\\')).toBe('"\\b\\t\\n\\f\\r\\"\\\\"');
    expect(canonical('\u0000\u0001\u000b\u000e\u001f')).toBe('"\\u0000\\u0001\\u000b\\u000e\\u001f"');
    // DEL, non-ASCII, line/paragraph separators and astral characters are written raw.
    expect(canonical('\u007f é \u2028\u2029 😀 /')).toBe('"\u007f é \u2028\u2029 😀 /"');
  });

  it('rejects lone surrogates, which UTF-8 cannot encode', () => {
    for (const s of ['\ud800', 'a\udc00b', '\ude00\ud83d']) {
      const v = canonicalJson({ k: s });
      expect(v.ok).toBe(false);
      expect(canonicalJson({ [s]: 1 }).ok).toBe(false);
    }
    expect(canonical('\ud83d\ude00')).toBe('"😀"');
  });

  it('sorts keys by code point, not UTF-16 code unit', () => {
    // U+FB01 sorts before U+1F600 by code point; by UTF-16 unit 0xD83D < 0xFB01 says otherwise.
    expect(canonical({ '😀': 1, 'ﬁ': 2, a: 3, '': 4 })).toBe('{"":4,"a":3,"ﬁ":2,"😀":1}');
    expect(compareCodePoints('\uffff', '\u{10000}')).toBeLessThan(0);
    expect(compareCodePoints('\u{10000}', '\u{10001}')).toBeLessThan(0);
    expect(compareCodePoints('ab', 'a')).toBeGreaterThan(0);
  });
});

describe('canonical JSON: numbers', () => {
  it('accepts the canonical integer range in strict mode', () => {
    expect(canonical(2 ** 53 - 1)).toBe('9007199254740991');
    expect(canonical(-(2 ** 53) + 1)).toBe('-9007199254740991');
    expect(canonical(-0)).toBe('0');
  });

  it('rejects floats and out-of-range integers in strict mode', () => {
    for (const n of [1.5, -0.1, 2 ** 53, -(2 ** 53), 1e300]) {
      const v = canonicalJson({ a: [n] }, { strict: true });
      expect(v).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
    }
  });

  it('writes what pre-v6 servers wrote for floats and big integers in lenient mode', () => {
    expect(canonical(50.57, false)).toBe('50.57');
    expect(canonical(0.0001, false)).toBe('0.0001');
    expect(canonical(0.00001, false)).toBe('1e-05'); // Python repr, not JS's 0.00001
    expect(canonical(-1.5e-7, false)).toBe('-1.5e-07');
    expect(canonical(2 ** 60, false)).toBe('1152921504606846976');
    expect(canonical(1e21, false)).toBe('1000000000000000000000');
  });

  it('rejects values that are not JSON in either mode', () => {
    const bad: unknown[] = [undefined, () => 1, Symbol('x'), 10n, NaN, Infinity, -Infinity, new Date(0), new Map(), [undefined], { a: undefined }];
    for (const value of bad) {
      for (const strict of [true, false]) {
        expect(canonicalJson(value, { strict })).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
        expect(canonicalJson({ nested: [value] }, { strict }).ok).toBe(false);
      }
    }
    expect(() => encodeCanonicalJson({ a: NaN })).toThrow(CanonicalJsonError);
  });

  it('rejects absurd nesting instead of overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(canonicalJson(deep)).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
  });

  it('finds non-integer number syntax in raw JSON text, outside strings only', () => {
    expect(checkStrictNumberSyntax('{"a":1,"b":[-2,0],"c":"1.5e3 \\" 2.0"}').ok).toBe(true);
    for (const text of ['{"a":1.0}', '{"a":1e3}', '[-2E+1]', '{"s":"\\"","n":0.5}']) {
      expect(checkStrictNumberSyntax(text)).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
    }
  });
});

// --- property tests ---------------------------------------------------------------------------

/** JSON values as strict canonical JSON allows them: no floats, integers in range. */
const canonicalValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: 'binary' }), tie('value'), { maxKeys: 6 }),
  ),
})).value;

/** Rebuild every object with its keys inserted in a different order. */
function reorder(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, seed));
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value);
    const rotated = keys.slice(seed % (keys.length || 1)).concat(keys.slice(0, seed % (keys.length || 1))).reverse();
    const out: Record<string, unknown> = {};
    for (const k of rotated) Object.defineProperty(out, k, { value: reorder((value as Record<string, unknown>)[k], seed), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return value;
}

/** An independent reference: sort by arrays of code points. */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const cps = (s: string) => Array.from(s, (c) => c.codePointAt(0)!);
    const cmp = (a: string, b: string) => {
      const x = cps(a), y = cps(b);
      for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
      return x.length - y.length;
    };
    const entries = Object.keys(value).sort(cmp).map((k) => `${JSON.stringify(k)}:${reference((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('canonical JSON: properties', () => {
  it('does not depend on key insertion order', () => {
    fc.assert(fc.property(canonicalValue, fc.nat(), (value, seed) => {
      expect(canonical(reorder(value, seed))).toBe(canonical(value));
    }));
  });

  it('round-trips: JSON.parse(output) deep-equals the input', () => {
    fc.assert(fc.property(canonicalValue, (value) => {
      expect(JSON.parse(canonical(value))).toEqual(value);
    }));
  });

  it('matches an independent reference encoding (code point order, minimal escapes)', () => {
    fc.assert(fc.property(canonicalValue, (value) => {
      expect(canonical(value)).toBe(reference(value));
    }));
  });

  it('rejects floats and out-of-range integers wherever they hide, in strict mode', () => {
    const badNumber = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Number.isInteger(n)),
      fc.integer({ min: 1, max: 2 ** 20 }).map((n) => 2 ** 53 + n * 2),
      fc.integer({ min: 1, max: 2 ** 20 }).map((n) => -(2 ** 53) - n * 2),
    );
    fc.assert(fc.property(canonicalValue, badNumber, fc.array(fc.string(), { maxLength: 3 }), (value, n, path) => {
      const poisoned = path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), [value, n]);
      expect(canonicalJson(poisoned, { strict: true })).toMatchObject({ ok: false, code: 'M_BAD_JSON' });
      if (Number.isInteger(n)) expect(canonicalJson(poisoned, { strict: false }).ok).toBe(true);
    }));
  });

  it('rejects non-JSON values and never throws', () => {
    const nonJson = fc.oneof(
      fc.constant(undefined), fc.constant(NaN), fc.constant(Infinity), fc.bigInt(),
      fc.func(fc.integer()), fc.constant(Symbol('s')), fc.date(),
    );
    fc.assert(fc.property(canonicalValue, nonJson, (value, bad) => {
      expect(canonicalJson({ value, bad }).ok).toBe(false);
      expect(canonicalJson([value, bad], { strict: false }).ok).toBe(false);
    }));
    fc.assert(fc.property(fc.anything(), (value) => {
      const v = canonicalJson(value);
      expect(typeof v.ok).toBe('boolean');
    }));
  });
});

describe('unpadded base64', () => {
  it('encodes the appendix examples', () => {
    // spec: appendices "Unpadded Base64"
    const examples: [string, string][] = [
      ['', ''], ['f', 'Zg'], ['fo', 'Zm8'], ['foo', 'Zm9v'], ['foob', 'Zm9vYg'], ['fooba', 'Zm9vYmE'], ['foobar', 'Zm9vYmFy'],
    ];
    for (const [input, encoded] of examples) {
      expect(encodeBase64(Buffer.from(input))).toBe(encoded);
      expect(decodeBase64(encoded)?.toString()).toBe(input);
    }
  });

  it('decodes padded and unpadded input, and rejects what is not base64', () => {
    expect(decodeBase64('Zg==')?.toString()).toBe('f');
    expect(decodeBase64('Zm8=')?.toString()).toBe('fo');
    for (const bad of ['Z', 'Zg=', 'Zg===', 'Z===', 'Zm9v!', 'Zm 9v', 'Zm-_', '=Zm9']) {
      expect(decodeBase64(bad)).toBeUndefined();
    }
  });

  it('accepts non-zero trailing bits, like the spec test seed', () => {
    const seed = decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1');
    expect(seed?.length).toBe(32);
  });

  it('has a URL-safe variant', () => {
    const bytes = Uint8Array.from([0xfb, 0xff, 0xbf]);
    expect(encodeBase64(bytes)).toBe('+/+/');
    expect(encodeBase64Url(bytes)).toBe('-_-_');
    expect(decodeBase64Url('-_-_')).toEqual(Buffer.from(bytes));
    expect(decodeBase64Url('+/+/')).toBeUndefined();
    expect(decodeBase64('-_-_')).toBeUndefined();
  });

  it('round-trips arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const s = encodeBase64(bytes);
      expect(s.includes('=')).toBe(false);
      expect(decodeBase64(s)).toEqual(Buffer.from(bytes));
      expect(decodeBase64Url(encodeBase64Url(bytes))).toEqual(Buffer.from(bytes));
      expect(decodeBase64(Buffer.from(bytes).toString('base64'))).toEqual(Buffer.from(bytes));
    }));
  });
});
