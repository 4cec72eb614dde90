// The broker's durable queue: a write-ahead log of NDJSON records in the data directory. An event is
// acknowledged to its sender only after its record is on disk (group commit: one fdatasync covers every
// record written since the last one), so `kill -9` loses nothing that was acknowledged. Per-(event,
// trigger) completion records let a restarted broker skip deliveries that were already acknowledged;
// a delivery that was in flight at the crash is made again (at-least-once).
//
// Records (one JSON object per line):
//   {"t":"e","s":seq,"ev":{…},"src":key,"pos":n}  event accepted (src/pos: the source's resume cursor)
//   {"t":"d","s":seq,"tr":trigger}                delivery of seq to trigger finished (acked, replied or dead-lettered)
//   {"t":"x","s":seq}                              every delivery of seq finished
//   {"t":"c","src":key,"pos":n}                    a source cursor (written by compaction)
import { createReadStream } from 'node:fs'
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { toStructured, type CloudEventV1 } from '../shared/cloudevent.js'

export interface PendingEvent {
  readonly seq: number
  readonly event: CloudEventV1
  /** Triggers this event was already delivered to (acknowledged, replied or dead-lettered). */
  readonly delivered: ReadonlySet<string>
}

export interface RecoveredLog {
  readonly log: EventLog
  /** Events accepted but not completely delivered, in acceptance order. */
  readonly pending: readonly PendingEvent[]
  /** Per source key, the highest position accepted (a replay resumes after it). */
  readonly cursors: ReadonlyMap<string, number>
  /** Records that could not be read (a torn last line after a crash is normal and not counted). */
  readonly corrupt: number
}

export interface EventLogOptions {
  /** Rewrite the log from its live state once this many bytes were appended (default 64 MiB). */
  readonly compactBytes?: number
  /** fdatasync after each group of writes (default true; turning it off gives up crash safety). */
  readonly fsync?: boolean
}

interface Entry {
  readonly line: string
  readonly delivered: Set<string>
}

const FILE = 'broker-queue.ndjson'

export class EventLog {
  private readonly entries = new Map<number, Entry>()
  private readonly cursors = new Map<string, number>()
  private buffer: string[] = []
  private waiters: (() => void)[] = []
  private failed: Error | undefined
  private flushing = false
  private appended = 0
  private nextSeq: number
  private closed = false

  private constructor(
    private readonly file: string,
    private fh: FileHandle,
    private readonly options: Required<EventLogOptions>,
    nextSeq: number,
  ) {
    this.nextSeq = nextSeq
  }

