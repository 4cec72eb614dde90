// `kube-reflex replay` end to end: from one persist store into another persist over real HTTP (original
// attributes kept, filters and window applied, oldest first), from an NDJSON recording, retries on 503,
// and usage errors.
import t, { type Test } from 'tap'
import { captureIO } from '../../helpers/io.js'
import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { main } from '../../../cli/main.js'
import { parseOptions, replay, sleepUntilStopped, type ReplayResult } from '../../../cli/commands/replay.js'
import { parseHttpEvent, toBinary, toStructured, type CloudEventV1 } from '../../../shared/cloudevent.js'
import { eachBackend, startPersist } from '../../functions/persist/backends.js'
import { classified, history } from '../../functions/persist/fixtures.js'
import { dataOf, occurredAt, seed } from '../../functions/persist/seed.js'

// Opens fresh PGlite stores (WebAssembly start-up of seconds on a busy machine): more than tap's default.
t.setTimeout(600_000)

const NOW = new Date()

eachBackend(t, 'replay --from-db re-sends the filtered window, oldest first, with the original attributes', async (t, backend) => {
  const source = await startPersist(t, backend)
  const sent = await seed(source.url, 90, NOW)
  // The target: a second persist on its own PGlite store, receiving over real HTTP.
  // (t.testdir() would wipe the source's PGlite directory when called twice: use a sibling under it.)
  const target = await startPersist(t, { name: 'pglite', options: { dataDir: join(backend.options.dataDir ?? t.testdir(), 'target') } })
  const since = new Date(NOW.getTime() - 24 * 3_600_000).toISOString()
  const env = backend.options.databaseUrl !== undefined ? { DATABASE_URL: backend.options.databaseUrl } : { KUBE_REFLEX_DATA_DIR: backend.options.dataDir }
  const cli = captureIO(env, process.cwd())
  const code = await main(['replay', '--from-db', '--since', since, '--filter', 'namespace=shop', '--filter', 'severity=critical,warning', '--to', `${target.url}/`], cli)
  const expected = sent.filter((e) => occurredAt(e) >= since && (e.subject ?? '').startsWith('shop/') && ['critical', 'warning'].includes(String(e.severity ?? dataOf(e).severity)))
  t.equal(code, 0, cli.err())
  t.ok(expected.length > 5, `the window holds ${expected.length} matching events`)
  t.match(cli.out(), new RegExp(`^replayed ${expected.length} of ${expected.length} events to ${target.url}/\\n$`))
  t.match(cli.err(), new RegExp(`replay: ${expected.length}/${expected.length}\\n$`), 'progress on stderr')
  const rows = await target.db.query<{ event: Record<string, unknown> }>('SELECT event FROM persist_events ORDER BY seq')
  t.same(rows.rows.map((r) => r.event).sort((a, b) => String(a.id).localeCompare(String(b.id))), expected.map((e) => JSON.parse(JSON.stringify(e)) as unknown).sort((a, b) => String((a as CloudEventV1).id).localeCompare(String((b as CloudEventV1).id))), 'the same events, attributes and data unchanged')
  const order = rows.rows.map((r) => occurredAt(r.event as unknown as CloudEventV1))
  t.same(order, [...order].sort(), 'oldest first (concurrency 1 keeps the order)')

  const again = captureIO(env, process.cwd())
  t.equal(await main(['replay', '--from-db', '--since', since, '--filter', 'namespace=shop', '--filter', 'severity=critical,warning', '--to', `${target.url}/`], again), 0)
  const count = await target.db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_events')
  t.equal(count.rows[0]?.n, expected.length, 'replaying twice stores nothing twice: the receiver deduplicates on (source, id)')
})

