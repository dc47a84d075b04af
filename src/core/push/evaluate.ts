// Push rule evaluation: which rule, if any, matches an event for one user, and what it does.
// Rules are compiled once per ruleset (globs become RegExps, paths are split), and a condition's
// result is remembered per event, so that evaluating one event for every member of a large room
// costs little more than the few conditions that depend on who is asking.
// spec: client-server-api modules/push "Push Rules", "Actions", "Conditions"
import type { JsonObject } from '../pdu.js';
import { globToRegExp, isGlobLiteral, isNonCompoundValue, lookupProperty, parsePropertyPath, wordRegExp } from './match.js';
import { LEGACY_MENTION_RULE_IDS, PUSH_RULE_KINDS, type PushAction, type PushCondition, type PushRule, type PushRuleKind, type PushRuleSet } from './rules.js';

/** The parts of an event that push rules can look at. */
export interface PushableEvent {
  type: string;
  sender: string;
  room_id: string;
  content: JsonObject;
  state_key?: string;
  [key: string]: unknown;
}

/** What conditions need to know about the room, the same for every user. */
export interface PushRoomFacts {
  /** The number of joined members (room_member_count). */
  memberCount: number;
  /** The sender's power level (sender_notification_permission). */
  senderPowerLevel: number;
  /**
   * The levels of the power levels event's `notifications` (`room` defaults to 50). A condition
   * naming a key that is not here never matches.
   */
  notificationPowerLevels: Readonly<Record<string, number>>;
}

/** The user the rules are evaluated for. */
export interface PushRecipient {
  userId: string;
  /** Their display name in the room (contains_display_name), if they have one. */
  displayName?: string | null;
}

/** The first matching rule and its actions (historical `dont_notify` and `coalesce` removed). */
export interface PushOutcome {
  kind: PushRuleKind;
  ruleId: string;
  actions: readonly PushAction[];
  notify: boolean;
  /** The `highlight` tweak: true when given with no value or `true`. */
  highlight: boolean;
  sound?: string;
}

interface CompiledCondition {
  test(ev: PushEvent, recipient: PushRecipient): boolean;
  /** False when the result depends only on the event, so one result serves every user. */
  perRecipient: boolean;
}

interface CompiledRule {
  conditions: readonly CompiledCondition[];
  outcome: PushOutcome;
  /** spec v1.7–v1.16: the legacy mention rules apply only to events without `m.mentions`. */
  legacyMention: boolean;
}

/** A ruleset ready to evaluate: enabled rules that can match, in priority order. */
export interface CompiledRuleSet {
  readonly rules: readonly CompiledRule[];
}

/** One event prepared for evaluation against many users' rules. */
export class PushEvent {
  readonly hasMentions: boolean;
  private readonly results = new Map<CompiledCondition, boolean>();

  constructor(readonly event: PushableEvent, readonly facts: PushRoomFacts) {
    this.hasMentions = Object.prototype.hasOwnProperty.call(event.content, 'm.mentions');
  }

  holds(condition: CompiledCondition, recipient: PushRecipient): boolean {
    if (condition.perRecipient) return condition.test(this, recipient);
    let result = this.results.get(condition);
    if (result === undefined) {
      result = condition.test(this, recipient);
      this.results.set(condition, result);
    }
    return result;
  }
}

/**
 * The actions for `recipient`: the outcome of the first enabled rule whose conditions all hold,
 * or undefined when none does. A user's own events never notify them (spec: "Homeservers MUST
 * NOT notify the Push Gateway for events that the user has sent themselves").
 */
export function evaluatePushRules(rules: CompiledRuleSet, ev: PushEvent, recipient: PushRecipient): PushOutcome | undefined {
  if (ev.event.sender === recipient.userId) return undefined;
  for (const rule of rules.rules) {
    if (rule.legacyMention && ev.hasMentions) continue;
    let matches = true;
    for (const condition of rule.conditions) {
      if (!ev.holds(condition, recipient)) {
        matches = false;
        break;
      }
    }
    if (matches) return rule.outcome;
  }
  return undefined;
}

