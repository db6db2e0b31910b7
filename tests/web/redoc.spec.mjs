// The API reference at /api/redoc/ in a real browser: ReDoc starts from files the binary serves
// itself under a strict content security policy (no request leaves the server's origin, no
// script error, no policy violation), loads the OpenAPI document, and renders the operations:
// the apps in the side menu, an operation's summary, the permission it needs and its method
// and path. Screenshot: redoc.png. Run by tests/e2e/web_api_docs.rs (node --test) against a
// running server.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { artifacts, baseURL, launch, newPage } from './support.mjs'

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

test('the ReDoc page renders the operations from local files only', async () => {
  const { context, page, problems } = await newPage(browser)
  const origin = new URL(baseURL()).origin
  const requests = []
  page.on('request', (r) => requests.push(r.url()))

  const answer = await page.goto('/api/redoc/')
  assert.equal(answer.status(), 200)
  assert.match(answer.headers()['content-security-policy'], /script-src 'self'/)

  // The title from the document's info, and the apps (tags) in the side menu.
  await page.locator('h1', { hasText: 'Portcullis API' }).first().waitFor({ timeout: 60000 })
  const menu = page.locator('.menu-content')
  for (const tag of ['users', 'assets', 'accounts', 'perms', 'audits']) {
    await menu.getByText(tag, { exact: true }).first().waitFor()
  }

  // One operation, reached by its link (what the menu's entry points to): its summary as
  // heading, the permission it needs from its description, and its method and path.
  await page.goto('/api/redoc/#tag/users/operation/users_users_list')
  await menu.getByText('List users', { exact: true }).first().waitFor()
  const section = page.locator('[data-section-id="operation/tag/users/operation/users_users_list"], [data-section-id="operation/users_users_list"]').first()
  await section.waitFor()
  assert.match(await section.locator('h2').first().innerText(), /List users/)
  await section.getByText('users.view_user').first().waitFor()
  assert.match(await section.innerText(), /\/api\/v1\/users\/users\//)
  // Hundreds of operations are rendered, not just the first.
  assert.ok(await page.locator('[data-section-id^="operation/"]').count() > 250)
  // The viewport only: the whole page of several hundred operations is too tall to capture.
  await section.scrollIntoViewIfNeeded()
  mkdirSync(artifacts, { recursive: true })
  await page.screenshot({ path: join(artifacts, 'redoc.png') })

  assert.ok(requests.some((u) => u.includes('/api/docs/?format=openapi')), requests.join('\n'))
  assert.deepEqual(
    requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== origin),
    [],
  )
  assert.deepEqual(problems, [])
  await context.close()
})
