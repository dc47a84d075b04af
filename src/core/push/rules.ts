// Push rules: their shape, and the server-default ("predefined") rules.
// spec: client-server-api modules/push "Push Rules", "Predefined Rules";
// data/api/client-server/definitions/push_rule.yaml, push_condition.yaml, push_ruleset.yaml
import type { JsonValue } from '../pdu.js';

/** The kinds of rule, in the order they are checked. */
export const PUSH_RULE_KINDS = ['override', 'content', 'room', 'sender', 'underride'] as const;
export type PushRuleKind = (typeof PUSH_RULE_KINDS)[number];

/** A condition as clients send it; unrecognised kinds and missing parameters are allowed here and never match. */
export interface PushCondition {
  kind: string;
  key?: string;
  pattern?: string;
  is?: string;
  value?: JsonValue;
  [other: string]: JsonValue | undefined;
}

/** `notify`, or a tweak such as `{ set_tweak: 'sound', value: 'default' }`; others pass through. */
export type PushAction = string | { set_tweak: string; value?: JsonValue; [other: string]: JsonValue | undefined };

export interface PushRule {
  rule_id: string;
  default: boolean;
  enabled: boolean;
  actions: PushAction[];
  /** override and underride rules. */
  conditions?: PushCondition[];
  /** content rules. */
  pattern?: string;
}

/** One scope's rules (the `global` ruleset), each kind in priority order. */
export type PushRuleSet = Record<PushRuleKind, PushRule[]>;

export const MASTER_RULE_ID = '.m.rule.master';

/**
 * The spec writes the predefined rules with these placeholders. Compiled as they are, they stand
 * for whoever the rules are evaluated for, so one compiled set serves every user who has only the
 * defaults; predefinedRulesFor fills them in for one user (as GET /pushrules shows them).
 */
export const USER_ID_PLACEHOLDER = "[the user's Matrix ID]";
export const LOCALPART_PLACEHOLDER = "[the local part of the user's Matrix ID]";

/**
 * The rules spec v1.17 removed (MSC4210), which matched mentions in `content.body`. Weft keeps them
 * as server-default rules (the spec lets servers add their own) so that clients and bots that do
 * not send `m.mentions` still highlight; as spec v1.7–v1.16 required, they apply only to events
 * without an `m.mentions` property (core/push/evaluate.ts skips them otherwise).
 */
export const LEGACY_MENTION_RULE_IDS: ReadonlySet<string> = new Set([
  '.m.rule.contains_display_name', '.m.rule.roomnotif', '.m.rule.contains_user_name',
]);

export interface PredefinedRuleOptions {
  /** Include the legacy body-mention rules (default true). */
  legacyMentionRules?: boolean;
}

const SOUND_DEFAULT: PushAction = { set_tweak: 'sound', value: 'default' };
const HIGHLIGHT: PushAction = { set_tweak: 'highlight' };

/**
 * The server-default rules in priority order, copied from the spec's definitions, placeholders
 * included. `.m.rule.master` comes first; user-defined rules go after it and before the other
 * defaults (see withUserRules).
 */
