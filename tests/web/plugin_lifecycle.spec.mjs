// A plugin's lifecycle on the console's plugin page (run by tests/e2e/web_plugin_lifecycle.rs,
// which then checks every step through the API): 0.1.0 is installed, granted, configured,
// given a secret (never shown back) and enabled; 0.2.0 is uploaded with the Upgrade button
// (grant, configuration and secret carried over), reconfigured and enabled; Roll back enables
// 0.1.0 again with its own configuration and secret; Disable and Enable toggle it; the
// Versions tab lists both and the Invocations tab the `describe` call of each enable.
// The first upload is throttled, so its progress (percentages counting up to 100, then the
// server's checks) is seen and recorded.
// Screenshots: plugin-upload-progress.png (mid-upload),
// plugin-lifecycle-{1-secret,2-upgraded,3-versions,4-rolled-back,5-invocations}.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { env, field, launch, newPage, recordStates, screenshot, signIn, throttleUpload, unexpected, uploadPercents } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const BUNDLE_1 = env('PC_PLUGIN_BUNDLE_1')
const BUNDLE_2 = env('PC_PLUGIN_BUNDLE_2')
const SECRET = env('PC_PLUGIN_SECRET')
const ENDPOINT_1 = env('PC_ENDPOINT_1')
const ENDPOINT_2 = env('PC_ENDPOINT_2')
const SIGNED_OUT = /status of 401/
const DETAIL = /\/ui\/console\/plugins\/([0-9a-f-]{36})$/

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

/** The id of the version the page shows (from its address). */
function shownId(page) {
  return DETAIL.exec(new URL(page.url()).pathname)[1]
}

/** Waits until the page header shows `version` with the status `status`. */
async function shows(page, version, status) {
  await page.locator('.page-header h1 .muted', { hasText: version }).waitFor()
  await page.getByTestId('plugin-detail-status').getByText(status, { exact: true }).waitFor()
}

async function tab(page, name) {
  await page.getByRole('tab', { name }).click()
}

/** The configuration form's endpoint field. */
const endpoint = (page) => page.getByTestId('plugin-config-form').locator('[data-testid="config-endpoint"] input')

/** Fills the endpoint, saves the form and waits for the server's answer to carry it. */
async function saveEndpoint(page, value) {
  await endpoint(page).fill(value)
  const saved = page.waitForResponse((r) => r.request().method() === 'PUT' && /\/api\/v1\/plugins\/plugins\/[0-9a-f-]{36}\/config\/$/.test(new URL(r.url()).pathname))
  await page.getByTestId('plugin-config-form').getByTestId('form-submit').click()
  const answer = await saved
  assert.equal(answer.status(), 200)
  assert.equal((await answer.json()).config.endpoint, value)
}

/** The Secrets tab says `token` is bound, its input is empty and the value is nowhere on the page. */
async function secretBound(page) {
  await tab(page, 'Secrets')
  const row = page.getByTestId('secret-token')
  await row.locator('.el-tag', { hasText: 'Bound' }).waitFor()
  assert.equal(await field(row, 'secret-value').inputValue(), '')
  assert.equal(await field(row, 'secret-value').getAttribute('type'), 'password')
  assert.ok(!(await page.content()).includes(SECRET), 'the secret is on the page')
}

/** Clicks Enable and waits for the page to say Enabled. */
async function enable(page, version) {
  await page.getByTestId('plugin-enable').click()
  await page.getByTestId('plugin-disable').waitFor({ timeout: 120_000 })
  await shows(page, version, 'Enabled')
}

