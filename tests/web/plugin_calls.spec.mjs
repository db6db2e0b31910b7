// A misbehaving plugin's calls on the plugin page (run by tests/e2e/api_plugins.rs after it
// made the plugin spin, crash and run out of memory through automations of the running
// server): the Invocations tab lists each call with its outcome in words, the error of a
// stopped call shows when the row is opened, and the outcome filter narrows the list.
// Screenshot: plugin-invocations.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, launch, newPage, screenshot, unexpected, submitLogin } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const PLUGIN = env('PC_PLUGIN_ID')
const SIGNED_OUT = /status of 401/

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

test('the Invocations tab shows the crashed, stopped and out-of-memory calls with their outcome', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto(`/ui/login?next=${encodeURIComponent(`/ui/console/plugins/${PLUGIN}?tab=invocations`)}`)
  await submitLogin(page, admin)

  const invocations = page.getByTestId('plugin-invocations')
  const tags = invocations.getByTestId('invocation-outcome-tag')
  await tags.nth(3).waitFor()
  const outcomes = (await tags.allInnerTexts()).map((t) => t.trim())
  for (const word of ['Deadline', 'Crashed', 'Memory limit', 'OK']) {
    assert.ok(outcomes.includes(word), `${word} in ${outcomes.join(', ')}`)
  }
  const exports = (await invocations.getByTestId('invocation-export').allInnerTexts()).map((t) => t.trim())
  assert.ok(exports.filter((e) => e === 'ping').length >= 4, exports.join(', '))

  // Only the stopped call, and its reason when opened.
  const filtered = page.waitForResponse((r) => r.url().includes('/invocations/?') && r.url().includes('outcome=deadline'))
  await invocations.getByTestId('invocation-outcome').click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: 'Deadline' }).click()
  assert.equal((await filtered).status(), 200)
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="invocation-outcome-tag"]').length === 1)
  await invocations.locator('.el-table__expand-icon').first().click()
  await invocations.getByTestId('invocation-logs').getByText(/did not finish within 2s/).first().waitFor()
  await screenshot(page, 'plugin-invocations.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await context.close()
})