  /** Opens (or creates) the log in `dir`, recovers its live state and compacts it. */
  static async open(dir: string, options: EventLogOptions = {}): Promise<RecoveredLog> {
    await mkdir(dir, { recursive: true })
    const file = path.join(dir, FILE)
    const entries = new Map<number, Entry>()
    const cursors = new Map<string, number>()
    let maxSeq = 0
    let corrupt = 0
    let torn = 0
    const exists = await stat(file).then(
      () => true,
      () => false,
    )
    if (exists) {
      const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity })
      for await (const line of lines) {
        if (line === '') continue
        corrupt += torn // a bad line that was not the last one is corruption
        torn = 0
        let rec: Record<string, unknown>
        try {
          rec = JSON.parse(line) as Record<string, unknown>
        } catch {
          torn = 1
          continue
        }
        const seq = typeof rec.s === 'number' ? rec.s : undefined
        if (rec.t === 'e' && seq !== undefined && typeof rec.ev === 'object' && rec.ev !== null) {
          entries.set(seq, { line: `{"t":"e","s":${seq},"ev":${JSON.stringify(rec.ev)}}`, delivered: new Set() })
          if (seq > maxSeq) maxSeq = seq
          if (typeof rec.src === 'string' && typeof rec.pos === 'number') cursors.set(rec.src, Math.max(cursors.get(rec.src) ?? -1, rec.pos))
        } else if (rec.t === 'd' && seq !== undefined && typeof rec.tr === 'string') {
          entries.get(seq)?.delivered.add(rec.tr)
        } else if (rec.t === 'x' && seq !== undefined) {
          entries.delete(seq)
          if (seq > maxSeq) maxSeq = seq
        } else if (rec.t === 'c' && typeof rec.src === 'string' && typeof rec.pos === 'number') {
          if (rec.src !== '') cursors.set(rec.src, Math.max(cursors.get(rec.src) ?? -1, rec.pos))
          if (seq !== undefined && seq > maxSeq) maxSeq = seq
        } else corrupt++
      }
    }
    const resolved: Required<EventLogOptions> = { compactBytes: options.compactBytes ?? 64 * 1024 * 1024, fsync: options.fsync ?? true }
    const fh = await open(file, 'a')
    const log = new EventLog(file, fh, resolved, maxSeq + 1)
    for (const [seq, entry] of entries) log.entries.set(seq, entry)
    for (const [src, pos] of cursors) log.cursors.set(src, pos)
    await log.compact()
    const pending: PendingEvent[] = []
    for (const [seq, entry] of log.entries) {
      const rec = JSON.parse(entry.line) as { ev: CloudEventV1 }
      // Binary data is stored as data_base64 (JSON event format) and comes back as bytes.
      if (typeof rec.ev.data_base64 === 'string') {
        rec.ev.data = Buffer.from(rec.ev.data_base64, 'base64')
        delete rec.ev.data_base64
      }
      pending.push({ seq, event: rec.ev, delivered: entry.delivered })
    }
    return { log, pending, cursors: new Map(cursors), corrupt }
  }

  /** Events accepted and not yet completely delivered. */
  get depth(): number {
    return this.entries.size
  }

  /**
   * Appends an accepted event. `durable` resolves once it is on disk: only then may the sender be told
   * the event was accepted (Kafka offset commit, HTTP 202, replay cursor).
   */
  append(event: CloudEventV1, cursor?: { source: string; position: number }): { seq: number; durable: Promise<void> } {
    if (this.closed) throw new Error('event log is closed')
    const seq = this.nextSeq++
    const line = `{"t":"e","s":${seq},"ev":${toStructured(event)}}`
    this.entries.set(seq, { line, delivered: new Set() })
    let record = line
    if (cursor !== undefined) {
      this.cursors.set(cursor.source, Math.max(this.cursors.get(cursor.source) ?? -1, cursor.position))
      record = `${line.slice(0, -1)},"src":${JSON.stringify(cursor.source)},"pos":${cursor.position}}`
    }
    return { seq, durable: this.write(record, true) }
  }

  /** Records that `trigger` is done with event `seq`; `complete` when no trigger is left. */
  delivered(seq: number, trigger: string, complete: boolean): void {
    const entry = this.entries.get(seq)
    if (entry === undefined) return
    if (complete) {
      this.entries.delete(seq)
      void this.write(`{"t":"x","s":${seq}}`, false)
    } else {
      entry.delivered.add(trigger)
      void this.write(JSON.stringify({ t: 'd', s: seq, tr: trigger }), false)
    }
  }

  /** Waits until everything written so far is on disk. */
  async sync(): Promise<void> {
    if (this.buffer.length === 0 && !this.flushing) return
    await this.write(undefined, true)
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.sync()
    this.closed = true
    await this.fh.close()
  }

  private write(record: string | undefined, wait: boolean): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed)
    if (record !== undefined) this.buffer.push(record)
    const p = wait
      ? new Promise<void>((resolve, reject) => {
          this.waiters.push(() => (this.failed === undefined ? resolve() : reject(this.failed)))
        })
      : Promise.resolve()
    if (!this.flushing) {
      this.flushing = true
      void this.flushLoop()
    }
    return p
  }

  /**
   * Writes buffered records until none are left. `flushing` is cleared in the same synchronous step as
   * the last emptiness check (the `finally` right after the loop), so a record written later always
   * starts a new loop and none is stranded.
   */
  private async flushLoop(): Promise<void> {
    try {
      // Yield once so that records appended in the same tick share one write and one fdatasync.
      await new Promise<void>((resolve) => setImmediate(resolve))
      while (this.buffer.length > 0 || this.waiters.length > 0) {
        const records = this.buffer
        const waiters = this.waiters
        this.buffer = []
        this.waiters = []
        try {
          if (this.appended >= this.options.compactBytes) {
            await this.compact() // the snapshot holds every buffered record's effect
          } else if (records.length > 0) {
            const chunk = `${records.join('\n')}\n`
            await this.fh.write(chunk)
            this.appended += Buffer.byteLength(chunk)
            if (this.options.fsync) await this.fh.datasync()
          }
        } catch (err) {
          this.failed = err instanceof Error ? err : new Error(String(err))
        }
        for (const w of waiters) w()
        if (this.failed !== undefined) {
          for (const w of this.waiters) w()
          this.waiters = []
          return
        }
      }
    } finally {
      this.flushing = false
    }
  }

  /** Rewrites the log as its live state (cursors + pending events + their deliveries), atomically. */
  private async compact(): Promise<void> {
    const tmp = `${this.file}.tmp`
    const out = await open(tmp, 'w')
    try {
      const parts: string[] = []
      for (const [src, pos] of this.cursors) parts.push(JSON.stringify({ t: 'c', s: this.nextSeq - 1, src, pos }))
      // The highest sequence number survives even when nothing is pending, so numbers are never reused.
      if (this.cursors.size === 0) parts.push(JSON.stringify({ t: 'c', s: this.nextSeq - 1, src: '', pos: -1 }))
      for (const [seq, entry] of this.entries) {
        parts.push(entry.line)
        for (const tr of entry.delivered) parts.push(JSON.stringify({ t: 'd', s: seq, tr }))
        if (parts.length >= 4096) {
          await out.write(`${parts.join('\n')}\n`)
          parts.length = 0
        }
      }
      if (parts.length > 0) await out.write(`${parts.join('\n')}\n`)
      await out.datasync()
    } finally {
      await out.close()
    }
    await rename(tmp, this.file)
    const dir = await open(path.dirname(this.file), 'r')
    try {
      await dir.sync() // the rename itself must survive a crash
    } finally {
      await dir.close()
    }
    await this.fh.close()
    this.fh = await open(this.file, 'a')
    this.appended = 0
  }
}
