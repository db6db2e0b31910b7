// An import with bad rows in a real browser (run by tests/e2e/web_gaps.rs, which checks through
// the API that nothing was saved): the users list's import dialog shows the per-row error report
// (row number in the file, field, the server's words) and saves nothing; the fixed file imports.
// A file of a few thousand rows, uploaded over a throttled link, shows its progress: the bar
// and its words count up to 100 %, then say the rows are being checked and saved, then the
// report of its one bad row (nothing saved); fixed and cut to its first rows, those import
// and the dialog says how many.
// Screenshots: import-report.png, import-progress.png (mid-upload), import-large-report.png,
// import-large-done.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, launch, newPage, recordStates, screenshot, throttleUpload, unexpected, submitLogin, uploadPercents } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const TAG = env('PC_IMPORT_TAG')
const BULK_TAG = env('PC_BULK_TAG')
const BULK = Number(env('PC_BULK_ROWS'))
// Signed-out loads (401), the refused import (400).
const EXPECTED = [/status of 401/, /status of 400/]

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

const csv = (lines) => ({ name: `users-${TAG}.csv`, mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n') + '\n') })

test('an import with bad rows shows each row\'s error and saves nothing; the fixed file imports', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto('/ui/login?next=/ui/console/users')
  await submitLogin(page, admin)
  await page.getByTestId('resource-table').waitFor()

  await page.getByTestId('import-button').click()
  const dialog = page.getByTestId('import-dialog')
  await dialog.locator('input[type=file]').setInputFiles(
    csv([
      'Name*,Username*,Email*',
      `Good ${TAG},good${TAG},good${TAG}@example.com`,
      `Bad Mail ${TAG},bad${TAG},not-an-email`,
      `Twin ${TAG},good${TAG},twin${TAG}@example.com`,
    ]),
  )
  const report = dialog.getByTestId('import-report')
  await report.waitFor()
  assert.match(await dialog.getByTestId('import-error').innerText(), /Nothing was imported: 2 rows have errors/)
  const rows = (await report.locator('.el-table__body tr').allInnerTexts()).map((r) => r.split('\t').map((c) => c.trim()))
  assert.equal(rows.length, 2, JSON.stringify(rows))
  assert.deepEqual([rows[0][0], rows[0][1]], ['3', 'email'], JSON.stringify(rows))
  assert.deepEqual([rows[1][0], rows[1][1]], ['4', 'username'], JSON.stringify(rows))
  assert.notEqual(rows[0][2], '')
  await screenshot(page, 'import-report.png')
  const none = await page.request.get(`/api/v1/users/users/?search=${TAG}`)
  assert.deepEqual(await none.json(), [], 'nothing saved')

  // Fixed: the good row alone.
  await dialog.locator('input[type=file]').setInputFiles(csv(['Name*,Username*,Email*', `Good ${TAG},good${TAG},good${TAG}@example.com`]))
  await page.locator('.el-message--success').first().waitFor()
  assert.equal(await dialog.getByTestId('import-error').count(), 0)
  assert.deepEqual(unexpected(problems, ...EXPECTED), [])
  await context.close()
})

/**
 * Imports `file` through the open dialog with the upload paced at a third of the file per
 * second, and returns the states the dialog's progress went through (checked here: the
 * percentage counts up in at least `steps` steps between 0 and 100 — the browser sends 16 KiB
 * at a time —, reaches 100 %, then the processing words show, and the progress is gone at the
 * end). `settled` waits for the outcome; a screenshot `shot` is taken mid-upload.
 */
async function importWithProgress(page, dialog, file, settled, { steps, shot }) {
  const progress = await recordStates(page, 'import-progress')
  const unthrottle = await throttleUpload(page, file.buffer.length / 3)
  await dialog.locator('input[type=file]').setInputFiles(file)
  if (shot) {
    await page.waitForFunction(() => {
      const p = Number(document.querySelector('[data-testid="import-progress"] [role="progressbar"]')?.getAttribute('aria-valuenow'))
      return p >= 25 && p <= 75
    })
    await page.waitForTimeout(700) // the bar's width slides to the value in 0.6 s
    await screenshot(page, shot)
  }
  await settled()
  await unthrottle()
  const states = await progress.seen()
  const all = JSON.stringify(states)
  const percents = uploadPercents(states, /Uploading… (\d+)%/)
  assert.ok(percents.filter((p) => p > 0 && p < 100).length >= steps, `upload progress shown step by step: ${all}`)
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), `the percentage only grows: ${all}`)
  const lastUpload = states.findLastIndex((s) => /Uploading…/.test(s.text))
  const processing = states.findIndex((s) => s.text.includes('Checking and saving the rows…') && s.value === 100)
  assert.ok(lastUpload >= 0 && processing > lastUpload, `the upload reaches 100 % and the processing follows: ${all}`)
  assert.equal(states[states.length - 1].text, '', `the progress is gone at the end: ${all}`)
  return states
}

test('a large import shows its progress, then its bad row\'s error; fixed, its rows import', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto('/ui/login?next=/ui/console/users')
  await submitLogin(page, admin)
  await page.getByTestId('resource-table').waitFor()
  await page.getByTestId('import-button').click()
  const dialog = page.getByTestId('import-dialog')

  const lines = ['Name*,Username*,Email*']
  for (let i = 0; i < BULK; i++) lines.push(`Bulk ${i} ${BULK_TAG},bulk${i}x${BULK_TAG},bulk${i}x${BULK_TAG}@example.com`)
  // One bad row in the middle: row numbers count the header as row 1.
  const bad = Math.floor(BULK / 2)
  const broken = [...lines]
  broken[bad] = `Bulk bad ${BULK_TAG},bulkbad${BULK_TAG},no-at-sign-${BULK_TAG}`
  const file = (ls) => ({ name: `bulk-${BULK_TAG}.csv`, mimeType: 'text/csv', buffer: Buffer.from(ls.join('\n') + '\n') })

  const report = dialog.getByTestId('import-report')
  await importWithProgress(page, dialog, file(broken), () => report.waitFor({ timeout: 120_000 }), { steps: 3, shot: 'import-progress.png' })
  assert.match(await dialog.getByTestId('import-error').innerText(), /Nothing was imported: one row has an error/)
  const rows = (await report.locator('.el-table__body tr').allInnerTexts()).map((r) => r.split('\t').map((c) => c.trim()))
  assert.deepEqual(rows, [[String(bad + 1), 'email', 'Enter a valid email address.']])
  await screenshot(page, 'import-large-report.png')

  // Fixed and cut to its first KEPT rows, the file imports, again through the upload's 0 %
  // and the processing words. (The server hashes a password for each new user: about a second a
  // user on a debug build, so all the rows would take most of an hour here. One 16 KiB step
  // holds the whole file, so no step between 0 and 100 % is required.)
  const done = dialog.getByTestId('import-done')
  const kept = Number(env('PC_BULK_KEPT'))
  await importWithProgress(page, dialog, file(lines.slice(0, kept + 1)), () => done.waitFor({ timeout: 180_000 }), { steps: 0 })
  assert.equal((await done.innerText()).trim(), `Imported ${kept} rows.`)
  assert.equal(await dialog.getByTestId('import-report').count(), 0)
  await screenshot(page, 'import-large-done.png')
  assert.deepEqual(unexpected(problems, ...EXPECTED), [])
  await context.close()
})