/** Compiles a ruleset (kinds in spec order, rules in their order within a kind). */
export function compileRuleSet(ruleSet: PushRuleSet): CompiledRuleSet {
  const rules: CompiledRule[] = [];
  for (const kind of PUSH_RULE_KINDS) {
    for (const rule of ruleSet[kind] ?? []) {
      if (!rule.enabled) continue;
      const conditions = conditionsOf(kind, rule)?.map(compileCondition);
      // Unrecognised or malformed conditions never match, which disables their rule.
      if (conditions === undefined || conditions.some((c) => c === NEVER)) continue;
      rules.push({ conditions, outcome: outcomeOf(kind, rule), legacyMention: LEGACY_MENTION_RULE_IDS.has(rule.rule_id) });
    }
  }
  return { rules };
}

/** Strips the historical actions (spec: "Historical Actions": they MUST be ignored). */
export function normaliseActions(actions: readonly PushAction[]): PushAction[] {
  return actions.filter((a) => a !== 'dont_notify' && a !== 'coalesce');
}

/** room, sender and content rules have predefined conditions (spec: "Conditions"). */
function conditionsOf(kind: PushRuleKind, rule: PushRule): PushCondition[] | undefined {
  switch (kind) {
    case 'override':
    case 'underride':
      return Array.isArray(rule.conditions) ? rule.conditions : [];
    case 'content':
      return typeof rule.pattern === 'string' ? [{ kind: 'event_match', key: 'content.body', pattern: rule.pattern }] : undefined;
    case 'room':
      return [{ kind: 'event_match', key: 'room_id', pattern: rule.rule_id }];
    case 'sender':
      return [{ kind: 'event_match', key: 'sender', pattern: rule.rule_id }];
  }
}

function outcomeOf(kind: PushRuleKind, rule: PushRule): PushOutcome {
  const actions = normaliseActions(Array.isArray(rule.actions) ? rule.actions : []);
  let highlight = false;
  let sound: string | undefined;
  for (const a of actions) {
    if (typeof a !== 'object' || a === null) continue;
    if (a.set_tweak === 'highlight') highlight = a.value === undefined || a.value === true;
    if (a.set_tweak === 'sound') sound = typeof a.value === 'string' ? a.value : undefined;
  }
  return { kind, ruleId: rule.rule_id, actions, notify: actions.includes('notify'), highlight, ...(sound === undefined ? {} : { sound }) };
}

// ---- conditions ----

const NEVER: CompiledCondition = { test: () => false, perRecipient: false };

/** Compiled conditions shared between rulesets: most users' rules are the same defaults. */
const conditionCache = new Map<string, CompiledCondition>();
const CONDITION_CACHE_SIZE = 20_000;

function compileCondition(c: PushCondition): CompiledCondition {
  const cacheKey = JSON.stringify([c.kind, c.key, c.pattern, c.is, c.value]);
  let compiled = conditionCache.get(cacheKey);
  if (!compiled) {
    compiled = compileUncached(c);
    if (conditionCache.size >= CONDITION_CACHE_SIZE) conditionCache.delete(conditionCache.keys().next().value as string);
    conditionCache.set(cacheKey, compiled);
  }
  return compiled;
}

function compileUncached(c: PushCondition): CompiledCondition {
  switch (c.kind) {
    case 'event_match': return eventMatch(c);
    case 'event_property_is': return eventPropertyIs(c);
    case 'event_property_contains': return eventPropertyContains(c);
    case 'contains_display_name': return CONTAINS_DISPLAY_NAME;
    case 'room_member_count': return roomMemberCount(c);
    case 'sender_notification_permission': return senderNotificationPermission(c);
    default: return NEVER;
  }
}

/**
 * A glob against a string property: the whole value, or for `content.body` any substring between
 * word boundaries. An absent or non-string property never matches, even for `*`.
 */
