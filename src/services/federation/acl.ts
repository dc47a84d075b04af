// Server ACLs of rooms, from their current m.room.server_acl event.
// spec: server-server-api "Server Access Control Lists (ACLs)"; client-server-api
// modules/server_acls. Compiled once per ACL event.
import { compileServerAcl, type ServerAclCheck } from '../../core/server-acl.js';
import { stateKey } from '../../core/pdu.js';
import type { EventStore } from '../../storage/events.js';
import { MatrixError } from '../../errors.js';

const ACL_KEY = stateKey('m.room.server_acl', '');

export class ServerAcls {
  private readonly compiled = new Map<number, ServerAclCheck>();

  constructor(private readonly events: EventStore) {}

  /** Whether `serverName` may take part in `roomId` under the room's current ACL (allowed when there is none). */
  async allows(roomId: string, serverName: string): Promise<boolean> {
    const nid = (await this.events.currentState(roomId)).get(ACL_KEY);
    if (nid === undefined) return true;
    let check = this.compiled.get(nid);
    if (!check) {
      const ev = (await this.events.getEventsByNid([nid])).get(nid);
      check = compileServerAcl(ev?.event.content);
      if (this.compiled.size > 1000) this.compiled.clear();
      this.compiled.set(nid, check);
    }
    return check(serverName);
  }

  /** spec: a denied server's request is answered 403 M_FORBIDDEN. */
  async require(roomId: string, serverName: string): Promise<void> {
    if (!(await this.allows(roomId, serverName))) throw new MatrixError('M_FORBIDDEN', `Server ${serverName} is denied by the room's server ACL`, 403);
  }
}
