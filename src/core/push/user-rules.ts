// A user's push rules: their own rules and their changes to the server-default rules, kept as
// the `m.push_rules` account data (the whole ruleset, as GET /pushrules/ shows it), and the
// checks a rule must pass before the push rules API stores it.
// spec: client-server-api modules/push "Push Rules: API"; data/api/client-server/pushrules.yaml,
// definitions/push_rule.yaml, push_condition.yaml
import type { JsonObject, JsonValue } from '../pdu.js';
import { isNonCompoundValue } from './match.js';
import {
  PUSH_RULE_KINDS, withUserRules,
  type PushAction, type PushCondition, type PushRule, type PushRuleKind, type PushRuleSet,
} from './rules.js';

/** What a user changed: their own rules, and `enabled`/`actions` of server-default rules. */
export interface UserPushRules {
  /** User-defined rules per kind, most important first. */
  own: Record<PushRuleKind, PushRule[]>;
  /** Server-default rules the user changed, by rule ID. */
  defaults: Record<string, { enabled?: boolean; actions?: PushAction[] }>;
}

export const emptyUserRules = (): UserPushRules => ({ own: { override: [], content: [], room: [], sender: [], underride: [] }, defaults: {} });

export function hasUserChanges(u: UserPushRules): boolean {
  return Object.keys(u.defaults).length > 0 || PUSH_RULE_KINDS.some((k) => u.own[k].length > 0);
}

/**
 * The user's changes as recorded in their `m.push_rules` content (`{ global: ruleset }`), judged
 * against the current server-default rules: a default rule counts as changed only where its
 * `enabled` or `actions` differ, so a default the server later changes reaches the user. Anything
 * malformed is skipped rather than trusted (the content is ours, but may predate a change).
 */
export function parseUserRules(content: JsonValue | undefined, serverDefaults: PushRuleSet): UserPushRules {
  const out = emptyUserRules();
  const global = isObject(content) ? content.global : undefined;
  if (!isObject(global)) return out;
  const defaultsById = new Map<string, PushRule>();
  for (const kind of PUSH_RULE_KINDS) for (const r of serverDefaults[kind]) defaultsById.set(r.rule_id, r);
  for (const kind of PUSH_RULE_KINDS) {
    const list = global[kind];
    if (!Array.isArray(list)) continue;
    for (const item of list) {
      if (!isObject(item) || typeof item.rule_id !== 'string' || !Array.isArray(item.actions)) continue;
      const enabled = item.enabled !== false;
      const actions = item.actions as PushAction[];
      const base = defaultsById.get(item.rule_id);
      if (item.default === true || item.rule_id.startsWith('.')) {
        if (!base) continue;
        const change: { enabled?: boolean; actions?: PushAction[] } = {};
        if (enabled !== base.enabled) change.enabled = enabled;
        if (JSON.stringify(actions) !== JSON.stringify(base.actions)) change.actions = actions;
        if (Object.keys(change).length > 0) out.defaults[item.rule_id] = change;
        continue;
      }
      const rule: PushRule = { rule_id: item.rule_id, default: false, enabled, actions };
      if (kind === 'content') {
        if (typeof item.pattern !== 'string') continue;
        rule.pattern = item.pattern;
      }
      if ((kind === 'override' || kind === 'underride')) rule.conditions = Array.isArray(item.conditions) ? item.conditions as PushCondition[] : [];
      out.own[kind].push(rule);
    }
  }
  return out;
}

/**
 * The effective ruleset: the server defaults (placeholders filled in or not, as given) with the
 * user's changes to them, and the user's rules before the defaults of their kind (master first).
 */
export function effectiveRules(serverDefaults: PushRuleSet, user: UserPushRules): PushRuleSet {
  const changed = {} as PushRuleSet;
  for (const kind of PUSH_RULE_KINDS) {
    changed[kind] = serverDefaults[kind].map((r) => {
      const c = user.defaults[r.rule_id];
      return c ? { ...r, ...(c.enabled === undefined ? {} : { enabled: c.enabled }), ...(c.actions === undefined ? {} : { actions: c.actions }) } : r;
    });
  }
  return withUserRules(changed, user.own);
}

/** The `m.push_rules` content (and GET /pushrules/ body) of a ruleset. */
export function ruleSetContent(rules: PushRuleSet): JsonObject {
  const global: Record<string, JsonValue> = {};
  for (const kind of PUSH_RULE_KINDS) global[kind] = rules[kind].map((r) => clientRule(r)) as JsonValue;
  return { global: global as JsonObject };
}

/** A rule as clients see it: conditions only on override/underride rules, pattern only on content rules. */
export function clientRule(r: PushRule): JsonObject {
  return {
    rule_id: r.rule_id, default: r.default, enabled: r.enabled, actions: r.actions as JsonValue,
    ...(r.conditions === undefined ? {} : { conditions: r.conditions as JsonValue }),
    ...(r.pattern === undefined ? {} : { pattern: r.pattern }),
  };
}

// ---- checks on what clients send (each failure is a reason, turned into a Matrix error by the caller) ----

export type RuleProblem = { code: 'M_INVALID_PARAM' | 'M_BAD_JSON' | 'M_MISSING_PARAM'; reason: string };

