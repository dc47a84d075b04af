// Runs every state resolution fixture in test/fixtures/state-res/ (format: README.md
// there), once walking auth chains through the events and once with each form of
// precomputed auth chains the API accepts.
import { describe, expect, it } from 'vitest';
import type { RoomEvent, StateMap } from '../../../src/core/pdu.js';
import { getRoomVersion } from '../../../src/core/room-versions.js';
import { type AuthChainSource, resolveState } from '../../../src/core/state-res/index.js';
import { fixtureEvents, listFixtures, readFixture, stateBefore, stateFromJson, stateToJson } from './fixture-format.js';

const files = listFixtures();

/** Auth chains as a storage index would hold them: `auth_events` only (in v12 without the implied create). */
function authChainIndex(events: ReadonlyMap<string, RoomEvent>): (id: string) => Set<string> {
  const memo = new Map<string, Set<string>>();
  const chain = (id: string): Set<string> => {
    let c = memo.get(id);
    if (!c) {
      c = new Set();
      for (const ref of events.get(id)?.auth_events ?? []) {
        const a = typeof ref === 'string' ? ref : ref[0];
        c.add(a);
        for (const x of chain(a)) c.add(x);
      }
      memo.set(id, c);
    }
    return c;
  };
  return chain;
}

type ChainMode = 'walked' | 'per event' | 'per state set';

describe('state resolution fixtures', () => {
  it('finds the fixtures', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  for (const file of files) {
    const fixture = readFixture(file);
    describe(file, () => {
      const version = getRoomVersion(fixture.room_version);
      const events = fixtureEvents(fixture);
      const rejected = new Set(fixture.rejected ?? []);
      const index = authChainIndex(events);
      const resolverFor = (mode: ChainMode) => (sets: StateMap[]) => {
        let chains: AuthChainSource | undefined;
        if (mode === 'per event') chains = index;
        if (mode === 'per state set') {
          chains = sets.map((set) => {
            const full = new Set<string>();
            for (const id of set.values()) for (const a of index(id)) full.add(a);
            return full;
          });
        }
        return resolveState(version!, sets, (id) => events.get(id), chains, { isRejected: (id) => rejected.has(id) });
      };

      for (const test of fixture.tests) {
        for (const mode of ['walked', 'per event', 'per state set'] as const) {
          it(`${test.name} (auth chains ${mode})`, () => {
            expect(version, `room version ${fixture.room_version}`).toBeDefined();
            const resolve = resolverFor(mode);
            const actual = test.state_sets
              ? resolve(test.state_sets.map(stateFromJson))
              : stateBefore(test.state_before!, events, rejected, resolve);
            expect(stateToJson(actual)).toEqual(test.expected);
          });
        }
      }
    });
  }
});
