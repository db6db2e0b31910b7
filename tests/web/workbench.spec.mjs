// The workbench in a real browser (run by tests/e2e/web_workbench.rs against a server with a
// real sshd target): my assets with a favorite, the connect dialog with the native SSH
// command, the web terminal running a command, resuming after its socket drops, split panes
// (up to four, each its own connection, no fifth, one closed) and Alt+Left/Right between
// tabs, and the file manager: upload with progress, download of the same bytes, mkdir,
// rename, delete, and a file over the size limit refused before it is sent. Screenshots:
// workbench-*.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { env, launch, newPage, screenshot, unexpected, signIn } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const ASSET = env('PC_WB_ASSET')
const ACCOUNT = env('PC_WB_ACCOUNT')
const TAG = env('PC_WB_TAG')
const UPLOAD = env('PC_WB_UPLOAD')
const TOO_BIG = env('PC_WB_TOO_BIG')
// The first page load asks who is signed in (401 before the login).
const SIGNED_OUT = /status of 401/

let browser
let ctx
before(async () => {
  browser = await launch()
  ctx = await newPage(browser, { acceptDownloads: true })
  const { page } = ctx
  await signIn(page, admin)
})
after(async () => {
  await browser?.close()
})

/** Client-side navigation through the sidebar: open terminals live in the page. */
const menu = (page, name) => page.getByRole('menuitem', { name }).click()

/** The text of the n-th terminal's buffer (scrollback included). */
const terminalText = (page, n) =>
  page.evaluate((n) => {
    const s = document.querySelectorAll('.pc-xterm')[n].pcSession
    const b = s.term.buffer.active
    const out = []
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true))
    return out.join('\n')
  }, n)

/** Index (in document order) of the terminal currently shown. */
const shownTerminal = (page) => page.evaluate(() => [...document.querySelectorAll('.pc-xterm')].findIndex((e) => e.offsetParent))

const waitForText = (page, n, text) =>
  page.waitForFunction(
    ([n, text]) => {
      const s = document.querySelectorAll('.pc-xterm')[n]?.pcSession
      if (!s) return false
      const b = s.term.buffer.active
      for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).includes(text)) return true
      return false
    },
    [n, text],
    { timeout: 20_000 },
  )

const assetRow = (page) => page.locator('[data-testid="table-row"]:visible').filter({ hasText: ASSET }).first()

async function openConnect(page) {
  await menu(page, 'My assets')
  await assetRow(page).waitFor()
  await assetRow(page).getByTestId('asset-connect').click()
  await page.getByTestId('connect-terminal').waitFor()
}

test('my assets lists the permitted asset, keeps a favorite on the server and shows the native SSH command', async () => {
  const { page } = ctx
  await page.goto('/ui/workbench/assets')
  await assetRow(page).waitFor()
  await page.getByTestId('asset-tree').getByText('Default').waitFor()
  await assetRow(page).getByTestId('asset-favorite').click()
  await assetRow(page).locator('[data-testid="asset-favorite"].on').waitFor()
  // Favorites live on the server: after a reload the bookmark is still there.
  await page.reload()
  await assetRow(page).locator('[data-testid="asset-favorite"].on').waitFor()
  await page.getByTestId('scope-favorites').click()
  await page.locator('.el-table__row:visible').filter({ hasText: ASSET }).first().waitFor()
  await page.getByTestId('scope-all').click()
  await assetRow(page).waitFor()
  await screenshot(page, 'workbench-assets.png')

  await assetRow(page).getByTestId('asset-connect').click()
  await page.getByTestId('connect-native').click()
  const direct = await page.getByTestId('ssh-direct').innerText()
  assert.match(direct, new RegExp(`^ssh (-p \\d+ )?${admin.username}@${ACCOUNT}@127\\.0\\.0\\.1@`))
  await page.getByTestId('ssh-token-create').click()
  assert.match(await page.getByTestId('ssh-token-command').innerText(), /JMS-[0-9a-f-]{36}@/)
  assert.notEqual((await page.getByTestId('ssh-token-password').innerText()).trim(), '')
  await screenshot(page, 'workbench-connect.png')
  await page.keyboard.press('Escape')
})

