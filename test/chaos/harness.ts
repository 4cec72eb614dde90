// The soak-and-chaos harness (issue 10), after Knative's upgrade prober: numbered events go in at a
// steady rate, faults are injected on a schedule, and at the end everything is counted from the
// outside — the event store over SQL, the webhook receiver's log — for missing and duplicated effects.
//
// Faults: kill -9 of `kube-reflex dev` (restarted; it resumes from its durable queue and its replay cursor
// or committed Kafka offsets), the real PostgreSQL stopped and restarted, with `source: 'kafka'` the real
// Kafka broker stopped and restarted while `dev --kafka` consumes, a webhook receiver answering 429 / 500 /
// nothing (timeouts) for a while, and every event delivered 2–3 times. Every service is a PRIVATE instance
// (its own ports and data), so bouncing it disturbs no other test. The kube-apiserver fault has its own
// harness (kube-chaos.ts). See docs/RELIABILITY.md for the faults not covered yet.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { startServices } from '../../scripts/test-services/index.mjs'
import { DevSupervisor, type UnplannedExit } from './dev-supervisor.js'
import { startWebhookReceiver, type ReceiverFault, type WebhookReceiver } from './webhook-receiver.js'
import { generateStream, type GeneratedInput } from './workload-events.js'
import { createTopic, startKafkaFeed, type KafkaFeed } from './kafka-feed.js'

const here = path.dirname(fileURLToPath(import.meta.url))
export const REPO = path.resolve(here, '..', '..')

export interface ChaosOptions {
  /** Seconds during which input is fed. */
  readonly durationSec: number
  /** Input lines per second (duplicates included). */
  readonly rate: number
  readonly seed: number
  /** Maximum wait after the input ends for the pipeline to settle. */
  readonly settleSec: number
  /** Length of one fault cycle; the schedule repeats every cycle. */
  readonly cycleSec: number
  readonly log: (line: string) => void
  /** Keep the work directory (logs, data) for inspection. */
  readonly keep?: boolean
  /**
   * Where dev reads the stream: a replay file (`--replay --rate`, default) or a topic of a private Kafka
   * broker fed by a producer (`--kafka`), which adds the Kafka stop/start fault to every cycle.
   */
  readonly source?: 'replay' | 'kafka'
  /**
   * `full` (default): every fault of the source's schedule. `kafka-only` (Kafka source): just the Kafka
   * bounce and one kill -9 — the CI's second, shorter run, since the replay run covers the rest there.
   */
  readonly faults?: 'full' | 'kafka-only'
}

export interface FaultCounts {
  kill9: number
  postgresBounces: number
  kafkaBounces: number
  /** Producer sends that failed while Kafka was down (retried until acknowledged). */
  kafkaFailedSends: number
  webhook429Answers: number
  webhook500Answers: number
  webhookTimeouts: number
  /** dev died on its own while running (an unhandled error): always a violation. */
  crashes: number
  /** dev refused to start because a dependency was down (exit 1 with a message; restarted like a pod). */
  startupFailures: number
}

export interface ChaosReport {
  readonly run: string
  readonly source: 'replay' | 'kafka'
  readonly workDir: string
  readonly events: number
  readonly lines: number
  readonly invalidByDesign: number
  readonly faults: FaultCounts
  readonly unplannedExits: readonly UnplannedExit[]
  readonly store: {
    readonly classified: number
    readonly missing: number
    readonly duplicated: number
    readonly duplicateRows: number
    readonly deadLettered: number
    readonly deadLetteredUnexpected: number
    readonly invalidNotDeadLettered: number
  }
  readonly alerts: {
    readonly expected: number
    readonly notified: number
    readonly missing: number
    readonly duplicatedBeyondPolicy: number
    /** Same notification id accepted again (receivers drop these by webhook-id; allowed). */
    readonly resent: number
    readonly duplicateExamples: readonly string[]
  }
  readonly recoveries: {
    readonly expected: number
    readonly replies: number
    readonly missing: number
    readonly duplicated: number
  }
  readonly settledAfterSec: number
  readonly violations: readonly string[]
}

