// Viewing an account's secret in a real browser (run by tests/e2e/web_gaps.rs): the secret is
// behind a fresh MFA confirmation (the API's 412 step-up). An administrator with an
// authenticator gives a code (a wrong one is refused in the dialog) and sees the secret; one
// without an authenticator is told so and sent to the profile to set one up, instead of being
// asked for a code that cannot exist. Screenshots: secret-stepup*.png, secret-shown.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Authenticator, env, field, launch, newPage, screenshot, unexpected, waitForPath, submitLogin } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const mfaAdmin = { username: env('PC_MFA_ADMIN'), password: env('PC_MFA_ADMIN_PASSWORD') }
const authenticator = new Authenticator(env('PC_MFA_SECRET'), process.env.PC_MFA_LAST_STEP)
const ACCOUNT = env('PC_SECRET_ACCOUNT')
const SECRET = env('PC_SECRET_VALUE')
// Signed-out loads (401), the step-up itself (412), a wrong code (400).
const EXPECTED = [/status of 401/, /status of 412/, /status of 400/]

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

async function password(page, who) {
  await page.goto('/ui/login')
  await submitLogin(page, who)
}

/** Opens the accounts list on the test account and clicks its "view secret". */
async function viewSecret(page) {
  await page.goto(`/ui/console/accounts?q=${encodeURIComponent(ACCOUNT)}`)
  const row = page.locator('[data-testid="table-row"]:visible', { hasText: ACCOUNT }).first()
  await row.waitFor().catch(async (e) => {
    await screenshot(page, 'secret-list-failed.png')
    throw e
  })
  const asked = page.waitForResponse((r) => r.url().includes('/authentication/confirm/?'))
  await row.getByTestId('view-secret').click()
  await page.getByTestId('stepup-dialog').waitFor()
  await asked
}

test('without an authenticator the step-up says so and leads to the profile', async () => {
  const { context, page, problems } = await newPage(browser)
  await password(page, admin)
  await page.getByTestId('app-shell').waitFor()
  await viewSecret(page)
  await page.getByTestId('stepup-unbound').waitFor()
  assert.match(await page.getByTestId('stepup-unbound').innerText(), /no authenticator/)
  assert.equal(await page.locator('[data-testid="stepup-code"]:visible').count(), 0, 'no code to type')
  await screenshot(page, 'secret-stepup-unbound.png')
  await page.getByTestId('stepup-profile').click()
  await waitForPath(page, '/ui/profile')
  await page.getByTestId('mfa-card').waitFor()
  assert.equal(await page.getByTestId('secret-value').count(), 0)
  assert.deepEqual(unexpected(problems, ...EXPECTED), [])
  await context.close()
})

test('with an authenticator a fresh code shows the secret; a wrong one is refused', async () => {
  const { context, page, problems } = await newPage(browser)
  await password(page, mfaAdmin)
  await field(page, 'mfa-code').fill(await authenticator.next())
  await page.getByTestId('mfa-submit').click()
  await page.getByTestId('app-shell').waitFor()

  await viewSecret(page)
  const code = field(page, 'stepup-code')
  await code.waitFor()
  assert.equal(await page.getByTestId('stepup-unbound').count(), 0)
  await screenshot(page, 'secret-stepup.png')
  await code.fill(authenticator.wrong())
  await page.getByTestId('stepup-submit').click()
  await page.getByTestId('stepup-dialog').locator('.el-alert--error').waitFor()
  assert.equal(await page.getByTestId('secret-value').count(), 0)

  await code.fill(await authenticator.next())
  await page.getByTestId('stepup-submit').click()
  const shown = page.locator('[data-testid="secret-value"]:visible')
  await shown.waitFor()
  assert.equal((await shown.innerText()).trim(), SECRET)
  await screenshot(page, 'secret-shown.png')
  assert.deepEqual(unexpected(problems, ...EXPECTED), [])
  await context.close()
})
