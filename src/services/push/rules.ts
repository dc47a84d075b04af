// The push rules API: a user's rules as the `m.push_rules` account data, so that clients see
// every change in /sync and in GET /user/{userId}/account_data/m.push_rules. The content is the
// whole ruleset as GET /pushrules/ shows it; what the user changed is read back from it
// (core/push/user-rules.ts) and evaluation takes the server defaults for everything else.
// spec: client-server-api modules/push "Push Rules: API"; data/api/client-server/pushrules.yaml
import type { JsonObject } from '../../core/pdu.js';
import {
  PUSH_RULE_KINDS, checkActions, effectiveRules, emptyUserRules, hasUserChanges, isRuleProblem, parseUserRules, predefinedRules, predefinedRulesFor,
  ruleFromBody, ruleSetContent, checkNewRuleId,
  type PredefinedRuleOptions, type PushAction, type PushRule, type PushRuleKind, type PushRuleSet, type RuleProblem, type UserPushRules,
} from '../../core/push/index.js';
import { MatrixError, notFound } from '../../errors.js';
import type { AccountDataStore } from '../../storage/account-data.js';
import { PUSH_RULES_TYPE } from '../../storage/push-rules.js';
import type { Notifier } from '../notifier.js';
import { MAX_PUSH_RULES_PER_USER, PUSH_RULES_INFO_URI, userLimitExceeded } from './limits.js';

export interface RulePosition { before?: string; after?: string }

export class PushRuleService {
  /** The server-default rules with the spec's placeholders (never modified). */
  readonly serverDefaults: PushRuleSet;

  constructor(
    private readonly accountData: AccountDataStore,
    private readonly notifier: Notifier,
    private readonly options: PredefinedRuleOptions = {},
  ) {
    this.serverDefaults = predefinedRules(options);
  }

  /** The user's changes, read from their m.push_rules content (undefined when never set). */
  userRules(content: JsonObject | undefined): UserPushRules {
    return content === undefined ? emptyUserRules() : parseUserRules(content, this.serverDefaults);
  }

  /** The user's whole ruleset as clients see it (placeholders filled in). */
  async ruleSet(userId: string): Promise<PushRuleSet> {
    return this.render(userId, this.userRules(await this.accountData.get(userId, null, PUSH_RULES_TYPE)));
  }

  /** GET /pushrules/ and the m.push_rules content of a user who never changed a rule. */
  async content(userId: string): Promise<JsonObject> {
    return ruleSetContent(await this.ruleSet(userId));
  }

  async getRule(userId: string, kind: PushRuleKind, ruleId: string): Promise<PushRule> {
    return findRule(await this.ruleSet(userId), kind, ruleId);
  }

  /**
   * PUT /pushrules/global/{kind}/{ruleId}: creates a user rule, or updates the one of that kind
   * with that ID (keeping its place and `enabled` unless before/after moves it). `before` wins
   * when both are given.
   */
  async putRule(userId: string, kind: PushRuleKind, ruleId: string, body: JsonObject, position: RulePosition): Promise<void> {
    throwIf(checkNewRuleId(kind, ruleId));
    const rule = ruleFromBody(kind, ruleId, body);
    if (isRuleProblem(rule)) throw problemError(rule);
    await this.change(userId, (user) => {
      const list = user.own[kind];
      const existing = list.findIndex((r) => r.rule_id === ruleId);
      if (existing !== -1) rule.enabled = list[existing].enabled;
      // A new rule must stay within the cap (counted inside the read-modify-write: concurrent PUTs cannot pass it together).
      else if (PUSH_RULE_KINDS.reduce((n, k) => n + user.own[k].length, 0) >= MAX_PUSH_RULES_PER_USER) {
        throw userLimitExceeded(`A user may have at most ${MAX_PUSH_RULES_PER_USER} push rules of their own`, PUSH_RULES_INFO_URI);
      }
      const anchorId = position.before ?? position.after;
      if (anchorId === undefined) {
        if (existing !== -1) list[existing] = rule;
        else list.unshift(rule); // spec: a new rule is the most important user rule of its kind
        return;
      }
      // spec: "It is not possible to add a rule relative to a predefined server rule."
      if (anchorId.startsWith('.')) throw new MatrixError('M_INVALID_PARAM', `Cannot place a rule relative to the server-default rule ${anchorId}`, 400);
      if (anchorId === ruleId) throw new MatrixError('M_INVALID_PARAM', 'Cannot place a rule relative to itself', 400);
      if (!list.some((r) => r.rule_id === anchorId)) {
        // spec: pushrules.yaml, the 400 example: "before/after rule not found: someRuleId" (M_UNKNOWN)
        throw new MatrixError('M_UNKNOWN', `before/after rule not found: ${anchorId}`, 400);
      }
      if (existing !== -1) list.splice(existing, 1);
      const at = list.findIndex((r) => r.rule_id === anchorId);
      list.splice(position.before !== undefined ? at : at + 1, 0, rule);
    });
  }

