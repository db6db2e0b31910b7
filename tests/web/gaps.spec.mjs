// The web UI's remaining gaps in a real browser (run by tests/e2e/web_gaps.rs, which checks
// through the API what the browser made): an asset created with its accounts inline (a bad
// account creates nothing and is marked on its row; a typed account and one from a template
// are created with the asset), the asset list exported to CSV and to XLSX and imported back,
// an expired session sending a page to the login with a message and back after it, and the
// web terminal: the end-of-session message when an administrator terminates it (no more
// input), and a connection an ACL sends to review (waiting for approval, then connected; a
// rejection shown in words). Screenshots: gaps-*.png.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { REFUSED, SIGNED_OUT, adminUser, call, env, field, newPage, screenshot, signIn, signedInPage, unexpected, waitForPath, submitLogin } from './support.mjs'

const admin = adminUser()
const TAG = env('PC_GAP_TAG')
const TARGET = env('PC_GAP_TARGET')
const REVIEWED = env('PC_GAP_REVIEWED')
const TEMPLATE = env('PC_GAP_TEMPLATE')

const ctx = signedInPage({
  user: admin,
  options: { acceptDownloads: true },
  // Leaving the workbench with a live terminal asks first (beforeunload): go.
  setup: (page) => page.on('dialog', (d) => (d.type() === 'beforeunload' ? d.accept() : d.dismiss())),
})

/** The input of a test id inside `scope` (Element Plus puts the id on the input or around it). */
const input = (scope, id) => scope.locator(`input[data-testid="${id}"], [data-testid="${id}"] input`).first()
const rowsWith = (page, text) => page.locator('[data-testid="table-row"]:visible', { hasText: text })
const option = (page, text) => page.locator('.el-select-dropdown__item:visible', { hasText: text }).first()

