// What push evaluation needs of local users' account data, read inside an event's transaction:
// their push rules (`m.push_rules`, written by services/push/rules.ts through the account data
// store) and whom they ignore (`m.ignored_user_list`).
// spec: client-server-api modules/push "Push Rules", modules/ignore_users
import type { JsonObject } from '../core/pdu.js';
import type { Tx } from './database.js';

export const PUSH_RULES_TYPE = 'm.push_rules';
const IGNORED_USER_LIST_TYPE = 'm.ignored_user_list';
/** The room_id of global account data (storage/account-data.ts). */
const GLOBAL = '';

export interface UserPushData {
  pushRules: JsonObject | undefined;
  ignoredUserList: JsonObject | undefined;
}

export class PushRuleStore {
  /** Each user's m.push_rules and m.ignored_user_list, through the event's transaction. */
  async forUsers(tx: Tx, userIds: readonly string[]): Promise<Map<string, UserPushData>> {
    const out = new Map<string, UserPushData>();
    for (const u of userIds) out.set(u, { pushRules: undefined, ignoredUserList: undefined });
    for (let i = 0; i < userIds.length; i += 500) {
      const rows = await tx.selectFrom('account_data').select(['user_id', 'type', 'content'])
        .where('room_id', '=', GLOBAL).where('type', 'in', [PUSH_RULES_TYPE, IGNORED_USER_LIST_TYPE])
        .where('user_id', 'in', userIds.slice(i, i + 500)).execute();
      for (const r of rows) {
        const data = out.get(r.user_id) as UserPushData;
        const content = JSON.parse(r.content) as JsonObject;
        if (r.type === PUSH_RULES_TYPE) data.pushRules = content;
        else data.ignoredUserList = content;
      }
    }
    return out;
  }
}
