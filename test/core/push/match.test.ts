// Globs and dot-separated property paths, with the spec's examples.
// spec: appendices "Glob-style matching", "Dot-separated property paths"; modules/push "event_match"
import { describe, expect, it } from 'vitest';
import { globToRegExp, lookupProperty, parsePropertyPath, wordRegExp } from '../../../src/core/push/match.js';

describe('globToRegExp, whole value', () => {
  const lunch = globToRegExp('lunc?*', 'whole');

  it('matches the spec example: lunc?* against topics', () => {
    expect(lunch.test('Lunch plans')).toBe(true);
    expect(lunch.test('LUNCH')).toBe(true); // case-insensitive; * may match nothing
    expect(lunch.test(' lunch')).toBe(false); // the whole value must match
    expect(lunch.test('lunc')).toBe(false); // ? must match a character
  });

  it('treats regular expression syntax as literal text', () => {
    const re = globToRegExp('a.b+(c)[d]{2}|^$\\/-', 'whole');
    expect(re.test('a.b+(c)[d]{2}|^$\\/-')).toBe(true);
    expect(re.test('axb+(c)[d]{2}|^$\\/-')).toBe(false);
  });

  it('? is one character, including one outside the BMP; * crosses lines', () => {
    expect(globToRegExp('a?b', 'whole').test('a😀b')).toBe(true);
    expect(globToRegExp('a?b', 'whole').test('a😀😀b')).toBe(false);
    expect(globToRegExp('a*b', 'whole').test('a\nline\nb')).toBe(true);
  });

  it('the empty pattern matches only the empty string', () => {
    expect(globToRegExp('', 'whole').test('')).toBe(true);
    expect(globToRegExp('', 'whole').test('x')).toBe(false);
  });

  it('folds case beyond ASCII', () => {
    expect(globToRegExp('ÉTÉ*', 'whole').test('été 2024')).toBe(true);
  });
});

describe('globToRegExp, content.body words', () => {
  const example = globToRegExp('ex*ple', 'word');

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
    const room = wordRegExp('@room');
    expect(room.test('hello @room!')).toBe(true);
    expect(room.test('@ROOM')).toBe(true);
    expect(room.test('@roommate')).toBe(false);
    expect(wordRegExp('Alice').test('hi alice, lunch?')).toBe(true);
    expect(wordRegExp('Alice').test('Malice')).toBe(false);
    expect(wordRegExp('[bot]').test('ping [bot] now')).toBe(true);
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
