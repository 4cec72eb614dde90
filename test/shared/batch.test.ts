// shared/batch.ts: items that arrive together are handed to one call, in arrival order and at most
// maxBatch at a time; each settles with its own result after that call, a failed call rejects its items
// (or, with `isolate`, is retried item by item), and the first item of a batch waits either for the end of
// the event loop's turn (no window) or `windowMs`.
import t from 'tap'
import { GroupCommit } from '../../shared/batch.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

void t.test('without a window: one call per burst, results in order, a failed call rejects its items', async (t) => {
  const calls: number[][] = []
  const batcher = new GroupCommit<number, string>({
    maxBatch: 3,
    commit: async (items) => {
      calls.push([...items])
      await sleep(5)
      if (items.includes(13)) throw new Error('unlucky batch')
      return items.map((i) => `#${i}`)
    },
  })
  const burst = await Promise.all([1, 2, 3, 4].map((i) => batcher.submit(i)))
  t.same(burst, ['#1', '#2', '#3', '#4'])
  t.same(calls, [[1, 2, 3], [4]], 'at most maxBatch items per call, in arrival order')
  const bad = await Promise.allSettled([batcher.submit(12), batcher.submit(13)])
  t.same(bad.map((r) => r.status), ['rejected', 'rejected'], 'both items of the failed call are rejected (no isolate: no retry)')
  t.same(calls.slice(2), [[12, 13]], 'the failed call is not retried item by item')
  t.same(await batcher.submit(5), '#5', 'the next batch runs normally')
})

void t.test('without a window the batch takes what arrived in the same turn; with one it waits windowMs for more', async (t) => {
  const sameTurn: number[][] = []
  const immediate = new GroupCommit<number, number>({ maxBatch: 100, commit: (items) => (sameTurn.push([...items]), Promise.resolve([...items])) })
  const first = [immediate.submit(1), immediate.submit(2)]
  await sleep(10)
  await Promise.all([...first, immediate.submit(3)])
  t.same(sameTurn, [[1, 2], [3]], 'an item 10 ms later is not waited for')

  const windowed: number[][] = []
  const window = new GroupCommit<number, number>({ maxBatch: 100, windowMs: 60, commit: (items) => (windowed.push([...items]), Promise.resolve([...items])) })
  const early = window.submit(1)
  await sleep(10)
  await Promise.all([early, window.submit(2)])
  t.same(windowed, [[1, 2]], 'an item 10 ms into a 60 ms window joins the batch')
})

void t.test('a batch that returns fewer results than items rejects the items without one', async (t) => {
  const short = new GroupCommit<number, number>({ maxBatch: 10, commit: (items) => Promise.resolve(items.slice(0, 1)) })
  const r = await Promise.allSettled([short.submit(7), short.submit(8)])
  t.same(r[0], { status: 'fulfilled', value: 7 })
  t.equal(r[1]?.status, 'rejected')
  t.match(r[1]?.status === 'rejected' ? (r[1].reason as Error).message : '', /no result for this item/)
})

void t.test('GroupCommit: batches concurrent submissions, isolates a poison item', async (t) => {
  const batches: number[][] = []
  const gc = new GroupCommit<number, number>({
    windowMs: 5,
    maxBatch: 4,
    isolate: (err) => !(err instanceof Error && err.message === 'down'),
    commit: (items) => {
      batches.push([...items])
      if (items.includes(13) && items.length > 1) return Promise.reject(new Error('poison in batch'))
      if (items.includes(13)) return Promise.reject(new Error('poison'))
      return Promise.resolve(items.map((i) => i * 2))
    },
  })
  const results = await Promise.allSettled([1, 2, 3, 13, 5, 6].map((i) => gc.submit(i)))
  t.same(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)), [2, 4, 6, 'poison', 10, 12], 'only the poison item fails')
  t.same(batches[0], [1, 2, 3, 13], 'first batch capped at maxBatch')
  t.same(batches.slice(1, 5), [[1], [2], [3], [13]], 'a failed batch is retried item by item')
  const down = new GroupCommit<number, number>({ windowMs: 1, maxBatch: 10, isolate: () => false, commit: () => Promise.reject(new Error('down')) })
  const all = await Promise.allSettled([1, 2, 3].map((i) => down.submit(i)))
  t.ok(all.every((r) => r.status === 'rejected'), 'a transient failure fails the whole batch at once')
  t.same(down.batchSizes, [3], 'without retrying one by one')
  await gc.drain()
})

void t.test('GroupCommit keeps a bounded list of batch sizes', async (t) => {
  const gc = new GroupCommit<number, number>({ windowMs: 0, maxBatch: 1, isolate: () => false, commit: (items) => Promise.resolve([...items]) })
  for (let i = 0; i < 5000; i++) await gc.submit(i)
  t.ok(gc.batchSizes.length >= 1000 && gc.batchSizes.length < 2000, `${gc.batchSizes.length} sizes kept after 5000 batches`)
  t.ok(gc.batchSizes.every((n) => n === 1))
})
