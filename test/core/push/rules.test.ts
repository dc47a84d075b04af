// Push rules: the predefined rules one by one (each fires on the event it targets and not on
// others), every condition kind with the spec's examples, user rules and their priorities.
// spec: client-server-api modules/push "Push Rules", "Conditions", "Predefined Rules"
import { describe, expect, it } from 'vitest';
import {
  PushEvent, compileRuleSet, evaluatePushRules, predefinedRules, predefinedRulesFor, withUserRules,
  type PushCondition, type PushOutcome, type PushRoomFacts, type PushRule, type PushRuleSet, type PushableEvent,
} from '../../../src/core/push/index.js';

const ME = '@alice:example.org';
const BOB = '@bob:example.org';
const ROOM = '!room:example.org';
const FACTS: PushRoomFacts = { memberCount: 5, senderPowerLevel: 0, notificationPowerLevels: { room: 50 } };

/** The predefined rules as the spec writes them: placeholders stand for whoever is evaluated. */
const defaults = compileRuleSet(predefinedRules());

function message(content: Record<string, unknown>, extra: Partial<PushableEvent> = {}): PushableEvent {
  return { type: 'm.room.message', sender: BOB, room_id: ROOM, content: { msgtype: 'm.text', ...content } as PushableEvent['content'], ...extra };
}

function evaluate(ev: PushableEvent, opts: { facts?: Partial<PushRoomFacts>; displayName?: string | null; rules?: PushRuleSet } = {}): PushOutcome | undefined {
  const rules = opts.rules ? compileRuleSet(opts.rules) : defaults;
  return evaluatePushRules(rules, new PushEvent(ev, { ...FACTS, ...opts.facts }), { userId: ME, displayName: opts.displayName === undefined ? 'Alice Liddell' : opts.displayName });
}

const ruleOf = (ev: PushableEvent, opts: Parameters<typeof evaluate>[1] = {}) => evaluate(ev, opts)?.ruleId;

/** A ruleset with one change to a default rule. */
function withDefault(ruleId: string, change: Partial<PushRule>): PushRuleSet {
  const set = predefinedRules();
  for (const kind of Object.keys(set) as Array<keyof PushRuleSet>) set[kind] = set[kind].map((r) => (r.rule_id === ruleId ? { ...r, ...change } : r));
  return set;
}

describe('the predefined rules', () => {
  it('are those of the spec, in its order (legacy mention rules at their v1.16 places)', () => {
    const set = predefinedRules();
    expect(set.override.map((r) => r.rule_id)).toEqual([
      '.m.rule.master', '.m.rule.suppress_notices', '.m.rule.invite_for_me', '.m.rule.member_event',
      '.m.rule.is_user_mention', '.m.rule.contains_display_name', '.m.rule.is_room_mention', '.m.rule.roomnotif',
      '.m.rule.tombstone', '.m.rule.reaction', '.m.rule.room.server_acl', '.m.rule.suppress_edits',
    ]);
    expect(set.content.map((r) => r.rule_id)).toEqual(['.m.rule.contains_user_name']);
    expect(set.room).toEqual([]);
    expect(set.sender).toEqual([]);
    expect(set.underride.map((r) => r.rule_id)).toEqual([
      '.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted',
    ]);
    for (const kind of Object.keys(set) as Array<keyof PushRuleSet>) {
      for (const r of set[kind]) {
        expect(r.default).toBe(true);
        expect(r.enabled).toBe(r.rule_id !== '.m.rule.master');
      }
    }
  });

  it('without the legacy rules are exactly the v1.19 set', () => {
    const set = predefinedRules({ legacyMentionRules: false });
    const ids = [...set.override, ...set.content, ...set.underride].map((r) => r.rule_id);
    expect(ids).not.toContain('.m.rule.contains_display_name');
    expect(ids).not.toContain('.m.rule.roomnotif');
    expect(ids).not.toContain('.m.rule.contains_user_name');
    expect(ids).toHaveLength(15);
    // Without them, a body mention is an ordinary message.
    expect(ruleOf(message({ body: 'Alice Liddell, alice: @room' }), { rules: set, facts: { senderPowerLevel: 100 } })).toBe('.m.rule.message');
  });

  it('are written with the spec\'s placeholders, filled in for one user', () => {
    expect(predefinedRules().override.find((r) => r.rule_id === '.m.rule.invite_for_me')?.conditions?.[2]).toEqual({ key: 'state_key', kind: 'event_match', pattern: "[the user's Matrix ID]" });
    expect(predefinedRules().content[0].pattern).toBe("[the local part of the user's Matrix ID]");
    const set = predefinedRulesFor(ME);
    expect(set.override.find((r) => r.rule_id === '.m.rule.invite_for_me')).toEqual({
      rule_id: '.m.rule.invite_for_me', default: true, enabled: true,
      conditions: [
        { key: 'type', kind: 'event_match', pattern: 'm.room.member' },
        { key: 'content.membership', kind: 'event_match', pattern: 'invite' },
        { key: 'state_key', kind: 'event_match', pattern: ME },
      ],
      actions: ['notify', { set_tweak: 'sound', value: 'default' }],
    });
    expect(set.override.find((r) => r.rule_id === '.m.rule.is_user_mention')).toEqual({
      rule_id: '.m.rule.is_user_mention', default: true, enabled: true,
      conditions: [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: ME }],
      actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }],
    });
    expect(set.override.find((r) => r.rule_id === '.m.rule.is_room_mention')).toEqual({
      rule_id: '.m.rule.is_room_mention', default: true, enabled: true,
      conditions: [
        { kind: 'event_property_is', key: 'content.m\\.mentions.room', value: true },
        { kind: 'sender_notification_permission', key: 'room' },
      ],
      actions: ['notify', { set_tweak: 'highlight' }],
    });
    expect(set.content[0]).toEqual({
      rule_id: '.m.rule.contains_user_name', default: true, enabled: true, pattern: 'alice',
      actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }],
    });
  });
});

