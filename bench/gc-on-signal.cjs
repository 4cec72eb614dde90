'use strict'
// Preloaded into the soak's second classify (`npm run bench -- --soak … --soak-gc`, with --expose-gc): on
// SIGUSR2 it runs two full garbage collections and writes one line on stderr with what is left —
// `kube-reflex-bench-gc {"rssMiB":…,"heapUsedMiB":…}` — so the soak can tell memory the process keeps from
// garbage that V8 has not collected yet. Never loaded into a measured subject otherwise.
process.on('SIGUSR2', () => {
  global.gc()
  global.gc()
  const m = process.memoryUsage()
  process.stderr.write(`kube-reflex-bench-gc ${JSON.stringify({ rssMiB: m.rss / 2 ** 20, heapUsedMiB: m.heapUsed / 2 ** 20 })}\n`)
})