interface ScheduledFault {
  readonly atSec: number
  readonly name: string
  readonly run: () => Promise<void>
}

/** A start refused with a clear message because the database was down (functions' fromEnv). */
const STARTUP_FAILURE = /kube-reflex: ReflexError: database unavailable while [^\n]*\n(?:\s+at [^\n]*\n?)*$/

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Counts taken from the store over SQL. `run` scopes the inputs to this run's ids. */
async function countStore(client: pg.Client, run: string, inputs: readonly GeneratedInput[]) {
  const like = `chaos-${run}-%`
  const classified = await client.query<{ input_id: string; n: string }>(
    `SELECT event->'data'->'input'->>'id' AS input_id, count(*) AS n FROM persist_events
      WHERE type = 'dev.kubereflex.event.classified' AND event->'data'->'input'->>'id' LIKE $1 GROUP BY 1`,
    [like],
  )
  const perInput = new Map(classified.rows.map((r) => [r.input_id, Number(r.n)]))
  const dupRows = await client.query<{ n: string }>(`SELECT count(*) AS n FROM (SELECT source, id FROM persist_events GROUP BY source, id HAVING count(*) > 1) d`)
  const dead = await client.query<{ id: string; type: string; n: string }>(`SELECT id, type, count(*) AS n FROM persist_dead_letters GROUP BY id, type`)
  let missing = 0
  let duplicated = 0
  let invalidNotDeadLettered = 0
  const invalid = new Set<string>()
  for (const i of inputs) {
    const n = perInput.get(i.id) ?? 0
    if (!i.valid) {
      invalid.add(i.id)
      continue
    }
    if (n === 0) missing++
    if (n > 1) duplicated += n - 1
  }
  const deadIds = new Set(dead.rows.map((r) => r.id))
  for (const id of invalid) if (!deadIds.has(id)) invalidNotDeadLettered++
  const deadLetteredUnexpected = dead.rows.filter((r) => !invalid.has(r.id)).reduce((s, r) => s + Number(r.n), 0)
  return {
    classified: [...perInput.values()].reduce((s, n) => s + n, 0),
    missing,
    duplicated,
    duplicateRows: Number(dupRows.rows[0]?.n ?? 0),
    deadLettered: dead.rows.reduce((s, r) => s + Number(r.n), 0),
    deadLetteredUnexpected,
    unexpectedDeadLetterTypes: [...new Set(dead.rows.filter((r) => !invalid.has(r.id)).map((r) => r.type))],
    invalidNotDeadLettered,
  }
}

/** Alert expectations from the store: one firing notification per alerting fingerprint (policy: one group per run). */
async function countAlerts(client: pg.Client, run: string, receiver: WebhookReceiver) {
  const expected = await client.query<{ fingerprint: string }>(
    `SELECT DISTINCT event->'data'->>'fingerprint' AS fingerprint FROM persist_events
      WHERE type = 'dev.kubereflex.event.classified' AND severity IN ('critical', 'warning') AND event->'data'->'input'->>'id' LIKE $1`,
    [`chaos-${run}-%`],
  )
  const escalations = await client.query<{ fingerprint: string }>(
    `SELECT DISTINCT event->'data'->>'fingerprint' AS fingerprint FROM persist_events
      WHERE type = 'dev.kubereflex.recovery.skipped' AND event->>'severity' = 'critical'`,
  )
  const want = new Set([...expected.rows.map((r) => `problem ${r.fingerprint}`), ...escalations.rows.map((r) => `escalation ${r.fingerprint}`)])
  const firing = new Map<string, Set<string>>()
  const seenIds = new Map<string, number>()
  for (const n of receiver.accepted) {
    for (const item of n.items) {
      seenIds.set(item.id, (seenIds.get(item.id) ?? 0) + 1)
      if (item.kind !== 'firing') continue
      const key = `${item.subjectKind} ${item.fingerprint}`
      const ids = firing.get(key) ?? new Set<string>()
      ids.add(item.id)
      firing.set(key, ids)
    }
  }
  let missing = 0
  for (const key of want) if (!firing.has(key)) missing++
  let duplicated = 0
  // Up to 5 examples, to tell a second single alert from a digest that repeated one (a digest item is
  // named `<digest webhook-id>/<fingerprint>`).
  const duplicateExamples: string[] = []
  for (const [key, ids] of firing) {
    if (ids.size <= 1) continue
    duplicated += ids.size - 1
    if (duplicateExamples.length < 5) duplicateExamples.push(`${key}: ${[...ids].join(', ')}`)
  }
  let resent = 0
  for (const n of seenIds.values()) if (n > 1) resent += n - 1
  return { expected: want.size, notified: firing.size, missing, duplicatedBeyondPolicy: duplicated, resent, duplicateExamples }
}

