// A real Kubernetes control plane on loopback, the way controller-runtime's envtest runs one:
// etcd + kube-apiserver (+ optionally kube-controller-manager, so ReplicaSets really recreate
// evicted pods), built from Go modules by build-kubernetes.sh and cached per version.
// No kubelet/scheduler: pods are stored and reconciled by controllers but never run.
import process from 'node:process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheRoot, ensureDir, freePorts, isAlive, run, seconds, spawnDetached, stopGroup, waitReady } from './lib/process.mjs'

export const KUBERNETES_VERSION = '1.34.3'
export const ETCD_VERSION = '3.6.16'
const here = path.dirname(fileURLToPath(import.meta.url))

export const kubernetesHome = (env = process.env) => path.join(cacheRoot(env), `kubernetes-${KUBERNETES_VERSION}`)
const binDir = (env) => path.join(kubernetesHome(env), 'bin')

/** Controllers worth having without nodes: workload reconciliation, GC, namespaces, service accounts. */
const CONTROLLERS = ['replicaset', 'deployment', 'statefulset', 'daemonset', 'job', 'cronjob', 'garbagecollector', 'namespace', 'serviceaccount', 'serviceaccount-token', 'disruption', 'endpointslice']

async function findGo() {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    try {
      await run(candidate, ['version'])
      return candidate
    } catch {
      // next
    }
  }
  throw new Error('the Go toolchain (go >= 1.24) is needed to build kube-apiserver and etcd; install it (e.g. from go.dev/dl) and put it on PATH')
}

/**
 * Builds kube-apiserver, kube-controller-manager and etcd once per version (slow: ~15-25 min on
 * 2 cores; later runs use the cache).
 * @param {{ log: (line: string) => void }} options
 */
export async function provisionKubernetes({ log }) {
  const home = kubernetesHome()
  const marker = path.join(home, '.complete')
  if (existsSync(marker)) return { home }
  const started = Date.now()
  try {
    await run('openssl', ['version'])
  } catch {
    if (!(typeof process.getuid === 'function' && process.getuid() === 0)) throw new Error('openssl is needed for the control plane certificates: sudo apt-get install -y openssl')
    log('[kubernetes] installing openssl (apt-get)')
    const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    await run('apt-get', ['update', '-q'], { env: aptEnv })
    await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'openssl'], { env: aptEnv })
  }
  const go = await findGo()
  log(`[kubernetes] building kube-apiserver v${KUBERNETES_VERSION}, kube-controller-manager and etcd v${ETCD_VERSION} from Go modules (once; slow)`)
  ensureDir(home)
  const env = { ...process.env, PATH: `${path.dirname(go) === '.' ? '' : path.dirname(go) + ':'}${process.env.PATH ?? ''}` }
  await run('bash', [path.join(here, 'build-kubernetes.sh'), KUBERNETES_VERSION, ETCD_VERSION, home], { env, log: (line) => log(line.startsWith('[') ? line : `[kubernetes] ${line}`) })
  writeFileSync(marker, `${new Date().toISOString()}\n`)
  log(`[kubernetes] built in ${seconds(started)} s`)
  return { home }
}

async function openssl(args, cwd) {
  await run('openssl', args, { cwd })
}

/** CA, serving cert (SANs for loopback and the in-cluster names), admin client cert, SA keys. */
async function makePki(pki) {
  ensureDir(pki, 0o700)
  const days = '3650'
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', days, '-subj', '/CN=kube-reflex-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], pki)
  const sign = async (name, subject, ext) => {
    writeFileSync(path.join(pki, `${name}.ext`), ext)
    await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], pki)
    await openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', days, '-extfile', `${name}.ext`], pki)
  }
  await sign('apiserver', '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' +
    'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n')
  // O=system:masters is bound to cluster-admin by the API server's bootstrap RBAC policy.
  await sign('admin', '/O=system:masters/CN=kube-reflex-admin', 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n')
  await openssl(['genrsa', '-out', 'sa.key', '2048'], pki)
  await openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], pki)
}

