// Seeds a running persist over HTTP with a realistic history (fixtures.history) and returns what was sent.
import { toBinary, type CloudEventV1 } from '../../../shared/cloudevent.js'
import { history } from './fixtures.js'

export async function seed(url: string, count: number, now: Date): Promise<CloudEventV1[]> {
  const { classified, replies } = history(count, now)
  const all = [...classified, ...replies]
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < all.length) {
      const e = all[next++] as CloudEventV1
      const { headers, body } = toBinary(e)
      const res = await fetch(url, { method: 'POST', headers, body })
      if (res.status !== 202) throw new Error(`seeding ${e.id}: HTTP ${res.status}`)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
  return all
}

/** Where an event sits on the timeline, computed independently of the store (record.ts's rule). */
export function occurredAt(e: CloudEventV1): string {
  const data = e.data as { lastTime?: string | null } | undefined
  const t = e.type === 'dev.kubereflex.event.classified' && typeof data?.lastTime === 'string' ? data.lastTime : (e.time ?? '')
  return new Date(t).toISOString()
}

export function dataOf(e: CloudEventV1): Record<string, unknown> {
  return (e.data ?? {}) as Record<string, unknown>
}