describe('each predefined rule fires on its event and not on others', () => {
  it('.m.rule.master: disabled by default; enabled, it silences everything', () => {
    expect(ruleOf(message({ body: 'hi' }))).toBe('.m.rule.message');
    const rules = withDefault('.m.rule.master', { enabled: true });
    for (const ev of [message({ body: 'hi' }), message({ body: 'x', 'm.mentions': { user_ids: [ME] } }), { type: 'm.room.encrypted', sender: BOB, room_id: ROOM, content: {} }]) {
      expect(evaluate(ev, { rules })).toMatchObject({ ruleId: '.m.rule.master', notify: false, highlight: false, actions: [] });
    }
  });

  it('.m.rule.suppress_notices: m.notice messages, with no actions', () => {
    expect(evaluate(message({ msgtype: 'm.notice', body: 'bot says hi' }))).toMatchObject({ ruleId: '.m.rule.suppress_notices', notify: false });
    // Even a notice naming the user (it comes before the mention rules).
    expect(ruleOf(message({ msgtype: 'm.notice', body: 'hi', 'm.mentions': { user_ids: [ME] } }))).toBe('.m.rule.suppress_notices');
    expect(ruleOf(message({ msgtype: 'm.text', body: 'hi' }))).toBe('.m.rule.message');
    expect(ruleOf(message({ msgtype: 'm.noticeable', body: 'hi' }))).toBe('.m.rule.message');
  });

  it('.m.rule.invite_for_me: an invite of this user notifies with the default sound', () => {
    const invite = (who: string): PushableEvent => ({ type: 'm.room.member', state_key: who, sender: BOB, room_id: ROOM, content: { membership: 'invite' } });
    expect(evaluate(invite(ME))).toEqual({
      kind: 'override', ruleId: '.m.rule.invite_for_me', notify: true, highlight: false, sound: 'default',
      actions: ['notify', { set_tweak: 'sound', value: 'default' }],
    });
    expect(ruleOf(invite('@carol:example.org'))).toBe('.m.rule.member_event');
    expect(ruleOf({ ...invite(ME), content: { membership: 'join' } })).toBe('.m.rule.member_event');
  });

  it('.m.rule.member_event: other membership changes do not notify', () => {
    const join: PushableEvent = { type: 'm.room.member', state_key: BOB, sender: BOB, room_id: ROOM, content: { membership: 'join', displayname: 'Bob' } };
    expect(evaluate(join)).toMatchObject({ ruleId: '.m.rule.member_event', notify: false });
    expect(ruleOf({ ...join, content: { membership: 'leave' } })).toBe('.m.rule.member_event');
    expect(ruleOf({ ...join, type: 'm.room.name', state_key: '', content: { name: 'x' } })).toBeUndefined();
  });

  it('.m.rule.is_user_mention: the user in m.mentions.user_ids highlights', () => {
    const mention = message({ body: 'look', 'm.mentions': { user_ids: ['@carol:example.org', ME] } });
    expect(evaluate(mention)).toEqual({
      kind: 'override', ruleId: '.m.rule.is_user_mention', notify: true, highlight: true, sound: 'default',
      actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }],
    });
    expect(ruleOf(message({ body: 'look', 'm.mentions': { user_ids: ['@carol:example.org'] } }))).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'look', 'm.mentions': { user_ids: ME } }))).toBe('.m.rule.message'); // not an array
    expect(ruleOf(message({ body: 'look', 'm.mentions': { user_ids: ['@ALICE:example.org'] } }))).toBe('.m.rule.message'); // exact
    // Any event type, not only messages.
    expect(ruleOf({ type: 'org.example.custom', sender: BOB, room_id: ROOM, content: { 'm.mentions': { user_ids: [ME] } } })).toBe('.m.rule.is_user_mention');
  });

  it('.m.rule.contains_display_name (legacy): the display name in the body, only without m.mentions', () => {
    expect(evaluate(message({ body: 'Is Alice Liddell here?' }))).toMatchObject({ ruleId: '.m.rule.contains_display_name', notify: true, highlight: true, sound: 'default' });
    expect(ruleOf(message({ body: 'is alice liddell here?' }))).toBe('.m.rule.contains_display_name');
    // (Bodies below avoid the localpart "alice", which .m.rule.contains_user_name would match.)
    const name = { displayName: 'Lewis Carroll' };
    expect(ruleOf(message({ body: 'Lewis Carroll!' }), name)).toBe('.m.rule.contains_display_name');
    expect(ruleOf(message({ body: 'Lewis Carrollx' }), name)).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'Lewis' }), name)).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'Lewis Carroll', 'm.mentions': {} }), name)).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'Lewis Carroll' }), { displayName: null })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'Lewis Carroll' }), { displayName: '' })).toBe('.m.rule.message');
    // A display name is literal text, not a glob or a regular expression.
    expect(ruleOf(message({ body: 'ping a.b' }), { displayName: 'a*b' })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'ping a*b!' }), { displayName: 'a*b' })).toBe('.m.rule.contains_display_name');
    expect(ruleOf(message({ body: 'ping (x+)' }), { displayName: '(x+)' })).toBe('.m.rule.contains_display_name');
  });

  it('.m.rule.is_room_mention: m.mentions.room true from a sender with the room notification level', () => {
    const roomMention = message({ body: 'all', 'm.mentions': { room: true } });
    expect(evaluate(roomMention, { facts: { senderPowerLevel: 50 } })).toEqual({
      kind: 'override', ruleId: '.m.rule.is_room_mention', notify: true, highlight: true, actions: ['notify', { set_tweak: 'highlight' }],
    });
    expect(ruleOf(roomMention, { facts: { senderPowerLevel: 49 } })).toBe('.m.rule.message');
    expect(ruleOf(roomMention, { facts: { senderPowerLevel: 10, notificationPowerLevels: { room: 10 } } })).toBe('.m.rule.is_room_mention');
    expect(ruleOf(message({ body: 'all', 'm.mentions': { room: 'true' } }), { facts: { senderPowerLevel: 100 } })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'all', 'm.mentions': { room: false } }), { facts: { senderPowerLevel: 100 } })).toBe('.m.rule.message');
  });

  it('.m.rule.roomnotif (legacy): @room in the body with permission, only without m.mentions', () => {
    expect(evaluate(message({ body: 'Hey @room, lunch' }), { facts: { senderPowerLevel: 50 } })).toMatchObject({ ruleId: '.m.rule.roomnotif', highlight: true, notify: true });
    expect(ruleOf(message({ body: 'Hey @room, lunch' }), { facts: { senderPowerLevel: 0 } })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'Hey @roommates' }), { facts: { senderPowerLevel: 100 } })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'Hey @room', 'm.mentions': {} }), { facts: { senderPowerLevel: 100 } })).toBe('.m.rule.message');
  });

  it('.m.rule.tombstone: the room upgrade (a state event) highlights', () => {
    const tombstone: PushableEvent = { type: 'm.room.tombstone', state_key: '', sender: BOB, room_id: ROOM, content: { body: 'moved', replacement_room: '!new:example.org' } };
    expect(evaluate(tombstone)).toEqual({ kind: 'override', ruleId: '.m.rule.tombstone', notify: true, highlight: true, actions: ['notify', { set_tweak: 'highlight' }] });
    const { state_key: _s, ...notState } = tombstone;
    expect(ruleOf(notState)).toBeUndefined();
    expect(ruleOf({ ...tombstone, state_key: 'x' })).toBeUndefined();
  });

  it('.m.rule.reaction: reactions do not notify', () => {
    const reaction: PushableEvent = { type: 'm.reaction', sender: BOB, room_id: ROOM, content: { 'm.relates_to': { rel_type: 'm.annotation', event_id: '$x', key: '👍' } } };
    expect(evaluate(reaction)).toMatchObject({ ruleId: '.m.rule.reaction', notify: false });
  });

  it('.m.rule.room.server_acl: ACL changes (state events) do not notify', () => {
    const acl: PushableEvent = { type: 'm.room.server_acl', state_key: '', sender: BOB, room_id: ROOM, content: { allow: ['*'] } };
    expect(evaluate(acl)).toMatchObject({ ruleId: '.m.rule.room.server_acl', notify: false });
    expect(ruleOf({ ...acl, state_key: 'x' })).toBeUndefined();
  });

  it('.m.rule.suppress_edits: replacements do not notify, unless they mention the user', () => {
    const edit = message({ body: '* fixed', 'm.new_content': { msgtype: 'm.text', body: 'fixed' }, 'm.relates_to': { rel_type: 'm.replace', event_id: '$orig' }, 'm.mentions': {} });
    expect(evaluate(edit)).toMatchObject({ ruleId: '.m.rule.suppress_edits', notify: false });
    const reply = message({ body: 'answer', 'm.relates_to': { 'm.in_reply_to': { event_id: '$orig' } } });
    expect(ruleOf(reply)).toBe('.m.rule.message');
    const thread = message({ body: 'in thread', 'm.relates_to': { rel_type: 'm.thread', event_id: '$root' } });
    expect(ruleOf(thread)).toBe('.m.rule.message');
    // The mention rules come first (spec: "Edits of events with mentions").
    expect(ruleOf({ ...edit, content: { ...edit.content, 'm.mentions': { user_ids: [ME] } } })).toBe('.m.rule.is_user_mention');
  });

  it('.m.rule.contains_user_name (legacy content rule): the localpart as a word, only without m.mentions', () => {
    expect(evaluate(message({ body: 'alice: ping' }), { displayName: null })).toEqual({
      kind: 'content', ruleId: '.m.rule.contains_user_name', notify: true, highlight: true, sound: 'default',
      actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }],
    });
    expect(ruleOf(message({ body: 'ALICE!' }), { displayName: null })).toBe('.m.rule.contains_user_name');
    expect(ruleOf(message({ body: 'malice' }), { displayName: null })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'alice_2' }), { displayName: null })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'alice', 'm.mentions': {} }), { displayName: null })).toBe('.m.rule.message');
  });

  it('.m.rule.call: an incoming call rings', () => {
    const call: PushableEvent = { type: 'm.call.invite', sender: BOB, room_id: ROOM, content: { call_id: '1', lifetime: 60000, version: '1' } };
    expect(evaluate(call)).toEqual({ kind: 'underride', ruleId: '.m.rule.call', notify: true, highlight: false, sound: 'ring', actions: ['notify', { set_tweak: 'sound', value: 'ring' }] });
    expect(ruleOf({ ...call, type: 'm.call.answer' })).toBeUndefined();
  });

  it('.m.rule.encrypted_room_one_to_one and .m.rule.encrypted: encrypted events, with sound in a 1:1 room', () => {
    const encrypted: PushableEvent = { type: 'm.room.encrypted', sender: BOB, room_id: ROOM, content: { algorithm: 'm.megolm.v1.aes-sha2', ciphertext: 'x' } };
    expect(evaluate(encrypted, { facts: { memberCount: 2 } })).toMatchObject({ ruleId: '.m.rule.encrypted_room_one_to_one', notify: true, sound: 'default', highlight: false });
    expect(evaluate(encrypted, { facts: { memberCount: 3 } })).toEqual({ kind: 'underride', ruleId: '.m.rule.encrypted', notify: true, highlight: false, actions: ['notify'] });
    expect(ruleOf(encrypted, { facts: { memberCount: 1 } })).toBe('.m.rule.encrypted');
  });

  it('.m.rule.room_one_to_one and .m.rule.message: messages, with sound in a 1:1 room', () => {
    expect(evaluate(message({ body: 'hi' }), { facts: { memberCount: 2 } })).toMatchObject({ ruleId: '.m.rule.room_one_to_one', notify: true, sound: 'default', highlight: false });
    expect(evaluate(message({ body: 'hi' }), { facts: { memberCount: 3 } })).toEqual({ kind: 'underride', ruleId: '.m.rule.message', notify: true, highlight: false, actions: ['notify'] });
  });

  it('other events match no rule, and a user is never notified of their own event', () => {
    expect(evaluate({ type: 'm.room.topic', state_key: '', sender: BOB, room_id: ROOM, content: { topic: 'x' } })).toBeUndefined();
    expect(evaluate({ type: 'm.sticker', sender: BOB, room_id: ROOM, content: { body: 'x' } })).toBeUndefined();
    expect(evaluate(message({ body: 'mine', 'm.mentions': { user_ids: [ME] } }, { sender: ME }))).toBeUndefined();
  });
});