  /** DELETE: only user rules can be deleted; server-default rules can only be disabled. */
  async deleteRule(userId: string, kind: PushRuleKind, ruleId: string): Promise<void> {
    await this.change(userId, (user) => {
      const list = user.own[kind];
      const i = list.findIndex((r) => r.rule_id === ruleId);
      if (i !== -1) {
        list.splice(i, 1);
        return;
      }
      if (this.serverDefaults[kind].some((r) => r.rule_id === ruleId)) throw new MatrixError('M_INVALID_PARAM', `Server-default rule ${ruleId} cannot be deleted (it can be disabled)`, 400);
      throw ruleNotFound();
    });
  }

  async setEnabled(userId: string, kind: PushRuleKind, ruleId: string, enabled: boolean): Promise<void> {
    await this.change(userId, (user) => {
      const own = user.own[kind].find((r) => r.rule_id === ruleId);
      if (own) own.enabled = enabled;
      else this.changeDefault(user, kind, ruleId, { enabled });
    });
  }

  async setActions(userId: string, kind: PushRuleKind, ruleId: string, actions: unknown): Promise<void> {
    throwIf(checkActions(actions));
    await this.change(userId, (user) => {
      const own = user.own[kind].find((r) => r.rule_id === ruleId);
      if (own) own.actions = actions as PushAction[];
      else this.changeDefault(user, kind, ruleId, { actions: actions as PushAction[] });
    });
  }

  /** Reads, changes and writes the user's rules with no other account data write in between. */
  private async change(userId: string, edit: (user: UserPushRules) => void): Promise<void> {
    const position = await this.accountData.update(userId, null, PUSH_RULES_TYPE, (current) => {
      const user = this.userRules(current);
      edit(user);
      return ruleSetContent(this.render(userId, user));
    });
    if (position !== undefined) this.notifier.notify({ stream: 'account_data', position, users: [userId] });
  }

  private changeDefault(user: UserPushRules, kind: PushRuleKind, ruleId: string, change: { enabled?: boolean; actions?: PushAction[] }): void {
    if (!this.serverDefaults[kind].some((r) => r.rule_id === ruleId)) throw ruleNotFound();
    user.defaults[ruleId] = { ...user.defaults[ruleId], ...change };
  }

  private render(userId: string, user: UserPushRules): PushRuleSet {
    const defaults = predefinedRulesFor(userId, this.options);
    return hasUserChanges(user) ? effectiveRules(defaults, user) : defaults;
  }
}

function findRule(set: PushRuleSet, kind: PushRuleKind, ruleId: string): PushRule {
  const rule = set[kind].find((r) => r.rule_id === ruleId);
  if (!rule) throw ruleNotFound();
  return rule;
}

const ruleNotFound = () => notFound('The push rule was not found.');

function problemError(p: RuleProblem): MatrixError {
  return new MatrixError(p.code, p.reason, 400);
}

function throwIf(p: RuleProblem | undefined): void {
  if (p) throw problemError(p);
}