test('a plugin is given a secret, upgraded, rolled back and its calls listed', async () => {
  const { context, page, problems } = await newPage(browser)
  await signIn(page, admin)
  // Every answer of the plugin API, to check none carries the secret.
  const answers = []
  page.on('response', async (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/v1/plugins/')) answers.push(r.text().catch(() => ''))
  })

  // 1. Install 0.1.0, grant, configure, bind the secret, enable.
  await page.goto('/ui/console/plugins')
  await page.getByTestId('resource-table').waitFor()
  const unsigned = page.getByTestId('plugin-allow-unsigned')
  if (!((await unsigned.getAttribute('class')) || '').includes('is-checked')) {
    await unsigned.click()
    await page.locator('.el-message--success').first().waitFor()
  }
  // The upload is paced at a quarter of the bundle per second, so its progress is seen: the
  // bar and its words count up to 100 %, then say the server is checking the bundle, and the
  // installed version opens.
  await page.getByTestId('plugin-upload').click()
  const progress = await recordStates(page, 'plugin-upload-progress')
  const unthrottle = await throttleUpload(page, statSync(BUNDLE_1).size / 4)
  await page.locator('[data-testid="plugin-upload-dialog"] input[type=file]').setInputFiles(BUNDLE_1)
  await page.waitForFunction(() => {
    const bar = document.querySelector('[data-testid="plugin-upload-progress"] [role="progressbar"]')
    const p = Number(bar?.getAttribute('aria-valuenow'))
    return p >= 25 && p <= 75
  })
  await page.waitForTimeout(700) // the bar's width slides to the value in 0.6 s
  await screenshot(page, 'plugin-upload-progress.png')
  await page.waitForURL(DETAIL, { timeout: 120_000 })
  await unthrottle()
  const first = shownId(page)
  await shows(page, '0.1.0', 'Installed')
  const states = await progress.seen()
  const percents = uploadPercents(states, /Uploading… (\d+)%/)
  // The browser sends 16 KiB at a time: the bundle (about 40 KiB) shows at least two steps.
  const between = percents.filter((p) => p > 0 && p < 100)
  assert.ok(between.length >= 2, `upload progress shown step by step: ${JSON.stringify(states)}`)
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), 'the percentage only grows')
  const checking = states.findIndex((s) => s.text.includes('Checking the signature, the manifest and the component') && s.value === 100)
  const lastUpload = states.findLastIndex((s) => /Uploading…/.test(s.text))
  assert.ok(checking > lastUpload && lastUpload >= 0, `the upload reaches 100 % and the server's checks follow: ${JSON.stringify(states)}`)
  assert.equal(states[states.length - 1].text, '', 'the progress is gone once installed')

  await tab(page, 'Capabilities')
  await page.getByTestId('grant-all').click()
  await page.getByTestId('grant-save').click()
  await page.locator('.el-message--success', { hasText: 'Grant saved' }).waitFor()

  await tab(page, 'Configuration')
  await saveEndpoint(page, ENDPOINT_1)

  await tab(page, 'Secrets')
  const row = page.getByTestId('secret-token')
  await row.locator('.el-tag', { hasText: 'Not bound' }).waitFor()
  await field(row, 'secret-value').fill(SECRET)
  const bound = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith(`/api/v1/plugins/plugins/${first}/secrets/`))
  await row.getByTestId('secret-bind').click()
  const answer = await bound
  assert.equal(answer.status(), 200)
  const body = await answer.text()
  assert.ok(!body.includes(SECRET), 'the bind answer carries the secret')
  assert.deepEqual(JSON.parse(body).secrets.bound, ['token'])
  await secretBound(page)
  await enable(page, '0.1.0')
  await tab(page, 'Secrets')
  await screenshot(page, 'plugin-lifecycle-1-secret.png')

  // 2. Upgrade: 0.2.0 is installed next to it, with the grant, configuration and secret.
  await page.getByTestId('plugin-upgrade').click()
  await page.locator('[data-testid="plugin-upload-dialog"] input[type=file]').setInputFiles(BUNDLE_2)
  await page.waitForURL((u) => DETAIL.test(u.pathname) && !u.pathname.endsWith(first), { timeout: 120_000 })
  const second = shownId(page)
  await shows(page, '0.2.0', 'Installed')
  await secretBound(page)
  await tab(page, 'Configuration')
  await page.waitForFunction((v) => document.querySelector('[data-testid="config-endpoint"] input')?.value === v, ENDPOINT_1)
  await saveEndpoint(page, ENDPOINT_2)
  await enable(page, '0.2.0')
  await screenshot(page, 'plugin-lifecycle-2-upgraded.png')

  // The Versions tab lists both: 0.2.0 enabled (this one), 0.1.0 disabled by the enable.
  await tab(page, 'Versions (2)')
  const versions = page.getByTestId('plugin-versions')
  await versions.locator('.el-table__row').nth(1).waitFor()
  const listed = {}
  for (const tr of await versions.locator('.el-table__row').all()) {
    const cells = (await tr.locator('td').allInnerTexts()).map((c) => c.trim())
    listed[cells[0]] = [cells[1], cells[4]]
  }
  assert.deepEqual(listed, { '0.1.0': ['Disabled', 'Open'], '0.2.0': ['Enabled', 'This version'] })
  await screenshot(page, 'plugin-lifecycle-3-versions.png')

  // 3. Roll back: 0.1.0 is enabled again, with its own configuration and its secret.
  await page.getByTestId('plugin-rollback').click()
  await page.locator('.el-message-box', { hasText: 'Enable the previously enabled version instead of 0.2.0?' }).waitFor()
  await page.locator('.el-message-box__btns .el-button--primary').click()
  await page.waitForURL((u) => u.pathname.endsWith(first))
  await page.locator('.el-message--success', { hasText: 'Rolled back to 0.1.0.' }).waitFor()
  await shows(page, '0.1.0', 'Enabled')
  await tab(page, 'Configuration')
  await page.waitForFunction((v) => document.querySelector('[data-testid="config-endpoint"] input')?.value === v, ENDPOINT_1)
  await secretBound(page)
  await tab(page, 'Versions (2)')
  await versions.locator('.el-table__row', { hasText: '0.2.0' }).getByText('Disabled').waitFor()
  await versions.locator('.el-table__row', { hasText: '0.1.0' }).getByText('Enabled').waitFor()
  await screenshot(page, 'plugin-lifecycle-4-rolled-back.png')

  // Disable stops it (Enable is offered again), and Enable brings it back.
  await page.getByTestId('plugin-disable').click()
  await page.getByTestId('plugin-enable').waitFor()
  await shows(page, '0.1.0', 'Disabled')
  await enable(page, '0.1.0')

  // 4. Each enable called the plugin's describe: four calls, of both versions, with logs.
  await tab(page, 'Invocations')
  const invocations = page.getByTestId('plugin-invocations')
  await invocations.getByTestId('invocation-export').nth(3).waitFor()
  const calls = await invocations.locator('.el-table__body > tbody > tr.el-table__row').evaluateAll((trs) => trs.map((tr) => tr.innerText))
  assert.equal(calls.length, 4, calls.join(' | '))
  for (const c of calls) assert.match(c, /describe/)
  assert.equal(calls.filter((c) => c.includes('0.1.0')).length, 3, calls.join(' | '))
  assert.equal(calls.filter((c) => c.includes('0.2.0')).length, 1, calls.join(' | '))
  const outcomes = (await invocations.getByTestId('invocation-outcome-tag').allInnerTexts()).map((t) => t.trim())
  assert.deepEqual(outcomes, ['OK', 'OK', 'OK', 'OK'])
  const detail = page.waitForResponse((r) => /\/api\/v1\/plugins\/misbehave\/invocations\/[0-9a-f-]{36}\/$/.test(new URL(r.url()).pathname))
  await invocations.locator('.el-table__expand-icon').first().click()
  assert.equal((await detail).status(), 200)
  await invocations.getByTestId('invocation-logs').first().getByText(/World |logged nothing/).first().waitFor()
  await screenshot(page, 'plugin-lifecycle-5-invocations.png')

  // The Activity tab lists the changes (the rollback among them) and points to the
  // Invocations tab for the calls, which the server does record.
  await tab(page, 'Activity')
  const activity = page.getByTestId('plugin-activity')
  await activity.locator('.el-table__row', { hasText: 'misbehave@0.1.0' }).first().waitFor()
  const said = await page.locator('.el-tab-pane:visible').innerText()
  assert.match(said, /calls and their logs are on the Invocations tab/)
  assert.doesNotMatch(said, /does not record/)

  // No answer of the plugin API carried the secret's value.
  for (const text of await Promise.all(answers)) assert.ok(!text.includes(SECRET), 'an answer carries the secret')
  assert.ok(answers.length > 10, `${answers.length} plugin answers seen`)
  assert.notEqual(first, second)
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await context.close()
})
