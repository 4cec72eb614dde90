// Types for index.mjs (kept by hand: the layer is plain ESM so it runs without a build step).

export type ServiceName = 'postgres' | 'kafka' | 'kubernetes'

export interface ServiceEnv {
  DATABASE_URL?: string
  KAFKA_BROKERS?: string
  KUBECONFIG?: string
}

export interface RecordedProcess {
  pid: number
  signal?: NodeJS.Signals
  leaderOnly?: boolean
  role?: string
}

interface ServiceHandleBase {
  readonly name: ServiceName
  /** Main process id (= its process group id); undefined before the first start. */
  readonly pid: number | undefined
  readonly port: number | undefined
  readonly logFile: string
  readonly env: ServiceEnv
  /** Starts; after stop() it restarts on the same port(s) with the same data directory. */
  start(): Promise<void>
  /** Stops every process of the service (process group), waiting until they are gone. */
  stop(): Promise<void>
  toState(): { processes: RecordedProcess[] } & Record<string, unknown>
}

export interface PostgresHandle extends ServiceHandleBase {
  readonly name: 'postgres'
  /** postgres://kube_reflex:kube_reflex@127.0.0.1:<port>/kube_reflex */
  readonly url: string
  readonly dataDir: string
}

export interface KafkaHandle extends ServiceHandleBase {
  readonly name: 'kafka'
  /** host:port of the single broker */
  readonly brokers: string
  readonly controllerPort: number | undefined
  readonly dataDir: string
}

export interface KubernetesHandle extends ServiceHandleBase {
  readonly name: 'kubernetes'
  readonly version: string
  /** Whether kube-controller-manager runs (ReplicaSet, Deployment, GC, namespace... controllers). */
  readonly controllers: boolean
  readonly pids: { etcd?: number; apiserver?: number; controllers?: number }
  /** https://127.0.0.1:<port> */
  readonly server: string
  /** Path of the admin kubeconfig (client cert in group system:masters). */
  readonly kubeconfig: string
  readonly logFiles: { etcd: string; apiserver: string; controllers: string }
  /** Chaos helpers: stop/start only kube-apiserver, etcd and its data stay. */
  stopApiServer(): Promise<void>
  startApiServer(): Promise<void>
}

export interface ServiceHandles {
  postgres?: PostgresHandle
  kafka?: KafkaHandle
  kubernetes?: KubernetesHandle
}

export interface StartOptions {
  /** Progress lines; default: stderr. */
  log?: (line: string) => void
  /** Where to look for DATABASE_URL / KAFKA_BROKERS / KUBECONFIG; default process.env. */
  env?: NodeJS.ProcessEnv
  /** If false, start services even when their variable is set (needed to get a handle). Default true. */
  reuseEnv?: boolean
  /** Run-directory name under ${TMPDIR:-/tmp}/kube-reflex-services; default unique per call. */
  session?: string
  /** Also run kube-controller-manager when it was built. Default true. */
  controllers?: boolean
  /** PostgreSQL with its default durability (fsync, synchronous_commit, full_page_writes on) instead of
   *  the tests' settings with all three off. Default false. */
  durable?: boolean
}

export interface StartedServices {
  env: ServiceEnv
  services: ServiceHandles
  sessionDir: string
  /** Stops every started service (reverse order) and removes the session directory. */
  stop(): Promise<void>
}

export const ENV_VARS: Readonly<Record<ServiceName, 'DATABASE_URL' | 'KAFKA_BROKERS' | 'KUBECONFIG'>>
export const SERVICE_NAMES: readonly ServiceName[]

/** Directory of the newest installed PostgreSQL's binaries (initdb, postgres, …), or undefined when none is installed. */
export function findPostgresBin(): string | undefined
/** Where the built kube-apiserver, etcd and kube-controller-manager live (`<home>/bin`). */
export function kubernetesHome(env?: NodeJS.ProcessEnv): string

export function startServices(names?: readonly ServiceName[], options?: StartOptions): Promise<StartedServices>
export function provision(names?: readonly ServiceName[], options?: { log?: (line: string) => void }): Promise<Record<string, number>>

export interface RecordedService {
  session: string
  dir: string
  name: ServiceName
  owner: number
  env: ServiceEnv
  processes: RecordedProcess[]
  running: boolean
}
export function listRecorded(options?: { session?: string; env?: NodeJS.ProcessEnv }): RecordedService[]
export function stopRecorded(options?: { session?: string; env?: NodeJS.ProcessEnv; log?: (line: string) => void }): Promise<ServiceName[]>
