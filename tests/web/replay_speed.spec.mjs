// Replay speed in a real browser (run by tests/e2e/web_replay_speed.rs): a web terminal
// session to a real sshd target prints tick-1 … tick-6 a second apart and ends; its replay
// plays those five seconds in about five at 1× and in well under half that at 4×, a speed
// changed while playing applies without stopping the replay, and a search match still seeks
// the player (the screen shows tick-3, not yet tick-4).
// Screenshots: replay-speed-*.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, field, launch, newPage, screenshot, unexpected, signIn } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const TARGET = env('PC_REPLAY_TARGET')
const SIGNED_OUT = /status of 401/

let browser
let ctx
before(async () => {
  browser = await launch()
  ctx = await newPage(browser)
  ctx.page.on('dialog', (d) => (d.type() === 'beforeunload' ? d.accept() : d.dismiss()))
  await signIn(ctx.page, admin)
})
after(async () => {
  await browser?.close()
})

const termHas = (page, text) =>
  page.waitForFunction(
    (text) => {
      const b = document.querySelector('.pc-xterm')?.pcSession?.term.buffer.active
      if (!b) return false
      for (let n = 0; n < b.length; n++) if (b.getLine(n).translateToString(true).includes(text)) return true
      return false
    },
    text,
    { timeout: 30_000 },
  )
const playerHas = (page, text, timeout = 30_000) =>
  page.waitForFunction((t) => document.querySelector('[data-testid="replay-player"]')?.textContent?.includes(t), text, { timeout })

let sessionId = ''

test('a web terminal session prints six ticks a second apart and ends', async () => {
  const { page } = ctx
  await page.goto('/ui/workbench/assets')
  const row = page.locator('[data-testid="table-row"]:visible').filter({ hasText: TARGET }).first()
  await row.getByTestId('asset-connect').click()
  await page.getByTestId('connect-terminal').click()
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').first().waitFor({ timeout: 20_000 })
  await page.locator('.pc-xterm').first().click()
  await page.keyboard.type('for i in 1 2 3 4 5 6; do echo tick-$i; sleep 1; done; echo all-$((6*7))\r')
  await termHas(page, 'all-42')
  sessionId = await page.evaluate(() => document.querySelector('.pc-xterm').pcSession.view.sessionId)
  assert.match(sessionId, /^[0-9a-f-]{36}$/)
  await page.keyboard.type('exit\r')
  await page.getByTestId('terminal-closed').first().waitFor({ timeout: 20_000 })
})

/** Opens the replay at `speed`, plays it and returns the seconds from tick-1 to tick-6. */
async function playAt(page, speed) {
  await page.goto(`/ui/audit/sessions/${sessionId}/replay`)
  const player = page.getByTestId('replay-player')
  await player.locator('.ap-player').first().waitFor()
  if (speed !== 1) {
    await page.getByTestId('replay-speed').click()
    await page.locator('.el-select-dropdown__item:visible', { hasText: new RegExp(`^\\s*${speed}×\\s*$`) }).click()
    await player.locator('.ap-player').first().waitFor()
  }
  await player.locator('.ap-playback-button').first().click()
  await playerHas(page, 'tick-1')
  const start = Date.now()
  await playerHas(page, 'tick-6')
  const took = (Date.now() - start) / 1000
  await playerHas(page, 'all-42')
  await screenshot(page, `replay-speed-${speed}x.png`)
  return took
}

test('the replay plays faster at 4× than at 1×, and search still seeks', async () => {
  const { page, problems } = ctx
  problems.length = 0
  const normal = await playAt(page, 1)
  const fast = await playAt(page, 4)
  console.log(`tick-1 to tick-6: ${normal.toFixed(2)} s at 1×, ${fast.toFixed(2)} s at 4×`)
  assert.ok(normal > 3.5, `1× took ${normal} s for five recorded seconds`)
  assert.ok(fast < normal / 2, `4× took ${fast} s, 1× ${normal} s`)

  // Changed while playing, the speed applies and the replay goes on (it used to stop).
  await page.goto(`/ui/audit/sessions/${sessionId}/replay`)
  const player = page.getByTestId('replay-player')
  await player.locator('.ap-playback-button').first().click()
  await playerHas(page, 'tick-1')
  await page.getByTestId('replay-speed').click()
  await page.locator('.el-select-dropdown__item:visible', { hasText: /^\s*8×\s*$/ }).click()
  await playerHas(page, 'all-42', 10_000)

  // Seek by a search match: the screen at tick-3, before tick-4 was printed.
  await field(page, 'replay-search').fill('tick-3')
  const match = page.locator('[data-testid="replay-match"]:visible').first()
  await match.waitFor()
  await match.click()
  await page.waitForFunction(() => {
    const t = document.querySelector('[data-testid="replay-player"]')?.textContent ?? ''
    return t.includes('tick-3') && !t.includes('tick-4')
  })
  await screenshot(page, 'replay-speed-seek.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
})
