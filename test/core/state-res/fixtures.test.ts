// Runs every state resolution fixture in test/fixtures/state-res/ (format: README.md there).
import { describe, expect, it } from 'vitest';
import { getRoomVersion } from '../../../src/core/room-versions.js';
import { resolveState } from '../../../src/core/state-res/index.js';
import { fixtureEvents, listFixtures, readFixture, stateBefore, stateFromJson, stateToJson } from './fixture-format.js';

const files = listFixtures();

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
      const resolve = (sets: Map<string, string>[]) =>
        resolveState(version!, sets, (id) => events.get(id), undefined, { isRejected: (id) => rejected.has(id) });

      for (const test of fixture.tests) {
        it(test.name, () => {
          expect(version, `room version ${fixture.room_version}`).toBeDefined();
          const actual = test.state_sets
            ? resolve(test.state_sets.map(stateFromJson))
            : stateBefore(test.state_before!, events, rejected, resolve);
          expect(stateToJson(actual)).toEqual(test.expected);
        });
      }
    });
  }
});
