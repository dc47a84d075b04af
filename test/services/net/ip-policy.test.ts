// The outbound IP policy: ranges, the allow list over the deny list, IPv4-mapped IPv6, and
// connections refused after DNS resolution and at connect time (so on every redirect hop too).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { DEFAULT_IP_DENYLIST, IpDeniedError, IpPolicy, parseCidr } from '../../../src/services/net/ip-policy.js';

describe('IpPolicy.isAllowed', () => {
  const policy = new IpPolicy();

  it('denies private, loopback, link-local and other special ranges by default', () => {
    for (const ip of [
      '127.0.0.1', '127.255.255.254', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1',
      '169.254.169.254', '0.0.0.0', '224.0.0.1', '255.255.255.255',
      '::1', '::', 'fe80::1', 'fe80::1%eth0', 'fc00::1', 'fd12:3456::1', 'ff02::1', '2001:db8::1', '[::1]',
    ]) expect(policy.isAllowed(ip), ip).toBe(false);
  });

  it('allows public addresses', () => {
    for (const ip of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '192.169.0.1', '100.128.0.1', '2606:4700::1111', '2001:4860:4860::8888']) {
      expect(policy.isAllowed(ip), ip).toBe(true);
    }
  });

  it('judges IPv4-mapped IPv6 addresses as the IPv4 address they reach', () => {
    expect(policy.isAllowed('::ffff:127.0.0.1')).toBe(false);
    expect(policy.isAllowed('::ffff:7f00:1')).toBe(false);
    expect(policy.isAllowed('::ffff:10.0.0.1')).toBe(false);
    expect(policy.isAllowed('::ffff:8.8.8.8')).toBe(true);
    const mappedRange = new IpPolicy({ denylist: ['::ffff:8.8.0.0/112'] });
    expect(mappedRange.isAllowed('8.8.4.4')).toBe(false);
    expect(mappedRange.isAllowed('8.9.0.1')).toBe(true);
    const everything = new IpPolicy({ denylist: ['::/0'] });
    expect(everything.isAllowed('8.8.8.8')).toBe(false);
    expect(everything.isAllowed('2606:4700::1111')).toBe(false);
  });

  it('lets the allow list override the deny list', () => {
    const p = new IpPolicy({ allowlist: ['127.0.0.1/32', 'fd00::/8'] });
    expect(p.isAllowed('127.0.0.1')).toBe(true);
    expect(p.isAllowed('::ffff:127.0.0.1')).toBe(true);
    expect(p.isAllowed('127.0.0.2')).toBe(false);
    expect(p.isAllowed('fd00::5')).toBe(true);
    expect(p.isAllowed('fc00::5')).toBe(false);
  });

  it('takes a configured deny list instead of the default', () => {
    const p = new IpPolicy({ denylist: ['8.8.8.0/24'] });
    expect(p.isAllowed('8.8.8.8')).toBe(false);
    expect(p.isAllowed('127.0.0.1')).toBe(true);
  });

  it('refuses anything that is not an IP address', () => {
    for (const s of ['', 'localhost', '1.2.3', '1.2.3.4.5', '::g', '999.1.1.1']) expect(policy.isAllowed(s), s).toBe(false);
  });
});

describe('parseCidr', () => {
  it('parses every default range', () => {
    for (const r of DEFAULT_IP_DENYLIST) expect(() => parseCidr(r)).not.toThrow();
  });
  it('rejects malformed ranges', () => {
    for (const r of ['', '10.0.0.0/33', '::/129', 'example.org/8', '10.0.0/8', '10.0.0.0/-1', '10.0.0.0/8/8']) {
      expect(() => parseCidr(r), r).toThrow();
    }
  });
  it('masks host bits', () => {
    expect(new IpPolicy({ denylist: ['10.1.2.3/8'] }).isAllowed('10.200.0.1')).toBe(false);
  });
});

describe('IpPolicy connections', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.end('hello');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('refuses an IP literal in the deny list before connecting', async () => {
    const agent = new IpPolicy().agent();
    await expect(request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).rejects.toBeInstanceOf(IpDeniedError);
    await agent.close();
  });

  it('refuses a name that resolves to a denied address (checked after DNS)', async () => {
    const agent = new IpPolicy().agent();
    await expect(request(`http://localhost:${port}/`, { dispatcher: agent })).rejects.toMatchObject({ code: 'EIPDENIED' });
    await agent.close();
  });

  it('lookup fails with IpDeniedError when every address is denied, and passes allowed ones', async () => {
    const policy = new IpPolicy();
    const err = await new Promise<Error | null>((r) => policy.lookup('localhost', { all: true }, (e) => r(e)));
    expect(err).toBeInstanceOf(IpDeniedError);
    const allowing = new IpPolicy({ allowlist: ['127.0.0.0/8', '::1'] });
    const addr = await new Promise<string>((r, j) => allowing.lookup('localhost', {}, (e, a) => (e ? j(e) : r(a as string))));
    expect(['127.0.0.1', '::1']).toContain(addr);
  });

  it('connects to an allow-listed address', async () => {
    const agent = new IpPolicy({ allowlist: ['127.0.0.1'] }).agent();
    const res = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
    expect(await res.body.text()).toBe('hello');
    await agent.close();
  });
});
