// Apache Kafka 4.x (KRaft, one node that is both broker and controller) from Maven Central jars.
// Jars: `mvn dependency:copy-dependencies` on kafka/pom.xml into the cache. Storage formatted with
// kafka.tools.StorageTool --standalone (KIP-853 dynamic quorum), broker run as `java kafka.Kafka`.
import process from 'node:process'
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync, readdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Kafka, logLevel } from 'kafkajs'
import { cacheRoot, ensureDir, freePorts, isAlive, run, seconds, spawnDetached, stopGroup, waitReady } from './lib/process.mjs'

export const KAFKA_VERSION = '4.1.1'
const here = path.dirname(fileURLToPath(import.meta.url))

export const kafkaHome = (env = process.env) => path.join(cacheRoot(env), `kafka-${KAFKA_VERSION}`)
const libDir = (env) => path.join(kafkaHome(env), 'lib')
const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0

async function hasCommand(name) {
  try {
    await run('sh', ['-c', `command -v ${name}`])
    return true
  } catch {
    return false
  }
}

/**
 * Copies the broker jars from Maven Central into the cache (once per version).
 * @param {{ log: (line: string) => void }} options
 */
export async function provisionKafka({ log }) {
  const home = kafkaHome()
  const marker = path.join(home, '.complete')
  if (existsSync(marker)) return { home }
  const started = Date.now()
  const missing = []
  if (!(await hasCommand('java'))) missing.push('default-jre-headless')
  if (!(await hasCommand('mvn'))) missing.push('maven')
  if (missing.length > 0) {
    if (!isRoot()) throw new Error(`Kafka needs ${missing.join(' and ')}: sudo apt-get install -y ${missing.join(' ')}`)
    log(`[kafka] installing ${missing.join(', ')} (apt-get)`)
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    await run('apt-get', ['update', '-q'], { env })
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], { env })
  }
  log(`[kafka] resolving org.apache.kafka:kafka_2.13:${KAFKA_VERSION} from Maven Central`)
  ensureDir(home)
  const staging = path.join(home, `lib.tmp-${process.pid}`)
  rmSync(staging, { recursive: true, force: true })
  await run('mvn', ['-B', '-q', '-f', path.join(here, 'kafka', 'pom.xml'), `-Dkafka.version=${KAFKA_VERSION}`, 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`, '-DincludeScope=runtime'])
  rmSync(libDir(), { recursive: true, force: true })
  renameSync(staging, libDir())
  writeFileSync(marker, `${new Date().toISOString()}\n`)
  log(`[kafka] ${readdirSync(libDir()).length} jars in ${libDir()} (${seconds(started)} s)`)
  return { home }
}

// Log to stdout (redirected to the instance log); the broker is chatty at INFO, so the noisiest
// loggers are raised to WARN to keep "last log lines" in errors meaningful.
const LOG4J2 = `status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.log.name = kafka.log
logger.log.level = WARN
logger.logcleaner.name = org.apache.kafka.storage.internals.log
logger.logcleaner.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.config.name = org.apache.kafka.common.config
logger.config.level = WARN
logger.metadataloader.name = org.apache.kafka.image.loader
logger.metadataloader.level = WARN
`

function serverProperties({ dataDir, brokerPort, controllerPort }) {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${brokerPort},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${brokerPort},CONTROLLER://127.0.0.1:${controllerPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // Consumers in tests join immediately instead of waiting 3 s for more members.
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=true',
    'delete.topic.enable=true',
    'log.flush.interval.messages=9223372036854775807',
    '',
  ].join('\n')
}

/**
 * @param {{ dir: string, log: (line: string) => void, state?: { brokerPort: number, controllerPort: number, pid?: number } }} options
 */
export function createKafka({ dir, log, state }) {
  const lib = libDir()
  if (!existsSync(lib)) throw new Error('Kafka is not provisioned; run `npm run -s services -- provision kafka`')
  const dataDir = path.join(dir, 'data')
  const logFile = path.join(dir, 'kafka.log')
  const propsFile = path.join(dir, 'server.properties')
  const log4jFile = path.join(dir, 'log4j2.properties')
  let brokerPort = state?.brokerPort
  let controllerPort = state?.controllerPort
  let pid = state?.pid
  const classpath = path.join(lib, '*')
  const javaArgs = ['-Xmx512m', '-Xms128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Dlog4j2.configurationFile=${log4jFile}`, '-cp', classpath]

  const brokers = () => `127.0.0.1:${brokerPort}`

  async function probe() {
    const kafka = new Kafka({ clientId: 'kube-reflex-readiness', brokers: [brokers()], logLevel: logLevel.NOTHING, connectionTimeout: 1000, requestTimeout: 2000, retry: { retries: 0 } })
    const admin = kafka.admin()
    try {
      await admin.connect()
      const cluster = await admin.describeCluster()
      // Topic metadata is served only once the broker has caught up with the metadata log.
      await admin.listTopics()
      return cluster.brokers.length > 0
    } finally {
      await admin.disconnect()
    }
  }

  return {
    name: 'kafka',
    get pid() { return pid },
    get brokers() { return brokers() },
    get port() { return brokerPort },
    get controllerPort() { return controllerPort },
    dataDir,
    logFile,
    get env() { return { KAFKA_BROKERS: brokers() } },
    /** First call formats storage; later calls restart on the same ports and log dir. */
    async start() {
      if (pid !== undefined && isAlive(pid)) return
      const started = Date.now()
      ensureDir(dir)
      if (brokerPort === undefined || controllerPort === undefined) [brokerPort, controllerPort] = await freePorts(2)
      writeFileSync(log4jFile, LOG4J2)
      writeFileSync(propsFile, serverProperties({ dataDir, brokerPort, controllerPort }))
      const fresh = !existsSync(path.join(dataDir, 'meta.properties'))
      if (fresh) {
        mkdirSync(dataDir, { recursive: true })
        // A cluster id is 16 random bytes, base64url without padding (what `random-uuid` prints). Like
        // Kafka's Uuid.randomUuid(), never one that starts with '-': the storage tool would read it as an
        // option and the format would fail (1 start in 64).
        let clusterId = randomBytes(16).toString('base64url')
        while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url')
        await run('java', [...javaArgs, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', clusterId, '-c', propsFile], { cwd: dir })
      }
      pid = spawnDetached('java', [...javaArgs, 'kafka.Kafka', propsFile], { logFile, cwd: dir })
      await waitReady({ name: 'Kafka', pid, logFile, timeoutMs: 60_000, intervalMs: 500, probe })
      log(`[kafka] ready on ${brokers()} (pid ${pid}, ${seconds(started)} s${fresh ? ', new log dir' : ''})`)
    },
    async stop() {
      if (pid === undefined) return
      // SIGTERM runs the broker's controlled shutdown; SIGKILL after 20 s.
      await stopGroup(pid, { signal: 'SIGTERM', graceMs: 20_000 })
      log(`[kafka] stopped (pid ${pid})`)
    },
    toState() {
      return { brokerPort, controllerPort, pid, processes: pid === undefined ? [] : [{ pid, signal: 'SIGTERM' }] }
    },
  }
}
