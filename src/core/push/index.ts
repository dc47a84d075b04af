// Push rules and their evaluation: pure, no I/O. spec: client-server-api modules/push
export {
  PUSH_RULE_KINDS, MASTER_RULE_ID, LEGACY_MENTION_RULE_IDS, predefinedRules, withUserRules,
  type PushRuleKind, type PushCondition, type PushAction, type PushRule, type PushRuleSet, type PredefinedRuleOptions,
} from './rules.js';
export {
  PushEvent, compileRuleSet, evaluatePushRules, normaliseActions,
  type PushableEvent, type PushRoomFacts, type PushRecipient, type PushOutcome, type CompiledRuleSet,
} from './evaluate.js';
export { globToRegExp, wordRegExp, parsePropertyPath, lookupProperty } from './match.js';
