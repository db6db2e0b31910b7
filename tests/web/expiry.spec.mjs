// An expired password in a real browser (run by tests/e2e/web_gaps.rs, which ages the user's
// password past SECURITY_PASSWORD_EXPIRATION_TIME and checks through the API afterwards): the
// login's 400 `passwd_has_expired` leads to a new-password step instead of an error; a
// mismatch and a password the policy refuses are shown there in words; the new password is
// set through `authentication/password/expired/` and the user lands signed in; the old
// password no longer works, the new one does. And a locked account (too many failed logins)
// told so in words, even with the right password. Screenshots: expired-password*.png,
// login-locked.png. And the forced change (`need_update_password`): the first sign-in asks for
// a new password before the app opens (screenshot forced-password.png).

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, field, launch, newPage, screenshot, unexpected, waitForPath, submitLogin } from './support.mjs'

const user = { username: env('PC_EXPIRED_USER'), password: env('PC_EXPIRED_PASSWORD') }
const NEW_PASSWORD = env('PC_EXPIRED_NEW_PASSWORD')
// Signed-out page loads ask who is signed in (401); the refused login and refused new
// passwords are 400s the page turns into a step or a message.
const SIGNED_OUT = /status of 401/
const REFUSED = /status of 400/

let browser
before(async () => {
  browser = await launch()
})
after(async () => {
  await browser?.close()
})

async function newPassword(page, one, two) {
  await field(page, 'newpass-1').fill(one)
  await field(page, 'newpass-2').fill(two)
  await page.getByTestId('newpass-submit').click()
}

test('an expired password is replaced on the login page and the user is signed in with the new one', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto(`/ui/login?next=${encodeURIComponent('/ui/profile')}`)
  await submitLogin(page, user)

  // Not an error page: the step that sets a new password, naming the account.
  await page.getByTestId('expired-step').waitFor()
  assert.match(await page.getByTestId('expired-help').innerText(), new RegExp(`${user.username}.*expired`))
  assert.equal(await page.getByTestId('login-error').count(), 0)
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  assert.equal(await page.getByTestId('oldpass').count(), 0, 'the old password was just typed: not asked again')
  const profile = await page.request.get('/api/v1/users/profile/')
  assert.equal(profile.status(), 401, 'no session for an expired password')
  await screenshot(page, 'expired-password.png')

  // Two different passwords: caught in the page.
  await newPassword(page, NEW_PASSWORD, `${NEW_PASSWORD}x`)
  const error = page.getByTestId('login-error')
  await error.waitFor()
  assert.match(await error.innerText(), /not the same/)

  // The policy refuses a short one and the page says why (the server's words).
  await newPassword(page, 'abc', 'abc')
  await page.waitForFunction(() => {
    const text = document.querySelector('[data-testid="login-error"]')?.textContent || ''
    return text.trim() !== '' && !/not the same/.test(text)
  })
  // The policy's words, not the API's field name.
  assert.match(await error.innerText(), /at least/)
  assert.doesNotMatch(await error.innerText(), /new_password/)
  await page.getByTestId('expired-step').waitFor()
  await screenshot(page, 'expired-password-refused.png')

  // The same password again is refused too (it is the one that expired).
  await newPassword(page, user.password, user.password)
  await page.waitForResponse((r) => r.url().includes('/authentication/password/expired/'))
  await page.getByTestId('expired-step').waitFor()

  // A good one: set, then signed in with it and sent where the link pointed.
  await newPassword(page, NEW_PASSWORD, NEW_PASSWORD)
  await page.getByTestId('app-shell').waitFor()
  await waitForPath(page, '/ui/profile')
  const me = await page.request.get('/api/v1/users/profile/')
  assert.equal(me.status(), 200)
  assert.equal((await me.json()).username, user.username)
  await page.waitForLoadState('networkidle')
  await screenshot(page, 'expired-password-done.png')

  await page.getByTestId('user-menu').click()
  await page.getByTestId('logout').click()
  await waitForPath(page, '/ui/login')

  // The old password is gone; the new one signs in directly.
  await page.goto('/ui/login')
  await submitLogin(page, user)
  await error.waitFor()
  assert.equal(await page.getByTestId('expired-step').count(), 0)
  assert.match(await error.innerText(), /Wrong username or password/)
  await submitLogin(page, { username: user.username, password: NEW_PASSWORD })
  await page.getByTestId('app-shell').waitFor()
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
  await context.close()
})

test('the expired step can be left to sign in with another account', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto('/ui/login')
  await submitLogin(page, { username: env('PC_EXPIRED_USER2'), password: env('PC_EXPIRED_PASSWORD2') })
  await page.getByTestId('expired-step').waitFor()
  await page.getByTestId('expired-back').click()
  await field(page, 'login-username').waitFor()
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
  await context.close()
})

test('a locked account is told so in words, even with the right password', async () => {
  const { context, page, problems } = await newPage(browser)
  await page.goto('/ui/login')
  await submitLogin(page, { username: env('PC_LOCKED_USER'), password: env('PC_LOCKED_PASSWORD') })
  const error = page.getByTestId('login-error')
  await error.waitFor()
  assert.match(await error.innerText(), /locked after too many failed attempts/)
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  assert.equal(await page.getByTestId('expired-step').count(), 0)
  const cookies = await context.cookies()
  assert.equal(cookies.some((c) => c.name === 'jms_sessionid' && c.value), false, JSON.stringify(cookies))
  await screenshot(page, 'login-locked.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
  await context.close()
})

test('a user who must change the password sets a new one before the app opens', async () => {
  const { context, page, problems } = await newPage(browser)
  const forced = { username: env('PC_FORCED_USER'), password: env('PC_FORCED_PASSWORD') }
  await page.goto('/ui/login')
  await submitLogin(page, forced)
  await page.getByTestId('newpass-step').waitFor()
  assert.equal(await page.getByTestId('app-shell').count(), 0)
  assert.equal(await page.getByTestId('oldpass').count(), 0, 'the password was just typed: not asked again')
  await screenshot(page, 'forced-password.png')
  await newPassword(page, NEW_PASSWORD, NEW_PASSWORD)
  await page.getByTestId('app-shell').waitFor()
  const me = await page.request.get('/api/v1/users/profile/')
  assert.equal(me.status(), 200)
  const body = await me.json()
  assert.equal(body.username, forced.username)
  assert.equal(body.need_update_password, false)
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
  await context.close()
})
