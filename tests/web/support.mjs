// What every browser spec shares: the server and accounts it runs against (from the
// environment tests/e2e/web_ui.rs sets), Debian's chromium driven by playwright-core,
// screenshots into the artifacts directory, a TOTP authenticator, and a page that records
// every script error and Content-Security-Policy violation so a spec can insist on none.
//
// Environment:
//   PC_BASE_URL             http://127.0.0.1:PORT of a running `portcullis serve`
//   PC_ADMIN_USER/PASSWORD  a system administrator
//   PC_MFA_USER/PASSWORD    a user with TOTP bound; PC_MFA_SECRET its base32 secret;
//   PC_MFA_LAST_STEP        the last 30-second step whose code was used (the server takes each once)
//   PC_ARTIFACTS            where screenshots go (default: target/web-artifacts)
//   PC_CHROMIUM             the browser (default /usr/bin/chromium)

import { chromium } from 'playwright-core'
import { before, after } from 'node:test'
import { createHmac } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** A required environment variable. */
export function env(name) {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set: run the specs through tests/e2e/web_ui.rs`)
  return value
}

export const baseURL = () => env('PC_BASE_URL')
export const artifacts = resolve(process.env.PC_ARTIFACTS || 'target/web-artifacts')

/** Chromium's flags: headless as root, and no traffic of its own (no network here). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
]

/**
 * Starts the browser. playwright-core gives every launch a fresh temporary profile
 * (user-data-dir) and removes it on close, so no state survives between specs. `args` adds
 * flags for one spec (e.g. `--host-resolver-rules` to reach the server under another name).
 */
export async function launch({ args = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.PC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS, ...args],
    timeout: 60_000,
  })
}

/**
 * A new page in a new context (its own cookies) on the server, 1440×900, English. The
 * returned `problems` collects uncaught script errors, console errors and CSP violations.
 */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({
    baseURL: baseURL(),
    viewport: { width: 1440, height: 900 },
    locale: 'en-US',
    ...options,
  })
  context.setDefaultTimeout(15_000)
  context.setDefaultNavigationTimeout(30_000)
  // The page reports Content-Security-Policy violations through a DOM event.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`)
    })
  })
  const page = await context.newPage()
  const problems = []
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()} (${m.location().url || 'page'})`)
  })
  // A server error is never an expected outcome of anything the UI does.
  page.on('response', (r) => {
    if (r.status() >= 500) problems.push(`server error: ${r.status()} ${r.request().method()} ${r.url()}`)
  })
  return { context, page, problems }
}

/** Console errors that are the expected result of an action (an API refusal the page shows). */
export function unexpected(problems, ...expected) {
  return problems.filter((p) => !expected.some((re) => re.test(p)))
}

/** The system administrator the runner seeded (PC_ADMIN_USER, PC_ADMIN_PASSWORD). */
export const adminUser = () => ({ username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') })

/** The console error of a signed-out page load asking who is signed in. */
export const SIGNED_OUT = /status of 401/
/** The console error of a refused save (a 400 the page shows). */
export const REFUSED = /status of 400/

/**
 * A browser and one page signed in as `user`, for the whole spec: registers the `before` hook
 * that launches the browser, opens the page (`newPage` with `options`), runs `setup(page)`,
 * signs in and runs `ready(page)`, and the `after` hook that closes the browser. The returned
 * object gets `browser` and the page's `context`, `page` and `problems` once `before` ran.
 */
export function signedInPage({ user = adminUser(), options = {}, setup, ready } = {}) {
  const session = {}
  before(async () => {
    session.browser = await launch()
    Object.assign(session, await newPage(session.browser, options))
    await setup?.(session.page)
    await signIn(session.page, user)
    await ready?.(session.page)
  })
  after(async () => {
    await session.browser?.close()
  })
  return session
}

/** An API call from the page, as its signed-in user (session cookie and CSRF header):
 * `{status, body}`, the body parsed when it is JSON. */
export function call(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const csrf = document.cookie.split('; ').find((c) => c.startsWith('jms_csrftoken='))?.slice('jms_csrftoken='.length) || ''
      const r = await fetch(`/api/v1/${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': decodeURIComponent(csrf) },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const text = await r.text()
      let json = null
      try {
        json = JSON.parse(text)
      } catch {
        /* not JSON */
      }
      return { status: r.status, body: json ?? text }
    },
    [method, path, body],
  )
}