describe('conditions', () => {
  const override = (conditions: PushCondition[], actions: PushRule['actions'] = ['notify', { set_tweak: 'highlight' }]): PushRuleSet =>
    withUserRules(predefinedRules(), { override: [{ rule_id: 'custom', default: false, enabled: true, conditions, actions }] });
  const fires = (conditions: PushCondition[], ev: PushableEvent, facts: Partial<PushRoomFacts> = {}) => ruleOf(ev, { rules: override(conditions), facts }) === 'custom';

  it('event_match: the spec example on content.topic, case-insensitive, whole value', () => {
    const topic = (t: unknown): PushableEvent => ({ type: 'm.room.topic', state_key: '', sender: BOB, room_id: ROOM, content: { topic: t } as PushableEvent['content'] });
    const cond = [{ kind: 'event_match', key: 'content.topic', pattern: 'lunc?*' }];
    expect(fires(cond, topic('Lunch plans'))).toBe(true);
    expect(fires(cond, topic('LUNCH'))).toBe(true);
    expect(fires(cond, topic(' lunch'))).toBe(false);
    expect(fires(cond, topic('lunc'))).toBe(false);
    expect(fires(cond, topic(null))).toBe(false);
  });

  it('event_match: an absent or non-string property never matches, even *', () => {
    const any = [{ kind: 'event_match', key: 'content.topic', pattern: '*' }];
    expect(fires(any, message({ body: 'x' }))).toBe(false);
    expect(fires(any, message({ topic: 5 }))).toBe(false);
    expect(fires(any, message({ topic: ['a'] }))).toBe(false);
    expect(fires(any, message({ topic: '' }))).toBe(true);
    expect(fires([{ kind: 'event_match', key: 'state_key', pattern: '*' }], message({ body: 'x' }))).toBe(false);
  });

  it('event_match: content.body matches words (the spec example ex*ple)', () => {
    const cond = [{ kind: 'event_match', key: 'content.body', pattern: 'ex*ple' }];
    expect(fires(cond, message({ body: 'An example event.' }))).toBe(true);
    expect(fires(cond, message({ body: 'exple' }))).toBe(true);
    expect(fires(cond, message({ body: 'An exciting triple-whammy' }))).toBe(true);
    expect(fires(cond, message({ body: 'examples' }))).toBe(false);
    // Other keys match the whole value.
    expect(fires([{ kind: 'event_match', key: 'content.format', pattern: 'ex*ple' }], message({ body: 'x', format: 'An example' }))).toBe(false);
  });

  it('event_match: keys with escaped dots', () => {
    const cond = [{ kind: 'event_match', key: 'content.m\\.relates_to.rel_type', pattern: 'm.thread' }];
    expect(fires(cond, message({ body: 'x', 'm.relates_to': { rel_type: 'm.thread', event_id: '$r' } }))).toBe(true);
    expect(fires(cond, message({ body: 'x', m: { relates_to: { rel_type: 'm.thread' } } }))).toBe(false);
    expect(fires([{ kind: 'event_match', key: 'content.m\\\\x', pattern: 'y' }], message({ body: 'x', 'm\\x': 'y' }))).toBe(true);
  });

  it('event_property_is: the spec example m.federate, without casting', () => {
    const create = (federate: unknown): PushableEvent => ({ type: 'm.room.create', state_key: '', sender: BOB, room_id: ROOM, content: { creator: BOB, 'm.federate': federate, room_version: '1' } as PushableEvent['content'] });
    const cond = [{ kind: 'event_property_is', key: 'content.m\\.federate', value: true }];
    expect(fires(cond, create(true))).toBe(true);
    expect(fires(cond, create('true'))).toBe(false);
    expect(fires(cond, create(1))).toBe(false);
    expect(fires([{ kind: 'event_property_is', key: 'content.m\\.federate', value: null }], create(null))).toBe(true);
    expect(fires([{ kind: 'event_property_is', key: 'content.m\\.federate', value: null }], message({ body: 'x' }))).toBe(false); // absent
    expect(fires([{ kind: 'event_property_is', key: 'content.n', value: 3 }], message({ body: 'x', n: 3 }))).toBe(true);
    expect(fires([{ kind: 'event_property_is', key: 'content.n', value: 3 }], message({ body: 'x', n: '3' }))).toBe(false);
    expect(fires([{ kind: 'event_property_is', key: 'content.n', value: 'x' }], message({ body: 'x', n: ['x'] }))).toBe(false);
  });

  it('event_property_is: a compound or out-of-range value disables the rule', () => {
    expect(fires([{ kind: 'event_property_is', key: 'content.n', value: [1] }], message({ body: 'x', n: [1] }))).toBe(false);
    expect(fires([{ kind: 'event_property_is', key: 'content.n', value: 1.5 }], message({ body: 'x', n: 1.5 }))).toBe(false);
    expect(fires([{ kind: 'event_property_is', key: 'content.n', value: 2 ** 53 }], message({ body: 'x', n: 2 ** 53 }))).toBe(false);
    expect(fires([{ kind: 'event_property_is', key: 'content.n' }], message({ body: 'x' }))).toBe(false);
  });

  it('event_property_contains: the spec example alt_aliases; no partial values', () => {
    const aliases = (alt: unknown): PushableEvent => ({ type: 'm.room.canonical_alias', state_key: '', sender: BOB, room_id: ROOM, content: { alias: '#somewhere:localhost', alt_aliases: alt } as PushableEvent['content'] });
    const cond = [{ kind: 'event_property_contains', key: 'content.alt_aliases', value: '#myroom:example.com' }];
    expect(fires(cond, aliases(['#somewhere:example.org', '#myroom:example.com']))).toBe(true);
    expect(fires(cond, aliases([':example.com']))).toBe(false);
    expect(fires(cond, aliases('#myroom:example.com'))).toBe(false); // not an array
    expect(fires(cond, aliases([['#myroom:example.com'], { a: '#myroom:example.com' }]))).toBe(false);
    expect(fires([{ kind: 'event_property_contains', key: 'content.flags', value: false }], message({ body: 'x', flags: [0, false] }))).toBe(true);
    expect(fires([{ kind: 'event_property_contains', key: 'content.flags', value: 0 }], message({ body: 'x', flags: [false, '0'] }))).toBe(false);
  });

  it('room_member_count: ==, <, >, <=, >= and no prefix', () => {
    const at = (is: string, memberCount: number) => fires([{ kind: 'room_member_count', is }], message({ body: 'x' }), { memberCount });
    expect([at('2', 2), at('2', 3)]).toEqual([true, false]);
    expect([at('==2', 2), at('==2', 1)]).toEqual([true, false]);
    expect([at('<10', 9), at('<10', 10)]).toEqual([true, false]);
    expect([at('>10', 11), at('>10', 10)]).toEqual([true, false]);
    expect([at('<=10', 10), at('<=10', 11)]).toEqual([true, false]);
    expect([at('>=10', 10), at('>=10', 9)]).toEqual([true, false]);
    // Malformed: never matches.
    expect([at('=2', 2), at('2.0', 2), at('', 0), at('>-1', 0), at('abc', 0)]).toEqual([false, false, false, false, false]);
  });

  it('sender_notification_permission: the sender has the level of notifications[key]', () => {
    const cond = [{ kind: 'sender_notification_permission', key: 'room' }];
    expect(fires(cond, message({ body: 'x' }), { senderPowerLevel: 50 })).toBe(true);
    expect(fires(cond, message({ body: 'x' }), { senderPowerLevel: 49 })).toBe(false);
    expect(fires(cond, message({ body: 'x' }), { senderPowerLevel: Infinity })).toBe(true); // a v12 creator
    // A key the power levels do not define never matches.
    expect(fires([{ kind: 'sender_notification_permission', key: 'other' }], message({ body: 'x' }), { senderPowerLevel: 100 })).toBe(false);
  });

  it('contains_display_name: the recipient’s display name as a word of the body', () => {
    expect(fires([{ kind: 'contains_display_name' }], message({ body: 'hi Alice Liddell', 'm.mentions': {} }))).toBe(true);
    expect(fires([{ kind: 'contains_display_name' }], message({ body: 'hi Alice' }))).toBe(false);
  });

  it('an unrecognised condition never matches, which disables its rule; no conditions always matches', () => {
    expect(ruleOf(message({ body: 'x' }), { rules: override([{ kind: 'org.example.unknown' }]) })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'x' }), { rules: override([{ kind: 'event_match', key: 'type' }]) })).toBe('.m.rule.message');
    expect(ruleOf({ type: 'x.y', sender: BOB, room_id: ROOM, content: {} }, { rules: override([]) })).toBe('custom');
  });
});

