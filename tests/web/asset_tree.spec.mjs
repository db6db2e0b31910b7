// The asset page's trees in a real browser (run by tests/e2e/web_asset_tree.rs, which then
// checks through the API what the browser did): a node's assets with and without its
// sub-nodes, a node renamed (the heading follows), an empty node deleted after its
// confirmation, a node holding assets refused in the server's words (and kept), assets moved
// and added to another node with the bulk buttons, and the type tree (category, type)
// filtering the list. Screenshots: tree-*.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, launch, newPage, screenshot, unexpected, signIn } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const TAG = env('PC_TREE_TAG')
const P = `nt-${TAG}-p` // holds A1 and DB; its child C holds A2
const C = `nt-${TAG}-c`
const EMPTY = `nt-${TAG}-empty`
const MOVE = `nt-${TAG}-move`
const OLD = `nt-${TAG}-old`
const NEW = `nt-${TAG}-renamed`
const A1 = `nt-${TAG}-a1`
const A2 = `nt-${TAG}-a2`
const DB = `nt-${TAG}-db`
// The first page load asks who is signed in (401 before the login); a refused node delete
// is a 403 the page shows.
const SIGNED_OUT = /status of 401/
const REFUSED = /status of 403/

let browser
let ctx
before(async () => {
  browser = await launch()
  ctx = await newPage(browser)
  await signIn(ctx.page, admin)
})
after(async () => {
  await browser?.close()
})

const node = (page, name) => page.getByTestId('tree-node').filter({ has: page.locator('.label', { hasText: new RegExp(`^${name}$`) }) })
const rows = (page) => page.locator('[data-testid="table-row"]:visible')
const rowWith = (page, text) => rows(page).filter({ hasText: text }).first()

/** The names of the listed rows, once the list has settled on exactly `expected` (sorted). */
async function listShows(page, expected) {
  const want = [...expected].sort()
  await page.waitForFunction(
    ([want, tag]) => {
      const names = [...document.querySelectorAll('[data-testid="table-row"]')]
        .filter((r) => r.offsetParent !== null)
        .map((r) => r.innerText.match(new RegExp(`nt-${tag}-\\w+`))?.[0] ?? r.innerText)
      const got = [...new Set(names)].sort()
      return JSON.stringify(got) === JSON.stringify(want)
    },
    [want, TAG],
    { timeout: 15_000 },
  ).catch(async (e) => {
    const got = await rows(page).allInnerTexts()
    throw new Error(`the list shows ${JSON.stringify(got)}, not ${JSON.stringify(want)}: ${e.message}`)
  })
}

async function selectNode(page, name) {
  await node(page, name).locator('.label').click()
  await page.locator('.page-header', { hasText: `/ ${name}` }).waitFor()
}

async function nodeMenu(page, name, item) {
  // The actions button shows on hover (or on the current node).
  await node(page, name).hover()
  await node(page, name).getByTestId('tree-node-actions').click()
  await page.getByTestId(item).click()
}

