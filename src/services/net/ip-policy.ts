// Which IP addresses outbound requests may reach: URL previews, and federation's outbound
// requests. A request must never be turned against the server's own network (SSRF), so the
// check runs on the addresses a name resolves to, and again on the connected socket: it holds
// for every connection, hence for every redirect hop, and DNS answers cannot slip past it.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { Agent, buildConnector } from 'undici';

/** Private, loopback, link-local, shared, multicast and documentation ranges (as Synapse denies by default). */
export const DEFAULT_IP_DENYLIST: readonly string[] = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12',
  '192.0.0.0/24', '192.0.2.0/24', '192.88.99.0/24', '192.168.0.0/16', '198.18.0.0/15',
  '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/4', '240.0.0.0/4',
  '::/128', '::1/128', 'fe80::/10', 'fc00::/7', 'fec0::/10', 'ff00::/8', '2001:db8::/32',
];

/** A connection refused because the address it would reach is denied. */
export class IpDeniedError extends Error {
  readonly code = 'EIPDENIED';
  constructor(readonly host: string, readonly address: string) {
    super(host === address ? `IP address ${address} is denied` : `${host} resolves to denied IP address ${address}`);
    this.name = 'IpDeniedError';
  }
}

interface Range { v: 4 | 6; base: bigint; prefix: number }

const MAPPED_PREFIX = 0xffffn << 32n; // ::ffff:0:0/96, IPv4 addresses written as IPv6

/** An address as a number, IPv4-mapped IPv6 addresses unwrapped to IPv4 (they reach the same host). */
function parseIp(text: string): { v: 4 | 6; value: bigint } | null {
  const ip = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const kind = isIP(ip);
  if (kind === 4) return { v: 4, value: ipv4Value(ip) };
  if (kind !== 6) return null;
  const value = ipv6Value(ip.replace(/%.*$/, ''));
  if (value >> 32n === 0xffffn) return { v: 4, value: value & 0xffffffffn };
  return { v: 6, value };
}

function ipv4Value(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6Value(ip: string): bigint {
  let text = ip;
  // A trailing dotted IPv4 part (::ffff:1.2.3.4) is two 16-bit groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4Value(dotted[1]);
    text = `${text.slice(0, -dotted[1].length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined
    ? headGroups
    : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Parses `a.b.c.d/n` or `x::y/n` (a bare address is a single-address range); throws on anything else. */
export function parseCidr(cidr: string): Range {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(cidr.trim());
  const kind = m ? isIP(m[1]) : 0;
  if (!m || kind === 0) throw new Error(`not an IP range: ${JSON.stringify(cidr)}`);
  const bits = kind === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? bits : Number(m[2]);
  if (prefix > bits) throw new Error(`prefix length over ${bits}: ${JSON.stringify(cidr)}`);
  const raw = kind === 4 ? ipv4Value(m[1]) : ipv6Value(m[1]);
  // A range inside ::ffff:0:0/96 names IPv4 addresses, which are compared unwrapped.
  if (kind === 6 && prefix >= 96 && raw >> 32n === 0xffffn) {
    return { v: 4, base: mask(raw & 0xffffffffn, 32, prefix - 96), prefix: prefix - 96 };
  }
  return { v: kind === 4 ? 4 : 6, base: mask(raw, bits, prefix), prefix };
}

function mask(value: bigint, bits: number, prefix: number): bigint {
  const hostBits = BigInt(bits - prefix);
  return (value >> hostBits) << hostBits;
}

function inRange(r: Range, ip: { v: 4 | 6; value: bigint }): boolean {
  if (r.v !== ip.v) {
    // An IPv6 range wider than ::ffff:0:0/96 that contains it covers IPv4 addresses too.
    return r.v === 6 && ip.v === 4 && r.prefix <= 96 && mask(MAPPED_PREFIX | ip.value, 128, r.prefix) === r.base;
  }
  return mask(ip.value, ip.v === 4 ? 32 : 128, r.prefix) === r.base;
}

export interface IpPolicyOptions {
  /** CIDR ranges that may not be reached; default DEFAULT_IP_DENYLIST. */
  denylist?: readonly string[];
  /** CIDR ranges that may be reached even though the deny list covers them. */
  allowlist?: readonly string[];
}

export class IpPolicy {
  private readonly deny: Range[];
  private readonly allow: Range[];

  /** Throws on a malformed range; config validation calls `parseCidr` first to name the option. */
  constructor(options: IpPolicyOptions = {}) {
    this.deny = (options.denylist ?? DEFAULT_IP_DENYLIST).map(parseCidr);
    this.allow = (options.allowlist ?? []).map(parseCidr);
  }

  /** Whether an address may be connected to: the allow list wins over the deny list; not an IP → false. */
  isAllowed(address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    if (this.allow.some((r) => inRange(r, ip))) return true;
    return !this.deny.some((r) => inRange(r, ip));
  }

  /**
   * A `dns.lookup` replacement for `net.connect`: resolves the name, drops denied addresses and
   * fails with IpDeniedError when none is left.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...(options as LookupOptions), all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const allowed = addresses.filter((a) => this.isAllowed(a.address));
      if (allowed.length === 0) return callback(new IpDeniedError(hostname, addresses[0]?.address ?? hostname), '', 0);
      if ((options as LookupOptions).all) return (callback as (e: null, a: LookupAddress[]) => void)(null, allowed);
      callback(null, allowed[0].address, allowed[0].family);
    });
  };

  /**
   * An undici connector that refuses denied addresses: IP literals before connecting (Node does
   * not call `lookup` for them), names through `lookup`, and the connected socket's address last.
   */
  connector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
    const base = buildConnector({ ...options, lookup: this.lookup } as buildConnector.BuildOptions);
    return (opts, callback) => {
      const host = opts.hostname.replace(/^\[(.*)\]$/, '$1');
      if (isIP(host) !== 0 && !this.isAllowed(host)) {
        callback(new IpDeniedError(host, host), null);
        return;
      }
      base(opts, (err, socket) => {
        if (err || !socket) return callback(err ?? new Error('connection failed'), null);
        const remote = (socket as Socket).remoteAddress;
        if (remote !== undefined && !this.isAllowed(remote)) {
          socket.destroy();
          return callback(new IpDeniedError(host, remote), null);
        }
        callback(null, socket);
      });
    };
  }

  /** An undici Agent whose every connection passes this policy. */
  agent(options: Agent.Options = {}): Agent {
    const { connect, ...rest } = options;
    const connectOptions = typeof connect === 'function' || connect === undefined ? {} : connect;
    return new Agent({ ...rest, connect: this.connector(connectOptions) });
  }
}
