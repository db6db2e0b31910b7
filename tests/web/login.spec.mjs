// Signing in and out in a real browser: the app at /, a refused password, the password and
// MFA steps, binding an authenticator when MFA is required and none is bound, a deep link kept
// across the login, logout. Screenshots: login.png, app-shell.png, mfa.png, mfa-setup.png. Run by
// tests/e2e/web_ui.rs (node --test) against a running server.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Authenticator, env, field, launch, newPage, screenshot, unexpected, waitForPath, submitLogin } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const mfaUser = { username: env('PC_MFA_USER'), password: env('PC_MFA_PASSWORD') }
const authenticator = new Authenticator(env('PC_MFA_SECRET'), process.env.PC_MFA_LAST_STEP)
// Must use MFA, has nothing bound.
const newcomer = { username: env('PC_MFA_SETUP_USER'), password: env('PC_MFA_SETUP_PASSWORD') }

// A signed-out page asks the API who is signed in and is told 401; a refused login is a 400.
const SIGNED_OUT = /status of 401/
const REFUSED = /status of 400/

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

async function signOut(page) {
  await page.getByTestId('user-menu').click()
  await page.getByTestId('logout').click()
  await waitForPath(page, '/ui/login')
}

test('the app is served at / and a signed-out visitor lands on the login page', async () => {
  const { context, page, problems } = await newPage(browser)
  const answer = await page.goto('/')
  assert.equal(answer.status(), 200)
  assert.match(answer.headers()['content-type'], /^text\/html/)
  await waitForPath(page, '/ui/login')
  await field(page, 'login-username').waitFor()
  await page.getByTestId('login-submit').waitFor()
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  await screenshot(page, 'login.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await context.close()
})

test('a wrong password is refused with a message and no session', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto('/ui/login')
  await submitLogin(page, { username: admin.username, password: `${admin.password}-wrong` })
  const error = page.getByTestId('login-error')
  await error.waitFor()
  assert.notEqual((await error.innerText()).trim(), '')
  assert.equal(new URL(page.url()).pathname, '/ui/login')
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  const cookies = await context.cookies()
  assert.equal(cookies.some((c) => c.name === 'jms_sessionid' && c.value), false, JSON.stringify(cookies))
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
  await context.close()
})

test('the right password opens the app shell, and logout ends the session', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto('/ui/login')
  await submitLogin(page, admin)
  await page.getByTestId('app-shell').waitFor()
  assert.match(new URL(page.url()).pathname, /^\/ui\/(console|workbench|dashboard)\//)
  const session = (await context.cookies()).find((c) => c.name === 'jms_sessionid')
  assert.ok(session?.value, 'the login set the session cookie')
  assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly')
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'app-shell.png')

  await signOut(page)
  await field(page, 'login-username').waitFor()
  // The session is over on the server too: the app sends a revisit back to the login page.
  await page.goto('/ui/console/users')
  await waitForPath(page, '/ui/login')
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await context.close()
})

test('a deep link visited signed out comes back after the login', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto('/ui/console/users')
  const login = await waitForPath(page, '/ui/login')
  assert.match(login.searchParams.get('next') || '', /\/console\/users$/)
  await submitLogin(page, admin)
  await page.getByTestId('app-shell').waitFor()
  await waitForPath(page, '/ui/console/users')
  await page.getByTestId('resource-table').waitFor()
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  await context.close()
})

test('a user with MFA must give a valid code before the app opens', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto('/ui/login')
  await submitLogin(page, mfaUser)
  await field(page, 'mfa-code').waitFor()
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  await screenshot(page, 'mfa.png')

  await field(page, 'mfa-code').fill(authenticator.wrong())
  await page.getByTestId('mfa-submit').click()
  await page.getByTestId('login-error').waitFor()
  assert.equal(await page.getByTestId('app-shell').count(), 0)

  await field(page, 'mfa-code').fill(await authenticator.next())
  await page.getByTestId('mfa-submit').click()
  await page.getByTestId('app-shell').waitFor()
  assert.notEqual(new URL(page.url()).pathname, '/ui/login')
  await signOut(page)
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
  await context.close()
})

test('a user who must use MFA and has none bound sets up an authenticator while signing in', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto(`/ui/login?next=${encodeURIComponent('/ui/profile')}`)
  await submitLogin(page, newcomer)
  await page.getByTestId('mfa-setup-step').waitFor()
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  assert.equal(await page.getByTestId('mfa-code').count(), 0, 'not the ordinary code step')
  // The QR code is drawn in the page, and the key is there in text for manual entry.
  const qr = page.getByTestId('mfa-setup-qr').locator('img')
  await qr.waitFor()
  assert.match((await qr.getAttribute('src')) || '', /^data:image\/png;base64,/)
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 100), 'the QR image is drawn')
  const secret = (await page.getByTestId('mfa-setup-secret').innerText()).replace(/\s/g, '')
  assert.match(secret, /^[A-Z2-7]{16,}$/, 'a base32 key')
  await screenshot(page, 'mfa-setup.png')

  // Nothing but the binding works with this half-finished login.
  const profile = await page.request.get('/api/v1/users/profile/')
  assert.equal(profile.status(), 401)

  const app = new Authenticator(secret)
  await field(page, 'mfa-setup-code').fill(app.wrong())
  await page.getByTestId('mfa-setup-submit').click()
  const error = page.getByTestId('login-error')
  await error.waitFor()
  assert.match(await error.innerText(), /does not match this key/)
  assert.equal(await field(page, 'mfa-setup-code').inputValue(), '', 'the wrong code is cleared')
  assert.equal(await page.getByTestId('app-shell').count(), 0)

  await field(page, 'mfa-setup-code').fill(await app.next())
  await page.getByTestId('mfa-setup-submit').click()
  await page.getByTestId('app-shell').waitFor()
  await waitForPath(page, '/ui/profile')
  const me = await page.request.get('/api/v1/users/profile/')
  assert.equal(me.status(), 200)
  const body = await me.json()
  assert.equal(body.username, newcomer.username)
  assert.equal(body.is_otp_secret_key_bound, true)
  await signOut(page)

  // From now on the ordinary code step asks for a code of the bound authenticator. A fresh
  // load of the login page, so the form is not the one still being torn down after logout.
  await page.goto('/ui/login')
  await field(page, 'login-username').waitFor()
  await submitLogin(page, newcomer)
  await field(page, 'mfa-code').waitFor()
  assert.equal(await page.getByTestId('mfa-setup-step').count(), 0)
  await field(page, 'mfa-code').fill(await app.next())
  await page.getByTestId('mfa-submit').click()
  await page.getByTestId('app-shell').waitFor()
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
  await context.close()
})
