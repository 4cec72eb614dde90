// Where `kube-reflex dev`'s CPU goes while the pipeline runs: a V8 CPU profile (`node --cpu-prof`) split into
// the database (PGlite's WebAssembly engine and JavaScript layers, or the pg driver, and our glue around
// them), garbage collection and the rest (broker, CloudEvent codec, host, the four functions), counted in
// the pipeline's window only. Start-up and shutdown are left out: a fresh data directory makes PGlite
// create and migrate its database for seconds before the first input, and a split over the whole process
// counts that as pipeline work (docs/BENCHMARKS.md).
//  - The window: from the first to the last sample whose stack holds the broker taking an input or
//    delivering an event (`ingress` / `deliver` of broker/broker.js) — the span dev's `elapsedMs` measures.
//  - Each sample belongs to the nearest frame on its stack (from the leaf up) that says who it is for: a
//    handler's code running inside PGlite's transaction callback is the handler's, PGlite's code called
//    from a handler is the database's. A sample with no such frame (V8 internals) is "runtime".
//  - The bounds are what the measured rate would become if one part cost nothing and the rest did not
//    change, with garbage collection shared out in proportion: upper bounds on one thread, not forecasts.

export interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber?: number
  readonly columnNumber?: number
}

export interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: readonly number[]
}

/** The `.cpuprofile` JSON that `node --cpu-prof` writes. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface AreaShare {
  readonly area: string
  /** Share of the busy time in the window, 0–1. */
  readonly share: number
}

export interface ProfileSplit {
  /** The pipeline window, from the first to the last marker sample (ms). */
  readonly windowMs: number
  /** Time in the window when the thread was not idle (ms). */
  readonly busyMs: number
  /** Shares of busyMs, 0–1; they add up to 1. */
  readonly database: number
  readonly gc: number
  readonly rest: number
  /** The rest by area (functions/<name>, broker, shared/<file>, node_modules/<package>, runtime), largest first. */
  readonly restByArea: readonly AreaShare[]
  /** Multiples of the profiled rate: the database free, or the database alone (GC shared out in proportion). */
  readonly bounds: { readonly freeDatabase: number; readonly databaseAlone: number }
}

const DATABASE_PACKAGES = /\/node_modules\/(@electric-sql\/pglite|pg|pg-protocol|pg-pool|pg-types|pgpass|pg-connection-string)\//
// Our own glue around the drivers: the Database handles and PGlite's prepared statements.
const DATABASE_GLUE = /\/shared\/(db|pglite-prepared)\.[cm]?js$/
const OWN = /\/dist\/(functions\/[^/]+|broker|shared\/[^/.]+|cli|bench)[/.]/
const PACKAGE = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//
const MARKER_FILE = /\/broker\/broker\.[cm]?js$/
const MARKERS = new Set(['ingress', 'deliver'])

/** Who a frame's time is for, or undefined when the frame does not say (V8 and Node internals). */
export function areaOf(frame: CallFrame): string | undefined {
  const { url } = frame
  if (url.startsWith('wasm://') || DATABASE_PACKAGES.test(url) || DATABASE_GLUE.test(url)) return 'database'
  const own = OWN.exec(url)
  if (own?.[1] !== undefined) return own[1]
  const pkg = PACKAGE.exec(url)
  if (pkg?.[1] !== undefined) return `node_modules/${pkg[1]}`
  return undefined
}

/** Splits a profile of `kube-reflex dev` (see the header). Throws when the profile holds no pipeline window. */
export function splitDevProfile(profile: CpuProfile): ProfileSplit {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  // Per node: whether its stack holds a marker, and whose its time is (memoized: nodes repeat in samples).
  const markerMemo = new Map<number, boolean>()
  const hasMarker = (id: number): boolean => {
    const known = markerMemo.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)
    const frame = node?.callFrame
    const up = parent.get(id)
    const result = frame !== undefined && MARKERS.has(frame.functionName) && MARKER_FILE.test(frame.url) ? true : up === undefined ? false : hasMarker(up)
    markerMemo.set(id, result)
    return result
  }
  const ownerMemo = new Map<number, string>()
  const ownerOf = (id: number): string => {
    const known = ownerMemo.get(id)
    if (known !== undefined) return known
    const frame = byId.get(id)?.callFrame
    const up = parent.get(id)
    const result = (frame === undefined ? undefined : areaOf(frame)) ?? (up === undefined ? 'runtime' : ownerOf(up))
    ownerMemo.set(id, result)
    return result
  }

  const { samples, timeDeltas } = profile
  let first = -1
  let last = -1
  for (let i = 0; i < samples.length; i++) {
    if (!hasMarker(samples[i] ?? -1)) continue
    if (first < 0) first = i
    last = i
  }
  if (first < 0) throw new Error('no pipeline window in this profile: no sample of the broker taking or delivering an event (is it a profile of `kube-reflex dev`?)')

  // A sample's time is the interval up to the next sample (as Chrome's DevTools counts it).
  let windowUs = 0
  let idleUs = 0
  let gcUs = 0
  let databaseUs = 0
  const areas = new Map<string, number>()
  for (let i = first; i <= last; i++) {
    const dt = i + 1 < timeDeltas.length ? (timeDeltas[i + 1] ?? 0) : 0
    windowUs += dt
    const id = samples[i] ?? -1
    const name = byId.get(id)?.callFrame.functionName
    if (name === '(idle)') idleUs += dt
    else if (name === '(garbage collector)') gcUs += dt
    else {
      const owner = ownerOf(id)
      if (owner === 'database') databaseUs += dt
      else areas.set(owner, (areas.get(owner) ?? 0) + dt)
    }
  }
  const busyUs = windowUs - idleUs
  const restUs = busyUs - gcUs - databaseUs
  const share = (us: number): number => (busyUs > 0 ? us / busyUs : 0)
  const nonGc = busyUs - gcUs
  return {
    windowMs: windowUs / 1000,
    busyMs: busyUs / 1000,
    database: share(databaseUs),
    gc: share(gcUs),
    rest: share(restUs),
    restByArea: [...areas].map(([area, us]) => ({ area, share: share(us) })).sort((a, b) => b.share - a.share),
    bounds: {
      freeDatabase: restUs > 0 ? nonGc / restUs : Number.POSITIVE_INFINITY,
      databaseAlone: databaseUs > 0 ? nonGc / databaseUs : Number.POSITIVE_INFINITY,
    },
  }
}
