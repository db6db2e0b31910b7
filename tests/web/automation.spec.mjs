// Account automations from the console's accounts list in a real browser (run by
// tests/e2e/web_automation.rs, which seeds a real sshd target with the Linux plugin enabled):
// "Test connectivity" on the target's account succeeds and the dialog says so; "Verify" on
// that account and one with a wrong secret, selected together, shows one success and one
// failure with the reason in words; "Change secret" asks first and then succeeds. Screenshots:
// automation-*.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, launch, newPage, screenshot, unexpected, signIn } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const GOOD = env('PC_AUTO_GOOD')
const GOOD_USER = env('PC_AUTO_GOOD_USER')
const BAD = env('PC_AUTO_BAD')
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

test('Change secret asks first, then changes it on the host', async () => {
  const { page, problems } = ctx
  await openAccounts(page)
  await row(page, GOOD).getByTestId('row-automation').click()
  await page.locator('[data-testid="run-change-secret"]:visible').click()
  const box = page.locator('.el-message-box:visible')
  await box.waitFor()
  assert.match(await box.innerText(), /random one/)
  await box.getByRole('button', { name: 'Change secret' }).click()
  await dialog(page).waitFor()
  await finished(page)
  assert.match(await dialog(page).getByTestId('automation-summary').innerText(), /1 succeeded, 0 failed/)
  await screenshot(page, 'automation-change-secret.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})
