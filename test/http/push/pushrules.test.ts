// The push rules API over real HTTP: the default ruleset, creating, ordering, enabling and
// changing rules, what is refused (and changes nothing), and the m.push_rules account data that
// carries every change to clients through /sync.
// spec: client-server-api modules/push "Push Rules: API"; data/api/client-server/pushrules.yaml
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../../helpers/databases.js';
import { startTestServer, type TestServer } from '../../helpers/server.js';
import { Client } from '../../helpers/client.js';
import { enc } from '../ephemeral/helpers.js';
import type { JsonObject } from '../../../src/core/pdu.js';

type Rule = { rule_id: string; default: boolean; enabled: boolean; actions: unknown[]; conditions?: unknown[]; pattern?: string };
type RuleSet = Record<'override' | 'content' | 'room' | 'sender' | 'underride', Rule[]>;

const RULES = '/_matrix/client/v3/pushrules';

describe.each(ENGINES)('push rules API (%s)', (engine) => {
  let server: TestServer;
  let alice: Client;
  let aliceId: string;

  const ruleSet = async (client = alice) => {
    const r = await client.get<{ global: RuleSet }>(`${RULES}/`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.global;
  };
  const ids = (rules: Rule[]) => rules.map((r) => r.rule_id);
  const put = (kind: string, ruleId: string, body: unknown, query = '') => alice.put(`${RULES}/global/${kind}/${enc(ruleId)}${query}`, body);
  const ok = async (p: Promise<{ status: number; body: unknown }>) => {
    const r = await p;
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body;
  };
  const sync = (client: Client, since?: string) => client.get<{ next_batch: string; account_data?: { events: Array<{ type: string; content: { global: RuleSet } }> } }>(
    `/_matrix/client/v3/sync${since ? `?since=${enc(since)}&timeout=0` : ''}`);

  beforeAll(async () => {
    server = await startTestServer(engine);
    alice = new Client(server.baseUrl);
    aliceId = (await alice.register('alice')).user_id;
  });
  afterAll(() => server.close());

  it('serves the complete default ruleset with the placeholders filled in, in /pushrules/, /pushrules/global/, initial sync and account data', async () => {
    const global = await ruleSet();
    expect(ids(global.override)).toEqual([
      '.m.rule.master', '.m.rule.suppress_notices', '.m.rule.invite_for_me', '.m.rule.member_event', '.m.rule.is_user_mention',
      '.m.rule.contains_display_name', '.m.rule.is_room_mention', '.m.rule.roomnotif', '.m.rule.tombstone', '.m.rule.reaction',
      '.m.rule.room.server_acl', '.m.rule.suppress_edits',
    ]);
    expect(ids(global.content)).toEqual(['.m.rule.contains_user_name']);
    expect(ids(global.underride)).toEqual(['.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted']);
    expect(global.room).toEqual([]);
    expect(global.sender).toEqual([]);
    expect(global.override[0]).toEqual({ rule_id: '.m.rule.master', default: true, enabled: false, actions: [], conditions: [] });
    expect(global.override.find((r) => r.rule_id === '.m.rule.is_user_mention')).toEqual({
      rule_id: '.m.rule.is_user_mention', default: true, enabled: true,
      conditions: [{ kind: 'event_property_contains', key: 'content.m\\.mentions.user_ids', value: aliceId }],
      actions: ['notify', { set_tweak: 'sound', value: 'default' }, { set_tweak: 'highlight' }],
    });
    expect(global.override.find((r) => r.rule_id === '.m.rule.invite_for_me')?.conditions).toContainEqual({ key: 'state_key', kind: 'event_match', pattern: aliceId });
    expect(global.content[0]).toMatchObject({ pattern: 'alice', default: true, enabled: true });
    expect(global.content[0].conditions).toBeUndefined();

    expect((await alice.get(`${RULES}/global/`)).body).toEqual(global);
    const initial = await sync(alice);
    expect(initial.body.account_data?.events.find((e) => e.type === 'm.push_rules')?.content).toEqual({ global });
    expect((await alice.get(`/_matrix/client/v3/user/${enc(aliceId)}/account_data/m.push_rules`)).body).toEqual({ global });
    // The server manages it: clients cannot write it directly.
    expect((await alice.put(`/_matrix/client/v3/user/${enc(aliceId)}/account_data/m.push_rules`, { global: {} })).status).toBe(405);
  });

  it('creates a rule as the most important of its kind, enabled; updates keep the place; changes reach /sync and account data', async () => {
    const client = new Client(server.baseUrl);
    await client.register('creator');
    const first = await sync(client);
    const putAs = (kind: string, id: string, body: unknown, q = '') => client.put(`${RULES}/global/${kind}/${enc(id)}${q}`, body);
    await ok(putAs('content', 'cake', { pattern: 'cake*lie', actions: ['notify'] }));
    await ok(putAs('content', 'pie', { pattern: 'pie', actions: ['notify'] }));
    let global = await ruleSet(client);
    expect(ids(global.content)).toEqual(['pie', 'cake', '.m.rule.contains_user_name']);
    expect(global.content[1]).toEqual({ rule_id: 'cake', default: false, enabled: true, pattern: 'cake*lie', actions: ['notify'] });
    expect((await client.get(`${RULES}/global/content/cake`)).body).toEqual(global.content[1]);

    // An update keeps its place (and its enabled flag).
    await ok(client.put(`${RULES}/global/content/cake/enabled`, { enabled: false }));
    await ok(putAs('content', 'cake', { pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] }));
    global = await ruleSet(client);
    expect(ids(global.content)).toEqual(['pie', 'cake', '.m.rule.contains_user_name']);
    expect(global.content[1]).toEqual({ rule_id: 'cake', default: false, enabled: false, pattern: 'cake', actions: ['notify', { set_tweak: 'highlight' }] });

    const next = await sync(client, first.body.next_batch);
    const pushRules = next.body.account_data?.events.filter((e) => e.type === 'm.push_rules') ?? [];
    expect(pushRules.at(-1)?.content).toEqual({ global });
    expect((await client.get(`/_matrix/client/v3/user/${enc((await client.get<{ user_id: string }>('/_matrix/client/v3/account/whoami')).body.user_id)}/account_data/m.push_rules`)).body).toEqual({ global });

    // Override rules carry conditions; room and sender rules neither conditions nor pattern.
    await ok(putAs('override', 'deploys', { conditions: [{ kind: 'event_match', key: 'content.body', pattern: 'deploy*' }], actions: ['notify'] }));
    await ok(putAs('room', '!abc:test.local', { actions: [] }));
    await ok(putAs('sender', '@bot:test.local', { actions: [], conditions: [{ kind: 'ignored' }], pattern: 'ignored' }));
    global = await ruleSet(client);
    expect(ids(global.override).slice(0, 2)).toEqual(['.m.rule.master', 'deploys']);
    expect(global.room).toEqual([{ rule_id: '!abc:test.local', default: false, enabled: true, actions: [] }]);
    expect(global.sender).toEqual([{ rule_id: '@bot:test.local', default: false, enabled: true, actions: [] }]);
  });

  it('places rules with before and after, before winning when both are given', async () => {
    const rules = async () => ids((await ruleSet()).underride).filter((id) => !id.startsWith('.'));
    const body = { conditions: [], actions: ['notify'] };
    await ok(put('underride', 'a', body));
    await ok(put('underride', 'b', body, '?after=a'));
    expect(await rules()).toEqual(['a', 'b']);
    await ok(put('underride', 'c', body, '?before=a'));
    expect(await rules()).toEqual(['c', 'a', 'b']);
    await ok(put('underride', 'd', body, '?after=c'));
    expect(await rules()).toEqual(['c', 'd', 'a', 'b']);
    // Moving an existing rule.
    await ok(put('underride', 'c', body, '?after=b'));
    expect(await rules()).toEqual(['d', 'a', 'b', 'c']);
    await ok(put('underride', 'e', body, '?before=b&after=d'));
    expect(await rules()).toEqual(['d', 'a', 'e', 'b', 'c']);
    // User rules come before the defaults of their kind.
    expect(ids((await ruleSet()).underride).slice(5)).toEqual(['.m.rule.call', '.m.rule.encrypted_room_one_to_one', '.m.rule.room_one_to_one', '.m.rule.message', '.m.rule.encrypted']);

    const before = await ruleSet();
    // spec: pushrules.yaml: an unknown before/after rule is a 400 ("before/after rule not found").
    const unknown = await put('underride', 'f', body, '?before=nope');
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ errcode: 'M_UNKNOWN' });
    expect((await put('underride', 'f', body, '?after=nope')).status).toBe(400);
    // Relative to a server-default rule, or a rule of another kind: refused.
    expect((await put('underride', 'f', body, '?before=.m.rule.message')).body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    expect((await put('override', 'f', body, '?after=a')).status).toBe(400);
    expect((await put('underride', 'a', body, '?after=a')).status).toBe(400);
    expect(await ruleSet()).toEqual(before);
  });

  it('reads and sets enabled and actions of user and server-default rules; deletes user rules only', async () => {
    await ok(put('override', 'x', { conditions: [], actions: ['notify'] }));
    expect((await alice.get(`${RULES}/global/override/x/enabled`)).body).toEqual({ enabled: true });
    expect((await alice.get(`${RULES}/global/override/x/actions`)).body).toEqual({ actions: ['notify'] });
    await ok(alice.put(`${RULES}/global/override/x/enabled`, { enabled: false }));
    await ok(alice.put(`${RULES}/global/override/x/actions`, { actions: [{ set_tweak: 'sound', value: 'bell' }] }));
    expect((await alice.get(`${RULES}/global/override/x`)).body).toMatchObject({ enabled: false, actions: [{ set_tweak: 'sound', value: 'bell' }] });

    await ok(alice.put(`${RULES}/global/override/.m.rule.master/enabled`, { enabled: true }));
    expect((await alice.get(`${RULES}/global/override/.m.rule.master/enabled`)).body).toEqual({ enabled: true });
    await ok(alice.put(`${RULES}/global/override/.m.rule.master/enabled`, { enabled: false }));
    await ok(alice.put(`${RULES}/global/underride/.m.rule.message/actions`, { actions: ['notify', { set_tweak: 'sound', value: 'default' }] }));
    expect((await alice.get(`${RULES}/global/underride/.m.rule.message`)).body).toMatchObject({ default: true, actions: ['notify', { set_tweak: 'sound', value: 'default' }] });
    await ok(alice.put(`${RULES}/global/underride/.m.rule.message/actions`, { actions: ['notify'] }));

    // The kind is part of the rule's name.
    expect((await alice.get(`${RULES}/global/underride/x`)).body).toMatchObject({ errcode: 'M_NOT_FOUND' });
    expect((await alice.get(`${RULES}/global/override/.m.rule.message`)).status).toBe(404);
    expect((await alice.put(`${RULES}/global/override/nope/enabled`, { enabled: true })).body).toMatchObject({ errcode: 'M_NOT_FOUND' });
    expect((await alice.put(`${RULES}/global/override/nope/actions`, { actions: [] })).status).toBe(404);

    await ok(alice.delete(`${RULES}/global/override/x`));
    expect((await alice.get(`${RULES}/global/override/x`)).status).toBe(404);
    expect((await alice.delete(`${RULES}/global/override/x`)).body).toMatchObject({ errcode: 'M_NOT_FOUND' });
    const removeDefault = await alice.delete(`${RULES}/global/underride/.m.rule.message`);
    expect(removeDefault.status).toBe(400);
    expect((await ruleSet()).underride.some((r) => r.rule_id === '.m.rule.message')).toBe(true);
  });

  it('caps the rules of a user at 1,000 (all kinds): a new rule past the cap is refused with M_USER_LIMIT_EXCEEDED, updates are not', async () => {
    const c = new Client(server.baseUrl);
    const userId = (await c.register('many-rules')).user_id;
    // 999 override rules written straight into the user's m.push_rules (1,000 PUTs would take the suite's time).
    const content = { global: await ruleSet(c) };
    content.global.override = [
      ...Array.from({ length: 999 }, (_, i) => ({ rule_id: `cap.${i}`, default: false, enabled: true, actions: [], conditions: [] })),
      ...content.global.override,
    ];
    await server.hs.storage.accountData.put(userId, null, 'm.push_rules', content as unknown as JsonObject);
    const own = async () => {
      const set = await ruleSet(c);
      return (['override', 'content', 'room', 'sender', 'underride'] as const).reduce((n, k) => n + set[k].filter((r) => !r.default).length, 0);
    };
    expect(await own()).toBe(999);
    const putRule = (kind: string, ruleId: string, body: unknown) => c.put(`${RULES}/global/${kind}/${enc(ruleId)}`, body);
    expect((await putRule('room', '!one:test.local', { actions: [] })).status).toBe(200);
    expect(await own()).toBe(1000);
    for (const [kind, ruleId, body] of [
      ['override', 'cap.new', { actions: [], conditions: [] }],
      ['content', 'cap.word', { actions: [], pattern: 'word' }],
      ['sender', '@someone:test.local', { actions: [] }],
    ] as const) {
      const r = await putRule(kind, ruleId, body);
      expect([r.status, r.body], `${kind} ${ruleId}`).toMatchObject([400, { errcode: 'M_USER_LIMIT_EXCEEDED', info_uri: expect.stringMatching(/^https:\/\//), can_upgrade: false }]);
    }
    expect(await own()).toBe(1000);
    // At the cap: updating a rule, moving it, and changing enabled and actions still work.
    expect((await putRule('override', 'cap.5', { actions: ['notify'], conditions: [] })).status).toBe(200);
    expect((await c.put(`${RULES}/global/override/cap.7?before=cap.1`, { actions: [], conditions: [] })).status).toBe(200);
    expect((await c.put(`${RULES}/global/override/cap.9/enabled`, { enabled: false })).status).toBe(200);
    expect((await c.put(`${RULES}/global/override/.m.rule.master/enabled`, { enabled: true })).status).toBe(200);
    expect(await own()).toBe(1000);
    // One gone, one may come.
    expect((await c.delete(`${RULES}/global/override/cap.3`)).status).toBe(200);
    expect((await putRule('override', 'cap.new', { actions: [], conditions: [] })).status).toBe(200);
    expect(await own()).toBe(1000);
    // The cap is per user.
    expect((await put('override', 'not.capped', { actions: [], conditions: [] })).status).toBe(200);
  });

  it('refuses bad kinds, rule IDs, bodies, conditions and actions, and changes nothing', async () => {
    const before = await ruleSet();
    const cases: Array<[string, string, unknown, string, number?]> = [
      ['nokind', 'r', { actions: [] }, 'M_INVALID_PARAM'],
      ['override', '.m.rule.mine', { actions: [] }, 'M_INVALID_PARAM'],
      ['override', '.m.rule.master', { actions: ['notify'] }, 'M_INVALID_PARAM'],
      ['override', 'a\\b', { actions: [] }, 'M_INVALID_PARAM'],
      ['override', 'a/b', { actions: [] }, 'M_INVALID_PARAM'],
      ['override', 'x'.repeat(300), { actions: [] }, 'M_INVALID_PARAM'],
      ['override', 'r', {}, 'M_MISSING_PARAM'],
      ['override', 'r', { actions: 'notify' }, 'M_BAD_JSON'],
      ['override', 'r', { actions: ['shout'] }, 'M_INVALID_PARAM'],
      ['override', 'r', { actions: [42] }, 'M_INVALID_PARAM'],
      ['override', 'r', { actions: [{ value: 1 }] }, 'M_INVALID_PARAM'],
      ['override', 'r', { actions: [{ set_tweak: 'sound' }] }, 'M_INVALID_PARAM'],
      ['override', 'r', { actions: [{ set_tweak: 'highlight', value: 'yes' }] }, 'M_INVALID_PARAM'],
      ['override', 'r', { actions: [], conditions: {} }, 'M_BAD_JSON'],
      ['override', 'r', { actions: [], conditions: [{ key: 'type' }] }, 'M_BAD_JSON'],
      ['override', 'r', { actions: [], conditions: ['event_match'] }, 'M_BAD_JSON'],
      ['override', 'r', { actions: [], conditions: [{ kind: 'event_match', key: 'type' }] }, 'M_INVALID_PARAM'],
      ['underride', 'r', { actions: [], conditions: [{ kind: 'event_property_is', key: 'content.x', value: { nested: true } }] }, 'M_INVALID_PARAM'],
      ['underride', 'r', { actions: [], conditions: [{ kind: 'event_property_contains', key: 'content.x', value: 1.5 }] }, 'M_INVALID_PARAM'],
      ['underride', 'r', { actions: [], conditions: [{ kind: 'room_member_count', is: 'many' }] }, 'M_INVALID_PARAM'],
      ['underride', 'r', { actions: [], conditions: [{ kind: 'sender_notification_permission' }] }, 'M_INVALID_PARAM'],
      ['content', 'r', { actions: [] }, 'M_MISSING_PARAM'],
      ['content', 'r', { actions: [], pattern: 5 }, 'M_BAD_JSON'],
      ['room', 'not-a-room', { actions: [] }, 'M_INVALID_PARAM'],
      ['sender', 'not-a-user', { actions: [] }, 'M_INVALID_PARAM'],
    ];
    for (const [kind, ruleId, body, errcode] of cases) {
      const r = await put(kind, ruleId, body);
      expect([r.status, r.body], `${kind}/${ruleId} ${JSON.stringify(body)}`).toMatchObject([400, { errcode }]);
    }
    expect((await alice.request('PUT', `${RULES}/global/override/r`, undefined, { raw: '[1, 2]', headers: { 'content-type': 'application/json' } })).body).toMatchObject({ errcode: 'M_BAD_JSON' });
    expect((await alice.get(`${RULES}/global/nokind/r`)).body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    expect((await alice.put(`${RULES}/global/override/.m.rule.master/enabled`, { enabled: 'yes' })).body).toMatchObject({ errcode: 'M_BAD_JSON' });
    expect((await alice.put(`${RULES}/global/override/.m.rule.master/enabled`, {})).body).toMatchObject({ errcode: 'M_MISSING_PARAM' });
    expect((await alice.put(`${RULES}/global/override/.m.rule.master/actions`, { actions: ['shout'] })).body).toMatchObject({ errcode: 'M_INVALID_PARAM' });
    expect((await alice.put(`${RULES}/global/override/.m.rule.master/actions`, { actions: 'notify' })).body).toMatchObject({ errcode: 'M_BAD_JSON' });
    // Only the global scope exists.
    expect((await alice.get(`${RULES}/device/override/r`)).body).toMatchObject({ errcode: 'M_UNRECOGNIZED' });
    // Unknown condition kinds are kept (they never match).
    await ok(put('override', 'future', { actions: ['notify'], conditions: [{ kind: 'org.example.future', whatever: 1 }] }));
    await ok(alice.delete(`${RULES}/global/override/future`));
    expect(await ruleSet()).toEqual(before);
    // Without a token: 401.
    expect((await alice.get(`${RULES}/`, { token: null })).status).toBe(401);
  });
});
