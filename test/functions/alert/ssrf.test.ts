// The SSRF guard: address classification, the allow list, and the guarded lookup that the socket uses.
import t from 'tap'
import { embeddedIpv4, guardedLookup, isAllowed, isBlockedAddress, parseAllowList, type LookupFn } from '../../../functions/alert/ssrf.js'

void t.test('special-purpose addresses are blocked, public ones are not', (t) => {
  for (const a of ['127.0.0.1', '127.1.2.3', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '169.254.0.1', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '64:ff9b::10.0.0.1', 'ff02::1']) {
    t.ok(isBlockedAddress(a), `${a} blocked`)
  }
  for (const a of ['93.184.215.14', '8.8.8.8', '172.32.0.1', '192.169.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) t.notOk(isBlockedAddress(a), `${a} allowed`)
  t.ok(isBlockedAddress('not-an-ip'))
  t.equal(embeddedIpv4('::ffff:7f00:1'), '127.0.0.1')
  t.equal(embeddedIpv4('2001:db8::1'), undefined)
  t.end()
})

void t.test('every IPv6 form that carries an IPv4 address is judged by that address, whatever its text form', (t) => {
  const blockedForms = {
    '::7f00:1': 'IPv4-compatible loopback, as new URL() writes [::127.0.0.1]',
    '::127.0.0.1': 'IPv4-compatible, dotted',
    '0:0:0:0:0:ffff:7f00:1': 'IPv4-mapped, written out',
    '::FFFF:A9FE:A9FE': 'IPv4-mapped metadata address, upper case',
    '64:ff9b::a00:1': 'NAT64, hex',
    '64:ff9b:1::a00:1': 'local-use NAT64 (RFC 8215)',
    '2002:7f00:1::1': '6to4 of 127.0.0.1',
    '2002:a9fe:a9fe::': '6to4 of the metadata address',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2': 'Teredo',
  }
  for (const [a, what] of Object.entries(blockedForms)) t.ok(isBlockedAddress(a), `${a} blocked (${what})`)
  t.equal(embeddedIpv4('::7f00:1'), '127.0.0.1')
  t.equal(embeddedIpv4('2002:c000:204::1'), '192.0.2.4')
  t.equal(embeddedIpv4('fe80::1%eth0'), undefined)
  t.equal(new URL('http://[::127.0.0.1]/').hostname, '[::7f00:1]', 'the form a URL gives the guard')
  for (const a of ['2002:808:808::1', '::ffff:808:808']) t.notOk(isBlockedAddress(a), `${a} allowed (carries 8.8.8.8)`)
  t.ok(isBlockedAddress('64:ff9b::808:808'), 'NAT64 is refused whole: the translator is on the operator network')
  t.end()
})

void t.test('ALERT_ALLOW_HOSTS: hosts, addresses and CIDRs; bad entries are reported', (t) => {
  const { allow, problems } = parseAllowList('127.0.0.1, hooks.internal.example, 10.20.0.0/16, [::1], fd00::/8')
  t.same(problems, [])
  t.ok(isAllowed('x', '127.0.0.1', allow))
  t.notOk(isAllowed('x', '127.0.0.2', allow), 'only the listed address')
  t.ok(isAllowed('x', '::ffff:127.0.0.1', allow), 'IPv4-mapped form of an allowed address')
  t.ok(isAllowed('hooks.internal.example', '10.99.0.1', allow), 'allowed by host name')
  t.ok(isAllowed('HOOKS.internal.example.', '10.99.0.1', allow), 'host names compare case-insensitively')
  t.ok(isAllowed('x', '10.20.3.4', allow))
  t.notOk(isAllowed('x', '10.21.3.4', allow))
  t.ok(isAllowed('x', '::1', allow))
  t.ok(isAllowed('x', 'fd12::1', allow))
  t.notOk(isAllowed('x', '169.254.169.254', allow))
  t.same(parseAllowList('10.0.0.0/33, not a host!, 1.2.3.4/x').problems.length, 3)
  t.end()
})

function fakeDns(answers: Record<string, { address: string; family: number }[]>): { resolver: LookupFn; asked: string[] } {
  const asked: string[] = []
  const resolver: LookupFn = (hostname, _options, callback) => {
    asked.push(hostname)
    const a = answers[hostname]
    if (a === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])
    else callback(null, a)
  }
  return { resolver, asked }
}

function lookupOnce(fn: LookupFn, host: string, all: boolean): Promise<{ err: NodeJS.ErrnoException | null; address: unknown }> {
  return new Promise((resolve) => fn(host, { all }, (err, address) => resolve({ err, address })))
}

void t.test('guarded lookup refuses names that resolve to loopback, metadata or ::1 unless allowed', async (t) => {
  const { resolver } = fakeDns({
    'rebind.example': [{ address: '127.0.0.1', family: 4 }],
    'metadata.example': [{ address: '169.254.169.254', family: 4 }],
    'v6.example': [{ address: '::1', family: 6 }],
    'mixed.example': [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ],
    'public.example': [{ address: '93.184.215.14', family: 4 }],
  })
  const none = guardedLookup(parseAllowList('').allow, resolver)
  for (const host of ['rebind.example', 'metadata.example', 'v6.example', 'mixed.example']) {
    for (const all of [false, true]) {
      const r = await lookupOnce(none, host, all)
      t.equal(r.err?.code, 'ERR_SSRF_BLOCKED', `${host} (all=${all}) refused`)
    }
  }
  const ok = await lookupOnce(none, 'public.example', false)
  t.equal(ok.err, null)
  t.equal(ok.address, '93.184.215.14', 'the checked address is the one handed to the socket')
  const allowed = guardedLookup(parseAllowList('127.0.0.1').allow, resolver)
  t.equal((await lookupOnce(allowed, 'rebind.example', false)).address, '127.0.0.1')
  t.equal((await lookupOnce(allowed, 'metadata.example', false)).err?.code, 'ERR_SSRF_BLOCKED', 'allowing 127.0.0.1 does not allow the metadata endpoint')
  t.equal((await lookupOnce(none, 'nx.example', false)).err?.code, 'ENOTFOUND')
})

void t.test('the real resolver: localhost is refused without an allow entry', async (t) => {
  const r = await lookupOnce(guardedLookup(parseAllowList('').allow), 'localhost', false)
  t.equal(r.err?.code, 'ERR_SSRF_BLOCKED')
})