eachBackend(t, 'replay --from-db sends what was stored when it started, not what is stored while it runs', async (t, backend) => {
  const source = await startPersist(t, backend)
  // More than one page (replay reads 200 at a time), so pages are read while events are being added.
  const seeded = await seed(source.url, 250, NOW)
  const seededIds = new Set(seeded.map((e) => `${e.source} ${e.id}`))
  // The receiver stores new events into the same store while the replay runs, as the replies a replay
  // causes reach a live persist: some newer than everything replayed, some among the events still to come.
  const received: string[] = []
  let added = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const event = parseHttpEvent(req.headers, Buffer.concat(chunks))
      received.push(`${event.source} ${event.id}`)
      if (added >= 20) {
        res.writeHead(202).end()
        return
      }
      const n = added++
      const at = n % 2 === 0 ? new Date() : new Date(NOW.getTime() - 60_000)
      const fresh = classified({ namespace: 'shop', name: 'cart-7d9f8c6b5-x2x9q', reason: 'BackOff', message: 'Back-off restarting failed container app in pod cart-7d9f8c6b5-x2x9q_shop', severity: 'critical', category: 'crashloop', at, inputId: `during-replay-${n}` })
      const { headers, body } = toBinary(fresh)
      fetch(source.url, { method: 'POST', headers, body }).then(
        (stored) => res.writeHead(stored.status === 202 ? 202 : 500).end(),
        () => res.writeHead(500).end(),
      )
    })
  })
  const url = await listening(t, server)
  const options = await parseOptions(['--from-db', '--to', url])
  if (options === 'help') throw new Error('unexpected --help')
  const cli = captureIO()
  // A terminal: the bar is drawn (it threw RangeError once more events were sent than counted).
  Object.assign(cli.stderr, { isTTY: true })
  const result = await replay(options, cli, { fetch, sleep: () => Promise.resolve(), openStore: () => Promise.resolve({ query: source.db.query.bind(source.db), close: () => Promise.resolve() }) })
  t.equal(added, 20, 'the receiver stored 20 events during the replay')
  t.equal((await source.db.query<{ n: number }>('SELECT count(*)::int AS n FROM persist_events')).rows[0]?.n, seeded.length + 20)
  t.same(result, { total: seeded.length, sent: seeded.length, rejected: 0, failed: 0, invalid: 0, interrupted: false }, 'every stored event, and nothing else')
  t.same([...received].sort(), [...seededIds].sort(), 'the events stored before the replay, each once')
  t.match(cli.err(), new RegExp(`\\[#{30}\\] ${seeded.length}/${seeded.length}\\n$`), 'the bar ends full, on its own line')
})

/** Listens on 127.0.0.1 (a free port) until the test ends; the receiver's URL. */
async function listening(t: Test, server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections() // a request a test left unanswered must not hold the close
    return new Promise<void>((r) => server.close(() => r()))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
}

void t.test('replay --from FILE: NDJSON recording, invalid lines reported, 503 retried', async (t) => {
  const received: CloudEventV1[] = []
  let unavailable = 2
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (unavailable > 0) {
        unavailable--
        res.writeHead(503, { 'retry-after': '0' }).end()
        return
      }
      received.push(parseHttpEvent(req.headers, Buffer.concat(chunks)))
      res.writeHead(202).end()
    })
  })
  const url = await listening(t, server)
  const { classified, replies } = history(10, NOW)
  const binary: CloudEventV1 = { specversion: '1.0', id: 'raw-1', source: '/recorder', type: 'dev.kubereflex.test.raw', datacontenttype: 'application/octet-stream', data: Buffer.from([0, 1, 2, 255]) }
  const lines = [...classified.map(toStructured), '{"not":"a cloudevent"}', ...replies.map(toStructured), 'garbage', toStructured(binary), '']
  const dir = t.testdir()
  writeFileSync(join(dir, 'recording.ndjson'), lines.join('\n'))
  const cli = captureIO({}, dir)
  const code = await main(['replay', '--from', 'recording.ndjson', '--to', url, '--concurrency', '3'], cli)
  const total = classified.length + replies.length + 1
  t.equal(code, 1, 'exit 1: two lines were not CloudEvents')
  t.match(cli.err(), /recording\.ndjson:11: invalid CloudEvent: specversion is required; id is required/)
  t.match(cli.err(), /recording\.ndjson:\d+: not valid JSON\n/)
  t.match(cli.out(), new RegExp(`replayed ${total} of ${total} events to ${url}, 2 invalid lines skipped`))
  t.equal(received.length, total, 'every valid event arrived once, after two 503s were retried')
  const raw = received.find((e) => e.id === 'raw-1')
  t.same(raw?.data, Buffer.from([0, 1, 2, 255]), 'binary data goes out as bytes')
  t.same(received.filter((e) => e.type === 'dev.kubereflex.event.classified').map((e) => e.data).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))), classified.map((e) => e.data).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))))

  const filtered: CloudEventV1[] = []
  received.length = 0
  const cli2 = captureIO({}, dir)
  t.equal(await main(['replay', '--from', 'recording.ndjson', '--to', url, '--filter', 'type=dev.kubereflex.alert.*'], cli2), 1)
  filtered.push(...received)
  t.same(filtered.map((e) => e.id).sort(), replies.filter((e) => e.type.startsWith('dev.kubereflex.alert.')).map((e) => e.id).sort(), 'filters apply to recordings too')
})

