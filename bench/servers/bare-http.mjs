// Baseline "limit": a bare node:http server that reads the body, JSON.parses it and answers 202.
// Plain JavaScript on purpose: no TypeScript loader in the measured process.
import { createServer } from 'node:http'

const port = Number(process.env.PORT ?? 8080)
const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    try {
      if (chunks.length > 0) JSON.parse(Buffer.concat(chunks).toString('utf8'))
      res.writeHead(202).end()
    } catch {
      res.writeHead(400).end()
    }
  })
})
server.keepAliveTimeout = 65_000
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
