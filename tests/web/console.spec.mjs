// The administrator's console in a real browser (run by tests/e2e/web_console.rs, which then
// checks through the API what the browser made): the user list, a new node in the asset tree,
// a Linux host created in that node through the asset form (ssh on a chosen port, one
// password account), found again with the list search, an asset permission granting a user
// that asset and account with connect/copy, a duplicate asset name refused with the server's
// words, and the language switched to 中文 and back. Screenshots: console-*.png.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { REFUSED, SIGNED_OUT, env, field, screenshot, signedInPage, unexpected, waitForPath } from './support.mjs'

const GRANTEE = env('PC_CON_GRANTEE')
const NODE = env('PC_CON_NODE')
const ASSET = env('PC_CON_ASSET')
const ADDRESS = env('PC_CON_ADDRESS')
const PORT = env('PC_CON_PORT')
const ACCOUNT = env('PC_CON_ACCOUNT')
const SECRET = env('PC_CON_SECRET')
const PERM = env('PC_CON_PERM')
// The first page load asks who is signed in (401 before the login, SIGNED_OUT); the
// duplicate asset name is a refused create (400, REFUSED) the page shows.
const ctx = signedInPage({ ready: (page) => page.getByTestId('app-shell').waitFor() })

/** The visible element of a test id (tables render fixed columns' cells more than once). */
const visible = (page, id) => page.locator(`[data-testid="${id}"]:visible`).first()
/** Visible table rows holding `text`. */
const rowsWith = (page, text) => page.locator('[data-testid="table-row"]:visible', { hasText: text })
/** The open select dropdown's option with exactly this label (or matching a pattern). */
const option = (page, label) =>
  page.locator('.el-select-dropdown__item:visible', { hasText: label instanceof RegExp ? label : new RegExp(`^\\s*${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`) }).first()

/** Types into a searchable select inside a form field and picks the option matching `label`. */
async function pick(page, key, text, label) {
  const select = page.getByTestId(`field-${key}`).locator('.el-select').first()
  await select.click()
  await page.keyboard.type(text)
  await option(page, label).click()
  await page.keyboard.press('Escape')
}

/** Removes the tag `text` from a multiple select field. */
async function untag(page, key, text) {
  const tag = page.getByTestId(`field-${key}`).locator('.el-tag', { hasText: new RegExp(`^\\s*${text.replace(/[@.]/g, '\\$&')}\\s*$`) })
  await tag.locator('.el-tag__close').click()
  await tag.waitFor({ state: 'detached' })
}

/** Searches a list page and waits until it shows exactly the rows matching `text`. */
async function search(page, text) {
  await field(page, 'table-search').fill(text)
  await rowsWith(page, text).first().waitFor()
}

test('the user list shows the seeded user when searched', async () => {
  const { page } = ctx
  await page.goto('/ui/console/users')
  await visible(page, 'table-row').waitFor()
  await search(page, GRANTEE)
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'console-users.png')
})

test('a node is created in the asset tree and selected', async () => {
  const { page } = ctx
  await page.goto('/ui/console/assets')
  const root = page.getByTestId('tree-node').first()
  await root.waitFor()
  await root.getByTestId('tree-node-actions').click()
  await page.getByTestId('tree-new-child').click()
  await page.locator('.el-message-box input').fill(NODE)
  await page.locator('.el-message-box .el-button--primary').click()
  await page.locator('.el-message--success').first().waitFor()
  const node = page.getByTestId('tree-node').filter({ hasText: NODE })
  await node.waitFor()
  await node.locator('.label').click()
  // The page heading names the chosen node.
  await page.locator('.page-header', { hasText: `/ ${NODE}` }).waitFor()
})