test('a node lists its assets with or without those of its sub-nodes', async () => {
  const { page, problems } = ctx
  await page.goto('/ui/console/assets')
  await selectNode(page, P)
  const all = page.getByTestId('with-descendants')
  assert.equal(await all.locator('input').isChecked(), true, 'sub-nodes are included by default')
  await listShows(page, [A1, A2, DB])
  await screenshot(page, 'tree-with-descendants.png')
  await all.click()
  await listShows(page, [A1, DB])
  assert.equal(await all.locator('input').isChecked(), false)
  await screenshot(page, 'tree-without-descendants.png')
  // The choice is remembered across a reload.
  await page.reload()
  await selectNode(page, P)
  assert.equal(await page.getByTestId('with-descendants').locator('input').isChecked(), false)
  await listShows(page, [A1, DB])
  await page.getByTestId('with-descendants').click()
  await listShows(page, [A1, A2, DB])
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('a node is renamed from its menu and the heading follows', async () => {
  const { page } = ctx
  await selectNode(page, OLD)
  await nodeMenu(page, OLD, 'tree-rename')
  const box = page.locator('.el-message-box')
  assert.equal(await box.locator('input').inputValue(), OLD)
  await box.locator('input').fill(NEW)
  await box.locator('.el-button--primary').click()
  await page.locator('.el-message--success').first().waitFor()
  await node(page, NEW).waitFor()
  assert.equal(await node(page, OLD).count(), 0)
  await page.locator('.page-header', { hasText: `/ ${NEW}` }).waitFor()
  await screenshot(page, 'tree-renamed.png')
})

test('an empty node is deleted after its confirmation; one holding assets is refused in words', async () => {
  const { page, problems } = ctx
  problems.length = 0
  // Cancelled: still there.
  await nodeMenu(page, EMPTY, 'tree-delete')
  const box = page.locator('.el-message-box')
  assert.match(await box.innerText(), new RegExp(`Delete the node “${EMPTY}”\\? It must not contain assets`))
  await screenshot(page, 'tree-delete-confirm.png')
  await box.getByRole('button', { name: 'Cancel' }).click()
  await box.waitFor({ state: 'hidden' })
  await node(page, EMPTY).waitFor()
  // Confirmed while chosen: gone, and the heading no longer names it (the parent is chosen).
  await selectNode(page, EMPTY)
  await nodeMenu(page, EMPTY, 'tree-delete')
  await page.locator('.el-message-box').getByRole('button', { name: 'Delete' }).click()
  await page.locator('.el-message--success').first().waitFor()
  await node(page, EMPTY).waitFor({ state: 'detached' })
  await page.locator('.page-header', { hasText: `/ ${EMPTY}` }).waitFor({ state: 'detached' })

  // P holds assets: the server refuses, the page says why, the node stays.
  await nodeMenu(page, P, 'tree-delete')
  await page.locator('.el-message-box').getByRole('button', { name: 'Delete' }).click()
  const error = page.locator('.el-message--error').first()
  await error.waitFor()
  assert.match(await error.innerText(), /contains assets/)
  await screenshot(page, 'tree-delete-refused.png')
  await page.reload()
  await node(page, P).waitFor()
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('assets are moved and added to another node with the bulk buttons', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await selectNode(page, P)
  await listShows(page, [A1, A2, DB])

  async function toNode(asset, button) {
    await rowWith(page, asset).locator('.el-checkbox').first().click()
    await page.getByTestId('bulk-bar').waitFor()
    await page.getByTestId(button).click()
    const dialog = page.locator('.el-dialog:visible')
    await dialog.locator('.el-select').first().click()
    await page.keyboard.type(MOVE)
    await page.locator('.el-select-dropdown__item:visible', { hasText: `/${MOVE}` }).first().click()
    await screenshot(page, `tree-${button}.png`)
    await dialog.getByTestId('form-submit').click()
    await page.locator('.el-message--success').first().waitFor()
    await dialog.waitFor({ state: 'hidden' })
  }
  // Moved: A1 leaves P.
  await toNode(A1, 'bulk-move-node')
  // The tree reloads its counts and keeps the chosen node (it used to jump to the root).
  await page.locator('.page-header', { hasText: `/ ${P}` }).waitFor()
  await listShows(page, [A2, DB])
  // Added: A2 stays in C (so under P) and is in MOVE too.
  await toNode(A2, 'bulk-add-node')
  await listShows(page, [A2, DB])
  await selectNode(page, MOVE)
  await listShows(page, [A1, A2])
  await screenshot(page, 'tree-moved.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('the type tree filters the list by category and by type', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await page.locator('#tab-types').click()
  const tree = page.getByTestId('type-tree')
  const typeNode = (label) => tree.locator('.el-tree-node__content', { hasText: new RegExp(`^\\s*${label}\\s*$`) }).first()
  await typeNode('Database').waitFor()
  // The asset-node heading and the sub-node switch belong to the node tree.
  assert.equal(await page.getByTestId('with-descendants').count(), 0)
  await typeNode('Database').click()
  await listShows(page, [DB])
  await screenshot(page, 'tree-type-database.png')
  await typeNode('Host').click()
  await listShows(page, [A1, A2])
  // A type: expand Host, pick Linux.
  await typeNode('Host').locator('.el-tree-node__expand-icon').click()
  await typeNode('Linux').click()
  await listShows(page, [A1, A2])
  await typeNode('Database').locator('.el-tree-node__expand-icon').click()
  await typeNode('MySQL').first().click()
  await listShows(page, [DB])
  await screenshot(page, 'tree-type-mysql.png')
  // Back on the asset tree, the node's filter applies again.
  await page.locator('#tab-nodes').click()
  await selectNode(page, MOVE)
  await listShows(page, [A1, A2])
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})