void t.test('replay --from the demo scenario: bare Kubernetes objects are sent as ApiServerSource would send them', async (t) => {
  const received: CloudEventV1[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push(parseHttpEvent(req.headers, Buffer.concat(chunks)))
      res.writeHead(202).end()
    })
  })
  const url = await listening(t, server)
  const file = join(process.cwd(), 'scenarios', 'demo.ndjson')
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  const objects = lines.filter((l) => l.specversion === undefined)
  t.ok(objects.length > 50, `the scenario is mostly bare objects (${objects.length} of ${lines.length})`)
  const cli = captureIO({}, process.cwd())
  t.equal(await main(['replay', '--from', file, '--to', url], cli), 0, cli.err())
  t.equal(cli.out(), `replayed ${lines.length} of ${lines.length} events to ${url}\n`)
  t.equal(received.length, lines.length, 'every line, in order')
  const wrapped = received.filter((e, i) => lines[i]?.specversion === undefined)
  t.ok(wrapped.every((e) => /^dev\.knative\.apiserver\.resource\.(add|update)$/.test(e.type) && e.source === 'https://kubernetes.default.svc'), 'wrapped in Resource mode')
  const first = objects[0] as { kind: string; metadata: { name: string; namespace: string } }
  t.match(received[lines.indexOf(first)], { kind: first.kind, name: first.metadata.name, namespace: first.metadata.namespace, subject: `/apis/v1/namespaces/${first.metadata.namespace}/events/${first.metadata.name}`, data: first })
})

void t.test('replay reports a receiver that rejects, and gives up after --retries', async (t) => {
  const statuses = new Map<string, number>([['e-400', 400], ['e-500', 500]])
  let attempts500 = 0
  const server = createServer((req, res) => {
    const id = String(req.headers['ce-id'])
    if (id === 'e-500') attempts500++
    req.resume()
    req.on('end', () => res.writeHead(statuses.get(id) ?? 202).end())
  })
  const url = await listening(t, server)
  const dir = t.testdir({
    'r.ndjson': ['e-ok', 'e-400', 'e-500'].map((id) => JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'dev.kubereflex.test' })).join('\n'),
  })
  const cli = captureIO({}, dir)
  t.equal(await main(['replay', '--from', 'r.ndjson', '--to', url, '--retries', '2'], cli), 1)
  t.match(cli.out(), /replayed 1 of 3 events .*, 1 rejected, 1 failed/)
  t.match(cli.err(), /\/t e-400: rejected by the receiver: HTTP 400\n/)
  t.match(cli.err(), /\/t e-500: gave up after retries: HTTP 500\n/)
  t.equal(attempts500, 2, '--retries attempts, no more')
})

