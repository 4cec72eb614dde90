// persist's configuration (STYLE.md practice 2): env names, defaults, validation; frozen; called from main.
import { EnvReader, readHostConfig, type Env, type HostConfig } from '../../shared/config.js'

export interface PersistConfig extends HostConfig {
  /** PostgreSQL (DATABASE_URL); the embedded PGlite under dataDir when unset. */
  readonly databaseUrl: string | undefined
  readonly dataDir: string
  /** Bearer token for /api/v1/* (PERSIST_API_TOKEN); the API is open when unset. */
  readonly apiToken: string | undefined
  /** Events (and projections) older than this many days are pruned. */
  readonly retentionDays: number
  readonly pruneIntervalSeconds: number
  /** Group commit: how long the first event of a batch waits for others, and the batch size cap. */
  readonly groupCommitMs: number
  readonly groupCommitMax: number
  /** A problem is "open" while its last occurrence is at most this old and its severity is critical|warning. */
  readonly problemOpenHours: number
  /** Kafka archive: both must be set to turn it on. */
  readonly kafkaBrokers: readonly string[]
  readonly archiveTopic: string | undefined
  readonly relayIntervalMs: number
}

export function loadConfig(env: Env = process.env): Readonly<PersistConfig> {
  const r = new EnvReader(env)
  const host = readHostConfig(r)
  const brokers = (r.optionalString('KAFKA_BROKERS') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  const archiveTopic = r.optionalString('KAFKA_ARCHIVE_TOPIC')
  if (archiveTopic !== undefined && brokers.length === 0) r.problems.push('KAFKA_ARCHIVE_TOPIC is set but KAFKA_BROKERS is not: the archive needs both')
  return r.done({
    ...host,
    databaseUrl: r.optionalString('DATABASE_URL'),
    dataDir: r.string('KUBE_REFLEX_DATA_DIR', '.kube-reflex'),
    apiToken: r.optionalString('PERSIST_API_TOKEN'),
    retentionDays: r.int('PERSIST_RETENTION_DAYS', 30, 1, 3650),
    pruneIntervalSeconds: r.int('PERSIST_PRUNE_INTERVAL_SECONDS', 600, 10, 86_400),
    groupCommitMs: r.int('PERSIST_GROUP_COMMIT_MS', 2, 0, 1000),
    groupCommitMax: r.int('PERSIST_GROUP_COMMIT_MAX', 200, 1, 10_000),
    problemOpenHours: r.int('PERSIST_PROBLEM_OPEN_HOURS', 24, 1, 24 * 365),
    kafkaBrokers: brokers,
    archiveTopic,
    relayIntervalMs: r.int('PERSIST_RELAY_INTERVAL_MS', 1000, 50, 600_000),
  })
}
