// Push rules and their evaluation: pure, no I/O. spec: client-server-api modules/push
export {
  PUSH_RULE_KINDS, MASTER_RULE_ID, LEGACY_MENTION_RULE_IDS, USER_ID_PLACEHOLDER, LOCALPART_PLACEHOLDER,
  predefinedRules, predefinedRulesFor, withUserRules, localpartOf,
  type PushRuleKind, type PushCondition, type PushAction, type PushRule, type PushRuleSet, type PredefinedRuleOptions,
} from './rules.js';
export {
  PushEvent, compileRuleSet, evaluatePushRules, normaliseActions,
  type PushableEvent, type PushRoomFacts, type PushRecipient, type PushOutcome, type CompiledRuleSet,
} from './evaluate.js';
export { compileGlob, globMatches, containsWord, parsePropertyPath, lookupProperty, type GlobMatcher } from './match.js';
export {
  emptyUserRules, hasUserChanges, parseUserRules, effectiveRules, ruleSetContent, clientRule,
  checkNewRuleId, checkActions, checkConditions, ruleFromBody, isRuleProblem,
  type UserPushRules, type RuleProblem,
} from './user-rules.js';