describe('user rules, priorities and actions', () => {
  it('user override rules come after the master rule and before the default overrides', () => {
    const rules = withUserRules(withDefault('.m.rule.master', { enabled: true }), {
      override: [{ rule_id: 'mine', default: false, enabled: true, conditions: [], actions: ['notify'] }],
    });
    expect(rules.override.map((r) => r.rule_id).slice(0, 3)).toEqual(['.m.rule.master', 'mine', '.m.rule.suppress_notices']);
    expect(ruleOf(message({ body: 'x' }), { rules })).toBe('.m.rule.master');
    const noMaster = withUserRules(predefinedRules(), { override: [{ rule_id: 'mine', default: false, enabled: true, conditions: [], actions: ['notify'] }] });
    expect(ruleOf(message({ msgtype: 'm.notice', body: 'x' }), { rules: noMaster })).toBe('mine');
  });

  it('a room rule mutes a room, but the mention overrides still highlight', () => {
    const rules = withUserRules(predefinedRules(), { room: [{ rule_id: ROOM, default: false, enabled: true, actions: [] }] });
    expect(evaluate(message({ body: 'x' }), { rules })).toMatchObject({ kind: 'room', ruleId: ROOM, notify: false });
    expect(ruleOf(message({ body: 'x' }, { room_id: '!other:example.org' }), { rules })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'x', 'm.mentions': { user_ids: [ME] } }), { rules })).toBe('.m.rule.is_user_mention');
  });

  it('sender rules match the sender; content rules come before room and sender rules', () => {
    const rules = withUserRules(predefinedRules(), {
      content: [{ rule_id: 'cakelie', default: false, enabled: true, pattern: 'cake*lie', actions: ['notify', { set_tweak: 'sound', value: 'cakealarm.wav' }] }],
      sender: [{ rule_id: BOB, default: false, enabled: true, actions: [] }],
    });
    expect(ruleOf(message({ body: 'the cake is a lie' }), { rules })).toBe('cakelie');
    expect(evaluate(message({ body: 'the cake is a lie' }), { rules })?.sound).toBe('cakealarm.wav');
    expect(ruleOf(message({ body: 'the cake is a lie.' }), { rules })).toBe('cakelie');
    expect(ruleOf(message({ body: 'cakes lies' }), { rules })).toBe(BOB);
    expect(ruleOf(message({ body: 'hi' }, { sender: '@carol:example.org' }), { rules })).toBe('.m.rule.message');
  });

  it('the spec example: beer in rooms of at most 10 members', () => {
    const rules = withUserRules(predefinedRules(), {
      override: [{
        rule_id: 'U2VlIHlvdSBpbiBUaGUgRHVrZQ', default: false, enabled: true,
        conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'beer' }, { kind: 'room_member_count', is: '<=10' }],
        actions: ['notify', { set_tweak: 'sound', value: 'beeroclock.wav' }],
      }],
    });
    expect(evaluate(message({ body: 'beer?' }), { rules, facts: { memberCount: 10 } })?.sound).toBe('beeroclock.wav');
    expect(ruleOf(message({ body: 'beer?' }), { rules, facts: { memberCount: 11 } })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'beers?' }), { rules, facts: { memberCount: 3 } })).toBe('.m.rule.message');
  });

  it('disabled rules never match; historical actions are ignored; highlight false is no highlight', () => {
    expect(ruleOf(message({ msgtype: 'm.notice', body: 'x' }), { rules: withDefault('.m.rule.suppress_notices', { enabled: false }) })).toBe('.m.rule.message');
    const custom = (actions: PushRule['actions']) => evaluate(message({ body: 'x' }), { rules: withUserRules(predefinedRules(), { override: [{ rule_id: 'c', default: false, enabled: true, conditions: [], actions }] }) });
    expect(custom(['dont_notify'])).toMatchObject({ ruleId: 'c', notify: false, actions: [] });
    expect(custom(['notify', 'coalesce'])).toMatchObject({ notify: true, actions: ['notify'] });
    expect(custom(['notify', { set_tweak: 'highlight', value: false }])).toMatchObject({ notify: true, highlight: false });
    expect(custom(['notify', { set_tweak: 'highlight', value: true }, { set_tweak: 'custom', value: 1 }])).toMatchObject({ highlight: true, actions: ['notify', { set_tweak: 'highlight', value: true }, { set_tweak: 'custom', value: 1 }] });
  });

  it('one prepared event serves many users: results that depend on the user stay per user', () => {
    const ev = new PushEvent(message({ body: 'hi', 'm.mentions': { user_ids: ['@u1:example.org'] } }), FACTS);
    const outcomes = ['@u0:example.org', '@u1:example.org', '@u2:example.org'].map((userId) => evaluatePushRules(defaults, ev, { userId })?.ruleId);
    expect(outcomes).toEqual(['.m.rule.message', '.m.rule.is_user_mention', '.m.rule.message']);
    const legacy = new PushEvent(message({ body: 'hi Bob and Carol' }), FACTS);
    const names = ['Bob', 'Dave', 'Carol'].map((displayName, i) => evaluatePushRules(defaults, legacy, { userId: `@u${i}:example.org`, displayName })?.highlight);
    expect(names).toEqual([true, false, true]);
    // The same event with one user's own compiled rules (placeholders filled in) agrees.
    const own = compileRuleSet(predefinedRulesFor('@u1:example.org'));
    expect(evaluatePushRules(own, ev, { userId: '@u1:example.org' })?.ruleId).toBe('.m.rule.is_user_mention');
    expect(evaluatePushRules(own, new PushEvent(message({ body: 'hi', 'm.mentions': { user_ids: ['@u0:example.org'] } }), FACTS), { userId: '@u1:example.org' })?.ruleId).toBe('.m.rule.message');
  });

  it('placeholders bind to the user only in server-default rules, and filled-in rules agree with them', () => {
    const literal = withUserRules(predefinedRules(), {
      override: [{ rule_id: 'literal', default: false, enabled: true, conditions: [{ kind: 'event_match', key: 'content.topic', pattern: "[the user's Matrix ID]" }], actions: ['notify'] }],
    });
    expect(ruleOf(message({ body: 'x', topic: ME }), { rules: literal })).toBe('.m.rule.message');
    expect(ruleOf(message({ body: 'x', topic: "[the user's matrix id]" }), { rules: literal })).toBe('literal');
    const filled = compileRuleSet(predefinedRulesFor(ME));
    const events: PushableEvent[] = [
      message({ body: 'alice: hi' }), message({ body: 'Alice Liddell?' }), message({ body: 'x', 'm.mentions': { user_ids: [ME] } }),
      message({ body: '@room' }), { type: 'm.room.member', state_key: ME, sender: BOB, room_id: ROOM, content: { membership: 'invite' } },
      { type: 'm.room.member', state_key: '@ALICE:example.org', sender: BOB, room_id: ROOM, content: { membership: 'invite' } },
      message({ msgtype: 'm.notice', body: 'alice' }), { type: 'm.room.encrypted', sender: BOB, room_id: ROOM, content: {} },
    ];
    for (const ev of events) {
      for (const facts of [FACTS, { ...FACTS, memberCount: 2, senderPowerLevel: 100 }]) {
        const recipient = { userId: ME, displayName: 'Alice Liddell' };
        expect(evaluatePushRules(filled, new PushEvent(ev, facts), recipient)).toEqual(evaluatePushRules(defaults, new PushEvent(ev, facts), recipient));
      }
    }
  });
});
