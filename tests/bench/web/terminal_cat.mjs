// The web terminal under bulk output, timed in a real browser (run by
// tests/bench/web/terminal_cat.sh, which sets up the target, the server and the file): headless
// chromium signs in, opens the workbench's web terminal to the asset and, for each round, types
// `clear; cat FILE; echo END-<n>` (the marker is computed by the shell, so the typed command
// line never matches it) and measures, on the page's own clock:
//
//   total_ms     the Enter keydown → the marker line in the terminal's buffer (checked on every
//                animation frame, so a busy page sees it late, as a user would)
//   mib_s        the file's size / total_ms
//   max_frame_gap_ms  the longest gap between two animation frames during the cat: the longest
//                time the tab could not paint
//   longtasks    'longtask' entries (main-thread tasks over 50 ms): count, longest, sum
//   input_delay  mouse moves sent from playwright every 100 ms over the terminal during the cat:
//                event handler start − the event's timeStamp (how long input waited for the
//                main thread), max and median
//   max_backlog_kib  the most output received and not yet parsed by xterm (the page's
//                OutputQueue, sampled every frame): large means the browser, not the server,
//                sets the pace
//   eval_rtt     round trip of a trivial page.evaluate() from node every 100 ms (max, median)
//
// Environment: PC_BASE_URL, PC_USER, PC_PASSWORD, PC_ASSET, BENCH_FILE, BENCH_ROUNDS.
// Prints one JSON object on stdout.

import { statSync } from 'node:fs'
import { launch, newPage, signIn, unexpected } from '../../web/support.mjs'

const need = (n) => {
  const v = process.env[n]
  if (!v) throw new Error(`${n} is not set (run tests/bench/web/terminal_cat.sh)`)
  return v
}
const USER = { username: need('PC_USER'), password: need('PC_PASSWORD') }
const ASSET = need('PC_ASSET')
const FILE = need('BENCH_FILE')
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3)
const BYTES = statSync(FILE).size
const log = (...a) => console.error('--', ...a)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const median = (a) => {
  if (!a.length) return null
  const s = [...a].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** In the page: arms the monitors for one round; the Enter keydown starts the clock. */
function arm(marker) {
  const session = document.querySelector('.pc-xterm').pcSession
  const term = session.term
  const r = (window.__pcCat = { marker, frames: 0, maxGap: 0, maxBacklog: 0, longtasks: [], inputDelays: [], done: false })
  const onKey = (e) => {
    if (e.key === 'Enter' && r.t0 === undefined) r.t0 = performance.now()
  }
  document.addEventListener('keydown', onKey, true)
  const onMove = (e) => {
    if (r.t0 !== undefined && !r.done) r.inputDelays.push(performance.now() - e.timeStamp)
  }
  document.addEventListener('mousemove', onMove, true)
  const obs = new PerformanceObserver((l) => {
    for (const e of l.getEntries()) if (r.t0 !== undefined && !r.done) r.longtasks.push(e.duration)
  })
  obs.observe({ type: 'longtask' })
  const seen = () => {
    const b = term.buffer.active
    const end = b.baseY + b.cursorY
    for (let i = end; i >= Math.max(0, end - 4); i--) if (b.getLine(i)?.translateToString(true).trim() === marker) return true
    return false
  }
  let last
  const frame = (now) => {
    if (r.t0 !== undefined) {
      if (last !== undefined && last >= r.t0) r.maxGap = Math.max(r.maxGap, now - last)
      r.frames++
      r.maxBacklog = Math.max(r.maxBacklog, session.backlog)
      if (seen()) {
        r.total = performance.now() - r.t0
        r.done = true
        obs.disconnect()
        document.removeEventListener('keydown', onKey, true)
        document.removeEventListener('mousemove', onMove, true)
        return
      }
    }
    last = now
    requestAnimationFrame(frame)
  }
  requestAnimationFrame(frame)
}

const browser = await launch()
const out = { bytes: BYTES, rounds: [], browser: browser.version() }
try {
  const { page, problems } = await newPage(browser)
  await signIn(page, USER)
  await page.goto('/ui/workbench/assets')
  const row = page.locator('[data-testid="table-row"]:visible').filter({ hasText: ASSET }).first()
  await row.waitFor()
  await row.getByTestId('asset-connect').click()
  await page.getByTestId('connect-terminal').click()
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').first().waitFor({ timeout: 30_000 })
  const box = await page.locator('.pc-xterm').first().boundingBox()
  await page.locator('.pc-xterm').first().click()
  for (let round = 0; round <= ROUNDS; round++) {
    const n = 1000 + round
    const marker = `END-${n * 7}`
    await page.keyboard.type(`clear; cat ${FILE}; echo END-$((${n}*7))`)
    await sleep(300)
    await page.evaluate(arm, marker)
    await page.keyboard.press('Enter')
    const rtts = []
    let x = 0
    const deadline = Date.now() + 600_000
    for (;;) {
      const t = performance.now()
      const done = await page.evaluate(() => window.__pcCat.done)
      rtts.push(performance.now() - t)
      if (done) break
      if (Date.now() > deadline) throw new Error(`round ${round}: no ${marker} after 600 s`)
      x = (x + 37) % Math.max(1, Math.floor(box.width - 20))
      await page.mouse.move(box.x + 10 + x, box.y + box.height / 2)
      await sleep(100)
    }
    const r = await page.evaluate(() => window.__pcCat)
    const res = {
      total_ms: r.total,
      mib_s: BYTES / 1048576 / (r.total / 1000),
      frames: r.frames,
      max_backlog_kib: r.maxBacklog / 1024,
      max_frame_gap_ms: r.maxGap,
      longtasks: { n: r.longtasks.length, max: Math.max(0, ...r.longtasks), sum: r.longtasks.reduce((a, b) => a + b, 0) },
      input_delay: { n: r.inputDelays.length, max: Math.max(0, ...r.inputDelays), median: median(r.inputDelays) },
      eval_rtt: { n: rtts.length, max: Math.max(...rtts), median: median(rtts) },
    }
    log(round === 0 ? 'warm-up' : `round ${round}`, JSON.stringify(res))
    if (round > 0) out.rounds.push(res)
    await sleep(1000)
  }
  // The first page load asks who is signed in (401 before the sign-in).
  out.problems = unexpected(problems, /status of 401/)
} catch (e) {
  out.error = String(e?.stack || e)
  process.exitCode = 1
} finally {
  await browser.close()
}
console.log(JSON.stringify(out, null, 2))
