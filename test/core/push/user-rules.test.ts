// A user's push rules read back from their m.push_rules content, and the effective ruleset.
import { describe, expect, it } from 'vitest';
import {
  PushEvent, compileRuleSet, effectiveRules, emptyUserRules, evaluatePushRules, hasUserChanges, parseUserRules, predefinedRules,
  predefinedRulesFor, ruleSetContent,
} from '../../../src/core/push/index.js';
import type { JsonObject } from '../../../src/core/pdu.js';

const defaults = predefinedRules();
const USER = '@bob:example.org';

describe('user push rules', () => {
  it('reads nothing changed from the rendered defaults', () => {
    const content = ruleSetContent(predefinedRulesFor(USER));
    const user = parseUserRules(content, defaults);
    expect(hasUserChanges(user)).toBe(false);
    expect(user).toEqual(emptyUserRules());
  });

  it('round-trips own rules in order and changes of default rules, and nothing else', () => {
    const user = emptyUserRules();
    user.own.content.push({ rule_id: 'cake', default: false, enabled: true, pattern: 'cake', actions: ['notify'] });
    user.own.override.push({ rule_id: 'b', default: false, enabled: false, conditions: [], actions: [] }, { rule_id: 'a', default: false, enabled: true, conditions: [], actions: ['notify'] });
    user.defaults['.m.rule.message'] = { actions: ['notify', { set_tweak: 'sound', value: 'default' }] };
    user.defaults['.m.rule.master'] = { enabled: true };
    const rendered = effectiveRules(predefinedRulesFor(USER), user);
    expect(rendered.override.map((r) => r.rule_id).slice(0, 3)).toEqual(['.m.rule.master', 'b', 'a']);
    expect(rendered.content.map((r) => r.rule_id)).toEqual(['cake', '.m.rule.contains_user_name']);
    expect(parseUserRules(ruleSetContent(rendered), defaults)).toEqual(user);
  });

  it('skips malformed entries and unknown server-default rules', () => {
    const content = {
      global: {
        override: [{ rule_id: '.m.rule.gone', default: true, enabled: false, actions: [] }, 'junk', { rule_id: 'x' }, { rule_id: 'ok', actions: [], default: false }],
        content: [{ rule_id: 'nopattern', default: false, enabled: true, actions: [] }],
        room: 'not a list',
      },
    };
    const user = parseUserRules(content as unknown as JsonObject, defaults);
    expect(user.own.override.map((r) => r.rule_id)).toEqual(['ok']);
    expect(user.own.content).toEqual([]);
    expect(user.defaults).toEqual({});
    expect(parseUserRules(undefined, defaults)).toEqual(emptyUserRules());
    expect(parseUserRules({ global: [] }, defaults)).toEqual(emptyUserRules());
  });

  it('evaluates own rules before the defaults of their kind, with the placeholders of default rules bound', () => {
    const user = emptyUserRules();
    user.own.underride.push({ rule_id: 'all', default: false, enabled: true, conditions: [], actions: ['notify', { set_tweak: 'sound', value: 'x' }] });
    user.own.content.push({ rule_id: 'kw', default: false, enabled: true, pattern: 'deploy', actions: ['notify', { set_tweak: 'highlight' }] });
    const rules = compileRuleSet(effectiveRules(defaults, user));
    const facts = { memberCount: 3, senderPowerLevel: 0, notificationPowerLevels: { room: 50 } };
    const ev = (body: string, extra = {}) => new PushEvent({ type: 'm.room.message', sender: '@a:example.org', room_id: '!r:example.org', content: { msgtype: 'm.text', body, ...extra } }, facts);
    expect(evaluatePushRules(rules, ev('hello', { 'm.mentions': {} }), { userId: USER })?.ruleId).toBe('all');
    expect(evaluatePushRules(rules, ev('the deploy is done', { 'm.mentions': {} }), { userId: USER })?.ruleId).toBe('kw');
    expect(evaluatePushRules(rules, ev('hi', { 'm.mentions': { user_ids: [USER] } }), { userId: USER })?.ruleId).toBe('.m.rule.is_user_mention');
    expect(evaluatePushRules(rules, ev('hi', { 'm.mentions': { user_ids: [USER] } }), { userId: '@carol:example.org' })?.ruleId).toBe('all');
  });
});