function kubeconfig({ pki, port }) {
  const b64 = (f) => readFileSync(path.join(pki, f)).toString('base64')
  // JSON is valid YAML, which is what kubeconfig loaders parse.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'kube-reflex-test', cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': b64('ca.crt') } }],
    users: [{ name: 'kube-reflex-admin', user: { 'client-certificate-data': b64('admin.crt'), 'client-key-data': b64('admin.key') } }],
    contexts: [{ name: 'kube-reflex-test', context: { cluster: 'kube-reflex-test', user: 'kube-reflex-admin', namespace: 'default' } }],
    'current-context': 'kube-reflex-test',
  }, null, 2) + '\n'
}

function httpGet(url, tls) {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http
    const req = lib.get(url, { ...(tls ?? {}), timeout: 2000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`timeout GET ${url}`)))
    req.on('error', reject)
  })
}

/**
 * @param {{ dir: string, log: (line: string) => void, controllers?: boolean, state?: { etcdPort: number, etcdPeerPort: number, port: number, pids?: Record<string, number> } }} options
 */
export function createKubernetes({ dir, log, controllers = true, state }) {
  const bin = binDir()
  for (const b of ['etcd', 'kube-apiserver']) {
    if (!existsSync(path.join(bin, b))) throw new Error(`Kubernetes is not provisioned (${b} missing); run \`npm run -s services -- provision kubernetes\``)
  }
  const withControllers = controllers && existsSync(path.join(bin, 'kube-controller-manager'))
  const pki = path.join(dir, 'pki')
  const kubeconfigFile = path.join(dir, 'kubeconfig')
  const logs = { etcd: path.join(dir, 'etcd.log'), apiserver: path.join(dir, 'kube-apiserver.log'), controllers: path.join(dir, 'kube-controller-manager.log') }
  let etcdPort = state?.etcdPort
  let etcdPeerPort = state?.etcdPeerPort
  let port = state?.port
  /** @type {{ etcd?: number, apiserver?: number, controllers?: number }} */
  const pids = { ...(state?.pids ?? {}) }

  const tls = () => ({ ca: readFileSync(path.join(pki, 'ca.crt')), cert: readFileSync(path.join(pki, 'admin.crt')), key: readFileSync(path.join(pki, 'admin.key')) })

  async function startEtcd() {
    if (pids.etcd !== undefined && isAlive(pids.etcd)) return
    const client = `http://127.0.0.1:${etcdPort}`
    const peer = `http://127.0.0.1:${etcdPeerPort}`
    pids.etcd = spawnDetached(path.join(bin, 'etcd'), [
      '--name=default', `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${client}`, `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=default=${peer}`,
      // Test data is disposable; fsync dominates etcd latency on shared CI disks.
      '--unsafe-no-fsync=true', '--log-level=warn', '--quota-backend-bytes=1073741824',
    ], { logFile: logs.etcd, cwd: dir })
    await waitReady({
      name: 'etcd', pid: pids.etcd, logFile: logs.etcd, timeoutMs: 30_000,
      probe: async () => {
        const res = await httpGet(`${client}/health`)
        return res.status === 200 && res.body.includes('"health":"true"')
      },
    })
  }

  async function startApiServer() {
    if (pids.apiserver !== undefined && isAlive(pids.apiserver)) return
    const p = (f) => path.join(pki, f)
    pids.apiserver = spawnDetached(path.join(bin, 'kube-apiserver'), [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--secure-port=${port}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
      `--cert-dir=${pki}`, `--tls-cert-file=${p('apiserver.crt')}`, `--tls-private-key-file=${p('apiserver.key')}`,
      `--client-ca-file=${p('ca.crt')}`,
      `--service-account-key-file=${p('sa.pub')}`, `--service-account-signing-key-file=${p('sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      // Without a running token controller at the moment a namespace is created, the
      // ServiceAccount admission plugin rejects pods ("serviceaccount default not found");
      // envtest-style control planes disable it. Pods never run here, so tokens are moot.
      '--disable-admission-plugins=ServiceAccount',
      '--profiling=false',
      // The `kubernetes` Endpoints object may not point at loopback (validation rejects
      // 127.0.0.0/8), so the lease reconciler would fail forever; nothing here needs it.
      '--endpoint-reconciler-type=none',
    ], { logFile: logs.apiserver, cwd: dir })
    await waitReady({
      name: 'kube-apiserver', pid: pids.apiserver, logFile: logs.apiserver, timeoutMs: 90_000, intervalMs: 500,
      probe: async () => {
        const ready = await httpGet(`https://127.0.0.1:${port}/readyz`, tls())
        if (ready.status !== 200) return false
        // The bootstrap controller creates namespace "default" shortly after /readyz.
        const ns = await httpGet(`https://127.0.0.1:${port}/api/v1/namespaces/default`, tls())
        return ns.status === 200
      },
    })
  }

  async function startControllers() {
    if (!withControllers) return
    if (pids.controllers !== undefined && isAlive(pids.controllers)) return
    pids.controllers = spawnDetached(path.join(bin, 'kube-controller-manager'), [
      `--kubeconfig=${kubeconfigFile}`,
      `--authentication-kubeconfig=${kubeconfigFile}`, `--authorization-kubeconfig=${kubeconfigFile}`,
      `--controllers=${CONTROLLERS.join(',')}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1', '--secure-port=0',
      `--service-account-private-key-file=${path.join(pki, 'sa.key')}`, `--root-ca-file=${path.join(pki, 'ca.crt')}`,
      '--use-service-account-credentials=false',
      // Reconcile promptly: tests wait on what controllers do.
      '--concurrent-replicaset-syncs=5', '--concurrent-gc-syncs=5',
    ], { logFile: logs.controllers, cwd: dir })
    // Functional readiness: the serviceaccount controller has created default/default.
    await waitReady({
      name: 'kube-controller-manager', pid: pids.controllers, logFile: logs.controllers, timeoutMs: 60_000, intervalMs: 500,
      probe: async () => (await httpGet(`https://127.0.0.1:${port}/api/v1/namespaces/default/serviceaccounts/default`, tls())).status === 200,
    })
  }

  // kube-apiserver's graceful shutdown can hang for a long time on open watches (the controller
  // manager's); its state is in etcd, so a short grace before SIGKILL loses nothing.
  const GRACE_MS = { etcd: 10_000, apiserver: 3_000, controllers: 3_000 }

  async function stopOne(which) {
    const pid = pids[which]
    if (pid === undefined) return
    await stopGroup(pid, { signal: 'SIGTERM', graceMs: GRACE_MS[which] })
  }

  return {
    name: 'kubernetes',
    version: KUBERNETES_VERSION,
    controllers: withControllers,
    get pid() { return pids.apiserver },
    get pids() { return { ...pids } },
    get port() { return port },
    get server() { return `https://127.0.0.1:${port}` },
    kubeconfig: kubeconfigFile,
    logFile: logs.apiserver,
    logFiles: logs,
    get env() { return { KUBECONFIG: kubeconfigFile } },
    /** Starts etcd, the API server and (if built and wanted) the controller manager; restarts keep ports and data. */
    async start() {
      const started = Date.now()
      ensureDir(dir)
      const fresh = !existsSync(path.join(pki, 'admin.crt'))
      if (fresh) await makePki(pki)
      if (port === undefined || etcdPort === undefined || etcdPeerPort === undefined) [port, etcdPort, etcdPeerPort] = await freePorts(3)
      writeFileSync(kubeconfigFile, kubeconfig({ pki, port }), { mode: 0o600 })
      await startEtcd()
      await startApiServer()
      await startControllers()
      log(`[kubernetes] v${KUBERNETES_VERSION} ready at https://127.0.0.1:${port} (apiserver pid ${pids.apiserver}${withControllers ? ', with controllers' : ''}, ${seconds(started)} s)`)
    },
    async stop() {
      await stopOne('controllers')
      await stopOne('apiserver')
      await stopOne('etcd')
      log('[kubernetes] stopped')
    },
    /** Chaos helpers: bounce only the API server (etcd and data stay). */
    async stopApiServer() {
      await stopOne('apiserver')
    },
    async startApiServer() {
      await startApiServer()
    },
    toState() {
      const processes = []
      for (const which of ['etcd', 'apiserver', 'controllers']) {
        const pid = pids[which]
        if (pid !== undefined) processes.push({ pid, signal: 'SIGTERM', graceMs: GRACE_MS[which], role: which })
      }
      return { port, etcdPort, etcdPeerPort, pids: { ...pids }, processes }
    },
  }
}