/** Every classified event with action != none gets exactly one recovery reply (offline plan without a cluster). */
async function countRecoveries(client: pg.Client, run: string) {
  const expected = await client.query<{ id: string }>(
    `SELECT id FROM persist_events WHERE type = 'dev.kubereflex.event.classified' AND action IS NOT NULL AND action <> 'none'
      AND event->'data'->'input'->>'id' LIKE $1`,
    [`chaos-${run}-%`],
  )
  const replies = await client.query<{ input_id: string; n: string }>(
    `SELECT event->'data'->'input'->>'id' AS input_id, count(*) AS n FROM persist_events WHERE type LIKE 'dev.kubereflex.recovery.%' GROUP BY 1`,
  )
  const per = new Map(replies.rows.map((r) => [r.input_id, Number(r.n)]))
  let missing = 0
  let duplicated = 0
  for (const r of expected.rows) {
    const n = per.get(r.id) ?? 0
    if (n === 0) missing++
    if (n > 1) duplicated += n - 1
  }
  return { expected: expected.rows.length, replies: [...per.values()].reduce((s, n) => s + n, 0), missing, duplicated }
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined) // a PostgreSQL bounce ends the session; the next poll reconnects
  await client.connect()
  return client
}

/** One query round with a fresh connection (PostgreSQL may have been bounced since the last one). */
async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url)
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => undefined)
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const run = `${Date.now().toString(36)}${o.seed.toString(36)}`
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'kube-reflex-chaos-'))
  const lines = Math.max(10, Math.round(o.durationSec * o.rate))
  const stream = generateStream({ run, events: Math.round(lines / 2.5), workloads: 120, seed: o.seed, invalidEvery: 40 })
  const file = path.join(workDir, 'input.ndjson')
  await writeFile(file, `${stream.lines.join('\n')}\n`)
  const effectiveRate = stream.lines.length / o.durationSec
  o.log(`run ${run}: ${stream.inputs.length} events, ${stream.lines.length} lines at ${effectiveRate.toFixed(1)}/s, work dir ${workDir}`)

  const source = o.source ?? 'replay'
  const services = await startServices(source === 'kafka' ? ['postgres', 'kafka'] : ['postgres'], { reuseEnv: false, session: `chaos-${run}`, log: (l) => o.log(`[services] ${l}`) })
  const postgres = services.services.postgres
  if (postgres === undefined) throw new Error('the services layer did not start PostgreSQL')
  const kafka = services.services.kafka
  if (source === 'kafka' && kafka === undefined) throw new Error('the services layer did not start Kafka')
  const topic = `chaos-${run}`
  if (kafka !== undefined) await createTopic(kafka.brokers, topic)
  const receiver = await startWebhookReceiver()
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const name of ['KUBECONFIG', 'KAFKA_BROKERS', 'KAFKA_ARCHIVE_TOPIC', 'ALERT_ROUTES_FILE', 'ALERT_SLACK_WEBHOOK_URL', 'ALERT_PAGERDUTY_ROUTING_KEY', 'ALERT_TEAMS_WEBHOOK_URL', 'CLASSIFY_RULES_FILE', 'RECOVERY_POLICY_FILE', 'PORT']) delete env[name]
  Object.assign(env, {
    DATABASE_URL: postgres.url,
    LOG_LEVEL: 'warn',
    ALERT_WEBHOOK_URL: receiver.url,
    ALERT_WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    ALERT_ALLOW_HOSTS: '127.0.0.1',
    ALERT_TIMEOUT_MS: '1000',
    ALERT_CLAIM_LEASE_MS: '3000',
    // Policy for the run: one notification group per problem for the whole run, no repeats.
    ALERT_GROUP_WINDOW: '2h',
    ALERT_REPEAT_INTERVAL: '4h',
  })
  const sourceArgs =
    kafka === undefined ? ['--replay', file, '--rate', effectiveRate.toFixed(3)] : ['--kafka', kafka.brokers, '--topic', topic, '--group', `kube-reflex-chaos-${run}`]
  const dev = new DevSupervisor({
    repo: REPO,
    args: [...sourceArgs, '--json', '--data-dir', path.join(workDir, 'data'), '--port', '0'],
    env,
    logFile: path.join(workDir, 'dev.log'),
    restartDelayMs: 500,
  })

  const faults: FaultCounts = { kill9: 0, postgresBounces: 0, kafkaBounces: 0, kafkaFailedSends: 0, webhook429Answers: 0, webhook500Answers: 0, webhookTimeouts: 0, crashes: 0, startupFailures: 0 }
  const setFault = (f: ReceiverFault) => async () => {
    receiver.fault = f
  }
  let cycle: { offset: number; name: string; run: () => Promise<void> }[] = [
    { offset: 0.1, name: 'webhook 429', run: setFault('429') },
    { offset: 0.2, name: 'kill -9 dev', run: async () => void (dev.kill9() && faults.kill9++) },
    { offset: 0.22, name: 'webhook ok', run: setFault('none') },
    {
      offset: 0.35,
      name: 'postgres stop 5 s',
      run: async () => {
        await postgres.stop()
        await sleep(5000)
        await postgres.start()
        faults.postgresBounces++
      },
    },
    { offset: 0.45, name: 'webhook 500', run: setFault('500') },
    { offset: 0.55, name: 'kill -9 dev', run: async () => void (dev.kill9() && faults.kill9++) },
    { offset: 0.6, name: 'webhook timeout', run: setFault('timeout') },
    { offset: 0.72, name: 'webhook ok', run: setFault('none') },
    { offset: 0.85, name: 'kill -9 dev', run: async () => void (dev.kill9() && faults.kill9++) },
  ]
  if (kafka !== undefined) {
    // The broker goes away while the source is consuming and the producer is writing (KafkaSource's
    // dispatcher and the shipping clusters see exactly this during a broker restart).
    cycle.push({
      offset: 0.65,
      name: 'kafka stop 5 s',
      run: async () => {
        await kafka.stop()
        await sleep(5000)
        await kafka.start()
        faults.kafkaBounces++
      },
    })
    cycle.sort((a, b) => a.offset - b.offset)
    if (o.faults === 'kafka-only') {
      // A kill -9 of a Kafka consumer stalls its group until the dead member's session expires (kafkajs:
      // 30 s), so the short run kills once, after the bounce.
      cycle = cycle.filter((f) => f.name === 'kafka stop 5 s' || (f.name === 'kill -9 dev' && f.offset === 0.85))
    }
  }
  const schedule: ScheduledFault[] = []
  for (let c = 0; c * o.cycleSec < o.durationSec; c++) {
    for (const f of cycle) {
      const atSec = (c + f.offset) * o.cycleSec
      if (atSec < o.durationSec) schedule.push({ atSec, name: f.name, run: f.run })
    }
  }

  const started = Date.now()
  let settledAfterSec = -1
  let feed: KafkaFeed | undefined
  try {
    dev.start()
    if (kafka !== undefined) feed = startKafkaFeed({ brokers: kafka.brokers, topic, lines: stream.lines, linesPerSecond: effectiveRate, log: o.log })
    for (const f of schedule) {
      const wait = started + f.atSec * 1000 - Date.now()
      if (wait > 0) await sleep(wait)
      o.log(`t=${((Date.now() - started) / 1000).toFixed(1)}s fault: ${f.name}`)
      await f.run()
    }
    receiver.fault = 'none'
    const inputEnd = started + o.durationSec * 1000
    if (inputEnd > Date.now()) await sleep(inputEnd - Date.now())
    if (feed !== undefined) {
      // The producer catches up on what it could not send while Kafka was down (bounded; the timer is
      // cleared so that it does not keep the process alive after the run).
      let timer: NodeJS.Timeout | undefined
      await Promise.race([feed.done, new Promise<void>((r) => (timer = setTimeout(r, o.settleSec * 1000)))])
      clearTimeout(timer)
      o.log(`kafka feed: ${feed.produced()} of ${stream.lines.length} lines acknowledged, ${feed.failedSends()} failed sends retried`)
    }
    o.log('input window over; waiting for the pipeline to settle')

    // Settled: every valid input has its classified row and nothing has changed for three polls.
    const deadline = Date.now() + o.settleSec * 1000
    let last = ''
    let stable = 0
    const valid = stream.inputs.filter((i) => i.valid).length
    while (Date.now() < deadline) {
      await sleep(3000)
      let snapshot: string
      let done = false
      try {
        snapshot = await withClient(postgres.url, async (c) => {
          const r = await c.query<{ n: string; d: string; o: string }>(
            `SELECT (SELECT count(*) FROM persist_events) AS n, (SELECT count(*) FROM persist_dead_letters) AS d,
                    (SELECT count(*) FROM persist_events WHERE type = 'dev.kubereflex.event.classified' AND event->'data'->'input'->>'id' LIKE $1) AS o`,
            [`chaos-${run}-%`],
          )
          const row = r.rows[0]
          done = Number(row?.o ?? 0) >= valid
          return `${row?.n ?? ''}/${row?.d ?? ''}/${receiver.accepted.length}`
        })
      } catch (err) {
        o.log(`settle poll failed: ${err instanceof Error ? err.message : String(err)}`)
        continue
      }
      stable = snapshot === last ? stable + 1 : 0
      last = snapshot
      if (done && stable >= 3) {
        settledAfterSec = (Date.now() - inputEnd) / 1000
        break
      }
    }
    if (settledAfterSec < 0) o.log(`not settled after ${o.settleSec} s`)
  } finally {
    await feed?.stop()
    await dev.stop()
  }

  try {
    faults.webhook429Answers = receiver.refused['429']
    faults.webhook500Answers = receiver.refused['500']
    faults.webhookTimeouts = receiver.refused.timeout
    faults.kafkaFailedSends = feed?.failedSends() ?? 0
    const startup = dev.unplanned.filter((u) => STARTUP_FAILURE.test(u.tail))
    faults.startupFailures = startup.length
    faults.crashes = dev.unplanned.length - startup.length
    const { store, alerts, recoveries } = await withClient(postgres.url, async (c) => ({
      store: await countStore(c, run, stream.inputs),
      alerts: await countAlerts(c, run, receiver),
      recoveries: await countRecoveries(c, run),
    }))
    const violations: string[] = []
    if (store.missing > 0) violations.push(`${store.missing} valid event(s) never stored as classified`)
    if (store.duplicated > 0) violations.push(`${store.duplicated} duplicated classified row(s) for one input`)
    if (store.duplicateRows > 0) violations.push(`${store.duplicateRows} (source, id) stored more than once`)
    if (store.deadLetteredUnexpected > 0) violations.push(`${store.deadLetteredUnexpected} valid event(s) dead-lettered (types: ${store.unexpectedDeadLetterTypes.join(', ')})`)
    if (store.invalidNotDeadLettered > 0) violations.push(`${store.invalidNotDeadLettered} invalid-by-design event(s) not dead-lettered`)
    if (alerts.missing > 0) violations.push(`${alerts.missing} alerting problem(s) never notified`)
    if (alerts.duplicatedBeyondPolicy > 0) violations.push(`${alerts.duplicatedBeyondPolicy} duplicated notification(s) beyond policy (e.g. ${alerts.duplicateExamples.join('; ')})`)
    if (recoveries.missing > 0) violations.push(`${recoveries.missing} recovery decision(s) missing`)
    if (recoveries.duplicated > 0) violations.push(`${recoveries.duplicated} duplicated recovery decision(s)`)
    if (receiver.malformed > 0) violations.push(`${receiver.malformed} malformed webhook request(s)`)
    if (faults.crashes > 0) violations.push(`${faults.crashes} crash(es) of kube-reflex dev (see the exits below)`)
    if (settledAfterSec < 0) violations.push(`pipeline not settled within ${o.settleSec} s after the input ended`)
    if (feed !== undefined && feed.produced() < stream.lines.length) violations.push(`the producer could not write ${stream.lines.length - feed.produced()} line(s) to Kafka (the harness, not kube-reflex)`)
    return {
      run,
      source,
      workDir,
      events: stream.inputs.length,
      lines: stream.lines.length,
      invalidByDesign: stream.inputs.filter((i) => !i.valid).length,
      faults,
      unplannedExits: dev.unplanned,
      store,
      alerts,
      recoveries,
      settledAfterSec,
      violations,
    }
  } finally {
    await receiver.close()
    await services.stop()
    if (o.keep !== true) await rm(workDir, { recursive: true, force: true })
  }
}