test('an asset is created with its accounts inline, or not at all', async () => {
  const { page, problems } = ctx
  await page.goto('/ui/console/assets/new?category=host')
  await page.getByTestId('field-protocols').locator('.el-input-number').first().waitFor()
  await field(page, 'field-name').fill(`bad-${TAG}`)
  await field(page, 'field-address').fill('10.78.0.1')
  const rows = page.getByTestId('account-row')
  for (const secret of ['One-pw-1', 'Two-pw-2']) {
    await page.getByTestId('add-account').click()
    const row = rows.last()
    await input(row, 'account-username').fill('root')
    await input(row, 'account-secret').fill(secret)
  }
  await page.getByTestId('form-submit').click()
  // The second row is marked with the server's words; the first is fine; nothing exists.
  await rows.nth(1).getByTestId('account-error').waitFor()
  assert.equal(await rows.nth(0).getByTestId('account-error').count(), 0)
  assert.match(await rows.nth(1).getByTestId('account-error').innerText(), /already/i)
  assert.equal(new URL(page.url()).pathname, '/ui/console/assets/new')
  const none = await call(page, 'GET', `assets/assets/?name=bad-${TAG}`)
  assert.equal(none.status, 200)
  assert.deepEqual(none.body.results ?? none.body, [], 'no asset was left behind')
  await screenshot(page, 'gaps-asset-accounts-refused.png')

  // Fixed: one typed account, one from the template.
  await field(page, 'field-name').fill(`form-${TAG}`)
  await rows.nth(1).locator('button').last().click()
  assert.equal(await rows.count(), 1)
  await page.getByTestId('add-account-template').click()
  await rows.last().getByTestId('account-template').first().click()
  await page.keyboard.type(TEMPLATE)
  await option(page, TEMPLATE).click()
  await page.getByTestId('form-submit').click()
  await page.waitForURL(/\/ui\/console\/assets\/[0-9a-f-]{36}$/)
  await page.locator('.el-message--success').first().waitFor()
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('the asset list goes out as CSV and XLSX and comes back in through the import', async () => {
  const { page, problems } = ctx
  problems.length = 0
  for (const format of ['csv', 'xlsx']) {
    await page.goto(`/ui/console/assets?q=rt-${TAG}`)
    await rowsWith(page, `rt-${TAG}-1`).first().waitFor()
    await rowsWith(page, `rt-${TAG}-2`).first().waitFor()
    await page.getByTestId('export-button').click()
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(`export-${format}`).click()])
    assert.match(download.suggestedFilename(), new RegExp(`\\.${format}$`))
    const file = await download.path()

    // Gone from the server …
    const listed = await call(page, 'GET', `assets/assets/?search=rt-${TAG}&limit=10`)
    assert.equal(listed.body.count, 2, JSON.stringify(listed.body))
    for (const a of listed.body.results) assert.equal((await call(page, 'DELETE', `assets/assets/${a.id}/`)).status, 204)
    await page.reload()
    await page.getByTestId('empty-state').waitFor()

    // … and back through the import dialog.
    await page.getByTestId('import-button').click()
    const dialog = page.getByTestId('import-dialog')
    await dialog.locator('input[type=file]').setInputFiles(file)
    await page.locator('.el-message--success').first().waitFor()
    assert.equal(await dialog.getByTestId('import-error').count(), 0)
    await screenshot(page, `gaps-import-${format}.png`)
    await page.keyboard.press('Escape')
    await rowsWith(page, `rt-${TAG}-1`).first().waitFor()
    await rowsWith(page, `rt-${TAG}-2`).first().waitFor()
    assert.match(await rowsWith(page, `rt-${TAG}-2`).first().innerText(), /10\.77\.0\.2/)
  }
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('an ended session sends the page to the login with a message, and back after it', async () => {
  const { context, page } = await newPage(ctx.browser)
  await signIn(page, admin)
  await page.goto(`/ui/console/assets?q=rt-${TAG}`)
  await rowsWith(page, `rt-${TAG}-1`).first().waitFor()
  // The server invalidates the session (a signed-out cookie); the next call is a 401.
  const [session] = (await context.cookies()).filter((c) => c.name === 'jms_sessionid')
  await context.addCookies([{ ...session, value: 'invalidated' }])
  await field(page, 'table-search').fill(`rt-${TAG}-2`)
  const there = await waitForPath(page, '/ui/login')
  assert.match(there.searchParams.get('next'), /^\/console\/assets/)
  await page.getByTestId('login-expired').waitFor()
  await screenshot(page, 'gaps-session-ended.png')
  await submitLogin(page, admin)
  await waitForPath(page, '/ui/console/assets')
  await rowsWith(page, `rt-${TAG}-2`).first().waitFor()

  // The cookie expires (gone from the browser): a fresh page load does the same.
  await context.clearCookies({ name: 'jms_sessionid' })
  await page.goto('/ui/audit/sessions?tab=history')
  await waitForPath(page, '/ui/login')
  await page.getByTestId('login-expired').waitFor()
  await submitLogin(page, admin)
  const back = await waitForPath(page, '/ui/audit/sessions')
  assert.equal(back.searchParams.get('tab'), 'history')
  await context.close()
})

/** The i-th terminal pane (document order) and its session object's fields. */
const pane = (page, i) => page.locator('[data-testid="terminal-pane"]').nth(i)
const sessionField = (page, i, expr) =>
  page.evaluate(([i, expr]) => {
    const s = document.querySelectorAll('.pc-xterm')[i].pcSession
    return expr === 'ticket' ? s.view.ticketId : expr === 'stdin' ? s.term.options.disableStdin : s.view.sessionId
  }, [i, expr])

async function connect(page, asset) {
  await page.goto('/ui/workbench/assets')
  const row = page.locator('[data-testid="table-row"]:visible').filter({ hasText: asset }).first()
  await row.waitFor()
  await row.getByTestId('asset-connect').click()
  await page.getByTestId('connect-terminal').click()
  await page.waitForURL((u) => u.pathname === '/ui/workbench/terminal')
}

const waitForText = (page, i, text) =>
  page.waitForFunction(
    ([i, text]) => {
      const s = document.querySelectorAll('.pc-xterm')[i]?.pcSession
      if (!s) return false
      const b = s.term.buffer.active
      for (let n = 0; n < b.length; n++) if (b.getLine(n).translateToString(true).includes(text)) return true
      return false
    },
    [i, text],
    { timeout: 20_000 },
  )

test('a web terminal the administrator terminates says so and takes no more input', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await connect(page, TARGET)
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').first().waitFor({ timeout: 20_000 })
  await page.keyboard.type(`echo alive-${TAG}\n`)
  await waitForText(page, 0, `alive-${TAG}`)
  const sid = await sessionField(page, 0, 'session')
  const killed = await call(page, 'POST', 'terminal/tasks/kill-session/', [sid])
  assert.equal(killed.status, 200, JSON.stringify(killed.body))
  const ended = pane(page, 0).getByTestId('terminal-closed')
  await ended.waitFor()
  assert.equal(await ended.getAttribute('data-reason'), 'admin_terminate')
  assert.equal(await ended.getByTestId('terminal-end-title').innerText(), 'Terminated by an administrator')
  assert.match(await ended.getByTestId('terminal-end-message').innerText(), /Terminated by admin/)
  assert.match(await ended.innerText(), /no longer takes input/)
  assert.equal(await sessionField(page, 0, 'stdin'), true, 'the terminal takes no input')
  await screenshot(page, 'gaps-terminal-terminated.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('a connection under a review ACL waits for approval, then connects; a rejection is shown', async () => {
  const { page, problems } = ctx
  problems.length = 0
  // connect() loads the page afresh: no terminals from the test before.
  await connect(page, REVIEWED)
  const first = pane(page, 0)
  await page.locator('[data-testid="terminal-pane"][data-state="reviewing"]').first().waitFor({ timeout: 20_000 })
  await first.getByTestId('terminal-review').waitFor()
  assert.match(await first.getByTestId('terminal-review').innerText(), /Administrator/)
  await screenshot(page, 'gaps-terminal-review.png')
  const ticket = await sessionField(page, 0, 'ticket')
  assert.match(ticket, /^[0-9a-f-]{36}$/)
  assert.equal((await call(page, 'PUT', `tickets/tickets/${ticket}/approve/`, {})).status, 200)
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').first().waitFor({ timeout: 20_000 })
  await waitForText(page, 0, 'Approved by')
  await page.keyboard.type(`echo reviewed-${TAG}-$((6*7))\n`)
  await waitForText(page, 0, `reviewed-${TAG}-42`)

  // Rejected: the pane says so in the server's words, and never connects.
  await connect(page, REVIEWED)
  await page.locator('[data-testid="terminal-pane"][data-state="reviewing"]').first().waitFor({ timeout: 20_000 })
  const second = await sessionField(page, 0, 'ticket')
  assert.equal((await call(page, 'PUT', `tickets/tickets/${second}/reject/`, {})).status, 200)
  const refused = pane(page, 0).getByTestId('terminal-error')
  await refused.waitFor({ timeout: 20_000 })
  assert.match(await refused.innerText(), /rejected/)
  assert.equal(await sessionField(page, 0, 'session'), '')
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})
