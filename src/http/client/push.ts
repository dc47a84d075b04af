// spec: client-server-api modules/push: "Push Rules: API" (pushrules.yaml), "Listing
// Notifications" (notifications.yaml) and pushers (pusher.yaml)
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { JsonObject, JsonValue } from '../../core/pdu.js';
import { PUSH_RULE_KINDS, clientRule, ruleSetContent, type PushRuleKind } from '../../core/push/index.js';
import { invalidParam } from '../../errors.js';
import type { Homeserver } from '../../homeserver.js';
import { requester } from '../server.js';

const KindParam = Type.String();
const RuleParams = Type.Object({ kind: KindParam, ruleId: Type.String() });
const PutRuleQuery = Type.Object({ before: Type.Optional(Type.String()), after: Type.Optional(Type.String()) }, { additionalProperties: true });
const Body = Type.Object({}, { additionalProperties: true });
const EnabledBody = Type.Object({ enabled: Type.Boolean() }, { additionalProperties: true });
const ActionsBody = Type.Object({ actions: Type.Array(Type.Union([Type.String(), Type.Object({}, { additionalProperties: true })])) }, { additionalProperties: true });
const NotificationsQuery = Type.Object({
  from: Type.Optional(Type.String()),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
  only: Type.Optional(Type.String()),
}, { additionalProperties: true });
const SetPusherBody = Type.Object({
  kind: Type.Union([Type.String(), Type.Null()]),
  app_id: Type.String({ minLength: 1 }),
  pushkey: Type.String({ minLength: 1 }),
  app_display_name: Type.Optional(Type.String()),
  device_display_name: Type.Optional(Type.String()),
  profile_tag: Type.Optional(Type.String()),
  lang: Type.Optional(Type.String()),
  data: Type.Optional(Type.Object({}, { additionalProperties: true })),
  append: Type.Optional(Type.Boolean()),
}, { additionalProperties: true });

const NOTIFICATIONS_DEFAULT_LIMIT = 20;
const NOTIFICATIONS_MAX_LIMIT = 100;

/** The kind path parameter: one of the five kinds (spec: pushrules.yaml, `kind` enum). */
function kindOf(kind: string): PushRuleKind {
  if (!(PUSH_RULE_KINDS as readonly string[]).includes(kind)) throw invalidParam(`Unknown push rule kind ${JSON.stringify(kind)}: one of ${PUSH_RULE_KINDS.join(', ')}`);
  return kind as PushRuleKind;
}

export function pushRoutes(app: FastifyInstance, hs: Homeserver): void {
  const config = { auth: 'user' as const };
  const rule = '/_matrix/client/v3/pushrules/global/:kind/:ruleId';

  app.get('/_matrix/client/v3/pushrules/', { config }, async (req) => hs.pushRules.content(requester(req).userId));
  app.get('/_matrix/client/v3/pushrules/global/', { config },
    async (req) => ruleSetContent(await hs.pushRules.ruleSet(requester(req).userId)).global as JsonObject);

  app.get<{ Params: Static<typeof RuleParams> }>(rule, { schema: { params: RuleParams }, config },
    async (req) => clientRule(await hs.pushRules.getRule(requester(req).userId, kindOf(req.params.kind), req.params.ruleId)));

  app.put<{ Params: Static<typeof RuleParams>; Querystring: Static<typeof PutRuleQuery>; Body: JsonObject }>(rule, {
    schema: { params: RuleParams, querystring: PutRuleQuery, body: Body }, config,
  }, async (req) => {
    const { before, after } = req.query;
    await hs.pushRules.putRule(requester(req).userId, kindOf(req.params.kind), req.params.ruleId, req.body, {
      ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }),
    });
    return {};
  });

  app.delete<{ Params: Static<typeof RuleParams> }>(rule, { schema: { params: RuleParams }, config }, async (req) => {
    await hs.pushRules.deleteRule(requester(req).userId, kindOf(req.params.kind), req.params.ruleId);
    return {};
  });

  app.get<{ Params: Static<typeof RuleParams> }>(`${rule}/enabled`, { schema: { params: RuleParams }, config },
    async (req) => ({ enabled: (await hs.pushRules.getRule(requester(req).userId, kindOf(req.params.kind), req.params.ruleId)).enabled }));

  app.put<{ Params: Static<typeof RuleParams>; Body: Static<typeof EnabledBody> }>(`${rule}/enabled`, {
    schema: { params: RuleParams, body: EnabledBody }, config,
  }, async (req) => {
    await hs.pushRules.setEnabled(requester(req).userId, kindOf(req.params.kind), req.params.ruleId, req.body.enabled);
    return {};
  });

  app.get<{ Params: Static<typeof RuleParams> }>(`${rule}/actions`, { schema: { params: RuleParams }, config },
    async (req) => ({ actions: (await hs.pushRules.getRule(requester(req).userId, kindOf(req.params.kind), req.params.ruleId)).actions as JsonValue }));

  app.put<{ Params: Static<typeof RuleParams>; Body: Static<typeof ActionsBody> }>(`${rule}/actions`, {
    schema: { params: RuleParams, body: ActionsBody }, config,
  }, async (req) => {
    await hs.pushRules.setActions(requester(req).userId, kindOf(req.params.kind), req.params.ruleId, req.body.actions);
    return {};
  });

  app.get<{ Querystring: Static<typeof NotificationsQuery> }>('/_matrix/client/v3/notifications', {
    schema: { querystring: NotificationsQuery }, config,
  }, async (req) => {
    const r = requester(req);
    const { from, only } = req.query;
    if (from !== undefined && !/^[0-9]{1,15}$/.test(from)) throw invalidParam('`from` is not a token this endpoint returned');
    const limit = Math.min(req.query.limit === undefined ? NOTIFICATIONS_DEFAULT_LIMIT : Number(req.query.limit), NOTIFICATIONS_MAX_LIMIT);
    const page = await hs.notifications.notifications(r.userId, {
      ...(from === undefined ? {} : { from: Number(from) }), limit, onlyHighlight: only === 'highlight',
    });
    const formatted = await hs.formatter.format(page.items.map((i) => i.event), { userId: r.userId, deviceId: r.deviceId });
    return {
      notifications: page.items.map((item, i) => ({
        actions: item.actions, event: formatted[i], read: item.read, room_id: item.roomId, ts: item.event.event.origin_server_ts,
      })),
      ...(page.next === undefined ? {} : { next_token: String(page.next) }),
    };
  });

  app.get('/_matrix/client/v3/pushers', { config }, async (req) => ({ pushers: await hs.pushers.list(requester(req).userId) }));

  app.post<{ Body: Static<typeof SetPusherBody> }>('/_matrix/client/v3/pushers/set', { schema: { body: SetPusherBody }, config }, async (req) => {
    const r = requester(req);
    await hs.pushers.set(r.userId, r.deviceId, req.body as Static<typeof SetPusherBody> & { data?: JsonObject });
    return {};
  });
}
