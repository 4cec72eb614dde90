// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core loads the page
// from persist over a seeded store and checks what a person sees; a screenshot lands in .tap/screenshots.
import t from 'tap'
import { existsSync, mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { CloudEventV1 } from '../../../shared/cloudevent.js'
import { eachBackend, startPersist } from './backends.js'
import { dataOf, occurredAt, seed } from './seed.js'

// Each test opens fresh PGlite stores (WebAssembly start-up of seconds on a busy machine): more than tap's default.
t.setTimeout(600_000)

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const SHOTS = resolve(import.meta.dirname, '../../../.tap/screenshots')
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found: install Debian's chromium package (apt-get install -y chromium)`

let browser: Browser | undefined
async function launch(): Promise<Browser> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true })
  return browser
}
t.teardown(async () => {
  await browser?.close()
})

/** Opens the page and collects what would go wrong silently: console errors, failed requests. */
async function open(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await (await launch()).newPage({ viewport: { width: 1280, height: 1400 } })
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`))
  page.on('response', (r) => {
    if (r.status() >= 400 && r.status() !== 401) problems.push(`HTTP ${r.status()}: ${r.url()}`)
  })
  await page.goto(url)
  return { page, problems }
}

function browserTest(name: string, fn: Parameters<typeof eachBackend>[2]): void {
  if (missing !== undefined) {
    void t.test(name, { skip: missing }, () => undefined)
    return
  }
  eachBackend(t, name, fn)
}

browserTest('the dashboard shows open problems, counts, the chart, the timeline and recent actions', async (t, backend) => {
  const now = new Date()
  const { url } = await startPersist(t, backend)
  const sent = await seed(url, 150, now)
  const { page, problems } = await open(`${url}/`)
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })

  // What the fixtures say should be on screen (computed here, not read back from the API).
  const day = new Date(now.getTime() - 86_400_000).toISOString()
  const classified = sent.filter((e) => e.type === 'dev.kubereflex.event.classified')
  const recent = classified.filter((e) => occurredAt(e) >= day)
  const bySeverity = (s: string): number => recent.filter((e) => dataOf(e).severity === s).length
  const openFingerprints = new Set(recent.filter((e) => dataOf(e).severity !== 'info').map((e) => String(dataOf(e).fingerprint)))

  t.equal(await page.title(), 'kube-reflex — cluster history')
  t.equal(await page.textContent('#n-critical'), String(bySeverity('critical')), 'critical count of the last 24 h')
  t.equal(await page.textContent('#n-warning'), String(bySeverity('warning')))
  t.equal(await page.textContent('#n-info'), String(bySeverity('info')))
  const alertsSent = sent.filter((e: CloudEventV1) => e.type === 'dev.kubereflex.alert.sent' && occurredAt(e) >= day).length
  t.equal(await page.textContent('#n-alerts'), String(alertsSent))

  const problemRows = page.locator('#problems tbody tr')
  t.equal(await problemRows.count(), openFingerprints.size, 'one row per open problem')
  const firstProblem = (await problemRows.first().innerText()).replace(/\s+/g, ' ')
  t.match(firstProblem, /(CRITICAL|WARNING) (shop|payments|monitoring)\/Pod \S+ \w+/, `a person reads severity, workload, category: "${firstProblem}"`)
  t.ok((await page.locator('#problems .outcome.sent, #problems .outcome.suppressed').count()) > 0, 'alert outcomes are shown')
  t.ok((await page.locator('#problems .outcome.planned').count()) > 0, 'recovery outcomes are shown')

  const crashloop = recent.filter((e) => dataOf(e).category === 'crashloop').length
  t.equal(await page.textContent('#categories li[data-category="crashloop"] .count'), String(crashloop), 'category bar count')

  const canvas = page.locator('#chart canvas')
  t.equal(await canvas.count(), 1, 'uPlot drew the hourly chart')
  const box = await canvas.boundingBox()
  t.ok(box !== null && box.width > 200 && box.height > 100, 'the chart has a visible size')
  t.match(await page.textContent('#chart'), /critical.*warning/s, 'with a legend')

  const timeline = page.locator('#timeline tbody tr')
  t.equal(await timeline.count(), Math.min(50, recent.filter((e) => dataOf(e).severity !== 'info').length), 'timeline: critical + warning by default, one page')
  const severities = await page.locator('#timeline tbody .badge').allTextContents()
  t.ok(severities.every((s) => s === 'critical' || s === 'warning'), 'only critical and warning in the default timeline')
  t.equal(await page.locator('#more').isVisible(), recent.filter((e) => dataOf(e).severity !== 'info').length > 50, '"Load more" only when there is more')

  // A problem's "History" shows its occurrences only (GET /events?fingerprint=), "Show all" undoes it.
  const rowCount = (n: number) => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('#timeline tbody tr').length === n
  const fingerprint = await problemRows.first().getAttribute('data-fingerprint')
  const occurrences = recent.filter((e) => String(dataOf(e).fingerprint) === fingerprint && ['critical', 'warning'].includes(String(dataOf(e).severity))).length
  const everything = await timeline.count()
  t.ok(occurrences > 0 && occurrences < everything, `the first problem has ${occurrences} of the ${everything} rows`)
  await problemRows.first().locator('button.history').click()
  await t.resolves(page.waitForFunction(rowCount, occurrences, { timeout: 10_000 }), 'the timeline shows that problem only')
  t.ok(await page.locator('#problem-filter').isVisible(), 'and says which problem')
  t.match(await page.textContent('#problem-label'), /^(shop|payments|monitoring)\/Pod \S+ · \w+$/, 'by workload and category')
  await page.click('#problem-clear')
  await t.resolves(page.waitForFunction(rowCount, everything, { timeout: 10_000 }), '"Show all" brings every row back')
  t.notOk(await page.locator('#problem-filter').isVisible())

  await page.fill('#filters input[name="namespace"]', 'payments')
  await page.selectOption('#filters select[name="severity"]', 'critical')
  await page.click('#filters button[type="submit"]')
  const expectedFiltered = recent.filter((e) => dataOf(e).namespace === 'payments' && dataOf(e).severity === 'critical').length
  await t.resolves(
    page.locator('#timeline tbody tr').nth(Math.min(50, expectedFiltered)).waitFor({ state: 'detached', timeout: 10_000 }),
    'the timeline re-renders with the filtered rows',
  )
  await page.waitForFunction(() => [...(globalThis as unknown as { document: { querySelectorAll(s: string): { textContent: string | null }[] } }).document.querySelectorAll('#timeline tbody tr td:nth-child(3)')].every((td) => td.textContent?.startsWith('payments/')))
  t.equal(await page.locator('#timeline tbody tr').count(), Math.min(50, expectedFiltered), 'filtered count')
  const objects = await page.locator('#timeline tbody tr td:nth-child(3)').allTextContents()
  t.ok(objects.length > 0 && objects.every((o) => o.startsWith('payments/')), 'the namespace filter applies')

  const actions = await page.locator('#actions tbody tr').allInnerTexts()
  t.ok(actions.length > 0 && actions.some((a) => /alert (sent|suppressed)/.test(a)) && actions.some((a) => /recovery planned/.test(a)), 'recent alerts and recoveries are listed')

  mkdirSync(SHOTS, { recursive: true })
  const shot = resolve(SHOTS, `dashboard-${backend.name}.png`)
  await page.screenshot({ path: shot, fullPage: true })
  t.comment(`screenshot: ${shot}`)
  t.same(problems, [], 'no console errors, no failed requests')
  await page.close()
})

browserTest('with PERSIST_API_TOKEN the dashboard asks for the token, then loads', async (t, backend) => {
  const { url } = await startPersist(t, backend, { apiToken: 'dashboard-token' })
  await seed(url, 10, new Date())
  const { page } = await open(`${url}/`)
  await page.waitForSelector('#auth:not([hidden])', { timeout: 15_000 })
  t.equal(await page.textContent('#n-critical'), '–', 'nothing is shown without the token')
  await page.fill('#token', 'dashboard-token')
  await page.click('#auth-form button')
  await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 })
  t.ok(Number(await page.textContent('#n-critical')) > 0, 'counts appear once the token is given')
  t.ok(await page.locator('#auth').isHidden())
  await page.close()
})
