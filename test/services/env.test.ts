// serviceEnv: a connection string from the environment is used as is; without one the service
// is started for this test process (and stopped by tap teardown).
import t from 'tap'
import pg from 'pg'
import { serviceEnv } from './env.js'

void t.test('uses the variable from the environment without starting anything', async (t) => {
  const saved = process.env.KAFKA_BROKERS
  process.env.KAFKA_BROKERS = 'broker-a.example:9092,broker-b.example:9092'
  t.teardown(() => {
    if (saved === undefined) delete process.env.KAFKA_BROKERS
    else process.env.KAFKA_BROKERS = saved
  })
  const started = Date.now()
  t.equal(await serviceEnv('kafka'), 'broker-a.example:9092,broker-b.example:9092')
  t.ok(Date.now() - started < 500, 'returned without starting a broker')
})

void t.test('starts postgres for this process when DATABASE_URL is absent (or uses the given one)', async (t) => {
  const url = await serviceEnv('postgres')
  t.equal(await serviceEnv('postgres'), url, 'a second call shares the same server')
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const result = await client.query('SELECT 40 + 2 AS answer')
  await client.end()
  t.same(result.rows, [{ answer: 42 }])
})
