// The query API (read side, docs/PERSIST.md): validated parameters, parameterized SQL, opaque cursors,
// optional bearer-token auth. Every route here is described in openapi.ts; a test holds the two together.
import { createHash, timingSafeEqual } from 'node:crypto'
import type { NextFunction, Request, Response, Router } from 'express'
import type { Queryable } from '../../shared/db.js'
import { dbError } from '../../shared/db.js'
import { persistError } from './errors.js'
import { openApiDocument } from './openapi.js'
import { parseDeadLetterQuery, parseEventsQuery, parsePodEventsQuery, parseProblemsQuery, parseStatsQuery, type QueryInput } from './query-params.js'
import { getEvent, listDeadLetters, listEvents, listPodEvents, listProblems, stats } from './store-read.js'

export interface ApiOptions {
  readonly db: Queryable
  readonly apiToken: string | undefined
  readonly problemOpenHours: number
  readonly now?: () => number
}

export const API_BASE = '/api/v1'

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

/** Bearer-token check (RFC 6750 §2.1) in constant time: both sides are hashed to equal length first. */
export function bearerAuth(token: string): (req: Request, res: Response, next: NextFunction) => void {
  const expected = digest(token)
  return (req, res, next) => {
    const header = req.headers.authorization ?? ''
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (m?.[1] !== undefined && timingSafeEqual(digest(m[1]), expected)) {
      next()
      return
    }
    res.setHeader('WWW-Authenticate', 'Bearer realm="kube-reflex"')
    next(persistError('UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer <PERSIST_API_TOKEN>)'))
  }
}

function query(req: Request): QueryInput {
  return req.query
}

/** Wraps a read so a database failure becomes 503 (retry) and never leaks SQL. */
async function read<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw dbError(err, what)
  }
}

export function mountApi(router: Router, options: ApiOptions): void {
  const { db } = options
  const now = options.now ?? Date.now
  const document = openApiDocument()
  router.get(`${API_BASE}/openapi.json`, (_req, res) => {
    res.json(document)
  })
  if (options.apiToken !== undefined) router.use(API_BASE, bearerAuth(options.apiToken))
  router.get(`${API_BASE}/events`, async (req, res) => {
    const { filter, page } = parseEventsQuery(query(req), now())
    res.json(await read('listing events', () => listEvents(db, filter, page)))
  })
  router.get(`${API_BASE}/events/:source/:id`, async (req, res) => {
    const { source, id } = req.params
    const event = await read('reading an event', () => getEvent(db, source, id))
    if (event === undefined) throw persistError('NOT_FOUND', 'no stored event has this source and id')
    res.json(event)
  })
  const podEvents = async (req: Request, res: Response, path: { namespace?: string; status?: string }): Promise<void> => {
    const { filter, page } = parsePodEventsQuery(query(req), path, now())
    res.json(await read('listing pod events', () => listPodEvents(db, filter, page)))
  }
  router.get(`${API_BASE}/pod-events`, (req, res) => podEvents(req, res, {}))
  router.get(`${API_BASE}/pod-events/status/:status`, (req, res) => podEvents(req, res, { status: String(req.params.status) }))
  router.get(`${API_BASE}/pod-events/:namespace`, (req, res) => podEvents(req, res, { namespace: String(req.params.namespace) }))
  router.get(`${API_BASE}/problems`, async (req, res) => {
    const { filter, page } = parseProblemsQuery(query(req), now())
    res.json(await read('listing problems', () => listProblems(db, filter, page, options.problemOpenHours, now())))
  })
  router.get(`${API_BASE}/stats`, async (req, res) => {
    const q = parseStatsQuery(query(req), now())
    res.json(await read('computing stats', () => stats(db, q)))
  })
  router.get(`${API_BASE}/dead-letters`, async (req, res) => {
    const { filter, page } = parseDeadLetterQuery(query(req), now())
    res.json(await read('listing dead letters', () => listDeadLetters(db, filter, page)))
  })
  router.all(`${API_BASE}/{*rest}`, () => {
    throw persistError('NOT_FOUND', 'no such API route (see /api/v1/openapi.json)')
  })
}