export function predefinedRules(options: PredefinedRuleOptions = {}): PushRuleSet {
  const legacy = options.legacyMentionRules ?? true;
  const rule = (rule_id: string, conditions: PushCondition[], actions: PushAction[], enabled = true): PushRule =>
    ({ rule_id, default: true, enabled, conditions, actions });

  const override: PushRule[] = [
    rule(MASTER_RULE_ID, [], [], false),
    rule('.m.rule.suppress_notices', [{ kind: 'event_match', key: 'content.msgtype', pattern: 'm.notice' }], []),
    rule('.m.rule.invite_for_me', [
      { key: 'type', kind: 'event_match', pattern: 'm.room.member' },
      { key: 'content.membership', kind: 'event_match', pattern: 'invite' },
      { key: 'state_key', kind: 'event_match', pattern: USER_ID_PLACEHOLDER },
    ], ['notify', SOUND_DEFAULT]),
    rule('.m.rule.member_event', [{ key: 'type', kind: 'event_match', pattern: 'm.room.member' }], []),
    rule('.m.rule.is_user_mention', [
      { kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: USER_ID_PLACEHOLDER },
    ], ['notify', SOUND_DEFAULT, HIGHLIGHT]),
    ...(legacy ? [rule('.m.rule.contains_display_name', [{ kind: 'contains_display_name' }], ['notify', SOUND_DEFAULT, HIGHLIGHT])] : []),
    rule('.m.rule.is_room_mention', [
      { kind: 'event_property_is', key: 'content.m\\.mentions.room', value: true },
      { kind: 'sender_notification_permission', key: 'room' },
    ], ['notify', HIGHLIGHT]),
    ...(legacy ? [rule('.m.rule.roomnotif', [
      { kind: 'event_match', key: 'content.body', pattern: '@room' },
      { kind: 'sender_notification_permission', key: 'room' },
    ], ['notify', HIGHLIGHT])] : []),
    rule('.m.rule.tombstone', [
      { kind: 'event_match', key: 'type', pattern: 'm.room.tombstone' },
      { kind: 'event_match', key: 'state_key', pattern: '' },
    ], ['notify', HIGHLIGHT]),
    rule('.m.rule.reaction', [{ kind: 'event_match', key: 'type', pattern: 'm.reaction' }], []),
    rule('.m.rule.room.server_acl', [
      { kind: 'event_match', key: 'type', pattern: 'm.room.server_acl' },
      { kind: 'event_match', key: 'state_key', pattern: '' },
    ], []),
    rule('.m.rule.suppress_edits', [
      { kind: 'event_property_is', key: 'content.m\\.relates_to.rel_type', value: 'm.replace' },
    ], []),
  ];

  const content: PushRule[] = legacy
    ? [{ rule_id: '.m.rule.contains_user_name', default: true, enabled: true, pattern: LOCALPART_PLACEHOLDER, actions: ['notify', SOUND_DEFAULT, HIGHLIGHT] }]
    : [];

  const underride: PushRule[] = [
    rule('.m.rule.call', [{ key: 'type', kind: 'event_match', pattern: 'm.call.invite' }], ['notify', { set_tweak: 'sound', value: 'ring' }]),
    rule('.m.rule.encrypted_room_one_to_one', [
      { kind: 'room_member_count', is: '2' },
      { kind: 'event_match', key: 'type', pattern: 'm.room.encrypted' },
    ], ['notify', SOUND_DEFAULT]),
    rule('.m.rule.room_one_to_one', [
      { kind: 'room_member_count', is: '2' },
      { kind: 'event_match', key: 'type', pattern: 'm.room.message' },
    ], ['notify', SOUND_DEFAULT]),
    rule('.m.rule.message', [{ kind: 'event_match', key: 'type', pattern: 'm.room.message' }], ['notify']),
    rule('.m.rule.encrypted', [{ kind: 'event_match', key: 'type', pattern: 'm.room.encrypted' }], ['notify']),
  ];

  return { override, content, room: [], sender: [], underride };
}

/** The predefined rules of one user: the placeholders filled in. */
export function predefinedRulesFor(userId: string, options: PredefinedRuleOptions = {}): PushRuleSet {
  const fill = (s: string | undefined) => (s === USER_ID_PLACEHOLDER ? userId : s === LOCALPART_PLACEHOLDER ? localpartOf(userId) : s);
  const set = predefinedRules(options);
  for (const kind of PUSH_RULE_KINDS) {
    set[kind] = set[kind].map((r) => ({
      ...r,
      ...(r.pattern === undefined ? {} : { pattern: fill(r.pattern) }),
      ...(r.conditions === undefined ? {} : {
        conditions: r.conditions.map((c) => ({
          ...c,
          ...(c.pattern === undefined ? {} : { pattern: fill(c.pattern) }),
          ...(typeof c.value === 'string' ? { value: fill(c.value) } : {}),
        })),
      }),
    }));
  }
  return set;
}

/**
 * A user's effective ruleset: user-defined rules take priority over the server-default rules of
 * their kind, except `.m.rule.master`, which stays above everything (spec: "Predefined Rules").
 * `defaults` may carry the user's changes to default rules (enabled, actions).
 */
export function withUserRules(defaults: PushRuleSet, user: Partial<PushRuleSet>): PushRuleSet {
  const out = {} as PushRuleSet;
  for (const kind of PUSH_RULE_KINDS) {
    const own = user[kind] ?? [];
    const base = defaults[kind];
    if (kind === 'override') {
      const master = base.filter((r) => r.rule_id === MASTER_RULE_ID);
      out[kind] = [...master, ...own, ...base.filter((r) => r.rule_id !== MASTER_RULE_ID)];
    } else {
      out[kind] = [...own, ...base];
    }
  }
  return out;
}

export function localpartOf(userId: string): string {
  const colon = userId.indexOf(':');
  return userId.slice(userId.startsWith('@') ? 1 : 0, colon === -1 ? undefined : colon);
}
