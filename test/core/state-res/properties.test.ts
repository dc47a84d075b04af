// Property tests: state resolution over random forked rooms (random-room.ts) in
// every algorithm: v1 (room version 1), v2 (2, 11) and v2.1 (12).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StateMap } from '../../../src/core/pdu.js';
import { getRoomVersion } from '../../../src/core/room-versions.js';
import { resolveState } from '../../../src/core/state-res/index.js';
import { type Command, type RandomRoom, buildRandomRoom } from './random-room.js';

const command: fc.Arbitrary<Command> = fc.record({
  tip: fc.nat(7),
  action: fc.nat(8),
  actor: fc.nat(4),
  target: fc.nat(4),
  value: fc.nat(255),
  fork: fc.nat(2).map((x) => x === 0),
  merge: fc.nat(5).map((x) => x === 0),
});

// The room is built inside each property so that a counterexample prints as commands.
const roomSpec = fc.tuple(fc.constantFrom('1', '2', '11', '12'), fc.array(command, { minLength: 5, maxLength: 40, size: 'max' }));
const build = ([versionId, commands]: [string, Command[]]): RandomRoom => buildRandomRoom(versionId, commands);

const resolve = (r: RandomRoom, sets: StateMap[]): StateMap =>
  resolveState(getRoomVersion(r.versionId)!, sets, (id) => r.events.get(id));

const sorted = (m: ReadonlyMap<string, string>): Array<[string, string]> => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

describe('state resolution properties', () => {
  it('does not depend on the order of the state sets', () => {
    fc.assert(
      fc.property(roomSpec, fc.nat(), (spec, seed) => {
        const r = build(spec);
        fc.pre(r.tips.length >= 2);
        const sets = r.tips.map((t) => t.state);
        const expected = sorted(resolve(r, sets));
        // Every rotation, reversed, and one more permutation chosen by the seed.
        for (let k = 1; k < sets.length; k++) {
          expect(sorted(resolve(r, [...sets.slice(k), ...sets.slice(0, k)]))).toEqual(expected);
        }
        expect(sorted(resolve(r, [...sets].reverse()))).toEqual(expected);
        const shuffled = [...sets];
        for (let i = shuffled.length - 1, s = seed; i > 0; i--, s = Math.floor(s / (i + 1))) {
          const j = s % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
        }
        expect(sorted(resolve(r, shuffled))).toEqual(expected);
      }),
      { numRuns: 150 },
    );
  });

  it('returns a single state set unchanged', () => {
    fc.assert(
      fc.property(roomSpec, (spec) => {
        const r = build(spec);
        for (const t of r.tips) expect(sorted(resolve(r, [t.state]))).toEqual(sorted(t.state));
      }),
      { numRuns: 100 },
    );
  });

  it('returns a state set resolved with copies of itself unchanged', () => {
    fc.assert(
      fc.property(roomSpec, fc.integer({ min: 2, max: 4 }), (spec, copies) => {
        const r = build(spec);
        for (const t of r.tips) {
          const sets = Array.from({ length: copies }, () => new Map(t.state));
          expect(sorted(resolve(r, sets))).toEqual(sorted(t.state));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('keeps the unconflicted state and leaves its inputs untouched', () => {
    fc.assert(
      fc.property(roomSpec, (spec) => {
        const r = build(spec);
        fc.pre(r.tips.length >= 2);
        const sets = r.tips.map((t) => t.state);
        const before = sets.map(sorted);
        const resolved = resolve(r, sets);
        expect(sets.map(sorted)).toEqual(before);
        for (const [key, id] of sets[0]) {
          if (sets.every((s) => s.get(key) === id)) expect(resolved.get(key)).toBe(id);
        }
        // Every resolved entry is a state event of the room, under its own key.
        for (const [key, id] of resolved) {
          const ev = r.events.get(id)!;
          expect(`${ev.type}\u0000${ev.state_key}`).toBe(key);
        }
      }),
      { numRuns: 100 },
    );
  });
});