test('the web terminal runs a command, resumes the same session after its socket drops, splits and switches tabs', async () => {
  const { page } = ctx
  await openConnect(page)
  await page.getByTestId('connect-terminal').click()
  await page.waitForURL((u) => u.pathname === '/ui/workbench/terminal')
  const pane = page.locator('[data-testid="terminal-pane"]').first()
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').first().waitFor({ timeout: 20_000 })
  await page.keyboard.type(`echo wb-${TAG}-$((6*7))\n`)
  await waitForText(page, 0, `wb-${TAG}-42`)
  await screenshot(page, 'workbench-terminal.png')

  // The socket drops without a `closed`: the pane says it is reconnecting, then the same
  // session comes back with its screen redrawn and takes input again.
  const session = await pane.getAttribute('data-session')
  assert.match(session, /^[0-9a-f-]{36}$/)
  await page.evaluate(() => document.querySelector('.pc-xterm').pcSession.dropConnection())
  await page.locator('[data-testid="terminal-pane"][data-state="reconnecting"]').first().waitFor()
  await page.getByTestId('terminal-reconnecting').waitFor()
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').first().waitFor({ timeout: 20_000 })
  assert.equal(await pane.getAttribute('data-session'), session, 'the same session resumed')
  await waitForText(page, 0, `wb-${TAG}-42`)
  await page.keyboard.type(`echo again-$((2+3))\n`)
  await waitForText(page, 0, 'again-5')

  // Leaving the page keeps the connection.
  await menu(page, 'My assets')
  await menu(page, 'Web terminal')
  assert.equal(await pane.getAttribute('data-state'), 'connected')

  // A split pane is a second connection to the same account.
  await page.getByTestId('terminal-split').click()
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').nth(1).waitFor({ timeout: 20_000 })
  await page.keyboard.type('echo pane-two\n')
  await waitForText(page, 1, 'pane-two')
  await screenshot(page, 'workbench-split.png')

  // A second tab, then Alt+Left / Alt+Right between the tabs.
  await openConnect(page)
  await page.getByTestId('connect-terminal').click()
  await page.locator('[data-testid="terminal-tab"]').nth(1).waitFor()
  const current = () => page.evaluate(() => [...document.querySelectorAll('[data-testid="terminal-tab"]')].findIndex((e) => e.classList.contains('current')))
  assert.equal(await current(), 1)
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]:visible').first().waitFor({ timeout: 20_000 })
  await page.keyboard.press('Alt+ArrowLeft')
  assert.equal(await current(), 0)
  await page.keyboard.press('Alt+ArrowRight')
  assert.equal(await current(), 1)
  const n = await shownTerminal(page)
  await page.keyboard.type('echo tab-two\n')
  await waitForText(page, n, 'tab-two')
})

test('a tab splits into at most four panes, each its own live connection, and a pane closes', async () => {
  const { page } = ctx
  await openConnect(page)
  await page.getByTestId('connect-terminal').click()
  await page.waitForURL((u) => u.pathname === '/ui/workbench/terminal')
  // The panes of the tab shown (the other tabs' grids are hidden).
  const panes = page.locator('[data-testid="terminal-pane"]:visible')
  const live = page.locator('[data-testid="terminal-pane"][data-state="connected"]:visible')
  const split = page.getByTestId('terminal-split')
  /** The buffer of the j-th shown terminal. */
  const shownText = (j) =>
    page.evaluate((j) => {
      const s = [...document.querySelectorAll('.pc-xterm')].filter((e) => e.offsetParent)[j].pcSession
      const b = s.term.buffer.active
      const out = []
      for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true))
      return out.join('\n')
    }, j)
  const waitShown = (j, text) =>
    page.waitForFunction(
      ([j, text]) => {
        const s = [...document.querySelectorAll('.pc-xterm')].filter((e) => e.offsetParent)[j]?.pcSession
        if (!s) return false
        const b = s.term.buffer.active
        for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).includes(text)) return true
        return false
      },
      [j, text],
      { timeout: 20_000 },
    )
  // What pane j prints: the typed line holds `$((…))`, only the shell's output the number.
  const marker = (j) => `quad${j}-${TAG}-${(j + 1) * 111}`
  const command = (j) => `echo quad${j}-${TAG}-$((${j + 1}*111))\n`

  await live.first().waitFor({ timeout: 20_000 })
  assert.equal(await panes.count(), 1)
  await page.keyboard.type(command(0))
  await waitShown(0, marker(0))
  // Each split opens a new connection in a new, focused pane.
  for (let j = 1; j < 4; j++) {
    assert.equal(await split.isEnabled(), true, `split enabled with ${j} panes`)
    await split.click()
    await live.nth(j).waitFor({ timeout: 20_000 })
    await page.keyboard.type(command(j))
    await waitShown(j, marker(j))
  }
  assert.equal(await panes.count(), 4)
  assert.equal(await live.count(), 4)
  const sessions = await panes.evaluateAll((es) => es.map((e) => e.dataset.session))
  assert.equal(new Set(sessions).size, 4, `four distinct sessions: ${sessions}`)
  // Each command's output is in its own pane only.
  for (let j = 0; j < 4; j++) {
    const text = await shownText(j)
    for (let k = 0; k < 4; k++) assert.equal(text.includes(marker(k)), j === k, `pane ${j} shows ${marker(k)}: ${j === k}`)
  }

  // No fifth pane: the split button is disabled and says why.
  assert.equal(await split.isDisabled(), true)
  assert.equal(await split.getAttribute('title'), 'At most four panes in a tab')
  await split.click({ force: true })
  assert.equal(await panes.count(), 4)
  await screenshot(page, 'workbench-four-panes.png')

  // Closing the second pane leaves the other three connected with their screens, and the
  // split is possible again.
  await panes.nth(1).getByRole('button', { name: 'Close pane' }).click()
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="terminal-pane"]')].filter((e) => e.offsetParent).length === 3)
  assert.deepEqual(await panes.evaluateAll((es) => es.map((e) => e.dataset.session)), [sessions[0], sessions[2], sessions[3]])
  assert.equal(await live.count(), 3)
  for (const [j, k] of [[0, 0], [1, 2], [2, 3]]) assert.ok((await shownText(j)).includes(marker(k)), `pane ${k} kept its screen`)
  assert.equal(await split.isEnabled(), true)
  assert.equal(await split.getAttribute('title'), '')
})