void t.test('a redirect is a rejected delivery naming the status and Location, never followed', async (t) => {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url} ${String(req.headers['ce-id'] ?? '-')}`)
    req.resume()
    req.on('end', () => {
      const id = String(req.headers['ce-id'])
      if (req.url === '/moved') res.writeHead(202).end()
      else if (id === 'e-301') res.writeHead(301, { location: '/moved' }).end()
      else if (id === 'e-302') res.writeHead(302, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/moved` }).end()
      else if (id === 'e-303') res.writeHead(303, { location: '/moved' }).end()
      else if (id === 'e-307') res.writeHead(307).end()
      else res.writeHead(202).end()
    })
  })
  const url = await listening(t, server)
  const ids = ['e-ok', 'e-301', 'e-302', 'e-303', 'e-307']
  const dir = t.testdir({ 'r.ndjson': ids.map((id) => JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'dev.kubereflex.test' })).join('\n') })
  const cli = captureIO({}, dir)
  t.equal(await main(['replay', '--from', 'r.ndjson', '--to', url], cli), 1, 'exit 1: not every event was accepted')
  t.match(cli.out(), /^replayed 1 of 5 events .*, 4 rejected\n$/)
  t.match(cli.err(), /\/t e-301: rejected by the receiver: HTTP 301 redirect to \/moved \(not followed: give the final URL as --to\)\n/)
  t.match(cli.err(), new RegExp(`/t e-302: rejected by the receiver: HTTP 302 redirect to ${url}moved `))
  t.match(cli.err(), /\/t e-303: rejected by the receiver: HTTP 303 redirect to \/moved /)
  t.match(cli.err(), /\/t e-307: rejected by the receiver: HTTP 307 redirect without a Location /)
  t.same(requests, ids.map((id) => `POST / ${id}`), 'one POST per event to --to, and nothing sent to the Location (as a GET or otherwise)')
})

const FIVE = ['e-1', 'e-2', 'e-3', 'e-4', 'e-5'].map((id) => JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'dev.kubereflex.test' })).join('\n')

/** A receiver on 127.0.0.1 that accepts every event, but leaves request number `hold` unanswered and calls `onHold`. */
async function receiver(t: Test, hold = 0, onHold = (): void => undefined): Promise<{ url: string; requests: () => number }> {
  let requests = 0
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (++requests === hold) onHold()
      else res.writeHead(202).end()
    })
  })
  return { url: await listening(t, server), requests: () => requests }
}

void t.test('Ctrl-C while a request is in flight: the count says the replay was interrupted, exit 1', async (t) => {
  const cli = captureIO({}, t.testdir({ 'r.ndjson': FIVE }))
  const target = await receiver(t, 3, () => cli.stop())
  const code = await main(['replay', '--from', 'r.ndjson', '--to', target.url], cli)
  t.equal(code, 1, 'a count and exit 1, not an AbortError')
  t.equal(cli.out(), `interrupted: replayed 2 of 5 events to ${target.url}, 3 not sent\n`, 'the aborted one counts as not sent')
  t.match(cli.err(), /replay: 2\/5\n$/, 'progress ends at what was done')
  t.equal(target.requests(), 3)
})

void t.test('Ctrl-C between two sends stops there; after the last one it is not an interruption', async (t) => {
  const stopAfter = async (t: Test, n: number): Promise<{ result: ReplayResult; requests: number }> => {
    const cli = captureIO({}, t.testdir({ 'r.ndjson': FIVE }))
    const target = await receiver(t)
    const options = await parseOptions(['--from', 'r.ndjson', '--to', target.url])
    if (options === 'help') throw new Error('unexpected --help')
    let answers = 0
    // Stopped once the nth answer is in: between that send and the next.
    const stopping: typeof fetch = async (input, init) => {
      const res = await fetch(input, init)
      if (++answers === n) cli.stop()
      return res
    }
    const result = await replay(options, cli, { fetch: stopping, sleep: () => Promise.resolve() })
    return { result, requests: target.requests() }
  }
  const between = await stopAfter(t, 2)
  t.same(between.result, { total: 5, sent: 2, rejected: 0, failed: 0, invalid: 0, interrupted: true })
  t.equal(between.requests, 2, 'nothing sent after the stop')
  const after = await stopAfter(t, 5)
  t.same(after.result, { total: 5, sent: 5, rejected: 0, failed: 0, invalid: 0, interrupted: false }, 'everything was sent')
})