function eventMatch(c: PushCondition): CompiledCondition {
  if (typeof c.key !== 'string' || typeof c.pattern !== 'string') return NEVER;
  const path = parsePropertyPath(c.key);
  const pattern = c.pattern;
  let matches: (value: string) => boolean;
  if (c.key === 'content.body') {
    const re = isGlobLiteral(pattern) ? wordRegExp(pattern) : globToRegExp(pattern, 'word');
    matches = (v) => re.test(v);
  } else if (isGlobLiteral(pattern)) {
    const lower = pattern.toLowerCase();
    matches = (v) => v.toLowerCase() === lower;
  } else {
    const re = globToRegExp(pattern, 'whole');
    matches = (v) => re.test(v);
  }
  return {
    perRecipient: false,
    test: (ev) => {
      const value = lookupProperty(ev.event, path);
      return typeof value === 'string' && matches(value);
    },
  };
}

/** An exact match of a non-compound value (no type casting: "true" is not true). */
function eventPropertyIs(c: PushCondition): CompiledCondition {
  if (typeof c.key !== 'string' || !isNonCompoundValue(c.value)) return NEVER;
  const path = parsePropertyPath(c.key);
  const expected = c.value;
  return { perRecipient: false, test: (ev) => lookupProperty(ev.event, path) === expected };
}

/** An array property that contains the value exactly; elements that are not non-compound are ignored. */
function eventPropertyContains(c: PushCondition): CompiledCondition {
  if (typeof c.key !== 'string' || !isNonCompoundValue(c.value)) return NEVER;
  const path = parsePropertyPath(c.key);
  const expected = c.value;
  return {
    perRecipient: false,
    test: (ev) => {
      const value = lookupProperty(ev.event, path);
      return Array.isArray(value) && value.includes(expected);
    },
  };
}

const displayNamePatterns = new Map<string, RegExp>();
const DISPLAY_NAME_CACHE_SIZE = 50_000;

/** content.body contains the user's display name in the room, between word boundaries. */
const CONTAINS_DISPLAY_NAME: CompiledCondition = {
  perRecipient: true,
  test: (ev, recipient) => {
    const name = recipient.displayName;
    const body = ev.event.content.body;
    if (!name || typeof body !== 'string') return false;
    let re = displayNamePatterns.get(name);
    if (!re) {
      re = wordRegExp(name);
      if (displayNamePatterns.size >= DISPLAY_NAME_CACHE_SIZE) displayNamePatterns.delete(displayNamePatterns.keys().next().value as string);
      displayNamePatterns.set(name, re);
    }
    return re.test(body);
  },
};

const MEMBER_COUNT = /^(==|<=|>=|<|>)?([0-9]+)$/;

/** `is`: a decimal integer, optionally prefixed by ==, <, >, >= or <= (== when absent). */
function roomMemberCount(c: PushCondition): CompiledCondition {
  const m = typeof c.is === 'string' ? MEMBER_COUNT.exec(c.is) : null;
  if (!m) return NEVER;
  const n = Number(m[2]);
  const compare: (count: number) => boolean = {
    '==': (x: number) => x === n, '<': (x: number) => x < n, '>': (x: number) => x > n,
    '<=': (x: number) => x <= n, '>=': (x: number) => x >= n,
  }[m[1] ?? '=='] as (count: number) => boolean;
  return { perRecipient: false, test: (ev) => compare(ev.facts.memberCount) };
}

/** The sender's power level reaches the level in the power levels' `notifications` under `key`. */
function senderNotificationPermission(c: PushCondition): CompiledCondition {
  if (typeof c.key !== 'string') return NEVER;
  const key = c.key;
  return {
    perRecipient: false,
    test: (ev) => {
      const levels = ev.facts.notificationPowerLevels;
      if (!Object.prototype.hasOwnProperty.call(levels, key)) return false;
      return ev.facts.senderPowerLevel >= levels[key];
    },
  };
}