/** The table printed at the end of a run. */
export function formatReport(r: ChaosReport): string {
  const rows: [string, string | number][] = [
    ['source', r.source === 'kafka' ? 'Kafka topic (dev --kafka)' : 'replay file (dev --replay)'],
    ['events (logical)', r.events],
    ['lines fed (with 2–3 copies each)', r.lines],
    ['invalid by design', r.invalidByDesign],
    ['kill -9 of dev', r.faults.kill9],
    ['PostgreSQL stop/start', r.faults.postgresBounces],
    ['Kafka broker stop/start', r.faults.kafkaBounces],
    ['Kafka sends failed (retried)', r.faults.kafkaFailedSends],
    ['webhook 429 answers', r.faults.webhook429Answers],
    ['webhook 500 answers', r.faults.webhook500Answers],
    ['webhook timeouts', r.faults.webhookTimeouts],
    ['dev crashes', r.faults.crashes],
    ['dev start refused (database down)', r.faults.startupFailures],
    ['classified rows', r.store.classified],
    ['missing', r.store.missing],
    ['duplicated (per input)', r.store.duplicated],
    ['duplicated rows (source,id)', r.store.duplicateRows],
    ['dead-lettered', r.store.deadLettered],
    ['dead-lettered, not invalid by design', r.store.deadLetteredUnexpected],
    ['invalid, not dead-lettered', r.store.invalidNotDeadLettered],
    ['alerting problems', r.alerts.expected],
    ['notified problems', r.alerts.notified],
    ['notifications missing', r.alerts.missing],
    ['notifications duplicated beyond policy', r.alerts.duplicatedBeyondPolicy],
    ['same notification re-sent (dedup by webhook-id)', r.alerts.resent],
    ['recovery decisions expected', r.recoveries.expected],
    ['recovery replies', r.recoveries.replies],
    ['recovery decisions missing', r.recoveries.missing],
    ['recovery decisions duplicated', r.recoveries.duplicated],
    ['settled after input end (s)', r.settledAfterSec < 0 ? 'no' : r.settledAfterSec.toFixed(1)],
  ]
  const w = Math.max(...rows.map(([k]) => k.length))
  const out = rows.map(([k, v]) => `${k.padEnd(w)}  ${String(v)}`)
  out.push(r.violations.length === 0 ? 'RESULT: no violation' : `RESULT: ${r.violations.length} violation(s)\n  - ${r.violations.join('\n  - ')}`)
  for (const u of r.unplannedExits) if (!STARTUP_FAILURE.test(u.tail)) out.push(`crash (code ${String(u.code)}, signal ${String(u.signal)}):\n${u.tail.split('\n').slice(-8).join('\n')}`)
  return out.join('\n')
}