test('the file manager uploads with progress, downloads the same bytes, makes, renames and deletes, and refuses a file over the limit before sending it', async () => {
  const { page, problems } = ctx
  await openConnect(page)
  await page.getByTestId('connect-files').click()
  await page.waitForURL((u) => u.pathname === '/ui/workbench/files')
  const fm = page.getByTestId('file-manager')
  await fm.waitFor()
  await page.getByTestId('fm-upload').waitFor({ timeout: 20_000 })
  const name = UPLOAD.split('/').pop()
  const entry = (n) => page.locator(`[data-testid="fm-entry"][data-name="${n}"]`)

  await page.getByTestId('fm-upload-input').setInputFiles(UPLOAD)
  await page.getByTestId('fm-progress').first().waitFor()
  await entry(name).waitFor({ timeout: 30_000 })
  await screenshot(page, 'workbench-files.png')

  const row = page.locator('.el-table__row:visible', { has: entry(name) }).first()
  const [download] = await Promise.all([page.waitForEvent('download'), row.getByTestId('fm-download').click()])
  assert.ok(readFileSync(await download.path()).equals(readFileSync(UPLOAD)), 'the download is the uploaded bytes')

  // Directories come first.
  await page.getByTestId('fm-mkdir').click()
  await page.locator('.el-message-box input').fill(`dir-${TAG}`)
  await page.locator('.el-message-box .el-button--primary').click()
  await entry(`dir-${TAG}`).waitFor()
  const names = await page.locator('[data-testid="fm-entry"]').evaluateAll((es) => es.map((e) => e.dataset.dir))
  assert.deepEqual(names, [...names].sort().reverse(), 'directories first')

  await row.getByTestId('fm-rename').click()
  await page.locator('.el-message-box input').fill(`renamed-${name}`)
  await page.locator('.el-message-box .el-button--primary').click()
  await entry(`renamed-${name}`).waitFor()
  assert.equal(await entry(name).count(), 0)

  for (const n of [`renamed-${name}`, `dir-${TAG}`]) {
    await page.locator('.el-table__row:visible', { has: entry(n) }).first().getByTestId('fm-delete').click()
    await page.locator('.el-message-box .el-button--primary').click()
    await entry(n).waitFor({ state: 'detached' })
  }

  // Over the limit: refused with a message, and no upload request leaves the browser.
  const uploads = []
  page.on('request', (r) => r.url().includes('/upload/') && uploads.push(r.url()))
  await page.getByTestId('fm-upload-input').setInputFiles(TOO_BIG)
  const message = page.locator('.el-message--error').filter({ hasText: TOO_BIG.split('/').pop() })
  await message.waitFor()
  assert.match(await message.innerText(), /cannot be uploaded/)
  assert.deepEqual(uploads, [])
  await screenshot(page, 'workbench-files-too-large.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})
