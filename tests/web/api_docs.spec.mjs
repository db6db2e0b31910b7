// The interactive API docs at /api/docs/ in a real browser: Swagger UI starts from files the
// binary serves itself (no request leaves the server's origin), loads the OpenAPI document,
// narrows the list to one app with its filter box, shows a known operation's parameters and the
// permission it needs, and
// runs it ("Try it out") with a bearer token set through the page's authorization. Screenshot:
// api-docs.png. Run by tests/e2e/web_api_docs.rs (node --test) against a running server.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { baseURL, env, launch, newPage, screenshot } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

test('the docs page lists, explains and runs operations, loading nothing from elsewhere', async () => {
  const { context, page, problems } = await newPage(browser)
  const origin = new URL(baseURL()).origin
  const requests = []
  page.on('request', (r) => requests.push(r.url()))

  const answer = await page.goto('/api/docs/')
  assert.equal(answer.status(), 200)
  assert.match(answer.headers()['content-type'], /^text\/html/)
  // Swagger UI's id for a tag: operations-tag-<tag>; for an operation: operations-<tag>-<id>.
  await page.locator('#operations-tag-accounts').waitFor()
  assert.match(await page.locator('.info .title').innerText(), /Portcullis API/)

  // The filter box keeps the users app only.
  await page.locator('.operation-filter-input').fill('users')
  const list = page.locator('#operations-users-users_users_list')
  await list.waitFor()
  assert.equal(await page.locator('#operations-tag-accounts').count(), 0)
  await list.locator('.opblock-summary').first().click()
  await list.locator('.parameters-container').getByText('limit', { exact: true }).waitFor()
  // The operation says which permission it needs (x-permissions, in its description).
  await list.locator('.opblock-description-wrapper').getByText('users.view_user').first().waitFor()

  // Authorized with a bearer token from the login endpoint, "Try it out" lists the users.
  const login = await fetch(`${origin}/api/v1/authentication/auth/`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(admin),
  })
  assert.equal(login.status, 201)
  const { token } = await login.json()
  await page.evaluate((t) => window.ui.preauthorizeApiKey('Bearer', t), token)
  await list.getByRole('button', { name: 'Try it out' }).click()
  await list.locator('tr[data-param-name="limit"] input').fill('5')
  await list.getByRole('button', { name: 'Execute' }).click()
  const status = list.locator('.live-responses-table tr.response .response-col_status').first()
  await status.waitFor()
  assert.equal((await status.innerText()).trim(), '200')
  await list.locator('.live-responses-table .response-col_description').getByText(`"username": "${admin.username}"`).first().waitFor()
  await screenshot(page, 'api-docs.png')

  assert.ok(requests.some((u) => u.includes('/api/docs/?format=openapi')), requests.join('\n'))
  assert.ok(requests.some((u) => u.includes('/api/v1/users/users/?limit=5')), requests.join('\n'))
  assert.deepEqual(requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== origin), [])
  assert.deepEqual(problems, [])
  await context.close()
})
