// Reference: the naive receiver many tutorials show — express 5 + the CloudEvents SDK's HTTP.toEvent
// and validate(), answering 202. Shows what the lean event path of shared/host.ts saves.
import express from 'express'
import { HTTP } from 'cloudevents'

const port = Number(process.env.PORT ?? 8080)
const app = express()
app.use(express.text({ type: '*/*', limit: '1mb' }))
app.post('/', (req, res) => {
  try {
    const event = HTTP.toEvent({ headers: req.headers, body: req.body })
    if (Array.isArray(event)) throw new Error('batch')
    event.validate()
    res.status(202).end()
  } catch {
    res.status(400).end()
  }
})
const server = app.listen(port, '127.0.0.1')
server.keepAliveTimeout = 65_000
process.on('SIGTERM', () => server.close(() => process.exit(0)))