/** A full-page screenshot into the artifacts directory. */
export async function screenshot(page, name) {
  mkdirSync(artifacts, { recursive: true })
  const path = join(artifacts, name)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** The element with a `data-testid`, or the input inside it (Element Plus wraps inputs). */
export function field(page, testId) {
  return page.locator(`input[data-testid="${testId}"], textarea[data-testid="${testId}"], [data-testid="${testId}"] input`).first()
}

/** Fills the sign-in form with `user` ({username, password}) and submits it; the caller waits
 * for what should follow (the app, an MFA step, an error). */
export async function submitLogin(page, user) {
  await field(page, 'login-username').fill(user.username)
  await field(page, 'login-password').fill(user.password)
  await page.getByTestId('login-submit').click()
}

/** Opens the sign-in page, signs `user` in and waits until the app has left that page. */
export async function signIn(page, user) {
  await page.goto('/ui/login')
  await submitLogin(page, user)
  await page.waitForURL((u) => !u.pathname.startsWith('/ui/login'))
}

/** The path (without origin) the page is on once it settles on `pathname`. */
export async function waitForPath(page, pathname) {
  await page.waitForURL((url) => url.pathname === pathname)
  return new URL(page.url())
}

// ------------------------------------------------------------------------------------------
// TOTP (RFC 6238, HMAC-SHA1, 30 s, 6 digits), independent of the server
// ------------------------------------------------------------------------------------------

function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = 0
  let value = 0
  const out = []
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c)
    if (v < 0) throw new Error(`not base32: ${c}`)
    value = (value << 5) | v
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out.push((value >>> bits) & 0xff)
    }
  }
  return Buffer.from(out)
}

/** The code of one 30-second step. */
export function totpAt(secret, step) {
  const counter = Buffer.alloc(8)
  counter.writeBigUInt64BE(BigInt(step))
  const d = createHmac('sha1', base32(secret)).update(counter).digest()
  const o = d[d.length - 1] & 0x0f
  const n = ((d[o] & 0x7f) << 24 | d[o + 1] << 16 | d[o + 2] << 8 | d[o + 3]) % 1_000_000
  return String(n).padStart(6, '0')
}

/**
 * An authenticator that never repeats a step (the server accepts each once, within ±1 step):
 * the previous step while the current one is young, then the current, then the next; it
 * waits only when those are used up.
 */
export class Authenticator {
  constructor(secret, lastStep = 0) {
    this.secret = secret
    this.last = Number(lastStep) || 0
  }

  async next() {
    for (;;) {
      const now = Date.now() / 1000
      const cur = Math.floor(now / 30)
      const into = now - cur * 30
      const lo = into < 25 ? cur - 1 : cur
      const step = Math.max(this.last + 1, lo)
      if (step <= cur + 1) {
        this.last = step
        return totpAt(this.secret, step)
      }
      await sleep(500)
    }
  }

  /** A code that is none of those the server would accept now. */
  wrong() {
    const cur = Math.floor(Date.now() / 30_000)
    const valid = [-2, -1, 0, 1, 2].map((d) => totpAt(this.secret, cur + d))
    return ['000000', '111111', '222222', '333333', '444444', '555555'].find((c) => !valid.includes(c))
  }
}

/**
 * Paces the page's uploads at `bytesPerSecond` (Chromium's own network throttling, which
 * feeds an upload to the socket 16 KiB at a time, so the page's upload progress events
 * arrive step by step as they would on a slow link). Returns a function that lifts it.
 */
export async function throttleUpload(page, bytesPerSecond) {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: Math.max(1024, Math.round(bytesPerSecond)),
  })
  return async () => {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
    await cdp.detach()
  }
}

/**
 * Records every state the element with `data-testid=testId` goes through from now on (it may
 * not exist yet): its words and its progress bar's value (`aria-valuenow` of the
 * `role=progressbar` inside), one entry per change, `{ text: '' }` while it is absent. A DOM
 * observer sees each render, so even a state shown for a single frame is in the list.
 * `seen()` returns the list.
 */
export async function recordStates(page, testId) {
  const key = `__pcStates_${testId.replace(/\W/g, '_')}`
  await page.evaluate(
    ([key, testId]) => {
      const seen = (window[key] = [])
      const note = () => {
        const el = document.querySelector(`[data-testid="${testId}"]`)
        const bar = el?.querySelector('[role="progressbar"]')
        const value = bar ? Number(bar.getAttribute('aria-valuenow')) : null
        const text = el ? el.textContent.replace(/\s+/g, ' ').trim() : ''
        const last = seen[seen.length - 1]
        if (!last || last.text !== text || last.value !== value) seen.push({ text, value, at: Math.round(performance.now()) })
      }
      note()
      new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true })
    },
    [key, testId],
  )
  return { seen: () => page.evaluate((key) => window[key], key) }
}

/**
 * From states of [`recordStates`], the upload percentages shown with `uploading` (a RegExp
 * with one group: the number) in order, checking that each agrees with its bar's value.
 */
export function uploadPercents(states, uploading) {
  const out = []
  for (const s of states) {
    const m = uploading.exec(s.text)
    if (!m) continue
    const p = Number(m[1])
    if (s.value !== p) throw new Error(`the words say ${p}% but the bar ${s.value}: ${JSON.stringify(s)}`)
    if (out[out.length - 1] !== p) out.push(p)
  }
  return out
}
