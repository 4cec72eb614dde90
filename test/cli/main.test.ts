import t from 'tap'
import { main, usage } from '../../cli/main.js'
import { captureIO } from '../helpers/io.js'

t.test('no command prints usage and exits 2; --help exits 0', async (t) => {
  const io = captureIO()
  t.equal(await main([], io), 2)
  t.match(io.out(), /Usage: kube-reflex <command>/)
  const help = captureIO()
  t.equal(await main(['--help'], help), 0)
  t.match(help.out(), /serve\s+run one function over HTTP/)
  t.match(usage(), /classify/)
})

t.test('unknown command → 2 with usage on stderr', async (t) => {
  const io = captureIO()
  t.equal(await main(['frobnicate'], io), 2)
  t.match(io.err(), /unknown command 'frobnicate'/)
})

t.test('--version prints the package version', async (t) => {
  const io = captureIO()
  t.equal(await main(['--version'], io), 0)
  t.match(io.out(), /^\d+\.\d+\.\d+/)
})

t.test('usage errors name the command and exit 2', async (t) => {
  const io = captureIO()
  t.equal(await main(['serve', 'nonsense'], io), 2)
  t.match(io.err(), /kube-reflex serve: unknown function 'nonsense'/)
  const opt = captureIO()
  t.equal(await main(['serve', 'classify', '--bogus'], opt), 2)
  t.match(opt.err(), /Unknown option '--bogus'/)
})
