import t from 'tap'
import { DEFAULT_ATTEMPT_TIMEOUT_MS, effectiveDelivery, isRetryable, parseIsoDuration, parseRetryAfter, retryPolicy, validateDelivery } from '../../broker/delivery.js'
import { destinationResolver } from '../../broker/resolve.js'

void t.test('ISO-8601 durations', (t) => {
  t.equal(parseIsoDuration('PT0.5S'), 500)
  t.equal(parseIsoDuration('PT1M30S'), 90_000)
  t.equal(parseIsoDuration('PT2H'), 7_200_000)
  t.equal(parseIsoDuration('P1D'), 86_400_000)
  t.equal(parseIsoDuration('P1DT1S'), 86_401_000)
  for (const bad of ['', 'P', 'PT', '1S', 'PT-1S', 'T1S', 'PT1.S']) t.throws(() => parseIsoDuration(bad), /not an ISO-8601 duration/, `'${bad}' is rejected`)
  t.end()
})

void t.test('delivery spec validation', (t) => {
  t.same(validateDelivery({ retry: 3, backoffPolicy: 'linear', backoffDelay: 'PT1S', timeout: 'PT10S' }, 'd'), [])
  t.same(validateDelivery({ retry: -1, backoffPolicy: 'fibonacci', backoffDelay: '1s', timeout: 5 }, 'd'), [
    'd.retry: must be a non-negative integer',
    'd.backoffPolicy: must be exponential or linear',
    "d.backoffDelay: invalid ISO-8601 duration '1s'",
    'd.timeout: must be an ISO-8601 duration string',
  ])
  t.end()
})

void t.test('backoff, Retry-After and the retryable set', (t) => {
  const exp = retryPolicy({ retry: 5, backoffPolicy: 'exponential', backoffDelay: 'PT0.5S' })
  t.same([0, 1, 2, 3, 4].map((n) => exp.backoffMs(n, { status: 500 })), [500, 1000, 2000, 4000, 8000])
  t.equal(exp.backoffMs(0, { status: 429, retryAfter: '30' }), 500, 'no retryAfterMax: Retry-After is ignored (delivery-retryafter is opt-in)')
  t.equal(exp.backoffMs(0, { status: 503, retryAfter: 'Sat, 28 Nov 2099 05:00:10 GMT' }), 500, 'an HTTP-date too')
  const honoured = retryPolicy({ retry: 5, backoffPolicy: 'exponential', backoffDelay: 'PT0.5S', retryAfterMax: 'PT1M' })
  t.equal(honoured.backoffMs(0, { status: 503, retryAfter: '3' }), 3000, '503 honours Retry-After too')
  t.equal(honoured.backoffMs(0, { status: 429, retryAfter: '3' }), 3000, '429 honours Retry-After')
  t.equal(honoured.backoffMs(3, { status: 429, retryAfter: '1' }), 4000, 'the longer of backoff and Retry-After')
  t.equal(honoured.backoffMs(0, { status: 500, retryAfter: '9' }), 500, 'Retry-After only counts on 429/503')
  t.equal(honoured.backoffMs(0, { status: 429, retryAfter: '3600' }), 60_000, 'retryAfterMax caps it')
  t.equal(honoured.backoffMs(0, { status: 429 }), 500, 'no header: the backoff')
  const capped = retryPolicy({ retry: 1, backoffPolicy: 'linear', backoffDelay: 'PT1S', retryAfterMax: 'PT2S' })
  t.equal(capped.backoffMs(0, { status: 429, retryAfter: '60' }), 2000, 'retryAfterMax caps it')
  const off = retryPolicy({ retry: 1, backoffPolicy: 'linear', backoffDelay: 'PT1S', retryAfterMax: 'PT0S' })
  t.equal(off.backoffMs(1, { status: 429, retryAfter: '60' }), 1000, 'retryAfterMax PT0S: Retry-After is ignored')
  t.equal(retryPolicy({ retry: 1, retryAfterMax: 'PT10S' }).backoffMs(0, { status: 503, retryAfter: '4' }), 4000, 'honoured without a backoff policy as well')
  t.equal(retryPolicy({ retry: 2 }).backoffMs(1, { status: 500 }), 0, 'no policy/delay: immediate retries')
  t.equal(retryPolicy(undefined).retries, 0, 'no delivery spec: no retries')
  const now = Date.parse('2026-11-28T05:00:00Z')
  t.equal(parseRetryAfter('Sat, 28 Nov 2026 05:00:10 GMT', now), 10_000)
  t.equal(parseRetryAfter('soon', now), undefined)
  t.same(
    [0, 200, 202, 301, 400, 401, 403, 404, 408, 409, 413, 429, 500, 502, 503].filter(isRetryable),
    [0, 404, 408, 409, 429, 500, 502, 503],
  )
  t.end()
})

void t.test('per-attempt timeout: the delivery spec, else a bounded default', (t) => {
  t.equal(DEFAULT_ATTEMPT_TIMEOUT_MS, 300_000, "Knative Serving's default revision timeout")
  t.equal(retryPolicy(undefined).timeoutMs, 300_000, 'no delivery spec')
  t.equal(retryPolicy({ retry: 3 }).timeoutMs, 300_000, 'no timeout in the spec')
  t.equal(retryPolicy({ timeout: 'PT0S' }).timeoutMs, 300_000, 'PT0S: no timeout of its own, as in Knative')
  t.equal(retryPolicy({ timeout: 'PT5S' }).timeoutMs, 5000)
  t.equal(retryPolicy({ timeout: 'PT10M' }).timeoutMs, 600_000, 'a longer timeout than the default is kept')
  t.equal(retryPolicy(undefined, Date.now, 1234).timeoutMs, 1234, 'the default can be given')
  t.equal(retryPolicy({ timeout: 'PT5S' }, Date.now, 1234).timeoutMs, 5000, 'the spec wins over it')
  t.end()
})

void t.test('a Trigger delivery replaces the Broker delivery as a whole', (t) => {
  const broker = { retry: 5, deadLetterSink: { uri: 'http://dls' } }
  t.same(effectiveDelivery(broker, { retry: 1 }), { retry: 1 }, 'no dead-letter sink inherited')
  t.same(effectiveDelivery(broker, undefined), broker)
  t.end()
})

void t.test('destination resolution', (t) => {
  const resolve = destinationResolver(new Map([['kube-reflex-persist', 'http://127.0.0.1:9/persist']]))
  t.equal(resolve({ ref: { name: 'kube-reflex-persist' }, uri: '/dead-letter' }), 'http://127.0.0.1:9/persist/dead-letter')
  t.equal(resolve({ ref: { name: 'kube-reflex-persist' } }), 'http://127.0.0.1:9/persist')
  t.equal(resolve({ uri: 'http://elsewhere/x' }), 'http://elsewhere/x')
  t.equal(resolve({ ref: { name: 'kube-reflex-alert' } }), undefined, 'not running here')
  t.end()
})
