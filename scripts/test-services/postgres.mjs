// PostgreSQL from Debian's `postgresql` package: a throw-away cluster (initdb) in the run dir,
// the postmaster started directly (not through `pg_ctl start`, which would fork it out of our
// process group) on a free loopback port, readiness by `pg_isready`.
import process from 'node:process'
import { existsSync, readdirSync, writeFileSync, chownSync, chmodSync, mkdirSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { ensureDir, freePorts, run, seconds, spawnDetached, stopGroup, waitReady, isAlive } from './lib/process.mjs'

export const DATABASE = 'kube_reflex'
export const USER = 'kube_reflex'
export const PASSWORD = 'kube_reflex'
const SUPERUSER_PASSWORD = 'postgres'

/** Directory holding initdb/postgres/pg_isready/psql of the newest installed major version, or undefined. */
export function findPostgresBin() {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const majors = readdirSync(root)
    .filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a))
  return majors[0] === undefined ? undefined : path.join(root, majors[0], 'bin')
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0

/** uid/gid of the OS user that runs the cluster when we are root (initdb refuses to run as root). */
function serviceUser() {
  if (!isRoot()) return undefined
  for (const name of ['postgres', 'kube-reflex']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim())
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim())
      return { name, uid, gid }
    } catch {
      // try the next candidate
    }
  }
  throw new Error('running as root but there is no `postgres` user to run the cluster as; run `provision postgres`')
}

/**
 * Installs Debian's postgresql if no server binaries are present, and makes sure a non-root
 * user exists to run it. Idempotent.
 * @param {{ log: (line: string) => void }} options
 */
export async function provisionPostgres({ log }) {
  const started = Date.now()
  if (findPostgresBin() === undefined) {
    if (!isRoot()) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql; install the Debian `postgresql` package (sudo apt-get install -y postgresql)')
    log('[postgres] installing Debian postgresql (apt-get)')
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    await run('apt-get', ['update', '-q'], { env })
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'postgresql', 'postgresql-client'], { env })
  }
  if (isRoot()) {
    try {
      serviceUser()
    } catch {
      log('[postgres] creating system user kube-reflex to run the cluster')
      await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'kube-reflex'])
    }
  }
  const bin = findPostgresBin()
  if (bin === undefined) throw new Error('PostgreSQL still not found after installing it')
  log(`[postgres] ready to use ${bin} (${seconds(started)} s)`)
  return { bin }
}

/**
 * @param {{ dir: string, log: (line: string) => void, state?: { port: number, pid?: number }, durable?: boolean }} options
 *   durable: keep PostgreSQL's default durability (fsync, synchronous_commit, full_page_writes on), as a
 *   production server runs; the default turns them off for tests.
 */
export function createPostgres({ dir, log, state, durable = false }) {
  const bin = findPostgresBin()
  if (bin === undefined) throw new Error('PostgreSQL is not provisioned; run `npm run -s services -- provision postgres`')
  const user = serviceUser()
  const dataDir = path.join(dir, 'data')
  const logFile = path.join(dir, 'postgres.log')
  /** @type {number | undefined} */
  let port = state?.port
  /** @type {number | undefined} */
  let pid = state?.pid

  const asUser = user === undefined ? {} : { uid: user.uid, gid: user.gid }

  async function initCluster() {
    ensureDir(dir)
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const pwfile = path.join(dir, 'superuser-password')
    writeFileSync(pwfile, SUPERUSER_PASSWORD + '\n', { mode: 0o600 })
    if (user !== undefined) {
      for (const p of [dir, dataDir, pwfile]) chownSync(p, user.uid, user.gid)
    }
    chmodSync(dataDir, 0o700)
    // --no-sync: nothing here needs to survive a machine crash.
    await run(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--pwfile', pwfile, '-E', 'UTF8', '--no-locale', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync'], { ...asUser, cwd: dir })
  }

  const connectionUrl = () => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`

  const handle = {
    name: 'postgres',
    get pid() { return pid },
    get port() { return port },
    get url() { return connectionUrl() },
    dataDir,
    logFile,
    get env() { return { DATABASE_URL: connectionUrl() } },
    /** Starts the cluster; the first call creates it, later calls restart it on the same port and data. */
    async start() {
      if (pid !== undefined && isAlive(pid)) return
      const started = Date.now()
      const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'))
      if (fresh) await initCluster()
      if (port === undefined) [port] = await freePorts(1)
      pid = spawnDetached(path.join(bin, 'postgres'), [
        '-D', dataDir,
        '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1',
        // TCP on 127.0.0.1 only: no Unix-domain socket. Everything here connects over TCP, and a socket in
        // the data directory fails the start when the path passes 107 bytes (a deep TMPDIR, a long session).
        '-c', 'unix_socket_directories=',
        // Test data is disposable; durability only costs time here (unless asked for: the bench's durable server).
        ...(durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
        '-c', 'max_connections=200',
      ], { logFile, cwd: dir, ...asUser })
      await waitReady({
        name: 'PostgreSQL',
        pid,
        logFile,
        timeoutMs: 30_000,
        probe: async () => {
          await run(path.join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)])
          return true
        },
      })
      if (fresh) {
        // Separate -c: CREATE DATABASE cannot share a transaction with other statements.
        await run(path.join(bin, 'psql'), ['-v', 'ON_ERROR_STOP=1', '-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres',
          '-c', `CREATE ROLE ${USER} LOGIN PASSWORD '${PASSWORD}' CREATEDB`, '-c', `CREATE DATABASE ${DATABASE} OWNER ${USER}`], {
          env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD },
        })
      }
      log(`[postgres] ready on 127.0.0.1:${port} (pid ${pid}, ${seconds(started)} s${fresh ? ', new cluster' : ''}${durable ? ', durable' : ''})`)
    },
    /** Fast shutdown (SIGINT to the postmaster), then SIGKILL to the group if it lingers. */
    async stop() {
      if (pid === undefined) return
      await stopGroup(pid, { signal: 'SIGINT', leaderOnly: true, graceMs: 15_000 })
      log(`[postgres] stopped (pid ${pid})`)
    },
    toState() {
      return { port, pid, processes: pid === undefined ? [] : [{ pid, signal: 'SIGINT', leaderOnly: true }] }
    },
  }
  return handle
}
