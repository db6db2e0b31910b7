// Auditing in a real browser: an auditor watches a live SSH session (started through the
// gateway by tests/e2e/web_audit.rs) from one browser context, locks and unlocks its input,
// a second auditor context terminates it from the session list, the first sees it end and
// replays it (search in the output seeks the player), downloads the asciicast; the audit
// lists, the dashboard and a plugin install through the console. Screenshots: audit-*.png,
// dashboard.png, plugins.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { env, field, launch, newPage, screenshot, unexpected, waitForPath, signIn } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const MARK = env('PC_LIVE_MARK')
const BUNDLE = env('PC_PLUGIN_BUNDLE')
// The first page load asks who is signed in (401 before the login).
const SIGNED_OUT = /status of 401/

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

async function signedIn() {
  const ctx = await newPage(browser)
  await signIn(ctx.page, admin)
  return ctx
}

/** The visible element of a test id (tables render fixed columns' cells more than once). */
const visible = (page, id) => page.locator(`[data-testid="${id}"]:visible`).first()

/** The text of the live view's terminal (xterm's DOM rows). */
const screenText = (page) => page.locator('[data-testid="monitor-terminal"] .xterm-rows').innerText()

let sessionId
test('an auditor watches a live session, locks it, and sees it end when another auditor terminates it', async () => {
  const watcher = await signedIn()
  const { page } = watcher
  await page.goto('/ui/audit/sessions')
  await visible(page, 'table-row').waitFor()
  await screenshot(page, 'audit-sessions.png')
  await visible(page, 'session-monitor').click()
  await page.waitForURL(/\/ui\/audit\/sessions\/[0-9a-f-]{36}\/monitor$/)
  sessionId = page.url().split('/').at(-2)
  await page.locator('[data-testid="monitor-status"][data-status="live"]').waitFor()
  // The current screen first, then the output as it happens.
  await page.waitForFunction((mark) => document.querySelector('[data-testid="monitor-terminal"] .xterm-rows')?.textContent?.includes(mark), MARK)
  const before = await screenText(page)
  await page.waitForFunction((seen) => document.querySelector('[data-testid="monitor-terminal"] .xterm-rows')?.textContent !== seen, before)

  await page.getByTestId('monitor-lock').click()
  await page.getByTestId('monitor-locked').waitFor()
  await screenshot(page, 'audit-monitor.png')
  await page.getByTestId('monitor-lock').click()
  await page.getByTestId('monitor-locked').waitFor({ state: 'detached' })

  // A second browser context: another auditor terminates the session from the list.
  const other = await signedIn()
  await other.page.goto('/ui/audit/sessions')
  await visible(other.page, 'session-terminate').click()
  await other.page.locator('.el-message-box__btns .el-button--primary').click()
  await other.page.locator('.el-message--success').first().waitFor()
  assert.deepEqual(unexpected(other.problems, SIGNED_OUT), [])
  await other.context.close()

  await page.locator('[data-testid="monitor-status"][data-status="ended"]').waitFor({ timeout: 30_000 })
  await page.getByTestId('monitor-ended').waitFor()
  assert.deepEqual(unexpected(watcher.problems, SIGNED_OUT), [])
  await watcher.context.close()
})

test('the session is replayed in the browser: search seeks the player, the asciicast downloads', async () => {
  assert.ok(sessionId, 'the live test found the session')
  const { context, page, problems } = await signedIn()
  await page.goto(`/ui/audit/sessions/${sessionId}/replay`)
  await page.getByTestId('replay-player').locator('.ap-player, .ap-wrapper').first().waitFor()
  await field(page, 'replay-search').fill(`${MARK}3`)
  await visible(page, 'replay-match').waitFor()
  await visible(page, 'replay-match').click()
  // The player is at the match: its screen shows the matched output.
  await page.waitForFunction((m) => document.querySelector('[data-testid="replay-player"]')?.textContent?.includes(m), `${MARK}3`)
  await screenshot(page, 'audit-replay.png')

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('replay-download').click()])
  const cast = readFileSync(await download.path(), 'utf8')
  const header = JSON.parse(cast.split('\n')[0])
  assert.equal(header.version, 2)
  assert.ok(cast.includes(`${MARK}3`), 'the recording holds the output')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await context.close()
})

