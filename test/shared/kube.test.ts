// Connection reuse (shared/kube-config.ts) against the real kube-apiserver, through classify's reads
// (shared/kube-access.ts) and client-node's typed clients (shared/kube.ts): API calls share one keep-alive
// TLS connection (client-node 1.x alone opens a new one, with a new TLS context, for every call), and a
// changed TLS configuration gets a connection of its own.
import t from 'tap'
import { createKubeAccess } from '../../shared/kube-access.js'
import { loadKubeConfig, loadKubeModule } from '../../shared/kube.js'
import { connectionsDuring, kubeconfigFromEnv } from '../functions/auto-recover/kube-env.js'
import { serviceEnv } from '../services/env.js'

const kubeconfig = kubeconfigFromEnv() ?? (await serviceEnv('kubernetes'))

void t.test('API calls reuse one TLS connection', async (t) => {
  const access = await createKubeAccess({ kubeconfig })
  const opened = await connectionsDuring(async () => {
    for (let i = 0; i < 4; i++) t.ok(await access.read('v1', 'Namespace', null, 'default'), `call ${i + 1} answered`)
    t.equal(await access.read('v1', 'Namespace', null, 'no-such-namespace'), null, 'a 404 is null')
  })
  t.equal(opened, 1, 'five sequential calls, one connection')

  // client-node's typed clients (what the dev source's watches use) go through the same kind of agent.
  const k8s = await loadKubeModule()
  const kc = await loadKubeConfig({ kubeconfig })
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const typed = await connectionsDuring(async () => {
    await Promise.all([core.readNamespace({ name: 'default' }), core.readNamespace({ name: 'kube-system' })])
    await core.listNamespace()
  })
  t.ok(typed >= 1 && typed <= 2, `typed calls share connections (${typed} for three calls, two of them at once)`)
})

void t.test('a changed TLS configuration gets a new connection; the old one is not reused for it', async (t) => {
  const k8s = await loadKubeModule()
  const kc = await loadKubeConfig({ kubeconfig })
  const core = kc.makeApiClient(k8s.CoreV1Api)
  const first = await connectionsDuring(async () => {
    await core.readNamespace({ name: 'default' })
    await core.readNamespace({ name: 'default' })
  })
  t.equal(first, 1)
  // A TLS option that matters changes (the name the server certificate is checked against; the API server's
  // certificate names localhost too).
  for (const c of kc.clusters as { tlsServerName?: string }[]) c.tlsServerName = 'localhost'
  const second = await connectionsDuring(async () => {
    await core.readNamespace({ name: 'default' })
    await core.readNamespace({ name: 'default' })
  })
  t.equal(second, 1, 'one new connection for the new configuration, reused after')
})
