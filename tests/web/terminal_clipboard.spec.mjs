// Web terminal copy/paste per the permission's actions, and resizing, in a real browser (run by
// tests/e2e/web_terminal_clipboard.rs) on a real sshd target: with a permission lacking
// copy/paste, Ctrl+Shift+V sends nothing and Ctrl+Shift+C leaves the clipboard as it was, each
// said in words; with them both work; a smaller window changes the remote size (`stty size`).
// The same again on an insecure origin (`http://bastion.test:PORT`, mapped to 127.0.0.1 by the
// browser's resolver), where the page has no `navigator.clipboard`: copying falls back to
// execCommand and Ctrl+Shift+V lets the browser paste; the clipboard is set and read from a
// second page of the same context on the secure `http://127.0.0.1:PORT` origin.
// Screenshots: clip-*.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { baseURL, env, launch, newPage, screenshot, unexpected, signIn } from './support.mjs'

const user = { username: env('PC_CLIP_USER'), password: env('PC_CLIP_PASSWORD') }
const RO = env('PC_CLIP_RO')
const RW = env('PC_CLIP_RW')
const SIGNED_OUT = /status of 401/

/** A name for the server that is not localhost, so its origin is not a secure context. */
const INSECURE_HOST = 'bastion.test'

let browser
let ctx
before(async () => {
  browser = await launch({ args: [`--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`] })
  ctx = await newPage(browser, { permissions: ['clipboard-read', 'clipboard-write'] })
  ctx.page.on('dialog', (d) => (d.type() === 'beforeunload' ? d.accept() : d.dismiss()))
  await signIn(ctx.page, user)
})
after(async () => {
  await browser?.close()
})

const termHas = (page, text, timeout = 20_000) =>
  page.waitForFunction(
    (text) => {
      const b = document.querySelector('.pc-xterm')?.pcSession?.term.buffer.active
      if (!b) return false
      for (let n = 0; n < b.length; n++) if (b.getLine(n).translateToString(true).includes(text)) return true
      return false
    },
    text,
    { timeout },
  )
const screenText = (page) =>
  page.evaluate(() => {
    const b = document.querySelector('.pc-xterm').pcSession.term.buffer.active
    const out = []
    for (let n = 0; n < b.length; n++) out.push(b.getLine(n).translateToString(true))
    return out.join('\n')
  })
const clipboard = (page) => page.evaluate(() => navigator.clipboard.readText())
/**
 * Polls an async check from here. (`page.waitForFunction` does not await a promise the page
 * function returns: an async predicate would pass at once.)
 */
