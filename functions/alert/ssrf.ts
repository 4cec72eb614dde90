// SSRF guard for every outbound alert request (issue 5, "Delivery semantics"): the host name is resolved,
// every resolved address is checked, and the connection is made to the address that was checked (the
// check runs inside the socket's `lookup`, so a DNS answer cannot change between check and connect).
// Loopback, link-local (incl. cloud metadata 169.254.169.254), private, CGNAT, multicast and reserved
// ranges are refused, with their IPv6 equivalents, unless ALERT_ALLOW_HOSTS lists the host or a CIDR.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { BlockList, isIP } from 'node:net'

/** Thrown (as the socket error) when a destination is refused. */
export class BlockedDestinationError extends Error {
  override readonly name = 'BlockedDestinationError'
  readonly code = 'ERR_SSRF_BLOCKED'
  constructor(readonly host: string, readonly address: string) {
    super(`outbound request to ${host} (${address}) refused by the SSRF guard`)
  }
}

// IANA special-purpose registries (RFC 6890 and updates): none of these is a public webhook endpoint.
const BLOCKED_V4: readonly [string, number][] = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // RFC 6598 shared address space (CGNAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. 169.254.169.254 metadata endpoints
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved + broadcast
]
const BLOCKED_V6: readonly [string, number][] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64, refused whole: the translator sits on the operator's network
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): translated to whatever the operator's network holds
  ['2001::', 32], // Teredo: tunnels to an IPv4 host, obfuscated
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local
  ['ff00::', 8], // multicast
]

const blocked = new BlockList()
for (const [a, p] of BLOCKED_V4) blocked.addSubnet(a, p, 'ipv4')
for (const [a, p] of BLOCKED_V6) blocked.addSubnet(a, p, 'ipv6')

/** The 16 bytes of an IPv6 address (as isIP accepts it, with or without a trailing dotted quad). */
function ipv6Bytes(address: string): number[] | undefined {
  let text = address.toLowerCase()
  const zone = text.indexOf('%')
  if (zone >= 0) text = text.slice(0, zone)
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const halves = text.split('::')
  if (halves.length > 2) return undefined
  const words = (h: string | undefined): string[] => (h === undefined || h === '' ? [] : h.split(':'))
  const head = words(halves[0])
  const tail = words(halves[1])
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0
  if (fill < 0) return undefined
  const all = [...head, ...Array<string>(fill).fill('0'), ...tail]
  if (all.length !== 8 || !all.every((w) => /^[0-9a-f]{1,4}$/.test(w))) return undefined
  return all.flatMap((w) => [parseInt(w, 16) >> 8, parseInt(w, 16) & 255])
}

const startsWith = (bytes: readonly number[], prefix: readonly number[]): boolean => prefix.every((b, i) => bytes[i] === b)

/**
 * The IPv4 address an IPv6 address carries, judged as that IPv4 address: IPv4-mapped (::ffff:0:0/96),
 * IPv4-compatible (::/96, deprecated), NAT64 (64:ff9b::/96) and 6to4 (2002::/16, the address in bits
 * 16–47). Whatever the text form (`::7f00:1` is `[::127.0.0.1]` as a URL writes it).
 */
export function embeddedIpv4(address: string): string | undefined {
  const b = ipv6Bytes(address)
  if (b === undefined) return undefined
  const at = (i: number): string => b.slice(i, i + 4).join('.')
  if (startsWith(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255])) return at(12)
  if (startsWith(b, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])) return at(12)
  if (startsWith(b, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) return at(12)
  if (startsWith(b, [0x20, 0x02])) return at(2)
  return undefined
}

export interface AllowList {
  /** Lower-case host names allowed whatever they resolve to. */
  readonly hosts: ReadonlySet<string>
  readonly cidrs: BlockList
  readonly empty: boolean
}

/**
 * Parses ALERT_ALLOW_HOSTS: comma-separated host names, IP addresses or CIDRs (`127.0.0.1`, `10.0.0.0/8`,
 * `hooks.internal.example`). Returns the problems found so config can name them all.
 */