test('the audit lists, the operation diff and the dashboard', async () => {
  const { context, page, problems } = await signedIn()
  for (const [path, shot] of [
    ['/ui/audit/sessions?tab=history', 'audit-history.png'],
    ['/ui/audit/commands', 'audit-commands.png'],
    ['/ui/audit/login-logs', 'audit-login-logs.png'],
    ['/ui/audit/ftp-logs', 'audit-ftp-logs.png'],
    ['/ui/audit/tickets', 'audit-tickets.png'],
  ]) {
    await page.goto(path)
    await page.getByTestId('resource-table').waitFor()
    await page.locator('[data-testid="table-row"], [data-testid="empty-state"]').first().waitFor()
    await screenshot(page, shot)
  }
  await page.goto('/ui/audit/commands')
  await visible(page, 'table-row').waitFor()
  // A created object's diff: every field, after only.
  await page.goto('/ui/audit/operate-logs')
  const created = page.locator('[data-testid="table-row"]:visible', { hasText: 'Create' }).first()
  await created.getByTestId('oplog-diff').click()
  await page.getByTestId('diff-table').waitFor()
  assert.ok((await page.getByTestId('diff-row').count()) > 0)
  await screenshot(page, 'audit-operate-logs.png')

  // Tickets: the time window goes to the server as date_from/date_to (kept in the address bar).
  const from = Date.UTC(2020, 0, 1)
  const to = Date.UTC(2020, 0, 2)
  const windowed = page.waitForRequest((r) => {
    const u = new URL(r.url())
    return u.pathname === '/api/v1/tickets/tickets/' && u.searchParams.get('date_from') === new Date(from).toISOString() && u.searchParams.get('date_to') === new Date(to).toISOString()
  })
  await page.goto(`/ui/audit/tickets?from=${from}&to=${to}`)
  await windowed
  // The picker shows the window, and nothing was opened in it.
  await page.waitForFunction(() => [...document.querySelectorAll('.el-date-editor input')].some((i) => i.value.startsWith('2020-01-0')))
  await page.getByTestId('empty-state').waitFor()

  // The dashboard: one GET /api/v1/index/?days=N per period, figures exactly the server's.
  const asked = []
  page.on('request', (r) => {
    const u = new URL(r.url())
    if (u.pathname.startsWith('/api/v1/')) asked.push(u.pathname + u.search)
  })
  await page.goto('/ui/dashboard')
  await page.getByTestId('stat-sessions').waitFor()
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="stat-sessions"] .stat-value')?.textContent?.replace(/\D/g, '')) > 0)
  await page.locator('[data-testid="chart-sessions"] canvas').waitFor()
  await page.locator('[data-testid="chart-top-assets"] canvas').waitFor()
  const statOf = async (key) => Number((await page.locator(`[data-testid="stat-${key}"] .stat-value`).textContent()).replace(/\D/g, ''))
  const week = await (await context.request.get('/api/v1/index/?days=7')).json()
  assert.equal(await statOf('sessions'), week.total_count_sessions)
  assert.equal(await statOf('users'), week.total_count_users)
  assert.equal(await statOf('failed'), week.total_count_login_failed)
  assert.ok(asked.includes('/api/v1/index/?days=7'), asked.join(' '))
  assert.deepEqual(asked.filter((a) => /terminal\/sessions|login-logs|users\/users|assets\/assets/.test(a)), [], 'no figure comes from a list')
  await screenshot(page, 'dashboard.png')
  const month = page.waitForRequest((r) => new URL(r.url()).search === '?days=30' && new URL(r.url()).pathname === '/api/v1/index/')
  await page.getByTestId('dashboard-period-30').click()
  await month
  const m = await (await context.request.get('/api/v1/index/?days=30')).json()
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="stat-sessions"] .stat-value')?.textContent?.replace(/\D/g, '')) === n, m.total_count_sessions)
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await context.close()
})

test('a plugin is installed, granted, configured and enabled through the console', async () => {
  const { context, page, problems } = await signedIn()
  await page.goto('/ui/console/plugins')
  await page.getByTestId('resource-table').waitFor()
  const unsigned = page.getByTestId('plugin-allow-unsigned')
  // The test bundle is not signed: allow unsigned plugins (the switch says so when it is on).
  if (!((await unsigned.getAttribute('class')) || '').includes('is-checked')) {
    await unsigned.click()
    await page.locator('.el-message--success').first().waitFor()
  }
  await page.getByTestId('plugin-upload').click()
  await page.locator('[data-testid="plugin-upload-dialog"] input[type=file]').setInputFiles(BUNDLE)
  await page.waitForURL(/\/ui\/console\/plugins\/[0-9a-f-]{36}$/, { timeout: 120_000 })
  await page.getByTestId('plugin-manifest').waitFor({ state: 'attached' })

  await page.getByRole('tab', { name: 'Capabilities' }).click()
  await page.getByTestId('grant-all').click()
  await page.getByTestId('grant-save').click()
  await page.locator('.el-message--success', { hasText: 'Grant saved' }).waitFor()

  await page.getByRole('tab', { name: 'Configuration' }).click()
  const form = page.getByTestId('plugin-config-form')
  await form.waitFor()
  await form.locator('[data-testid="config-endpoint"] input').fill('https://inventory.example.com')
  await form.getByTestId('form-submit').click()
  await page.locator('.el-message--success', { hasText: 'Configuration saved' }).waitFor()

  await page.getByTestId('plugin-enable').click()
  await page.getByTestId('plugin-disable').waitFor({ timeout: 120_000 })
  assert.equal((await page.getByTestId('plugin-detail-status').innerText()).trim(), 'Enabled')

  // Enabling called the plugin's describe: the Invocations tab shows it, expandable.
  await page.getByRole('tab', { name: 'Invocations' }).click()
  const invocations = page.getByTestId('plugin-invocations')
  await invocations.getByTestId('invocation-export').first().waitFor()
  assert.equal((await invocations.getByTestId('invocation-export').first().innerText()).trim(), 'describe')
  assert.equal((await invocations.getByTestId('invocation-outcome-tag').first().innerText()).trim(), 'OK')
  const detail = page.waitForResponse((r) => /\/api\/v1\/plugins\/[^/]+\/invocations\/[0-9a-f-]{36}\/$/.test(new URL(r.url()).pathname))
  await invocations.locator('.el-table__expand-icon').first().click()
  assert.equal((await detail).status(), 200)
  await invocations.getByTestId('invocation-logs').first().getByText(/World |logged nothing/).first().waitFor()
  // The outcome filter asks the server.
  const filtered = page.waitForRequest((r) => r.url().includes('/invocations/?') && r.url().includes('outcome=trap'))
  await invocations.getByTestId('invocation-outcome').click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: 'Crashed' }).click()
  await filtered
  await invocations.getByTestId('empty-state').waitFor()

  await page.goto('/ui/console/plugins')
  await visible(page, 'table-row').waitFor()
  await screenshot(page, 'plugins.png')
  await waitForPath(page, '/ui/console/plugins')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await context.close()
})
