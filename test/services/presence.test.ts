// The presence stream as /sync will read it, and the presence state machine, over a real database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Client } from '../helpers/client.js';
import { Notifier, type StreamChange } from '../../src/services/notifier.js';
import { CURRENTLY_ACTIVE_MS, PresenceService } from '../../src/services/presence.js';
import { ConfigError, validateConfig } from '../../src/config.js';
import { createRoom, eventually, join } from '../http/ephemeral/helpers.js';

describe.each(ENGINES)('presence stream (%s)', (engine) => {
  let server: TestServer;
  let alice: string;
  let bob: string;
  let carol: string;

  beforeAll(async () => {
    server = await startTestServer(engine);
    const a = new Client(server.baseUrl);
    const b = new Client(server.baseUrl);
    const c = new Client(server.baseUrl);
    alice = (await a.register('alice')).user_id;
    bob = (await b.register('bob')).user_id;
    carol = (await c.register('carol')).user_id;
    await join(b, await createRoom(a));
  });
  afterAll(() => server.close());

  /** A service over the server's database with a clock the test moves. */
  function service(clock: { now: number }, idle = 5 * 60_000) {
    const notifier = new Notifier();
    const changes: StreamChange[] = [];
    notifier.subscribe((c) => changes.push(c));
    const presence = new PresenceService(server.hs.storage.presence, notifier, { enabled: true, idle_timeout_ms: idle }, undefined, () => clock.now);
    return { presence, changes };
  }

  it('gives each viewer the changes of users sharing a joined room with them, after a position', async () => {
    const clock = { now: 1_000_000 };
    const { presence, changes } = service(clock);
    await presence.setPresence(alice, 'online', 'hi');
    await presence.setPresence(bob, 'unavailable');
    await presence.setPresence(carol, 'online');
    expect(changes.map((c) => c.users)).toEqual([[alice], [bob], [carol]]);
    expect(changes.map((c) => c.position)).toEqual([...changes.map((c) => c.position)].sort((x, y) => x - y));
    const current = await presence.currentPosition();
    expect(current).toBe(changes[2].position);

    clock.now += 1_000;
    const all = await presence.presenceSince(alice, 0);
    expect(all).toEqual([
      { type: 'm.presence', sender: alice, content: { presence: 'online', status_msg: 'hi', last_active_ago: 1_000, currently_active: true } },
      { type: 'm.presence', sender: bob, content: { presence: 'unavailable' } },
    ]);
    expect((await presence.presenceSince(carol, 0)).map((e) => e.sender)).toEqual([carol]);

    const since = changes[1].position;
    expect((await presence.presenceSince(alice, since)).map((e) => e.sender)).toEqual([]);
    await presence.setPresence(bob, 'online');
    const bobChange = await presence.currentPosition();
    expect(bobChange).toBeGreaterThan(current);
    // One entry per user, in its newest state.
    expect(await presence.presenceSince(alice, since)).toEqual([{ type: 'm.presence', sender: bob, content: { presence: 'online', last_active_ago: 0, currently_active: true } }]);
    expect((await presence.presenceSince(alice, 0)).map((e) => e.sender)).toEqual([alice, bob]);
    // Bounded above: changes after `upTo` wait for the next read.
    expect((await presence.presenceSince(alice, 0, current)).map((e) => e.sender)).toEqual([alice]);
    expect((await presence.presenceSince(alice, current, bobChange)).map((e) => e.sender)).toEqual([bob]);
    expect(await presence.presenceEvents([carol])).toEqual([{ type: 'm.presence', sender: carol, content: { presence: 'online', last_active_ago: 1_000, currently_active: true } }]);
    await presence.close();
  });

  it('announces currently_active turning off and on, but not every bit of activity', async () => {
    const clock = { now: 5_000_000 };
    const { presence, changes } = service(clock);
    await presence.setPresence(alice, 'online');
    const online = changes.length;
    clock.now += 10_000;
    await presence.bumpActive(alice);
    expect(changes).toHaveLength(online); // still currently active: only the time moves, in memory
    expect(presence.format(await presence.get(alice))).toEqual({ presence: 'online', last_active_ago: 0, currently_active: true });

    clock.now += CURRENTLY_ACTIVE_MS + 1;
    expect(presence.format(await presence.get(alice))).toEqual({ presence: 'online', last_active_ago: CURRENTLY_ACTIVE_MS + 1, currently_active: false });
    expect(changes).toHaveLength(online + 1);
    await presence.bumpActive(alice);
    expect(changes).toHaveLength(online + 2);
    expect(presence.format(await presence.get(alice))).toMatchObject({ presence: 'online', currently_active: true });
    await presence.close();
  });

  it('turns an idle online user unavailable, keeping the status message', async () => {
    const clock = { now: 9_000_000 };
    const { presence, changes } = service(clock, 1_000);
    await presence.setPresence(bob, 'online', 'busy');
    clock.now += 1_001;
    expect(presence.format(await presence.get(bob))).toEqual({ presence: 'unavailable', last_active_ago: 1_001, status_msg: 'busy' });
    expect(changes.at(-1)?.users).toEqual([bob]);
    expect((await server.hs.storage.presence.get(bob))?.presence).toBe('unavailable');
    await presence.close();
  });

  it('keeps last-active times across a restart, and watches the users who were online', async () => {
    const clock = { now: 20_000_000 };
    const first = service(clock, 1_000);
    await first.presence.setPresence(carol, 'online');
    const stored = await server.hs.storage.presence.get(carol);
    clock.now += 500;
    await first.presence.bumpActive(carol); // in memory only...
    expect((await server.hs.storage.presence.get(carol))?.lastActiveTs).toBe(stored?.lastActiveTs);
    await first.presence.close(); // ...until shutdown, which does not make it a change
    expect(await server.hs.storage.presence.get(carol)).toEqual({ ...stored, lastActiveTs: clock.now });

    clock.now += 5_000;
    const second = service(clock, 1_000);
    second.presence.start();
    // Nobody asks about carol: the restarted service finds her online in the database and times her out.
    await eventually(() => expect(second.changes.map((c) => c.users)).toContainEqual([carol]));
    expect((await server.hs.storage.presence.get(carol))?.presence).toBe('unavailable');
    expect(second.presence.format(await second.presence.get(carol))).toEqual({ presence: 'unavailable', last_active_ago: 5_000 });
    await second.presence.close();
  });
});

describe('presence configuration', () => {
  it('defaults to enabled with a five-minute idle timeout', () => {
    expect(validateConfig({}).presence).toEqual({ enabled: true, idle_timeout_ms: 300_000, offline_after_sync_ms: 30_000 });
    expect(validateConfig({ presence: { enabled: false } }).presence).toEqual({ enabled: false, idle_timeout_ms: 300_000, offline_after_sync_ms: 30_000 });
  });

  it.each([
    [{ enabled: 'yes' }, 'presence.enabled'],
    [{ idle_timeout_ms: 10 }, 'presence.idle_timeout_ms'],
    [{ idle_timeout_ms: 'soon' }, 'presence.idle_timeout_ms'],
    [{ idle: 5 }, 'presence.idle'],
  ])('names the option in errors: %j', (presence, option) => {
    expect(() => validateConfig({ presence })).toThrow(ConfigError);
    expect(() => validateConfig({ presence })).toThrow(`\`${option}\``);
  });

  it('rejects a presence section that is not a mapping', () => {
    expect(() => validateConfig({ presence: true })).toThrow('`presence`');
  });
});
