// Push rules at work, observed over real HTTP through GET /notifications and /sync's counts:
// every server-default rule fires on the event it targets (and disabling it changes the
// outcome, so it was that rule), users' own keyword, mention, room and sender rules, ordering
// and enabled, ignored users, redactions, and the /notifications API itself.
// spec: client-server-api modules/push "Predefined Rules", "Listing Notifications",
// "Receiving notifications"; modules/ignore_users; modules/redactions
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { createRoom, enc, join, send } from '../ephemeral/helpers.js';

type Notification = { actions: unknown[]; event: { event_id: string; type: string; sender: string }; read: boolean; room_id: string; ts: number };
type Page = { notifications: Notification[]; next_token?: string };

const RULES = '/_matrix/client/v3/pushrules/global';
const text = (body: string, extra: Record<string, unknown> = {}) => ({ msgtype: 'm.text', body, 'm.mentions': {}, ...extra });
const SOUND = { set_tweak: 'sound', value: 'default' };
const HIGHLIGHT = { set_tweak: 'highlight' };
const CATCH_ALL = ['notify', { set_tweak: 'sound', value: 'catch-all' }];

describe.each(ENGINES)('push rules evaluated, /notifications (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let bob: Client;
  let carol: Client;
  let aliceId: string;
  let bobId: string;
  let carolId: string;

  const notifications = async (client: Client, query = '') => {
    const r = await client.get<Page>(`/_matrix/client/v3/notifications${query}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  /** Bob's notification for `eventId`, if it notified him. */
  const notificationOf = async (eventId: string, client = bob) => (await notifications(client, '?limit=10')).notifications.find((n) => n.event.event_id === eventId);
  const ok = async (p: Promise<{ status: number; body: unknown }>) => {
    const r = await p;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  const setEnabled = (client: Client, kind: string, ruleId: string, enabled: boolean) => ok(client.put(`${RULES}/${kind}/${enc(ruleId)}/enabled`, { enabled }));
  const state = async (client: Client, roomId: string, type: string, content: unknown, key = '') => {
    const r = await client.put<{ event_id: string }>(`/_matrix/client/v3/rooms/${enc(roomId)}/state/${type}/${enc(key)}`, content);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.event_id;
  };
  const unread = async (client: Client, roomId: string) => {
    const r = await client.get<{ rooms?: { join?: Record<string, { unread_notifications?: { notification_count: number; highlight_count: number } }> } }>('/_matrix/client/v3/sync');
    return r.body.rooms?.join?.[roomId]?.unread_notifications;
  };
  /** A room of alice (power 100), bob and carol. */
  const groupRoom = async () => {
    const roomId = await createRoom(alice);
    await join(bob, roomId);
    await join(carol, roomId);
    return roomId;
  };

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    bob = new Client(server.baseUrl);
    carol = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
    bobId = (await bob.register('bob')).user_id;
    carolId = (await carol.register('carol')).user_id;
    const r = await bob.put(`/_matrix/client/v3/profile/${enc(bobId)}/displayname`, { displayname: 'Bobby Tables' });
    expect(r.status).toBe(200);
  });
  afterAll(() => server.close());

  describe('each server-default rule fires on its event; disabled, the outcome changes', () => {
    let room: string;
    let direct: string;
    beforeAll(async () => {
      room = await groupRoom();
      direct = await createRoom(alice, { preset: 'trusted_private_chat', invite: [bobId], is_direct: true });
      await join(bob, direct);
    });

    /**
     * Sends the event, checks bob's actions (undefined: not notified), then sends it again with
     * the rule disabled and checks the other outcome.
     */
    const fires = async (kind: string, ruleId: string, sendIt: () => Promise<string>, actions: unknown[] | undefined, disabled: unknown[] | undefined) => {
      expect((await notificationOf(await sendIt()))?.actions).toEqual(actions);
      await setEnabled(bob, kind, ruleId, false);
      try {
        expect((await notificationOf(await sendIt()))?.actions).toEqual(disabled);
      } finally {
        await setEnabled(bob, kind, ruleId, true);
      }
    };
    /** For rules whose actions are [], a user underride rule that catches what falls through. */
    const withCatchAll = async (fn: () => Promise<void>) => {
      await ok(bob.put(`${RULES}/underride/catch-all`, { conditions: [], actions: CATCH_ALL }));
      try {
        await fn();
      } finally {
        await ok(bob.delete(`${RULES}/underride/catch-all`));
      }
    };

    it('.m.rule.master (disabled by default): enabled, nothing notifies', async () => {
      expect((await notificationOf(await send(alice, room, text('plain'))))?.actions).toEqual(['notify']);
      await setEnabled(bob, 'override', '.m.rule.master', true);
      try {
        expect(await notificationOf(await send(alice, room, text('plain')))).toBeUndefined();
        expect(await notificationOf(await send(alice, room, text('Bob', { 'm.mentions': { user_ids: [bobId] } })))).toBeUndefined();
      } finally {
        await setEnabled(bob, 'override', '.m.rule.master', false);
      }
    });

    it('.m.rule.suppress_notices', () => withCatchAll(() =>
      fires('override', '.m.rule.suppress_notices', () => send(alice, room, { msgtype: 'm.notice', body: 'bot says' }), undefined, CATCH_ALL)));

    it('.m.rule.invite_for_me (and not for other invites)', async () => {
      let n = 0;
      const invite = async () => {
        const roomId = await createRoom(alice, { preset: 'private_chat', name: `invite ${++n}` });
        await ok(alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: bobId }));
        const ev = (await notifications(bob, '?limit=1')).notifications[0];
        return ev?.room_id === roomId ? ev.event.event_id : 'none';
      };
      expect((await notifications(bob, '?limit=1')).notifications[0]?.event.type).not.toBe('m.room.member');
      await fires('override', '.m.rule.invite_for_me', invite, ['notify', SOUND], undefined);
      // Carol being invited to a room bob is in does not notify bob.
      const roomId = await createRoom(alice, { preset: 'private_chat' });
      await ok(alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: bobId }));
      await join(bob, roomId);
      await ok(alice.post(`/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: carolId }));
      const latest = (await notifications(bob, '?limit=1')).notifications[0]?.event as { state_key?: string } | undefined;
      expect(latest?.state_key).toBe(bobId); // still bob's own invite, not carol's
    });

    it('.m.rule.member_event', () => withCatchAll(() =>
      fires('override', '.m.rule.member_event', () => state(alice, room, 'm.room.member', { membership: 'join', displayname: `Alice ${Math.random()}` }, aliceId), undefined, CATCH_ALL)));

    it('.m.rule.is_user_mention (and not for others mentioned)', async () => {
      await fires('override', '.m.rule.is_user_mention', () => send(alice, room, text('look', { 'm.mentions': { user_ids: [bobId] } })), ['notify', SOUND, HIGHLIGHT], ['notify']);
      expect((await notificationOf(await send(alice, room, text('look', { 'm.mentions': { user_ids: [carolId] } }))))?.actions).toEqual(['notify']);
    });

    it('.m.rule.contains_display_name (messages without m.mentions)', async () => {
      await fires('override', '.m.rule.contains_display_name', () => send(alice, room, { msgtype: 'm.text', body: 'is Bobby Tables here' }), ['notify', SOUND, HIGHLIGHT], ['notify']);
      expect((await notificationOf(await send(alice, room, { msgtype: 'm.text', body: 'is Bobby here' })))?.actions).toEqual(['notify']);
    });

    it('.m.rule.is_room_mention (sender with the room notification level)', async () => {
      await fires('override', '.m.rule.is_room_mention', () => send(alice, room, text('all', { 'm.mentions': { room: true } })), ['notify', HIGHLIGHT], ['notify']);
      // Carol (power 0) may not: not a highlight.
      expect((await notificationOf(await send(carol, room, text('all', { 'm.mentions': { room: true } }))))?.actions).toEqual(['notify']);
    });

    it('.m.rule.roomnotif (@room in the body of messages without m.mentions)', async () => {
      await fires('override', '.m.rule.roomnotif', () => send(alice, room, { msgtype: 'm.text', body: '@room heads up' }), ['notify', HIGHLIGHT], ['notify']);
      expect((await notificationOf(await send(alice, room, text('@room heads up'))))?.actions).toEqual(['notify']);
    });

    it('.m.rule.tombstone', async () => {
      const roomId = await groupRoom();
      let n = 0;
      await fires('override', '.m.rule.tombstone', () => state(alice, roomId, 'm.room.tombstone', { body: 'moved', replacement_room: `!new${++n}:test.local` }), ['notify', HIGHLIGHT], undefined);
      // With a state key, it is no room upgrade.
      expect(await notificationOf(await state(alice, roomId, 'm.room.tombstone', { body: 'x', replacement_room: '!r:test.local' }, 'other'))).toBeUndefined();
    });

    it('.m.rule.reaction', async () => {
      const target = await send(alice, room, text('react to me'));
      let n = 0;
      await withCatchAll(() => fires('override', '.m.rule.reaction', () => send(alice, room, { 'm.relates_to': { rel_type: 'm.annotation', event_id: target, key: `${++n}` } }, 'm.reaction'), undefined, CATCH_ALL));
    });

    it('.m.rule.room.server_acl', () => withCatchAll(() =>
      fires('override', '.m.rule.room.server_acl', () => state(alice, room, 'm.room.server_acl', { allow: ['*'], deny: [`evil${Math.random()}.example`], allow_ip_literals: false }), undefined, CATCH_ALL)));

    it('.m.rule.suppress_edits', async () => {
      const target = await send(alice, room, text('typo'));
      await fires('override', '.m.rule.suppress_edits',
        () => send(alice, room, { msgtype: 'm.text', body: '* fixed', 'm.new_content': text('fixed'), 'm.relates_to': { rel_type: 'm.replace', event_id: target } }),
        undefined, ['notify']);
    });

    it('.m.rule.contains_user_name (content rule: the localpart in the body)', async () => {
      await fires('content', '.m.rule.contains_user_name', () => send(alice, room, { msgtype: 'm.text', body: 'ping bob!' }), ['notify', SOUND, HIGHLIGHT], ['notify']);
      expect((await notificationOf(await send(alice, room, { msgtype: 'm.text', body: 'ping bobby' })))?.actions).toEqual(['notify']);
    });

    it('.m.rule.call', () =>
      fires('underride', '.m.rule.call', () => send(alice, room, { call_id: `c${Math.random()}`, lifetime: 60000, version: '1', offer: { type: 'offer', sdp: 'v=0' } }, 'm.call.invite'),
        ['notify', { set_tweak: 'sound', value: 'ring' }], undefined));

    it('.m.rule.encrypted_room_one_to_one and .m.rule.encrypted', async () => {
      const encrypted = (roomId: string) => send(alice, roomId, { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'AwgA', sender_key: 'k', session_id: 's', device_id: 'D' }, 'm.room.encrypted');
      await fires('underride', '.m.rule.encrypted_room_one_to_one', () => encrypted(direct), ['notify', SOUND], ['notify']);
      await fires('underride', '.m.rule.encrypted', () => encrypted(room), ['notify'], undefined);
    });

    it('.m.rule.room_one_to_one and .m.rule.message', async () => {
      await fires('underride', '.m.rule.room_one_to_one', () => send(alice, direct, text('just us')), ['notify', SOUND], ['notify']);
      await fires('underride', '.m.rule.message', () => send(alice, room, text('everyone')), ['notify'], undefined);
      // Other event types do not notify.
      expect(await notificationOf(await send(alice, room, { x: 1 }, 'org.example.custom'))).toBeUndefined();
      expect(await notificationOf(await state(alice, room, 'm.room.topic', { topic: 'bob' }))).toBeUndefined();
    });
  });

  it("applies the user's keyword, override, room and sender rules, in order, when enabled", async () => {
    const room = await groupRoom();
    const quiet = await groupRoom();
    const dave = new Client(server.baseUrl);
    const daveId = (await dave.register(`dave${engine}`)).user_id;
    await join(dave, room);

    await ok(bob.put(`${RULES}/content/cake`, { pattern: 'cake*lie', actions: ['notify', HIGHLIGHT] }));
    expect((await notificationOf(await send(alice, room, text('the cake is a lie'))))?.actions).toEqual(['notify', HIGHLIGHT]);
    expect((await notificationOf(await send(alice, room, text('cakes are lies'))))?.actions).toEqual(['notify']);
    expect((await notificationOf(await send(alice, room, text('CAKE: a LIE'))))?.actions).toEqual(['notify', HIGHLIGHT]);

    // A room rule mutes one room only.
    await ok(bob.put(`${RULES}/room/${enc(quiet)}`, { actions: [] }));
    expect(await notificationOf(await send(alice, quiet, text('shh')))).toBeUndefined();
    expect((await notificationOf(await send(alice, room, text('loud'))))?.actions).toEqual(['notify']);
    // A sender rule.
    await ok(bob.put(`${RULES}/sender/${enc(daveId)}`, { actions: ['notify', { set_tweak: 'sound', value: 'dave' }] }));
    expect((await notificationOf(await send(dave, room, text('it is dave'))))?.actions).toEqual(['notify', { set_tweak: 'sound', value: 'dave' }]);
    // Content rules come before room and sender rules; override rules before all.
    expect((await notificationOf(await send(dave, room, text('the cake was a lie'))))?.actions).toEqual(['notify', HIGHLIGHT]);
    await ok(bob.put(`${RULES}/override/deploys`, { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'dep?oy*' }], actions: ['notify', { set_tweak: 'sound', value: 'deploy' }] }));
    expect((await notificationOf(await send(dave, room, text('deploying the cake lie'))))?.actions).toEqual(['notify', { set_tweak: 'sound', value: 'deploy' }]);

    // Order among override rules: the one placed before wins; disabled rules are skipped.
    await ok(bob.put(`${RULES}/override/first`, { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'deploy*' }], actions: [] }, ));
    expect(await notificationOf(await send(alice, room, text('deploy now')))).toBeUndefined();
    await ok(bob.put(`${RULES}/override/first?after=deploys`, { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'deploy*' }], actions: [] }));
    expect((await notificationOf(await send(alice, room, text('deploy now'))))?.actions).toEqual(['notify', { set_tweak: 'sound', value: 'deploy' }]);
    await setEnabled(bob, 'override', 'deploys', false);
    expect(await notificationOf(await send(alice, room, text('deploy now')))).toBeUndefined();

    // Conditions of every kind in a user rule.
    await ok(bob.put(`${RULES}/override/combo?before=first`, {
      conditions: [
        { kind: 'event_property_is', key: 'content.urgent', value: true },
        { kind: 'event_property_contains', key: 'content.tags', value: 'ops' },
        { kind: 'room_member_count', is: '>=3' },
        { kind: 'sender_notification_permission', key: 'room' },
      ],
      actions: ['notify', { set_tweak: 'sound', value: 'combo' }],
    }));
    expect((await notificationOf(await send(alice, room, text('deploy', { urgent: true, tags: ['ops', 'db'] }))))?.actions).toEqual(['notify', { set_tweak: 'sound', value: 'combo' }]);
    expect(await notificationOf(await send(alice, room, text('deploy', { urgent: 'true', tags: ['ops'] })))).toBeUndefined();
    expect(await notificationOf(await send(dave, room, text('deploy', { urgent: true, tags: ['ops'] })))).toBeUndefined();

    for (const [kind, id] of [['content', 'cake'], ['room', quiet], ['sender', daveId], ['override', 'deploys'], ['override', 'first'], ['override', 'combo']]) {
      await ok(bob.delete(`${RULES}/${kind}/${enc(id)}`));
    }
    expect((await notificationOf(await send(alice, quiet, text('back'))))?.actions).toEqual(['notify']);
  });

  it('events from ignored users do not notify; unignored, they do again', async () => {
    const room = await groupRoom();
    const base = await unread(bob, room);
    const setIgnored = (users: Record<string, unknown>) => ok(bob.put(`/_matrix/client/v3/user/${enc(bobId)}/account_data/m.ignored_user_list`, { ignored_users: users }));
    await setIgnored({ [aliceId]: {} });
    const ignored = await send(alice, room, text('you cannot hear me', { 'm.mentions': { user_ids: [bobId] } }));
    expect(await notificationOf(ignored)).toBeUndefined();
    expect(await unread(bob, room)).toEqual(base);
    // Carol does not ignore alice.
    expect(await notificationOf(ignored, carol)).toBeDefined();
    await setIgnored({});
    expect(await notificationOf(await send(alice, room, text('now you can')))).toBeDefined();
  });

  it('a redacted event stops counting and leaves /notifications', async () => {
    const room = await groupRoom();
    const first = await send(alice, room, text('one'));
    const second = await send(alice, room, text('two', { 'm.mentions': { user_ids: [bobId] } }));
    expect(await unread(bob, room)).toEqual({ notification_count: 2, highlight_count: 1 });
    const r = await alice.put(`/_matrix/client/v3/rooms/${enc(room)}/redact/${enc(second)}/r1`, { reason: 'oops' });
    expect(r.status).toBe(200);
    expect(await unread(bob, room)).toEqual({ notification_count: 1, highlight_count: 0 });
    expect(await notificationOf(second)).toBeUndefined();
    expect(await notificationOf(first)).toBeDefined();
  });

  it('pages with from and limit, filters with only=highlight, and tells what is read', async () => {
    const fresh = new Client(server.baseUrl);
    const freshId = (await fresh.register(`reader${engine}`)).user_id;
    const room = await groupRoom();
    await join(fresh, room);
    const sent: string[] = [];
    const t0 = Date.now();
    // (Sending marks everything before it read: it comes first.)
    await send(fresh, room, text('my own message does not notify me'));
    for (let i = 0; i < 5; i++) sent.push(await send(alice, room, text(`m${i}`, i % 2 === 0 ? { 'm.mentions': { user_ids: [freshId] } } : {})));

    const all = await notifications(fresh);
    expect(all.notifications.map((n) => n.event.event_id)).toEqual([...sent].reverse());
    expect(all.next_token).toBeUndefined();
    const n0 = all.notifications[4];
    expect(n0).toMatchObject({ room_id: room, read: false, actions: ['notify', SOUND, HIGHLIGHT] });
    expect(n0.event).toMatchObject({ event_id: sent[0], sender: aliceId, type: 'm.room.message' });
    expect(n0.ts).toBeGreaterThanOrEqual(t0 - 1000);

    const page1 = await notifications(fresh, '?limit=2');
    expect(page1.notifications.map((n) => n.event.event_id)).toEqual([sent[4], sent[3]]);
    expect(page1.next_token).toBeDefined();
    const page2 = await notifications(fresh, `?limit=2&from=${enc(page1.next_token as string)}`);
    expect(page2.notifications.map((n) => n.event.event_id)).toEqual([sent[2], sent[1]]);
    const page3 = await notifications(fresh, `?limit=2&from=${enc(page2.next_token as string)}`);
    expect(page3.notifications.map((n) => n.event.event_id)).toEqual([sent[0]]);
    expect(page3.next_token).toBeUndefined();

    const highlights = await notifications(fresh, '?only=highlight');
    expect(highlights.notifications.map((n) => n.event.event_id)).toEqual([sent[4], sent[2], sent[0]]);

    // A read receipt at the third message: it and those before are read.
    expect((await fresh.post(`/_matrix/client/v3/rooms/${enc(room)}/receipt/m.read/${enc(sent[2])}`, {})).status).toBe(200);
    expect((await notifications(fresh)).notifications.map((n) => n.read)).toEqual([false, false, true, true, true]);
    expect(await unread(fresh, room)).toEqual({ notification_count: 2, highlight_count: 1 });

    for (const bad of ['?from=abc', '?from=-1', '?limit=x', '?limit=-3']) {
      expect((await fresh.get(`/_matrix/client/v3/notifications${bad}`)).body, bad).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    }
    expect((await fresh.get('/_matrix/client/v3/notifications', { token: null })).status).toBe(401);
  });
});
