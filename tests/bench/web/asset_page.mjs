// The console's asset page in a real browser, timed (run by tests/bench/web.sh against a
// `portcullis serve` on the `portcullis bench --populate-only` inventory): headless chromium
// (Debian's, through playwright-core as the browser specs use it) logs in as the administrator,
// then, for a warm-up round and ROUNDS timed rounds, each on a fresh navigation:
//
//   open    navigation start → the first page of asset rows AND the first level of the node tree
//           are in the DOM and the next animation frame has run (the page's own clock:
//           performance.now() is relative to the navigation's start)
//   search  the `input` event of the list's search box (a name fragment such as `host-01234`
//           filled in at once, as a paste) → exactly the matching rows are shown (the list's
//           300 ms debounce is part of it: that is what a user waits)
//   expand  the click on a top node's expand arrow → its children (loaded lazily from the
//           server) are in the tree
//
// Each figure also records the duration of the API request the page waited on (Resource Timing:
// the first asset-list and node-tree requests of the load, the search request, the children
// request). A MutationObserver installed before the page's own scripts notes the open marks,
// so they do not depend on how often the harness polls; search and expand are polled every
// animation frame.
//
// Environment: PC_BASE_URL, PC_ADMIN_USER, PC_ADMIN_PASSWORD (from web.sh), BENCH_ASSETS and
// BENCH_NODES (the inventory's size, checked against the page), BENCH_ROUNDS (10),
// BENCH_RAW (the JSON file for web.sh). Exit status 1 when the page does not behave as the
// inventory says (wrong total, no rows, a timeout): the figures would not mean anything.

import { writeFileSync } from 'node:fs'
import { field, launch, newPage, unexpected } from '../../web/support.mjs'

