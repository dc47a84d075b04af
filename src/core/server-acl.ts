// Server access control lists. spec: client-server-api modules/server_acls; the m.room.server_acl
// event schema (the order of the checks); server-server-api "Server Access Control Lists (ACLs)".
// Pure: a decision from the ACL event's content and a server name.
import { compileGlob } from './push/match.js';

export type ServerAclCheck = (serverName: string) => boolean;

/** Everyone is allowed when the room has no m.room.server_acl event (rule 1). */
export const ALLOW_ALL: ServerAclCheck = () => true;

/** The decision function of one m.room.server_acl content (undefined content: no ACL in the room). */
export function compileServerAcl(content: Record<string, unknown> | undefined): ServerAclCheck {
  if (content === undefined) return ALLOW_ALL;
  const patterns = (v: unknown) => (Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string') : []);
  const deny = patterns(content.deny).map((p) => compileGlob(p, 'whole'));
  const allow = patterns(content.allow).map((p) => compileGlob(p, 'whole'));
  // Only an explicit `false` denies IP literals (rule 2: "is present and false").
  const denyIpLiterals = content.allow_ip_literals === false;
  return (serverName) => {
    const host = hostOf(serverName).toLowerCase();
    if (denyIpLiterals && isIpLiteral(host)) return false;
    if (deny.some((m) => m(host))) return false;
    return allow.some((m) => m(host));
  };
}

/** The server name without its port: ports are never considered (schema description). */
export function hostOf(serverName: string): string {
  if (serverName.startsWith('[')) {
    const end = serverName.indexOf(']');
    return end === -1 ? serverName : serverName.slice(0, end + 1);
  }
  const colon = serverName.lastIndexOf(':');
  return colon === -1 ? serverName : serverName.slice(0, colon);
}

function isIpLiteral(host: string): boolean {
  return host.startsWith('[') || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}