test('a Linux host with ssh and an account is created in that node through the asset form', async () => {
  const { page } = ctx
  await page.getByTestId('create-button').click()
  await page.getByTestId('create-host').click()
  await waitForPath(page, '/ui/console/assets/new')
  assert.equal(new URL(page.url()).searchParams.get('category'), 'host')
  // The chosen node is already filled in.
  await page.getByTestId('field-nodes').locator('.el-tag, .el-select__selected-item', { hasText: NODE }).first().waitFor()

  await field(page, 'field-name').fill(ASSET)
  await field(page, 'field-address').fill(ADDRESS)
  // The category's first platform is chosen by default; make it Linux, then wait for the
  // platform's protocols to fill the protocol rows (ssh first: its primary).
  const platform = page.getByTestId('field-platform').locator('.el-select').first()
  const protocols = page.getByTestId('field-protocols')
  await protocols.locator('.el-input-number').first().waitFor()
  if (!/^\s*Linux \(/.test(await platform.innerText())) {
    await platform.click()
    await page.keyboard.type('Linux')
    await Promise.all([
      // A loaded machine (a CI run with builds beside it) once took longer than the default 15 s.
      page.waitForResponse((r) => /\/api\/v1\/assets\/platforms\/\d+\/$/.test(new URL(r.url()).pathname), { timeout: 45_000 }),
      option(page, /^\s*Linux \(/).click(),
    ])
  }
  await page.waitForFunction(() => /^\s*ssh\s*$/.test(document.querySelector('[data-testid="field-protocols"] .el-select')?.textContent ?? ''))
  const port = protocols.locator('.el-input-number input').first()
  await port.fill(PORT)
  await port.press('Tab')
  assert.equal(await port.inputValue(), PORT)

  await page.getByTestId('add-account').click()
  const account = page.getByTestId('field-accounts').locator('.account-row').first()
  await account.locator('input').first().fill(ACCOUNT)
  await account.locator('input[type="password"]').fill(SECRET)
  await screenshot(page, 'console-asset-form.png')

  await page.getByTestId('form-submit').click()
  await page.waitForURL(/\/ui\/console\/assets\/[0-9a-f-]{36}$/)
  await page.locator('.el-message--success').first().waitFor()
  assert.equal(await page.locator('.el-message--error').count(), 0, 'the account was added too')
})

test('the list search finds the new asset in its node', async () => {
  const { page } = ctx
  await page.goto('/ui/console/assets')
  await page.getByTestId('tree-node').filter({ hasText: NODE }).locator('.label').click()
  await page.locator('.page-header', { hasText: `/ ${NODE}` }).waitFor()
  await search(page, ASSET)
  const row = rowsWith(page, ASSET).first()
  assert.match(await row.innerText(), new RegExp(ADDRESS.replace(/\./g, '\\.')))
  assert.match(await row.innerText(), /Linux/)
  // Nothing else matches the search.
  await page.waitForLoadState('networkidle')
  assert.equal(await page.locator('[data-testid="table-row"]:visible').count(), 1)
  await screenshot(page, 'console-assets.png')
})

test('an asset permission grants the user the asset and account with connect and copy', async () => {
  const { page } = ctx
  await page.goto('/ui/console/perms')
  await page.getByTestId('resource-table').waitFor()
  await page.getByTestId('create-button').click()
  await waitForPath(page, '/ui/console/perms/new')
  await field(page, 'field-name').fill(PERM)
  await pick(page, 'users', GRANTEE, new RegExp(`\\(${GRANTEE.replace(/\./g, '\\.')}\\)`))
  await pick(page, 'assets', ASSET, new RegExp(`^\\s*${ASSET}`))
  // Only the account the asset has (not every account), and only connect and copy.
  await untag(page, 'accounts', '@ALL')
  await page.getByTestId('field-accounts').locator('.el-select').first().click()
  await page.keyboard.type(ACCOUNT)
  await option(page, ACCOUNT).click()
  await page.keyboard.press('Escape')
  await page.getByTestId('field-accounts').locator('.el-tag', { hasText: ACCOUNT }).waitFor()
  for (const action of ['upload', 'download', 'paste', 'delete']) await untag(page, 'actions', action)
  await page.getByTestId('form-submit').click()
  await waitForPath(page, '/ui/console/perms')
  await page.locator('.el-message--success').first().waitFor()
  await search(page, PERM)
  await page.waitForLoadState('networkidle')
  assert.match(await rowsWith(page, PERM).first().innerText(), new RegExp(ACCOUNT))
  await screenshot(page, 'console-perms.png')

  // What the browser made, as the API reports it (the Rust side checks it again).
  const perm = await page.evaluate(async (name) => {
    const r = await fetch(`/api/v1/perms/asset-permissions/?search=${encodeURIComponent(name)}`)
    const body = await r.json()
    return (Array.isArray(body) ? body : body.results ?? [])[0] ?? null
  }, PERM)
  assert.ok(perm, 'the permission is listed')
  assert.deepEqual(perm.accounts, [ACCOUNT])
  assert.deepEqual(perm.actions.map((a) => a.value ?? a).sort(), ['connect', 'copy'])
})

test('a duplicate asset name is refused with the server\'s words', async () => {
  const { page, problems } = ctx
  await page.goto('/ui/console/assets/new?category=host')
  await page.getByTestId('field-protocols').locator('.el-input-number').first().waitFor()
  await field(page, 'field-name').fill(ASSET)
  await field(page, 'field-address').fill('10.9.9.9')
  await page.getByTestId('form-submit').click()
  const error = page.locator('.el-message--error').first()
  await error.waitFor()
  assert.match(await error.innerText(), /already exists/)
  // The message is also under the name field, and the page stays on the form.
  assert.match(await page.getByTestId('field-name').locator('.el-form-item__error').innerText(), /already exists/)
  assert.equal(new URL(page.url()).pathname, '/ui/console/assets/new')
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('the language switches to 中文 and back', async () => {
  const { page, problems } = ctx
  await page.goto('/ui/console/assets')
  await page.locator('.page-header h1', { hasText: 'Assets' }).waitFor()
  await page.getByTestId('lang-switch').click()
  await page.getByTestId('lang-zh').click()
  await page.locator('.page-header h1', { hasText: '资产' }).waitFor()
  await page.getByTestId('lang-zh').waitFor({ state: 'hidden' })
  assert.equal(await page.getByTestId('create-button').innerText().then((t) => t.includes('Create')), false)
  await visible(page, 'table-row').waitFor()
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'console-zh.png')
  await page.getByTestId('lang-switch').click()
  await page.getByTestId('lang-en').click()
  await page.locator('.page-header h1', { hasText: 'Assets' }).waitFor()
  // The choice is kept across a reload.
  await page.reload()
  await page.locator('.page-header h1', { hasText: 'Assets' }).waitFor()
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})