const need = (name) => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set (run tests/bench/web.sh)`)
  return v
}
const ADMIN = { username: need('PC_ADMIN_USER'), password: need('PC_ADMIN_PASSWORD') }
const ASSETS = Number(need('BENCH_ASSETS'))
const NODES = Number(need('BENCH_NODES'))
const ROUNDS = Number(process.env.BENCH_ROUNDS || 10)
const RAW = need('BENCH_RAW')
// `portcullis bench` makes floor(sqrt(nodes)) top nodes under the root, keys 1:1 … 1:TOPS.
const TOPS = Math.max(1, Math.floor(Math.sqrt(NODES)))
const LIMIT = 60_000

const log = (...a) => console.error('--', ...a)

/** Installed in every document before its scripts: the open marks and the action times. */
function marks() {
  const m = (window.__pcMarks = {})
  const seen = (name, ok) => {
    if (m[`${name}Dom`] !== undefined || !ok()) return
    m[`${name}Dom`] = performance.now()
    requestAnimationFrame(() => (m[name] = performance.now()))
  }
  const check = () => {
    seen('rows', () => document.querySelector('[data-testid="resource-table"] tr.el-table__row'))
    seen('tree', () => document.querySelector('[data-testid="node-tree"] [data-testid="tree-node"]'))
  }
  new MutationObserver(check).observe(document, { childList: true, subtree: true })
  document.addEventListener('input', () => (m.input = performance.now()), true)
  document.addEventListener('click', () => (m.click = performance.now()), true)
}

/** When (ms after navigation start) the first API request of this document matching began. */
async function apiStart(page, pattern) {
  return page.evaluate((source) => {
    const re = new RegExp(source)
    const e = performance.getEntriesByType('resource').find((x) => re.test(x.name))
    return e ? e.startTime : null
  }, pattern.source)
}

/** Duration (ms) of the first / last API request of this document whose URL matches. */
async function apiTime(page, pattern, which) {
  return page.evaluate(
    ({ source, which }) => {
      const re = new RegExp(source)
      const hits = performance.getEntriesByType('resource').filter((e) => re.test(e.name))
      const e = which === 'last' ? hits[hits.length - 1] : hits[0]
      return e ? e.responseEnd - e.startTime : null
    },
    { source: pattern.source, which },
  )
}

/** The name fragment searched in round `i`: ten assets match it (host-NNNNN0 … host-NNNNN9). */
function fragment(i) {
  const groups = Math.floor(ASSETS / 10)
  // Spread over the inventory, away from the first page (host-000000 …), never twice the same.
  const g = Math.floor(((i + 1) * 7919) % Math.max(1, groups - 10)) + 5
  return { q: `host-${String(g).padStart(5, '0')}`, expect: Math.min(10, ASSETS - g * 10) }
}

async function open(page, check) {
  await page.goto('/ui/console/assets', { waitUntil: 'commit' })
  await page.waitForFunction(() => window.__pcMarks?.rows !== undefined && window.__pcMarks?.tree !== undefined, null, { timeout: LIMIT })
  const m = await page.evaluate(() => ({ ...window.__pcMarks }))
  if (check) {
    // The page shows the whole inventory, paged on the server.
    await page.waitForFunction((n) => [...document.querySelectorAll('.rt-footer')].some((e) => e.textContent.replace(/[^0-9]/g, '').includes(String(n))), ASSETS, { timeout: LIMIT })
    const rows = await page.locator('[data-testid="resource-table"] tr.el-table__row').count()
    if (rows < 1 || rows > 100) throw new Error(`the first page holds ${rows} rows`)
    log(`asset page: ${rows} rows on the first page; footer “${(await page.locator('.rt-footer').first().textContent())?.trim()}”`)
  }
  return {
    ms: Math.max(m.rows, m.tree),
    rows_ms: m.rows,
    tree_ms: m.tree,
    // Where the open's time goes: the document and scripts, then the list request.
    dcl_ms: await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd ?? null),
    list_start_ms: await apiStart(page, /\/api\/v1\/assets\/assets\/\?/),
    api_list_ms: await apiTime(page, /\/api\/v1\/assets\/assets\/\?/, 'first'),
    tree_start_ms: await apiStart(page, /\/api\/v1\/assets\/nodes\/children\/tree\/(\?(?!.*key=)|$)/),
    api_tree_ms: await apiTime(page, /\/api\/v1\/assets\/nodes\/children\/tree\/(\?(?!.*key=)|$)/, 'first'),
  }
}

async function search(page, i) {
  const { q, expect } = fragment(i)
  await page.evaluate(() => (window.__pcMarks.input = undefined))
  const done = page.waitForFunction(
    ({ q, expect }) => {
      const rows = [...document.querySelectorAll('[data-testid="resource-table"] tr.el-table__row')]
      return rows.length === expect && rows.every((r) => r.textContent.includes(q)) ? performance.now() : false
    },
    { q, expect },
    { polling: 'raf', timeout: LIMIT },
  )
  await field(page, 'table-search').fill(q)
  const end = await (await done).jsonValue()
  const start = await page.evaluate(() => window.__pcMarks.input)
  if (start === undefined) throw new Error('the search box saw no input event')
  return { ms: end - start, q, rows: expect, api_ms: await apiTime(page, /\/api\/v1\/assets\/assets\/\?.*search=/, 'last') }
}

async function expand(page, i) {
  const key = `1:${(i % TOPS) + 1}`
  await page.evaluate(() => (window.__pcMarks.click = undefined))
  const arrow = page.locator(`.el-tree-node__content:has(> .tree-node[data-node-key="${key}"]) > .el-tree-node__expand-icon`)
  await arrow.scrollIntoViewIfNeeded()
  const done = page.waitForFunction(
    (key) => (document.querySelector(`[data-testid="tree-node"][data-node-key^="${key}:"]`) ? performance.now() : false),
    key,
    { polling: 'raf', timeout: LIMIT },
  )
  await arrow.click()
  const end = await (await done).jsonValue()
  const start = await page.evaluate(() => window.__pcMarks.click)
  if (start === undefined) throw new Error('the tree saw no click')
  const children = await page.locator(`[data-testid="tree-node"][data-node-key^="${key}:"]`).count()
  return { ms: end - start, key, children, api_ms: await apiTime(page, /\/api\/v1\/assets\/nodes\/children\/tree\/\?.*key=/, 'last') }
}

const stats = (xs) => {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b)
  if (!v.length) return null
  const mid = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2
  const r = (x) => Math.round(x * 10) / 10
  return { median: r(mid), min: r(v[0]), max: r(v[v.length - 1]), n: v.length }
}

const browser = await launch()
const out = { rounds: [], problems: [], browser: browser.version(), assets: ASSETS, nodes: NODES }
let status = 0
try {
  const { context, page, problems } = await newPage(browser)
  await context.addInitScript(marks)
  await page.goto('/ui/login')
  await field(page, 'login-username').fill(ADMIN.username)
  await field(page, 'login-password').fill(ADMIN.password)
  await page.getByTestId('login-submit').click()
  await page.waitForURL((u) => !u.pathname.startsWith('/ui/login'), { timeout: LIMIT })
  await page.getByTestId('app-shell').waitFor({ timeout: LIMIT })
  log(`logged in as ${ADMIN.username}; chromium ${out.browser}`)

  // Round 0 warms the browser's cache and the server's; it is checked, not counted.
  for (let i = 0; i <= ROUNDS; i++) {
    const round = { open: await open(page, i === 0), search: await search(page, i), expand: await expand(page, i) }
    if (round.expand.children < 1) throw new Error(`expanding ${round.expand.key} showed no children`)
    log(
      `${i === 0 ? 'warm-up' : `round ${i}`}: open ${round.open.ms.toFixed(0)} ms (DOMContentLoaded ${round.open.dcl_ms?.toFixed(0)}, list asked ${round.open.list_start_ms?.toFixed(0)}, ` +
        `answered in ${round.open.api_list_ms?.toFixed(0)}, tree asked ${round.open.tree_start_ms?.toFixed(0)}, answered in ${round.open.api_tree_ms?.toFixed(0)}; rows ${round.open.rows_ms.toFixed(0)}, tree ${round.open.tree_ms.toFixed(0)}), ` +
        `search “${round.search.q}” ${round.search.ms.toFixed(0)} ms, expand ${round.expand.key} (${round.expand.children} children) ${round.expand.ms.toFixed(0)} ms`,
    )
    if (i > 0) out.rounds.push(round)
  }
  // The first load asks who is signed in before the login (401): expected.
  out.problems = unexpected(problems, /status of 401/)
} catch (e) {
  out.error = String(e?.stack || e)
  console.error(out.error)
  status = 1
} finally {
  await browser.close()
}
const pick = (f) => stats(out.rounds.map(f))
out.summary = {
  open: pick((r) => r.open.ms),
  open_rows: pick((r) => r.open.rows_ms),
  open_tree: pick((r) => r.open.tree_ms),
  open_dcl: pick((r) => r.open.dcl_ms),
  open_list_start: pick((r) => r.open.list_start_ms),
  open_api_list: pick((r) => r.open.api_list_ms),
  open_tree_start: pick((r) => r.open.tree_start_ms),
  open_api_tree: pick((r) => r.open.api_tree_ms),
  search: pick((r) => r.search.ms),
  search_api: pick((r) => r.search.api_ms),
  expand: pick((r) => r.expand.ms),
  expand_api: pick((r) => r.expand.api_ms),
  expand_children: pick((r) => r.expand.children),
}
writeFileSync(RAW, JSON.stringify(out, null, 2))
process.exit(status)