void t.test('the backoff between attempts ends when the replay is stopped', async (t) => {
  let requests = 0
  const server = createServer((req, res) => {
    requests++
    req.resume()
    req.on('end', () => res.writeHead(503, { 'retry-after': '30' }).end())
  })
  const url = await listening(t, server)
  const dir = t.testdir({ 'r.ndjson': ['e-1', 'e-2'].map((id) => JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'dev.kubereflex.test' })).join('\n') })
  const options = await parseOptions(['--from', 'r.ndjson', '--to', url])
  if (options === 'help') throw new Error('unexpected --help')
  const cli = captureIO({}, dir)
  const waits: number[] = []
  // The command's own backoff (Retry-After: 30 s), stopped as soon as it has begun: without heeding the
  // signal it would sleep its 30 s, past this test's timeout.
  t.setTimeout(20_000)
  const result = await replay(options, cli, {
    fetch,
    sleep: (ms, stop) => {
      waits.push(ms)
      const sleeping = sleepUntilStopped(ms, stop)
      cli.stop()
      return sleeping
    },
  })
  t.same(waits, [30_000], 'Retry-After honoured, once')
  t.same(result, { total: 2, sent: 0, rejected: 0, failed: 0, invalid: 0, interrupted: true })
  t.equal(requests, 1, 'no attempt after the stop')
})

void t.test('usage errors exit 2 with a message', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--to', 'http://x/'], /give exactly one source/],
    [['--from-db', '--from', 'f', '--to', 'http://x/'], /give exactly one source/],
    [['--from-db'], /--to URL is required/],
    [['--from-db', '--to', 'ftp://x/'], /--to must be an http\(s\) URL/],
    [['--from-db', '--to', 'http://x/', '--filter', 'colour=red'], /--filter takes key=value with key one of namespace/],
    [['--from-db', '--to', 'http://x/', '--since', 'yesterday'], /since: 'yesterday' is not an RFC 3339 timestamp/],
    [['--from-db', '--to', 'http://x/', '--filter', 'severity=fatal'], /severity: unknown severity 'fatal'/],
    [['--from-db', '--to', 'http://x/', '--concurrency', '0'], /--concurrency must be an integer from 1 to 64/],
    [['--from-db', '--to', 'http://x/', '--bogus'], /Unknown option '--bogus'/],
  ]
  for (const [args, message] of cases) {
    const cli = captureIO({}, process.cwd())
    t.equal(await main(['replay', ...args], cli), 2, args.join(' '))
    t.match(cli.err(), message)
  }
  const empty = t.testdir()
  const none = captureIO({ KUBE_REFLEX_DATA_DIR: 'nowhere' }, empty)
  t.equal(await main(['replay', '--from-db', '--to', 'http://127.0.0.1:9/'], none), 1, 'no store: exit 1')
  t.match(none.err(), /kube-reflex replay: no event store under .*nowhere \(set KUBE_REFLEX_DATA_DIR or DATABASE_URL\)/)
  t.notOk(existsSync(join(empty, 'nowhere')), 'and none is created')
  const nofile = captureIO({}, empty)
  t.equal(await main(['replay', '--from', 'missing.ndjson', '--to', 'http://127.0.0.1:9/'], nofile), 1)
  t.match(nofile.err(), /^kube-reflex replay: cannot read \S*missing\.ndjson: no such file or directory\n$/)
  const help = captureIO({}, process.cwd())
  t.equal(await main(['replay', '--help'], help), 0)
  t.match(help.out(), /Usage: kube-reflex replay \(--from-db \| --from FILE\) --to URL/)
})

void t.test("--filter fingerprint=… replays one problem's history", async (t) => {
  const options = await parseOptions(['--from-db', '--to', 'http://x/', '--filter', 'fingerprint=3f2a9c', '--filter', 'type=dev.kubereflex.*'])
  t.not(options, 'help')
  if (options !== 'help') t.same(options.filter, { fingerprint: '3f2a9c', type: 'dev.kubereflex.*' })
})
