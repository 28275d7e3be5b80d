/**
 * The SSRF guard. Endpoint URLs are written by users, and the server POSTs to them from inside the operator's
 * network, so only public unicast addresses are reachable unless an operator allow-lists a range.
 *
 * Two checks, both needed:
 * - when an endpoint is created or changed, the URL is parsed, its host resolved and every address checked, so
 *   the user gets a clear 4xx at once;
 * - at every connection, the HTTP agent resolves the host itself through `guardedLookup` and connects to the
 *   address that passed the check. A name that resolved to a public address at creation and to 10.0.0.1 now
 *   (DNS rebinding) is refused at connect time, with no window between check and connect.
 */
import dns from 'node:dns';
import ipaddr from 'ipaddr.js';
import { Agent } from 'undici';

export type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError';
  readonly code = 'EWEBHOOKBLOCKED';
}

/** Parses `WEBHOOKS_SSRF_ALLOW` ("127.0.0.1/32, ::1/128"); throws naming a bad entry. */
export function parseAllowList(text: string): Cidr[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      if (!ipaddr.isValidCIDR(s)) throw new Error(`WEBHOOKS_SSRF_ALLOW: "${s}" is not a CIDR range (e.g. 127.0.0.1/32)`);
      return ipaddr.parseCIDR(s) as Cidr;
    });
}

/** Why `address` may not be reached, or null when it may. */
export function blockedReason(address: string, allow: readonly Cidr[]): string | null {
  if (!ipaddr.isValid(address)) return `"${address}" is not an IP address`;
  let ip = ipaddr.parse(address);
  // ::ffff:10.0.0.1 reaches 10.0.0.1: judge the IPv4 address it carries.
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  for (const [net, bits] of allow) if (net.kind() === ip.kind() && ip.match(net, bits)) return null;
  const range = ip.range();
  if (range === 'unicast') return null;
  const label: Record<string, string> = {
    loopback: 'a loopback address',
    private: 'a private address',
    linkLocal: 'a link-local address (this includes the cloud metadata service 169.254.169.254)',
    carrierGradeNat: 'a carrier-grade NAT address',
    uniqueLocal: 'a private (unique local) IPv6 address',
    unspecified: 'the unspecified address',
    multicast: 'a multicast address',
    broadcast: 'the broadcast address',
  };
  return `${ip.toString()} is ${label[range] ?? `a special-purpose address (${range})`}`;
}

export interface UrlProblem {
  message: string;
}

/** Checks the parts of an endpoint URL that need no DNS: scheme, credentials, literal addresses. */
export function staticUrlProblem(raw: string, opts: { requireHttps: boolean; allow: readonly Cidr[] }): string | null {
  if (!URL.canParse(raw)) return 'is not a valid URL';
  const u = new URL(raw);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `must be an http(s) URL, not ${u.protocol}`;
  if (opts.requireHttps && u.protocol !== 'https:') return 'must be an https URL';
  if (u.username || u.password) return 'must not carry credentials (use custom headers)';
  const host = hostOf(u);
  if (!host) return 'has no host';
  if (ipaddr.isValid(host)) {
    const why = blockedReason(host, opts.allow);
    if (why) return `points to ${why}`;
  }
  return null;
}

/** The URL's host without IPv6 brackets. */
export function hostOf(u: URL): string {
  return u.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** The full check of an endpoint URL: static rules, then every address its host resolves to. */
export async function urlProblem(raw: string, opts: { requireHttps: boolean; allow: readonly Cidr[] }): Promise<string | null> {
  const staticProblem = staticUrlProblem(raw, opts);
  if (staticProblem) return staticProblem;
  const host = hostOf(new URL(raw));
  if (ipaddr.isValid(host)) return null;
  let addresses: dns.LookupAddress[];
  try {
    addresses = await dns.promises.lookup(host, { all: true, verbatim: true });
  } catch (e) {
    return `host ${host} does not resolve (${(e as NodeJS.ErrnoException).code ?? 'DNS error'})`;
  }
  for (const a of addresses) {
    const why = blockedReason(a.address, opts.allow);
    if (why) return `host ${host} resolves to ${why}`;
  }
  return null;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `net.connect`: resolves like the default, drops nothing silently — if any address of the name
 * is blocked the connection fails, so a name mixing public and private addresses cannot be used to reach the
 * private one on a second try.
 */
export function guardedLookup(allow: readonly Cidr[]) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as dns.LookupAddress[];
      for (const a of list) {
        const why = blockedReason(a.address, allow);
        if (why) return callback(new BlockedAddressError(`refused: ${hostname} resolves to ${why}`), '');
      }
      if (!list.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
      if (options.all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/**
 * The HTTP agent deliveries go through: connections are made only to checked addresses, redirects are never
 * followed (undici's `request` does not follow them), and idle sockets are kept for the next delivery.
 */
export function guardedAgent(allow: readonly Cidr[], opts: { connections?: number } = {}): Agent {
  return new Agent({
    connect: { lookup: guardedLookup(allow) as never },
    connections: opts.connections ?? 128,
    keepAliveTimeout: 10_000,
  });
}
