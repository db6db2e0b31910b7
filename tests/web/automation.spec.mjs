// Account automations from the console's accounts list in a real browser (run by
// tests/e2e/web_automation.rs, which seeds a real sshd target with the Linux plugin enabled):
// "Test connectivity" on the target's account succeeds and the dialog says so; "Verify" on
// that account and one with a wrong secret, selected together, shows one success and one
// failure with the reason in words; "Change secret" asks where the new secret comes from
// (random by default) and then succeeds; a specified password is refused while the two typed
// differ (nothing sent), then sent and set on the host (the runner logs in with it), and is not
// kept once the dialog closes; an SSH-key account takes a specified private key. Stop during a run of three accounts: the account in flight
// finishes, the other two show "Not run (stopped)", one request only (the runner checks the
// server recorded one execution); closing the dialog during a run stops it the same way.
// The first request of a stopped run is held back in the browser (`page.route`) until Stop or
// Close was clicked, then sent on to the server, so the click always lands while that account
// is in flight. Screenshots: automation-*.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, field, launch, newPage, screenshot, unexpected, signIn } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const GOOD = env('PC_AUTO_GOOD')
const GOOD_USER = env('PC_AUTO_GOOD_USER')
const BAD = env('PC_AUTO_BAD')
const NEW_PASSWORD = env('PC_AUTO_NEW_PASSWORD')
const STOP = env('PC_AUTO_STOP').split(',')
const KEY_ACCOUNT = env('PC_AUTO_KEY_ACCOUNT')
const NEW_KEY = env('PC_AUTO_NEW_KEY')
// The signed-out login page asks who is signed in (401) before the sign-in.
const SIGNED_OUT = /status of 401/

let browser
let ctx
before(async () => {
  browser = await launch()
  ctx = await newPage(browser)
  const { page } = ctx
  await signIn(page, admin)
})
after(async () => {
  await browser?.close()
})

/** The list row whose name cell is exactly `name`. */
const row = (page, name) =>
  page.locator('[data-testid="table-row"]:visible').filter({ has: page.locator('td', { hasText: new RegExp(`^\\s*${name}\\s*$`) }) }).first()
const dialog = (page) => page.getByTestId('automation-dialog')

async function openAccounts(page) {
  await page.goto('/ui/console/accounts')
  await row(page, GOOD).waitFor()
  await row(page, BAD).waitFor()
}

async function finished(page) {
  await dialog(page).getByTestId('automation-summary').filter({ hasText: /^\s*Done:/ }).waitFor({ timeout: 60_000 })
  await dialog(page).locator('[role="progressbar"][aria-valuenow="100"]').waitFor()
  // The bar's width eases in (0.6 s): let it settle for the screenshot.
  await page.waitForTimeout(800)
}

