// Push rule evaluation: which rule, if any, matches an event for one user, and what it does.
// It runs for every local member on every event, so it is built to be cheap per member:
// - rules are compiled once (globs become matchers, paths are split), and compiled conditions are
//   shared between rulesets;
// - the predefined rules are compiled with the spec's placeholders ("[the user's Matrix ID]")
//   bound to whoever is evaluated, so everyone with the default rules shares one compiled set;
// - per event, the conditions that do not depend on the user are decided once, leaving for each
//   member a short list of candidate rules with only the user's own checks (is it their ID in
//   m.mentions, their name in the body).
// spec: client-server-api modules/push "Push Rules", "Actions", "Conditions", "Predefined Rules"
import type { JsonObject } from '../pdu.js';
import { compileGlob, containsWord, isNonCompoundValue, lookupProperty, parsePropertyPath } from './match.js';
import {
  LEGACY_MENTION_RULE_IDS, LOCALPART_PLACEHOLDER, PUSH_RULE_KINDS, USER_ID_PLACEHOLDER, localpartOf,
  type PushAction, type PushCondition, type PushRule, type PushRuleKind, type PushRuleSet,
} from './rules.js';

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

/** A condition decided by the event alone. */
interface EventCondition { perRecipient: false; test(ev: PushEvent): boolean }
/** A condition that depends on who the rules are evaluated for. */
interface RecipientCondition { perRecipient: true; test(ev: PushEvent, recipient: PushRecipient): boolean }
type CompiledCondition = EventCondition | RecipientCondition;

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

/** A rule still possible for some recipients of one event, with what is left to check per recipient. */
interface Candidate {
  checks: readonly RecipientCondition[];
  outcome: PushOutcome;
}

/** One event prepared for evaluation against many users' rules. */
export class PushEvent {
  readonly hasMentions: boolean;
  private readonly decided = new Map<EventCondition, boolean>();
  private readonly candidateLists = new Map<CompiledRuleSet, readonly Candidate[]>();
  private readonly loweredValues = new Map<string, string | undefined>();
  private readonly arraySets = new Map<string, ReadonlySet<unknown> | undefined>();

  constructor(readonly event: PushableEvent, readonly facts: PushRoomFacts) {
    this.hasMentions = Object.prototype.hasOwnProperty.call(event.content, 'm.mentions');
  }

  /** The string at a path, lower-cased, or undefined when absent or not a string. */
  lowered(key: string, path: readonly string[]): string | undefined {
    if (this.loweredValues.has(key)) return this.loweredValues.get(key);
    const v = lookupProperty(this.event, path);
    const lowered = typeof v === 'string' ? v.toLowerCase() : undefined;
    this.loweredValues.set(key, lowered);
    return lowered;
  }

  /**
   * The elements of the array at a path, as a set (undefined when absent or not an array): a
   * mention check then costs each member one lookup, however many are mentioned.
   */
  arraySet(key: string, path: readonly string[]): ReadonlySet<unknown> | undefined {
    if (this.arraySets.has(key)) return this.arraySets.get(key);
    const v = lookupProperty(this.event, path);
    const set = Array.isArray(v) ? new Set<unknown>(v) : undefined;
    this.arraySets.set(key, set);
    return set;
  }

  /** The rules of `rules` that some recipient may still match, each with its recipient checks. */
  candidates(rules: CompiledRuleSet): readonly Candidate[] {
    let list = this.candidateLists.get(rules);
    if (list) return list;
    const out: Candidate[] = [];
    for (const rule of rules.rules) {
      if (rule.legacyMention && this.hasMentions) continue;
      const checks: RecipientCondition[] = [];
      let possible = true;
      for (const c of rule.conditions) {
        if (c.perRecipient) checks.push(c);
        else if (!this.holds(c)) {
          possible = false;
          break;
        }
      }
      if (!possible) continue;
      out.push({ checks, outcome: rule.outcome });
      if (checks.length === 0) break; // everyone who gets here matches it
    }
    this.candidateLists.set(rules, list = out);
    return list;
  }

