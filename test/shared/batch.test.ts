// shared/batch.ts: items that arrive together are handed to one call, in arrival order and at most
// maxBatch at a time; each settles with its own result, and a failed call rejects its items.
import t from 'tap'
import { itemBatcher } from '../../shared/batch.js'

t.test('itemBatcher: one call per burst, results in order, a failed call rejects its items', async (t) => {
  const calls: number[][] = []
  const batcher = itemBatcher<number, string>(async (items) => {
    calls.push([...items])
    await new Promise((r) => setTimeout(r, 5))
    if (items.includes(13)) throw new Error('unlucky batch')
    return items.map((i) => `#${i}`)
  }, 3)
  const burst = await Promise.all([1, 2, 3, 4].map((i) => batcher.add(i)))
  t.same(burst, ['#1', '#2', '#3', '#4'])
  t.same(calls, [[1, 2, 3], [4]], 'at most maxBatch items per call, in arrival order')
  const bad = await Promise.allSettled([batcher.add(12), batcher.add(13)])
  t.same(bad.map((r) => r.status), ['rejected', 'rejected'], 'both items of the failed call are rejected')
  t.same(await batcher.add(5), '#5', 'the next batch runs normally')
})