export function parseAllowList(value: string | undefined): { allow: AllowList; problems: string[] } {
  const hosts = new Set<string>()
  const cidrs = new BlockList()
  const problems: string[] = []
  let empty = true
  for (const raw of (value ?? '').split(',')) {
    const item = raw.trim().toLowerCase()
    if (item === '') continue
    empty = false
    const slash = item.indexOf('/')
    if (slash >= 0) {
      const addr = item.slice(0, slash)
      const prefix = Number(item.slice(slash + 1))
      const family = isIP(addr)
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) {
        problems.push(`'${item}' is not a valid CIDR`)
        continue
      }
      cidrs.addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6')
      continue
    }
    const bare = item.startsWith('[') && item.endsWith(']') ? item.slice(1, -1) : item
    const family = isIP(bare)
    if (family !== 0) cidrs.addAddress(bare, family === 4 ? 'ipv4' : 'ipv6')
    else if (/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/.test(item)) hosts.add(item.replace(/\.$/, ''))
    else problems.push(`'${item}' is neither a host name, an IP address nor a CIDR`)
  }
  return { allow: { hosts, cidrs, empty }, problems }
}

export const NO_EXCEPTIONS: AllowList = parseAllowList(undefined).allow

function inAllowList(address: string, family: 4 | 6, allow: AllowList): boolean {
  if (allow.cidrs.check(address, family === 4 ? 'ipv4' : 'ipv6')) return true
  const v4 = family === 6 ? embeddedIpv4(address) : undefined
  return v4 !== undefined && allow.cidrs.check(v4, 'ipv4')
}

/** True when the address is in a special-purpose range (IPv4-mapped IPv6 is judged by its IPv4 part). */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 4) return blocked.check(address, 'ipv4')
  if (family === 6) {
    const v4 = embeddedIpv4(address)
    if (v4 !== undefined && blocked.check(v4, 'ipv4')) return true
    // ::ffff:0:0/96 itself is only reachable as IPv4, which the embedded check covered.
    return blocked.check(address, 'ipv6')
  }
  return true // not an address at all: refuse
}

/** Whether a connection to `address` (resolved from `host`) may be made. */
export function isAllowed(host: string, address: string, allow: AllowList): boolean {
  const family = isIP(address)
  if (family === 0) return false
  if (allow.hosts.has(host.toLowerCase().replace(/\.$/, ''))) return true
  if (inAllowList(address, family === 4 ? 4 : 6, allow)) return true
  return !isBlockedAddress(address)
}

export type LookupFn = (
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void

/**
 * A `lookup` for net/http/https sockets that resolves the name, refuses the connection when any
 * resolved address is blocked (a name with one private answer could be rebound to it) and hands the
 * checked address(es) to the socket, so the connection goes exactly where the check looked.
 */
export function guardedLookup(allow: AllowList, resolver: LookupFn = dnsLookup): LookupFn {
  return (hostname, options, callback) => {
    resolver(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) {
        callback(err, options.all === true ? [] : '', 0)
        return
      }
      const list: LookupAddress[] = Array.isArray(addresses) ? addresses : [{ address: addresses, family: isIP(addresses) }]
      const refused = list.find((a) => !isAllowed(hostname, a.address, allow))
      if (list.length === 0 || refused !== undefined) {
        callback(new BlockedDestinationError(hostname, refused?.address ?? 'no address'), options.all === true ? [] : '', 0)
        return
      }
      if (options.all === true) callback(null, list)
      else {
        const first = list[0] as LookupAddress
        callback(null, first.address, first.family)
      }
    })
  }
}

/** For URLs whose host is an IP literal, sockets skip `lookup`: check the literal before connecting. */
export function checkLiteralHost(hostname: string, allow: AllowList): void {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  if (isIP(bare) !== 0 && !isAllowed(bare, bare, allow)) throw new BlockedDestinationError(bare, bare)
}
