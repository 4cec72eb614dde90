import t from 'tap'
import { appendFile, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { EventLog } from '../../broker/event-log.js'
import { event } from './helpers.js'

void t.test('accepted events survive a reopen; completed ones and delivered triggers are remembered', async (t) => {
  const dir = t.testdir({})
  const first = await EventLog.open(dir)
  t.same(first.pending, [])
  const a = first.log.append(event('a'), { source: 'replay:x', position: 1 })
  const b = first.log.append(event('b'), { source: 'replay:x', position: 2 })
  const c = first.log.append(event('c'), { source: 'replay:x', position: 3 })
  await Promise.all([a.durable, b.durable, c.durable])
  first.log.delivered(a.seq, 'one', true)
  first.log.delivered(b.seq, 'one', false)
  await first.log.close()

  const second = await EventLog.open(dir)
  t.same(
    second.pending.map((p) => [p.event.id, [...p.delivered]]),
    [
      ['b', ['one']],
      ['c', []],
    ],
  )
  t.equal(second.cursors.get('replay:x'), 3)
  const d = second.log.append(event('d'))
  t.ok(d.seq > c.seq, 'sequence numbers are never reused')
  await second.log.close()
})

void t.test('a torn last record (crash mid-write) is ignored; binary data round-trips', async (t) => {
  const dir = t.testdir({})
  const first = await EventLog.open(dir)
  const bin = { ...event('bin'), data: Buffer.from([0, 1, 2, 255]), datacontenttype: 'application/octet-stream' }
  await first.log.append(bin).durable
  await first.log.close()
  await appendFile(path.join(dir, 'broker-queue.ndjson'), '{"t":"e","s":99,"ev":{"specv')
  const second = await EventLog.open(dir)
  t.equal(second.corrupt, 0)
  t.equal(second.pending.length, 1)
  t.same(second.pending[0]?.event.data, Buffer.from([0, 1, 2, 255]))
  await second.log.close()
})

void t.test('compaction keeps the file small once events are delivered', async (t) => {
  const dir = t.testdir({})
  const { log } = await EventLog.open(dir, { compactBytes: 64 * 1024 })
  for (let i = 0; i < 2000; i++) {
    const { seq, durable } = log.append(event(`e${i}`))
    log.delivered(seq, 'x', true)
    if (i % 100 === 0) await durable
  }
  await log.sync()
  const size = (await stat(path.join(dir, 'broker-queue.ndjson'))).size
  t.ok(size < 128 * 1024, `log is ${size} bytes after 2000 delivered events`)
  await log.close()
  const again = await EventLog.open(dir)
  t.equal(again.pending.length, 0)
  const text = await readFile(path.join(dir, 'broker-queue.ndjson'), 'utf8')
  t.match(text, /"t":"c"/, 'the compacted log keeps the last sequence number')
  t.ok(again.log.append(event('next')).seq > 2000)
  await again.log.close()
})