  private holds(c: EventCondition): boolean {
    let result = this.decided.get(c);
    if (result === undefined) this.decided.set(c, result = c.test(this));
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
  for (const candidate of ev.candidates(rules)) {
    let matches = true;
    for (const check of candidate.checks) {
      if (!check.test(ev, recipient)) {
        matches = false;
        break;
      }
    }
    if (matches) return candidate.outcome;
  }
  return undefined;
}

/**
 * Compiles a ruleset (kinds in spec order, rules in their order within a kind). In server-default
 * rules (`default: true`), the spec's placeholders stand for the user evaluated.
 */
export function compileRuleSet(ruleSet: PushRuleSet): CompiledRuleSet {
  const rules: CompiledRule[] = [];
  for (const kind of PUSH_RULE_KINDS) {
    for (const rule of ruleSet[kind] ?? []) {
      if (!rule.enabled) continue;
      const conditions = conditionsOf(kind, rule)?.map((c) => compileCondition(c, rule.default === true));
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

const NEVER: EventCondition = { perRecipient: false, test: () => false };

/** Compiled conditions shared between rulesets: most users' rules are the same defaults. */
const conditionCache = new Map<string, CompiledCondition>();
const CONDITION_CACHE_SIZE = 20_000;

function compileCondition(c: PushCondition, bindPlaceholders: boolean): CompiledCondition {
  const cacheKey = JSON.stringify([bindPlaceholders, c.kind, c.key, c.pattern, c.is, c.value]);
  let compiled = conditionCache.get(cacheKey);
  if (!compiled) {
    compiled = compileUncached(c, bindPlaceholders);
    if (conditionCache.size >= CONDITION_CACHE_SIZE) conditionCache.delete(conditionCache.keys().next().value as string);
    conditionCache.set(cacheKey, compiled);
  }
  return compiled;
}

/** The recipient's value a placeholder stands for, or undefined when `v` is no placeholder. */
function placeholder(v: unknown, bind: boolean): ((r: PushRecipient) => string) | undefined {
  if (!bind) return undefined;
  if (v === USER_ID_PLACEHOLDER) return (r) => r.userId;
  if (v === LOCALPART_PLACEHOLDER) return (r) => recipientLowered(r).localpart;
  return undefined;
}

/**
 * A recipient's lower-cased localpart and display name, computed once per recipient object (the
 * notification service keeps one per member while the room's membership stands) rather than
 * once per member and event.
 */
const loweredRecipients = new WeakMap<PushRecipient, { localpart: string; displayName: string | undefined; source: string | null | undefined }>();
function recipientLowered(r: PushRecipient): { localpart: string; displayName: string | undefined } {
  let l = loweredRecipients.get(r);
  if (!l || l.source !== r.displayName) {
    l = { localpart: localpartOf(r.userId).toLowerCase(), displayName: r.displayName ? r.displayName.toLowerCase() : undefined, source: r.displayName };
    loweredRecipients.set(r, l);
  }
  return l;
}

function compileUncached(c: PushCondition, bind: boolean): CompiledCondition {
  switch (c.kind) {
    case 'event_match': return eventMatch(c, bind);
    case 'event_property_is': return eventPropertyIs(c, bind);
    case 'event_property_contains': return eventPropertyContains(c, bind);
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
function eventMatch(c: PushCondition, bind: boolean): CompiledCondition {
  if (typeof c.key !== 'string' || typeof c.pattern !== 'string') return NEVER;
  const key = c.key;
  const path = parsePropertyPath(key);
  const mode = key === 'content.body' ? 'word' : 'whole';
  const bound = placeholder(c.pattern, bind);
  if (bound) {
    return {
      perRecipient: true,
      test: (ev, r) => {
        const value = ev.lowered(key, path);
        if (value === undefined) return false;
        const wanted = bound(r).toLowerCase();
        return mode === 'whole' ? value === wanted : wanted !== '' && containsWord(value, wanted);
      },
    };
  }
  const matches = compileGlob(c.pattern, mode);
  return {
    perRecipient: false,
    test: (ev) => {
      const value = ev.lowered(key, path);
      return value !== undefined && matches(value);
    },
  };
}

/** An exact match of a non-compound value (no type casting: "true" is not true). */
function eventPropertyIs(c: PushCondition, bind: boolean): CompiledCondition {
  if (typeof c.key !== 'string' || !isNonCompoundValue(c.value)) return NEVER;
  const path = parsePropertyPath(c.key);
  const bound = placeholder(c.value, bind);
  if (bound) return { perRecipient: true, test: (ev, r) => lookupProperty(ev.event, path) === bound(r) };
  const expected = c.value;
  return { perRecipient: false, test: (ev) => lookupProperty(ev.event, path) === expected };
}

/** An array property that contains the value exactly; elements that are not non-compound are ignored. */
function eventPropertyContains(c: PushCondition, bind: boolean): CompiledCondition {
  if (typeof c.key !== 'string' || !isNonCompoundValue(c.value)) return NEVER;
  const path = parsePropertyPath(c.key);
  const bound = placeholder(c.value, bind);
  if (bound) {
    const key = c.key;
    return { perRecipient: true, test: (ev, r) => ev.arraySet(key, path)?.has(bound(r)) === true };
  }
  const expected = c.value;
  return {
    perRecipient: false,
    test: (ev) => {
      const value = lookupProperty(ev.event, path);
      return Array.isArray(value) && value.includes(expected);
    },
  };
}

const BODY = ['content', 'body'];

/** content.body contains the user's display name in the room, between word boundaries. */
const CONTAINS_DISPLAY_NAME: RecipientCondition = {
  perRecipient: true,
  test: (ev, recipient) => {
    const name = recipientLowered(recipient).displayName;
    if (!name) return false;
    const body = ev.lowered('content.body', BODY);
    return body !== undefined && containsWord(body, name);
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