async function until(check, what, timeout = 10_000) {
  const end = Date.now() + timeout
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
const setClipboard = (page, text) => page.evaluate((t) => navigator.clipboard.writeText(t), text)

async function connect(page, asset) {
  await page.goto('/ui/workbench/assets')
  const row = page.locator('[data-testid="table-row"]:visible').filter({ hasText: asset }).first()
  await row.getByTestId('asset-connect').click()
  await page.getByTestId('connect-terminal').click()
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').first().waitFor({ timeout: 20_000 })
  await page.locator('.pc-xterm').first().click()
}

/** Selects the whole terminal and presses Ctrl+Shift+C. */
async function copyAll(page) {
  await page.evaluate(() => document.querySelector('.pc-xterm').pcSession.term.selectAll())
  await page.keyboard.press('Control+Shift+C')
}

test('without copy and paste the terminal refuses both, in words', async () => {
  const { page, problems } = ctx
  await connect(page, RO)
  await page.keyboard.type('echo copyme-$((2*2))\r')
  await termHas(page, 'copyme-4')
  await setClipboard(page, 'echo pasted-$((3*3))')
  await page.keyboard.press('Control+Shift+V')
  const warning = page.locator('.el-message--warning', { hasText: 'Pasting into this session is not allowed' }).first()
  await warning.waitFor()
  await screenshot(page, 'clip-paste-denied.png')
  // Nothing was sent: Enter runs an empty line, and the marker appears after it.
  await page.keyboard.type('\recho done-$((4*4))\r')
  await termHas(page, 'done-16')
  assert.doesNotMatch(await screenText(page), /pasted-9|echo pasted/)

  await copyAll(page)
  await page.locator('.el-message--warning', { hasText: 'Copying from this session is not allowed' }).first().waitFor()
  assert.equal(await clipboard(page), 'echo pasted-$((3*3))', 'the clipboard is unchanged')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('with copy and paste both work', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await connect(page, RW)
  await setClipboard(page, 'echo pasted-$((3*3))')
  await page.keyboard.press('Control+Shift+V')
  // The paste is asynchronous (the clipboard is read first): Enter once it is on the line.
  await termHas(page, 'echo pasted-$((3*3))')
  await page.keyboard.press('Enter')
  await termHas(page, 'pasted-9')
  await copyAll(page)
  await until(async () => (await clipboard(page)).includes('pasted-9'), 'the copied output on the clipboard')
  await screenshot(page, 'clip-copied.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})

test('a smaller window changes the remote terminal size', async () => {
  const { page } = ctx
  const size = () => page.evaluate(() => {
    const t = document.querySelector('.pc-xterm').pcSession.term
    return [t.rows, t.cols]
  })
  const [rows, cols] = await size()
  await page.keyboard.type('echo size-$(stty size | tr " " x)-end\r')
  await termHas(page, `size-${rows}x${cols}-end`)
  await page.setViewportSize({ width: 900, height: 600 })
  await page.waitForFunction(([r, c]) => {
    const t = document.querySelector('.pc-xterm').pcSession.term
    return t.rows < r && t.cols < c
  }, [rows, cols])
  const [r2, c2] = await size()
  await page.keyboard.type('clear; echo size-$(stty size | tr " " x)-end\r')
  await termHas(page, `size-${r2}x${c2}-end`)
  await screenshot(page, 'clip-resized.png')
})

test('on a plain-http origin (no async clipboard) copy and paste still follow the permission', async () => {
  const secure = new URL(baseURL()).origin
  const port = new URL(secure).port
  const insecure = `http://${INSECURE_HOST}:${port}`
  // The session cookie is per host: sign in on the insecure name itself.
  const bare = await newPage(browser, { baseURL: insecure, permissions: ['clipboard-read', 'clipboard-write'] })
  const { page, problems } = bare
  page.on('dialog', (d) => (d.type() === 'beforeunload' ? d.accept() : d.dismiss()))
  await signIn(page, user)
  assert.deepEqual(
    await page.evaluate(() => [window.isSecureContext, typeof navigator.clipboard]),
    [false, 'undefined'],
    'the bastion name is an insecure context without navigator.clipboard',
  )
  // The clipboard is the browser's: set and read it from the secure origin in the same context.
  const helper = await bare.context.newPage()
  await helper.goto(`${secure}/ui/login`)
  assert.equal(await helper.evaluate(() => window.isSecureContext), true)
  const viaHelper = {
    read: () => helper.evaluate(() => navigator.clipboard.readText()),
    write: (text) => helper.evaluate((t) => navigator.clipboard.writeText(t), text),
  }

  // Without the actions: both refused, in words, even though the browser would do them.
  await connect(page, RO)
  await page.keyboard.type('echo plain-$((5*5))\r')
  await termHas(page, 'plain-25')
  await viaHelper.write('echo plainpaste-$((6*6))')
  await page.keyboard.press('Control+Shift+V')
  await page.locator('.el-message--warning', { hasText: 'Pasting into this session is not allowed' }).first().waitFor()
  await page.keyboard.type('\recho done-$((7*7))\r')
  await termHas(page, 'done-49')
  assert.doesNotMatch(await screenText(page), /plainpaste-36|echo plainpaste/)
  await copyAll(page)
  await page.locator('.el-message--warning', { hasText: 'Copying from this session is not allowed' }).first().waitFor()
  assert.equal(await viaHelper.read(), 'echo plainpaste-$((6*6))', 'the clipboard is unchanged')

  // With them: Ctrl+Shift+V pastes what the clipboard holds and it reaches the target.
  await connect(page, RW)
  await page.keyboard.press('Control+Shift+V')
  await termHas(page, 'echo plainpaste-$((6*6))')
  await page.keyboard.press('Enter')
  await termHas(page, 'plainpaste-36')
  // Ctrl+Shift+C copies the selection (a `copy` command runs with it: execCommand, since there is
  // no async clipboard), the clipboard holds it, no error is shown, and the terminal keeps the
  // keyboard afterwards.
  await page.evaluate(() => {
    window.pcCopied = []
    document.addEventListener('copy', (e) => window.pcCopied.push(String(e.target.value ?? '')), true)
  })
  await copyAll(page)
  await page.waitForFunction(() => window.pcCopied.some((t) => t.includes('plainpaste-36')))
  await until(async () => (await viaHelper.read()).includes('plainpaste-36'), 'the copied output on the clipboard')
  assert.equal(await page.locator('.el-message--error').count(), 0, 'no error message')
  await page.keyboard.type('echo after-$((8*8))\r')
  await termHas(page, 'after-64')
  await screenshot(page, 'clip-insecure.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await bare.context.close()
})
