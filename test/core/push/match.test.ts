// Globs and dot-separated property paths, with the spec's examples.
// spec: appendices "Glob-style matching", "Dot-separated property paths"; modules/push "event_match"
import { describe, expect, it } from 'vitest';
import { containsWord, globMatches, lookupProperty, parsePropertyPath } from '../../../src/core/push/match.js';

describe('globs against a whole value', () => {
  const lunch = { test: (v: string) => globMatches('lunc?*', v, 'whole') };

  it('matches the spec example: lunc?* against topics', () => {
    expect(lunch.test('Lunch plans')).toBe(true);
    expect(lunch.test('LUNCH')).toBe(true); // case-insensitive; * may match nothing
    expect(lunch.test(' lunch')).toBe(false); // the whole value must match
    expect(lunch.test('lunc')).toBe(false); // ? must match a character
  });

  it('treats regular expression syntax as literal text', () => {
    const glob = 'a.b+(c)[d]{2}|^$\\/-*';
    expect(globMatches(glob, 'a.b+(c)[d]{2}|^$\\/-', 'whole')).toBe(true);
    expect(globMatches(glob, 'axb+(c)[d]{2}|^$\\/-', 'whole')).toBe(false);
    expect(globMatches('a.c', 'abc', 'whole')).toBe(false);
  });

  it('? is one character, including one outside the BMP; * crosses lines', () => {
    expect(globMatches('a?b', 'a😀b', 'whole')).toBe(true);
    expect(globMatches('a?b', 'a😀😀b', 'whole')).toBe(false);
    expect(globMatches('a*b', 'a\nline\nb', 'whole')).toBe(true);
  });

  it('the empty pattern matches only the empty string', () => {
    expect(globMatches('', '', 'whole')).toBe(true);
    expect(globMatches('', 'x', 'whole')).toBe(false);
  });

  it('folds case beyond ASCII', () => {
    expect(globMatches('ÉTÉ*', 'été 2024', 'whole')).toBe(true);
  });
});

describe('globs against the words of content.body', () => {
  const example = { test: (v: string) => globMatches('ex*ple', v, 'word') };

  it('matches the spec example: ex*ple against bodies', () => {
    expect(example.test('An example event.')).toBe(true);
    expect(example.test('exple')).toBe(true); // at the start and end of the body
    expect(example.test('An exciting triple-whammy')).toBe(true); // across words; - separates words
  });

  it('needs word boundaries at both ends', () => {
    expect(example.test('An examples event')).toBe(false);
    expect(example.test('Anexample event')).toBe(false);
    expect(example.test('example_')).toBe(false); // _ is a word character
    expect(example.test('example2')).toBe(false);
    expect(example.test('(example)')).toBe(true);
  });

  it('a literal word between boundaries, case-insensitively', () => {
    const room = { test: (v: string) => globMatches('@room', v, 'word') };
    expect(room.test('hello @room!')).toBe(true);
    expect(room.test('@ROOM')).toBe(true);
    expect(room.test('@roommate')).toBe(false);
    expect(room.test('x@room')).toBe(false);
    expect(room.test('@roommate @room')).toBe(true); // a later occurrence counts
    expect(globMatches('Alice', 'hi alice, lunch?', 'word')).toBe(true);
    expect(globMatches('Alice', 'Malice', 'word')).toBe(false);
    expect(globMatches('[bot]', 'ping [bot] now', 'word')).toBe(true);
    expect(globMatches('a?c', 'x abc y', 'word')).toBe(true);
    expect(globMatches('a?c', 'xabc y', 'word')).toBe(false);
  });

  it('containsWord: lower-cased text and word, boundaries at both ends', () => {
    expect(containsWord('bobby tables, hi', 'bobby tables')).toBe(true);
    expect(containsWord('bobby tablesx', 'bobby tables')).toBe(false);
    expect(containsWord('_bob', 'bob')).toBe(false);
    expect(containsWord('bob9', 'bob')).toBe(false);
    expect(containsWord('é bob é', 'bob')).toBe(true);
    expect(containsWord('bob', 'bob')).toBe(true);
  });
});

describe('dot-separated property paths', () => {
  it('splits on dots; \\. is a literal dot, \\\\ a literal backslash, other escapes stay', () => {
    expect(parsePropertyPath('content.body')).toEqual(['content', 'body']);
    expect(parsePropertyPath('content.m\\.relates_to')).toEqual(['content', 'm.relates_to']);
    expect(parsePropertyPath('content.m\\\\foo')).toEqual(['content', 'm\\foo']);
    expect(parsePropertyPath('content.m\\x')).toEqual(['content', 'm\\x']);
    expect(parsePropertyPath('content.m\\.mentions.user_ids')).toEqual(['content', 'm.mentions', 'user_ids']);
    expect(parsePropertyPath('type')).toEqual(['type']);
  });

  it('looks up own properties through objects only', () => {
    const ev = { content: { 'm.relates_to': { rel_type: 'm.replace' }, list: [{ a: 1 }], 'm\\foo': 'x' } };
    expect(lookupProperty(ev, parsePropertyPath('content.m\\.relates_to.rel_type'))).toBe('m.replace');
    expect(lookupProperty(ev, parsePropertyPath('content.m\\\\foo'))).toBe('x');
    expect(lookupProperty(ev, ['content', 'list', '0', 'a'])).toBeUndefined();
    expect(lookupProperty(ev, ['content', 'missing'])).toBeUndefined();
    expect(lookupProperty(ev, ['content', 'toString'])).toBeUndefined();
  });
});