/** spec: PUT /pushrules/global/{kind}/{ruleId}: no leading dot (reserved for server-default rules), no slashes or backslashes. */
export function checkNewRuleId(kind: PushRuleKind, ruleId: string): RuleProblem | undefined {
  if (ruleId.length === 0) return { code: 'M_INVALID_PARAM', reason: 'The rule ID may not be empty' };
  if (ruleId.startsWith('.')) return { code: 'M_INVALID_PARAM', reason: 'Rule IDs starting with "." are reserved for server-default rules' };
  if (/[/\\]/.test(ruleId) || ruleId.includes('\u0000')) return { code: 'M_INVALID_PARAM', reason: 'Rule IDs may not contain "/", "\\" or NUL' };
  if (Buffer.byteLength(ruleId, 'utf8') > 255) return { code: 'M_INVALID_PARAM', reason: 'Rule IDs may not exceed 255 bytes' };
  // spec: "Push Rules": room rules are named by the room ID, sender rules by the user ID.
  if (kind === 'room' && !ruleId.startsWith('!')) return { code: 'M_INVALID_PARAM', reason: 'The rule ID of a room rule is the room ID it applies to' };
  if (kind === 'sender' && !ruleId.startsWith('@')) return { code: 'M_INVALID_PARAM', reason: 'The rule ID of a sender rule is the user ID it applies to' };
  return undefined;
}

const KNOWN_ACTIONS = new Set(['notify', 'dont_notify', 'coalesce']);

/**
 * spec: "Actions": `notify`, the historical `dont_notify` and `coalesce` (accepted, ignored), and
 * `set_tweak` objects (`sound` takes a string, `highlight` a boolean when given).
 */
export function checkActions(actions: unknown): RuleProblem | undefined {
  if (actions === undefined) return { code: 'M_MISSING_PARAM', reason: '`actions` is required' };
  if (!Array.isArray(actions)) return { code: 'M_BAD_JSON', reason: '`actions` must be an array' };
  for (const a of actions) {
    if (typeof a === 'string') {
      if (!KNOWN_ACTIONS.has(a)) return { code: 'M_INVALID_PARAM', reason: `Unrecognised action ${JSON.stringify(a)}` };
    } else if (isObject(a)) {
      if (typeof a.set_tweak !== 'string' || a.set_tweak === '') return { code: 'M_INVALID_PARAM', reason: 'An object action must be a tweak with a string `set_tweak`' };
      if (a.set_tweak === 'sound' && typeof a.value !== 'string') return { code: 'M_INVALID_PARAM', reason: 'The `sound` tweak needs a string `value`' };
      if (a.set_tweak === 'highlight' && a.value !== undefined && typeof a.value !== 'boolean') return { code: 'M_INVALID_PARAM', reason: 'The `highlight` tweak takes a boolean `value`' };
    } else {
      return { code: 'M_INVALID_PARAM', reason: 'Each action must be a string or a tweak object' };
    }
  }
  return undefined;
}

const MEMBER_COUNT_IS = /^(==|<=|>=|<|>)?[0-9]+$/;

/**
 * spec: push_condition.yaml. Known kinds must carry their parameters with the right types;
 * conditions of unknown kinds are kept (the spec says they never match, so the rule never does).
 */
export function checkConditions(conditions: unknown): RuleProblem | undefined {
  if (conditions === undefined) return undefined;
  if (!Array.isArray(conditions)) return { code: 'M_BAD_JSON', reason: '`conditions` must be an array' };
  for (const c of conditions) {
    if (!isObject(c) || typeof c.kind !== 'string') return { code: 'M_BAD_JSON', reason: 'Each condition must be an object with a string `kind`' };
    const bad = (what: string): RuleProblem => ({ code: 'M_INVALID_PARAM', reason: `A ${c.kind as string} condition needs ${what}` });
    switch (c.kind) {
      case 'event_match':
        if (typeof c.key !== 'string' || typeof c.pattern !== 'string') return bad('string `key` and `pattern`');
        break;
      case 'event_property_is':
      case 'event_property_contains':
        if (typeof c.key !== 'string' || !isNonCompoundValue(c.value)) return bad('a string `key` and a `value` that is a string, integer, boolean or null');
        break;
      case 'room_member_count':
        if (typeof c.is !== 'string' || !MEMBER_COUNT_IS.test(c.is)) return bad('`is`: an integer, optionally prefixed by ==, <, >, >= or <=');
        break;
      case 'sender_notification_permission':
        if (typeof c.key !== 'string') return bad('a string `key`');
        break;
      default:
        break;
    }
  }
  return undefined;
}

/** The rule a PUT body describes, for its kind (spec: conditions only for override/underride, pattern only for content). */
export function ruleFromBody(kind: PushRuleKind, ruleId: string, body: JsonObject): PushRule | RuleProblem {
  const problem = checkActions(body.actions) ?? (kind === 'override' || kind === 'underride' ? checkConditions(body.conditions) : undefined);
  if (problem) return problem;
  const rule: PushRule = { rule_id: ruleId, default: false, enabled: true, actions: body.actions as PushAction[] };
  if (kind === 'content') {
    if (body.pattern === undefined) return { code: 'M_MISSING_PARAM', reason: 'A content rule needs a `pattern`' };
    if (typeof body.pattern !== 'string') return { code: 'M_BAD_JSON', reason: '`pattern` must be a string' };
    rule.pattern = body.pattern;
  }
  if (kind === 'override' || kind === 'underride') rule.conditions = (body.conditions ?? []) as PushCondition[];
  return rule;
}

export function isRuleProblem(v: PushRule | RuleProblem): v is RuleProblem {
  return 'reason' in v;
}


function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
