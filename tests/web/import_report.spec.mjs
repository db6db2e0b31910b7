// An import with bad rows in a real browser (run by tests/e2e/web_gaps.rs, which checks through
// the API that nothing was saved): the users list's import dialog shows the per-row error report
// (row number in the file, field, the server's words) and saves nothing; the fixed file imports.
// Screenshot: import-report.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, field, launch, newPage, screenshot, unexpected, submitLogin } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const TAG = env('PC_IMPORT_TAG')
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