test('Test connectivity on an account of a real sshd target succeeds', async () => {
  const { page, problems } = ctx
  await openAccounts(page)
  await row(page, GOOD).getByTestId('row-automation').click()
  await page.locator('[data-testid="run-test"]:visible').click()
  await dialog(page).waitFor()
  await finished(page)
  const summary = await dialog(page).getByTestId('automation-summary').innerText()
  assert.match(summary, /1 succeeded, 0 failed/)
  await dialog(page).getByTestId('automation-status-success').waitFor()
  assert.match(await dialog(page).getByTestId('automation-result').innerText(), new RegExp(`${GOOD_USER}@linux-1`))
  await screenshot(page, 'automation-test-connectivity.png')
  await dialog(page).getByRole('button', { name: 'Close' }).last().click()
  await dialog(page).waitFor({ state: 'hidden' })
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('Verify on the selection shows each account, the refused secret in words', async () => {
  const { page, problems } = ctx
  await openAccounts(page)
  await row(page, GOOD).locator('.el-checkbox').first().click()
  await row(page, BAD).locator('.el-checkbox').first().click()
  await page.getByTestId('bulk-verify').click()
  await dialog(page).waitFor()
  await finished(page)
  const summary = await dialog(page).getByTestId('automation-summary').innerText()
  assert.match(summary, /1 succeeded, 1 failed/)
  const result = dialog(page).getByTestId('automation-result')
  const good = result.locator('tr', { hasText: `${GOOD_USER}@linux-1` })
  const bad = result.locator('tr', { hasText: `${BAD}@linux-1` })
  assert.match(await good.innerText(), /Succeeded/)
  assert.match(await bad.innerText(), /Failed/)
  assert.match(await bad.innerText(), /refused the secret/)
  await screenshot(page, 'automation-verify.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

/** Opens change secret on the GOOD account's row: the dialog asks for the new secret first. */
async function openChangeSecret(page) {
  await row(page, GOOD).getByTestId('row-automation').click()
  await page.locator('[data-testid="run-change-secret"]:visible').click()
  await dialog(page).getByTestId('automation-secret-form').waitFor()
}

/** Records the change_secret request bodies the page sends. */
function changeSecretPosts(page) {
  const posts = []
  page.on('request', (req) => {
    if (req.method() === 'POST' && /\/automations\/change_secret\/$/.test(req.url())) posts.push(req.postDataJSON())
  })
  return posts
}

async function waitUntil(what, check, ms = 30_000) {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

test('Change secret asks first, then changes it on the host', async () => {
  const { page, problems } = ctx
  await openAccounts(page)
  const posts = changeSecretPosts(page)
  await openChangeSecret(page)
  // Random is the default; nothing runs before the button.
  assert.match(await dialog(page).getByTestId('secret-help').innerText(), /new random secret/)
  assert.equal(await dialog(page).locator('[data-testid="strategy-random"] input').isChecked(), true)
  // Password rules: 24 characters, no symbols.
  await dialog(page).getByTestId('secret-custom-rules').click()
  const length = field(page, 'secret-length')
  await length.fill('24')
  await length.press('Tab')
  await dialog(page).locator('.el-checkbox', { hasText: 'Symbols' }).click()
  await page.waitForTimeout(500) // the dialog's opening animation, for the screenshot
  await screenshot(page, 'automation-change-secret-choice.png')
  assert.equal(posts.length, 0)
  await dialog(page).getByTestId('automation-start').click()
  await finished(page)
  assert.match(await dialog(page).getByTestId('automation-summary').innerText(), /1 succeeded, 0 failed/)
  assert.equal(posts.length, 1)
  assert.deepEqual(Object.keys(posts[0]), ['account', 'password_rules'])
  assert.deepEqual(posts[0].password_rules, { length: 24, lowercase: true, uppercase: true, digit: true, symbol: false })
  await screenshot(page, 'automation-change-secret.png')
  await dialog(page).getByTestId('automation-close').click()
  await dialog(page).waitFor({ state: 'hidden' })
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('Change secret with a specified password: refused when empty or mismatched, then set on the host', async () => {
  const { page, problems } = ctx
  await openAccounts(page)
  const posts = changeSecretPosts(page)
  await openChangeSecret(page)
  await dialog(page).getByTestId('strategy-specific').click()
  const password = field(page, 'secret-password')
  const confirm = field(page, 'secret-confirm')
  await password.waitFor()
  // Empty: refused in words, nothing sent.
  await dialog(page).getByTestId('automation-start').click()
  assert.match(await dialog(page).getByTestId('secret-problem').innerText(), /Enter the new password/)
  // Mismatch: refused in words, nothing sent.
  await password.fill(NEW_PASSWORD)
  await confirm.fill(`${NEW_PASSWORD}x`)
  await dialog(page).getByTestId('automation-start').click()
  assert.match(await dialog(page).getByTestId('secret-problem').innerText(), /The two passwords differ/)
  assert.equal(posts.length, 0)
  // Show / hide.
  assert.equal(await password.getAttribute('type'), 'password')
  const eye = password.locator('xpath=..').locator('.el-input__password')
  await eye.click()
  assert.equal(await password.getAttribute('type'), 'text')
  await eye.click()
  assert.equal(await password.getAttribute('type'), 'password')
  await screenshot(page, 'automation-secret-mismatch.png')

  await confirm.fill(NEW_PASSWORD)
  await dialog(page).getByTestId('automation-start').click()
  await finished(page)
  assert.match(await dialog(page).getByTestId('automation-summary').innerText(), /1 succeeded, 0 failed/)
  assert.equal(posts.length, 1)
  assert.equal(posts[0].secret_strategy, 'specific')
  assert.equal(posts[0].secret, NEW_PASSWORD)
  // The page shows no secret.
  assert.equal((await dialog(page).innerText()).includes(NEW_PASSWORD), false)
  await screenshot(page, 'automation-change-secret-specified.png')
  await dialog(page).getByTestId('automation-close').click()
  await dialog(page).waitFor({ state: 'hidden' })

  // Opened again: the typed secret is gone.
  await openChangeSecret(page)
  await dialog(page).getByTestId('strategy-specific').click()
  assert.equal(await field(page, 'secret-password').inputValue(), '')
  assert.equal(await field(page, 'secret-confirm').inputValue(), '')
  await dialog(page).getByTestId('automation-cancel').click()
  await dialog(page).waitFor({ state: 'hidden' })
  assert.equal(posts.length, 1)
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('Change secret with a specified private key on an SSH-key account', async () => {
  const { page, problems } = ctx
  await openAccounts(page)
  await row(page, KEY_ACCOUNT).waitFor()
  const posts = changeSecretPosts(page)
  await row(page, KEY_ACCOUNT).getByTestId('row-automation').click()
  await page.locator('[data-testid="run-change-secret"]:visible').click()
  await dialog(page).getByTestId('automation-secret-form').waitFor()
  await dialog(page).getByTestId('strategy-specific').click()
  const key = field(page, 'secret-key')
  await key.waitFor()
  // An SSH-key account takes a private key, not a password.
  assert.equal(await dialog(page).locator('[data-testid="secret-password"]').count(), 0)
  await dialog(page).getByTestId('automation-start').click()
  assert.match(await dialog(page).getByTestId('secret-problem').innerText(), /Paste the new private key/)
  await key.fill('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB example')
  await dialog(page).getByTestId('automation-start').click()
  assert.match(await dialog(page).getByTestId('secret-problem').innerText(), /not a private key/)
  await screenshot(page, 'automation-secret-key.png')
  assert.equal(posts.length, 0)
  await key.fill(NEW_KEY)
  await dialog(page).getByTestId('automation-start').click()
  await finished(page)
  assert.match(await dialog(page).getByTestId('automation-summary').innerText(), /1 succeeded, 0 failed/)
  assert.equal(posts.length, 1)
  assert.deepEqual(posts[0].secret_strategy, 'specific')
  assert.equal(posts[0].secret, NEW_KEY)
  await dialog(page).getByTestId('automation-close').click()
  await dialog(page).waitFor({ state: 'hidden' })
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

/**
 * Selects the STOP accounts and starts Verify on them with the first request held back in
 * the browser; answers the count of verify requests sent and a function that sends the held
 * one on to the server.
 */
async function verifyStopAccountsHeld(page) {
  await page.goto('/ui/console/accounts')
  for (const name of STOP) await row(page, name).waitFor()
  for (const name of STOP) await row(page, name).locator('.el-checkbox').first().click()
  const seen = { requests: 0 }
  let held = null
  await page.route('**/api/v1/accounts/accounts/tasks/', (route) => {
    seen.requests += 1
    if (seen.requests === 1) held = route
    else route.continue()
  })
  await page.getByTestId('bulk-verify').click()
  await dialog(page).waitFor()
  await waitUntil('the first verify request', () => held !== null)
  await dialog(page).getByTestId('automation-status-running').waitFor()
  const release = async () => {
    await held.continue()
  }
  return { seen, release }
}

test('Stop after the first account: it finishes, the others are not run', async () => {
  const { page, problems } = ctx
  const { seen, release } = await verifyStopAccountsHeld(page)
  await dialog(page).getByTestId('automation-stop').click()
  const summary = dialog(page).getByTestId('automation-summary')
  await summary.filter({ hasText: /^\s*Stopping:/ }).waitFor()
  await screenshot(page, 'automation-stopping.png')
  await release()
  await summary.filter({ hasText: /^\s*Stopped:/ }).waitFor({ timeout: 60_000 })
  await dialog(page).locator('[data-testid="automation-progress"][data-stopped="true"]').waitFor()
  assert.match(await summary.innerText(), /0 succeeded, 1 failed, 2 not run/)
  const result = dialog(page).getByTestId('automation-result')
  const rows = await result.locator('tbody tr').allInnerTexts()
  assert.equal(rows.length, 3)
  // The account in flight finished with its own result (a wrong secret: refused).
  assert.match(rows[0], /Failed/)
  assert.match(rows[0], /refused the secret/)
  for (const r of rows.slice(1)) assert.match(r, /Not run \(stopped\)/)
  assert.equal(await result.getByTestId('automation-status-stopped').count(), 2)
  assert.match(await dialog(page).getByTestId('automation-progress').innerText(), /Stopped at 33%/)
  // Nothing else is sent afterwards.
  await page.waitForTimeout(1500)
  assert.equal(seen.requests, 1)
  await page.waitForTimeout(800)
  await screenshot(page, 'automation-stopped.png')
  // The stopped dialog can run again or close.
  assert.equal(await dialog(page).getByTestId('automation-again').isEnabled(), true)
  await dialog(page).getByTestId('automation-close').click()
  await dialog(page).waitFor({ state: 'hidden' })
  await page.unroute('**/api/v1/accounts/accounts/tasks/')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('Closing the dialog during a run stops it: no request after the one in flight', async () => {
  const { page, problems } = ctx
  const { seen, release } = await verifyStopAccountsHeld(page)
  await dialog(page).getByTestId('automation-close').click()
  await dialog(page).waitFor({ state: 'hidden' })
  await release()
  await page.waitForTimeout(3000)
  assert.equal(seen.requests, 1)
  await page.unroute('**/api/v1/accounts/accounts/tasks/')

  // A bulk change secret cancelled in the dialog ends the bulk action (selection cleared, the
  // table not left loading).
  await page.goto('/ui/console/accounts')
  await row(page, STOP[0]).waitFor()
  await row(page, STOP[0]).locator('.el-checkbox').first().click()
  await page.getByTestId('bulk-change-secret').click()
  await dialog(page).getByTestId('automation-secret-form').waitFor()
  await dialog(page).getByTestId('automation-cancel').click()
  await dialog(page).waitFor({ state: 'hidden' })
  await row(page, STOP[0]).locator('.el-checkbox.is-checked').waitFor({ state: 'detached', timeout: 10_000 })
  assert.equal(seen.requests, 1)
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})
