// The console's administration pages in a real browser (run by tests/e2e/web_console_admin.rs,
// which seeds users over the API and checks afterwards what the browser did): users (search
// and a filter, bulk deactivate and delete, create, edit, clone, the quick actions: activate,
// unlock, reset MFA, set and email-reset the password, a group), user groups (create with
// members, rename, delete), platforms (a copy of Linux, its protocols edited, a bad protocol
// list refused in words, delete), zones and gateways, account templates, the ACLs (command
// group and filter, login rule with an IP refused under its field, connect rule, connect
// method rule: listed, edited, deleted), labels (made, put on an asset, the asset list
// filtered by it). Screenshots: admin-*.png.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { REFUSED, SIGNED_OUT, call, env, field, screenshot as shoot, signedInPage, unexpected, waitForPath } from './support.mjs'

const TAG = env('PC_ADM_TAG')
const LOCKED = env('PC_ADM_LOCKED')
const MFA_USER = env('PC_ADM_MFA_USER')
const NEW_PASSWORD = env('PC_ADM_NEW_PASSWORD')
const ASSET = env('PC_ADM_ASSET')

const ctx = signedInPage()

/** A screenshot that must have been written (checked here: other runs share the directory). */
async function screenshot(page, name) {
  const path = await shoot(page, name)
  assert.ok(statSync(path).size > 1000, `screenshot ${path}`)
}

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const rows = (page) => page.locator('[data-testid="table-row"]:visible')
const rowWith = (page, text) => rows(page).filter({ hasText: text }).first()
const option = (page, label) =>
  page.locator('.el-select-dropdown__item:visible', { hasText: label instanceof RegExp ? label : new RegExp(`^\\s*${esc(label)}\\s*$`) }).first()
const success = (page) => page.locator('.el-message--success').last()
const confirmBox = (page) => page.locator('.el-message-box .el-button--primary').click()

const list = async (page, path) => {
  const r = await call(page, 'GET', path)
  assert.equal(r.status, 200, JSON.stringify(r.body))
  return Array.isArray(r.body) ? r.body : r.body.results
}

/** Waits for a list response of `url` (path under /api/v1/) after `action`. */
async function listed(page, url, action) {
  await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === `/api/v1/${url}` && r.request().method() === 'GET'), action()])
}

/** Searches a list page and waits until its rows are exactly `names` (in any order). */
async function searchFor(page, text, names) {
  // Wait for the (debounced) search request: a click before it lands would be undone by the
  // list's address update.
  const box = field(page, 'table-search')
  if ((await box.inputValue()) !== text)
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).searchParams.get('search') === text),
      box.fill(text),
    ])
  await page.waitForFunction(
    ([names]) => {
      const rs = [...document.querySelectorAll('[data-testid="table-row"]')].filter((r) => r.offsetParent)
      const texts = rs.map((r) => r.textContent)
      return rs.length === names.length && names.every((n) => texts.some((t) => t.includes(n)))
    },
    [names],
  )
}

/** Types into the searchable select of a form field and picks the option matching `label`. */
async function pick(page, key, text, label) {
  const select = page.getByTestId(`field-${key}`).locator('.el-select').first()
  await select.click()
  await page.keyboard.type(text)
  await option(page, label).click()
  await page.keyboard.press('Escape')
}

/** Picks an option of a plain select field. */
async function choose(page, key, label) {
  await page.getByTestId(`field-${key}`).locator('.el-select').first().click()
  await option(page, label).click()
}

/** Submits a form and waits for the list page it returns to. */
async function save(page, listPath) {
  const [saved] = await Promise.all([
    page.waitForResponse((r) => ['POST', 'PATCH', 'PUT'].includes(r.request().method()) && new URL(r.url()).pathname.startsWith('/api/v1/')),
    page.getByTestId('form-submit').click(),
  ])
  if (!saved.ok()) assert.fail(`not saved: ${saved.status()} ${await saved.text()}`)
  await waitForPath(page, listPath)
  await success(page).waitFor()
}
/** The textarea of a form field. */
const area = (page, testId) => page.locator(`[data-testid="${testId}"] textarea`).first()

/** Ticks the row checkbox of each name. */
async function select(page, names) {
  for (const n of names) await rowWith(page, n).locator('.el-checkbox').first().click()
  await page.getByTestId('bulk-bar').getByText(`${names.length}`).first().waitFor()
}

const user = async (page, username) => (await list(page, `users/users/?username=${username}`))[0]

test('users: the search and a filter narrow the list', async () => {
  const { page } = ctx
  await page.goto('/ui/console/users')
  await rows(page).first().waitFor()
  await searchFor(page, `u${TAG}`, [`u${TAG}a`, `u${TAG}b`, `u${TAG}c`, `u${TAG}x`])
  await page.getByTestId('filter-is_active').click()
  await option(page, 'No').click()
  await searchFor(page, `u${TAG}`, [`u${TAG}x`])
  assert.equal(await rows(page).count(), 1)
  await screenshot(page, 'admin-users-filtered.png')
  // Nothing matches: the empty state says so and offers to clear the filters.
  await field(page, 'table-search').fill(`nobody-${TAG}`)
  await page.getByTestId('empty-state').waitFor()
  await page.getByTestId('empty-state').getByRole('button').click()
  await page.waitForFunction(() => !new URL(location.href).searchParams.get('f_is_active'))
})

test('users: bulk deactivate and bulk delete act on exactly the chosen users', async () => {
  const { page } = ctx
  await page.goto('/ui/console/users')
  await rows(page).first().waitFor()
  await searchFor(page, `u${TAG}`, [`u${TAG}a`, `u${TAG}b`, `u${TAG}c`, `u${TAG}x`])
  await select(page, [`u${TAG}a`, `u${TAG}b`])
  await listed(page, 'users/users/', () => page.getByTestId('bulk-deactivate').click())
  await success(page).waitFor()
  for (const [n, active] of [['a', false], ['b', false], ['c', true]]) assert.equal((await user(page, `u${TAG}${n}`)).is_active, active, n)

  await select(page, [`u${TAG}a`, `u${TAG}b`])
  await page.getByTestId('bulk-delete').click()
  // Asks first, naming how many.
  await page.locator('.el-message-box', { hasText: '2' }).waitFor()
  await screenshot(page, 'admin-users-bulk-delete.png')
  await confirmBox(page)
  await searchFor(page, `u${TAG}`, [`u${TAG}c`, `u${TAG}x`])
  assert.equal(await user(page, `u${TAG}a`), undefined)
  assert.equal(await user(page, `u${TAG}b`), undefined)
})

test('user groups: created with a member, renamed, and one deleted', async () => {
  const { page, problems } = ctx
  await page.goto('/ui/console/user-groups')
  await page.getByTestId('resource-table').waitFor()
  for (const name of [`grp-${TAG}`, `gone-${TAG}`]) {
    await page.getByTestId('create-button').click()
    await waitForPath(page, '/ui/console/user-groups/new')
    await field(page, 'field-name').fill(name)
    if (name.startsWith('grp')) await pick(page, 'users', `u${TAG}c`, new RegExp(`\\(u${TAG}c\\)`))
    await save(page, '/ui/console/user-groups')
  }
  await searchFor(page, TAG, [`grp-${TAG}`, `gone-${TAG}`])
  assert.match(await rowWith(page, `grp-${TAG}`).innerText(), /\b1\b/)
  // Rename.
  await rowWith(page, `grp-${TAG}`).getByTestId('row-edit').click()
  await page.getByTestId('field-users').locator('.el-tag', { hasText: `u${TAG}c` }).first().waitFor()
  await field(page, 'field-name').fill(`team-${TAG}`)
  await save(page, '/ui/console/user-groups')
  await searchFor(page, TAG, [`team-${TAG}`, `gone-${TAG}`])
  // Delete one, after a confirmation.
  await rowWith(page, `gone-${TAG}`).getByTestId('row-delete').click()
  await confirmBox(page)
  await searchFor(page, TAG, [`team-${TAG}`])
  await screenshot(page, 'admin-user-groups.png')
  const groups = await list(page, `users/groups/?search=${TAG}`)
  assert.deepEqual(groups.map((g) => g.name), [`team-${TAG}`])
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('users: created, edited (into a group), and cloned into a new user', async () => {
  const { page } = ctx
  await page.goto('/ui/console/users')
  await page.getByTestId('create-button').click()
  await waitForPath(page, '/ui/console/users/new')
  await field(page, 'field-name').fill(`New ${TAG}`)
  await field(page, 'field-username').fill(`new${TAG}`)
  await field(page, 'field-email').fill(`new${TAG}@example.com`)
  await field(page, 'field-password').fill('Created-Pw-42x')
  await area(page, 'field-comment').fill(`made by the browser ${TAG}`)
  await screenshot(page, 'admin-user-form.png')
  await save(page, '/ui/console/users')

  // Edit: another name, and into the group.
  await searchFor(page, `new${TAG}`, [`new${TAG}`])
  await rowWith(page, `new${TAG}`).getByTestId('row-edit').click()
  await page.waitForURL(/\/ui\/console\/users\/[0-9a-f-]{36}\/edit$/)
  await page.waitForFunction(() => document.querySelector('[data-testid="field-name"] input')?.value)
  assert.equal(await field(page, 'field-username').isDisabled(), true)
  await field(page, 'field-name').fill(`Renamed ${TAG}`)
  await pick(page, 'groups', `team-${TAG}`, `team-${TAG}`)
  await save(page, '/ui/console/users')
  const edited = await user(page, `new${TAG}`)
  assert.equal(edited.name, `Renamed ${TAG}`)
  assert.deepEqual(edited.groups.map((g) => g.name ?? g), [`team-${TAG}`])

  // Clone: the form comes filled from the user (a new username and email needed).
  await searchFor(page, `new${TAG}`, [`new${TAG}`])
  await rowWith(page, `new${TAG}`).getByTestId('row-more').click()
  await page.locator('.el-dropdown-menu__item:visible', { hasText: 'Clone' }).click()
  await page.waitForURL((u) => u.pathname === '/ui/console/users/new' && u.searchParams.has('clone'))
  await page.waitForFunction(() => document.querySelector('[data-testid="field-name"] input')?.value)
  assert.equal(await field(page, 'field-name').inputValue(), `Renamed ${TAG}-copy`)
  assert.equal(await area(page, 'field-comment').inputValue(), `made by the browser ${TAG}`)
  await page.getByTestId('field-groups').locator('.el-tag', { hasText: `team-${TAG}` }).first().waitFor()
  await field(page, 'field-username').fill(`copy${TAG}`)
  await field(page, 'field-email').fill(`copy${TAG}@example.com`)
  await field(page, 'field-password').fill('Cloned-Pw-42x')
  await screenshot(page, 'admin-user-clone.png')
  await save(page, '/ui/console/users')
  const copy = await user(page, `copy${TAG}`)
  assert.equal(copy.name, `Renamed ${TAG}-copy`)
  assert.equal(copy.comment, `made by the browser ${TAG}`)
  assert.deepEqual(copy.groups.map((g) => g.name ?? g), [`team-${TAG}`])
  assert.ok(await user(page, `new${TAG}`), 'the original is still there')
})

/** Opens the "More" menu of a user's row and picks the item with `testid`. */
async function more(page, username, testid) {
  await searchFor(page, username, [username])
  await rowWith(page, username).getByTestId('row-more').click()
  await page.locator(`[data-testid="${testid}"]:visible`).click()
}

test('users: quick actions (deactivate and activate, unlock, reset MFA, passwords)', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await page.goto('/ui/console/users')
  await rows(page).first().waitFor()

  // Deactivate, then activate again, from the row.
  await searchFor(page, `u${TAG}c`, [`u${TAG}c`])
  const toggle = rowWith(page, `u${TAG}c`).getByTestId('row-toggle-active')
  assert.match(await toggle.innerText(), /Deactivate/)
  await listed(page, 'users/users/', () => toggle.click())
  await rowWith(page, `u${TAG}c`).getByTestId('row-toggle-active').filter({ hasText: 'Activate' }).waitFor()
  assert.equal((await user(page, `u${TAG}c`)).is_active, false)
  await listed(page, 'users/users/', () => rowWith(page, `u${TAG}c`).getByTestId('row-toggle-active').click())
  await rowWith(page, `u${TAG}c`).getByTestId('row-toggle-active').filter({ hasText: 'Deactivate' }).waitFor()
  assert.equal((await user(page, `u${TAG}c`)).is_active, true)

  // The locked user (failed logins): unlock; the filter for locked users finds it first.
  await page.getByTestId('filter-is_login_blocked').click()
  await option(page, 'Yes').click()
  await searchFor(page, LOCKED, [LOCKED])
  await screenshot(page, 'admin-users-locked.png')
  assert.equal((await user(page, LOCKED)).login_blocked, true)
  await more(page, LOCKED, 'user-unblock')
  await success(page).waitFor()
  assert.equal((await user(page, LOCKED)).login_blocked, false)
  await page.getByText('Clear filters').first().click()

  // Reset MFA: asked first, then done.
  await more(page, MFA_USER, 'user-reset-mfa')
  await page.locator('.el-message-box', { hasText: 'authenticator' }).waitFor()
  await Promise.all([page.waitForResponse((r) => r.url().includes('/mfa/reset/')), confirmBox(page)])
  await success(page).waitFor()

  // Reset the password: asked first; the temporary password is shown once, and works.
  await more(page, MFA_USER, 'user-reset-password')
  await page.locator('.el-message-box', { hasText: 'temporary password' }).waitFor()
  const [reset] = await Promise.all([page.waitForResponse((r) => r.url().includes('/password/reset/')), confirmBox(page)])
  assert.equal(reset.status(), 200)
  const temporary = (await page.getByTestId('temporary-password').innerText()).trim()
  assert.equal(temporary, (await reset.json()).password)
  assert.ok(temporary.length >= 8, temporary)
  await screenshot(page, 'admin-users-reset.png')
  await page.locator('.el-message-box .el-button--primary').click()

  // Set a password (after the reset, which replaced it).
  await more(page, MFA_USER, 'user-set-password')
  await page.locator('.el-message-box input').fill(NEW_PASSWORD)
  await Promise.all([page.waitForResponse((r) => /\/password\/$/.test(r.url()) && r.request().method() === 'PUT'), confirmBox(page)])
  await success(page).waitFor()

  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('platforms: a copy of Linux, its protocols edited, a bad list refused in words, deleted', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await page.goto('/ui/console/platforms')
  await searchFor(page, 'Linux', ['Linux'])
  await screenshot(page, 'admin-platforms.png')
  // A built-in platform has no delete.
  assert.equal(await rowWith(page, 'Linux').getByTestId('row-delete').count(), 0)
  await rowWith(page, 'Linux').getByTestId('row-clone').click()
  await page.waitForURL((u) => u.pathname === '/ui/console/platforms/new' && u.searchParams.has('clone'))
  await page.waitForFunction(() => document.querySelector('[data-testid="field-name"] input')?.value === 'Linux-copy')
  await page.getByTestId('field-protocols').locator('.el-input-number').first().waitFor()
  await field(page, 'field-name').fill(`plat-${TAG}`)
  const port = page.getByTestId('field-protocols').locator('.el-input-number input').first()
  await port.fill('2222')
  await port.press('Tab')
  await screenshot(page, 'admin-platform-form.png')
  await save(page, '/ui/console/platforms')
  const [made] = await list(page, `assets/platforms/?name=plat-${TAG}`)
  assert.equal(made.internal, false)
  assert.equal(made.type.value, 'linux')
  assert.equal(made.protocols.find((p) => p.name === 'ssh').port, 2222)

  // Edit: a second ssh row is refused with the server's words under the field.
  await searchFor(page, `plat-${TAG}`, [`plat-${TAG}`])
  await rowWith(page, `plat-${TAG}`).getByTestId('row-edit').click()
  await page.waitForURL(/\/ui\/console\/platforms\/\d+\/edit$/)
  const protocols = page.getByTestId('field-protocols')
  await protocols.locator('.el-input-number').first().waitFor()
  assert.equal(await page.getByTestId('field-category').locator('.is-disabled').count() > 0, true, 'the category is fixed')
  const before = await protocols.locator('.el-input-number').count()
  await protocols.getByRole('button', { name: 'Create' }).click()
  const added = protocols.locator('.el-select').nth(before)
  await added.click()
  await page.keyboard.type('ssh')
  await page.keyboard.press('Enter')
  await page.getByTestId('form-submit').click()
  const error = protocols.locator('.el-form-item__error')
  await error.waitFor()
  assert.match(await error.innerText(), /listed twice/)
  await screenshot(page, 'admin-platform-refused.png')
  // Fixed: the extra row gone, the port changed.
  await protocols.locator('.el-button').nth(before).click()
  await port.fill('2200')
  await port.press('Tab')
  await save(page, '/ui/console/platforms')
  const [edited] = await list(page, `assets/platforms/?name=plat-${TAG}`)
  assert.equal(edited.protocols.find((p) => p.name === 'ssh').port, 2200)

  await searchFor(page, `plat-${TAG}`, [`plat-${TAG}`])
  await rowWith(page, `plat-${TAG}`).getByTestId('row-delete').click()
  await confirmBox(page)
  await success(page).waitFor()
  await page.getByTestId('empty-state').waitFor()
  assert.deepEqual(await list(page, `assets/platforms/?name=plat-${TAG}`), [])
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('zones and gateways: a zone, a gateway in it, edited, deleted', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await page.goto('/ui/console/zones')
  await page.getByTestId('create-button').click()
  await field(page, 'field-name').fill(`zone-${TAG}`)
  await save(page, '/ui/console/zones')

  await page.goto('/ui/console/gateways')
  await page.getByTestId('create-button').click()
  await waitForPath(page, '/ui/console/gateways/new')
  await field(page, 'field-name').fill(`gw-${TAG}`)
  await field(page, 'field-address').fill('10.66.0.1')
  assert.equal(await page.getByTestId('field-platform').count(), 0, 'always the Gateway platform')
  await pick(page, 'zone', `zone-${TAG}`, `zone-${TAG}`)
  await screenshot(page, 'admin-gateway-form.png')
  await save(page, '/ui/console/gateways')
  await searchFor(page, `gw-${TAG}`, [`gw-${TAG}`])
  assert.match(await rowWith(page, `gw-${TAG}`).innerText(), new RegExp(`zone-${TAG}`))

  // The zone lists its gateway.
  await page.goto('/ui/console/zones')
  await searchFor(page, `zone-${TAG}`, [`zone-${TAG}`])
  assert.match(await rowWith(page, `zone-${TAG}`).innerText(), new RegExp(`gw-${TAG}`))
  await screenshot(page, 'admin-zones.png')

  // Edit the gateway's address.
  await page.goto('/ui/console/gateways')
  await searchFor(page, `gw-${TAG}`, [`gw-${TAG}`])
  await rowWith(page, `gw-${TAG}`).getByTestId('row-edit').click()
  await page.waitForFunction(() => document.querySelector('[data-testid="field-address"] input')?.value === '10.66.0.1')
  await field(page, 'field-address').fill('10.66.0.2')
  await save(page, '/ui/console/gateways')
  await searchFor(page, `gw-${TAG}`, [`gw-${TAG}`])
  assert.match(await rowWith(page, `gw-${TAG}`).innerText(), /10\.66\.0\.2/)
  await screenshot(page, 'admin-gateways.png')
  await rowWith(page, `gw-${TAG}`).getByTestId('row-delete').click()
  await confirmBox(page)
  await page.getByTestId('empty-state').waitFor()

  await page.goto('/ui/console/zones')
  await searchFor(page, `zone-${TAG}`, [`zone-${TAG}`])
  await rowWith(page, `zone-${TAG}`).getByTestId('row-edit').click()
  await page.waitForFunction(() => document.querySelector('[data-testid="field-name"] input')?.value)
  await field(page, 'field-name').fill(`region-${TAG}`)
  await save(page, '/ui/console/zones')
  await searchFor(page, `region-${TAG}`, [`region-${TAG}`])
  await rowWith(page, `region-${TAG}`).getByTestId('row-delete').click()
  await confirmBox(page)
  await page.getByTestId('empty-state').waitFor()
  assert.deepEqual(await list(page, `assets/zones/?search=${TAG}`), [])
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('account templates: created, edited, deleted', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await page.goto('/ui/console/account-templates')
  await page.getByTestId('create-button').click()
  await field(page, 'field-name').fill(`tpl-${TAG}`)
  await field(page, 'field-username').fill(`svc${TAG}`)
  await field(page, 'field-secret').fill('Tpl-secret-42')
  await save(page, '/ui/console/account-templates')
  await searchFor(page, `tpl-${TAG}`, [`tpl-${TAG}`])
  await screenshot(page, 'admin-account-templates.png')
  await rowWith(page, `tpl-${TAG}`).getByTestId('row-edit').click()
  await page.waitForFunction(() => document.querySelector('[data-testid="field-username"] input')?.value)
  await field(page, 'field-username').fill(`ops${TAG}`)
  await save(page, '/ui/console/account-templates')
  const [tpl] = await list(page, `accounts/account-templates/?search=tpl-${TAG}`)
  assert.equal(tpl.username, `ops${TAG}`)
  await searchFor(page, `tpl-${TAG}`, [`tpl-${TAG}`])
  assert.match(await rowWith(page, `tpl-${TAG}`).innerText(), new RegExp(`ops${TAG}`))
  await rowWith(page, `tpl-${TAG}`).getByTestId('row-delete').click()
  await confirmBox(page)
  await page.getByTestId('empty-state').waitFor()
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

/** Opens a list's edit form of `name`, changes the name to `renamed`, saves. */
async function rename(page, base, name, renamed) {
  await searchFor(page, name, [name])
  await rowWith(page, name).getByRole('link', { name }).click()
  await page.waitForURL(new RegExp(`/ui/console/${base}/[^/]+/edit$`))
  await page.waitForFunction(() => document.querySelector('[data-testid="field-name"] input')?.value)
  await field(page, 'field-name').fill(renamed)
  await save(page, `/ui/console/${base}`)
  await searchFor(page, renamed, [renamed])
}
async function remove(page, name) {
  await rowWith(page, name).getByTestId('row-delete').click()
  await confirmBox(page)
  await page.getByTestId('empty-state').waitFor()
}

test('ACLs: command group and filter, login rule (a bad IP under its field), connect rules', async () => {
  const { page, problems } = ctx
  problems.length = 0
  // Command group.
  await page.goto('/ui/console/command-groups')
  await page.getByTestId('create-button').click()
  await field(page, 'field-name').fill(`cg-${TAG}`)
  await area(page, 'field-content').fill('rm -rf /\nshutdown')
  await save(page, '/ui/console/command-groups')
  await searchFor(page, `cg-${TAG}`, [`cg-${TAG}`])
  assert.match(await rowWith(page, `cg-${TAG}`).innerText(), /shutdown/)
  await screenshot(page, 'admin-command-groups.png')

  // Command filter using it.
  await page.goto('/ui/console/command-filters')
  await page.getByTestId('create-button').click()
  await field(page, 'field-name').fill(`cf-${TAG}`)
  await pick(page, 'command_groups', `cg-${TAG}`, `cg-${TAG}`)
  await save(page, '/ui/console/command-filters')
  await searchFor(page, `cf-${TAG}`, [`cf-${TAG}`])
  assert.match(await rowWith(page, `cf-${TAG}`).innerText(), new RegExp(`cg-${TAG}`))
  await screenshot(page, 'admin-command-filters.png')
  await rename(page, 'command-filters', `cf-${TAG}`, `cmdf-${TAG}`)
  await remove(page, `cmdf-${TAG}`)

  // Login rule: a bad address is shown under the IP field, in words; fixed, it saves.
  await page.goto('/ui/console/login-acls')
  await page.getByTestId('create-button').click()
  await field(page, 'field-name').fill(`la-${TAG}`)
  const ips = page.getByTestId('field-ip_group')
  await ips.locator('.el-tag .el-tag__close').first().click()
  await ips.locator('.el-select').click()
  await page.keyboard.type('999.1.1.1')
  await page.keyboard.press('Enter')
  await page.keyboard.press('Escape')
  await page.getByTestId('form-submit').click()
  const error = ips.locator('.el-form-item__error')
  await error.waitFor()
  assert.match(await error.innerText(), /999\.1\.1\.1/)
  await screenshot(page, 'admin-login-acl-refused.png')
  await ips.locator('.el-tag .el-tag__close').first().click()
  await ips.locator('.el-select').click()
  await page.keyboard.type('10.0.0.0/8')
  await page.keyboard.press('Enter')
  await page.keyboard.press('Escape')
  await save(page, '/ui/console/login-acls')
  await searchFor(page, `la-${TAG}`, [`la-${TAG}`])
  assert.match(await rowWith(page, `la-${TAG}`).innerText(), /10\.0\.0\.0\/8/)
  await screenshot(page, 'admin-login-acls.png')
  await rename(page, 'login-acls', `la-${TAG}`, `login-${TAG}`)
  const [rule] = await list(page, `acls/login-acls/?search=login-${TAG}`)
  assert.deepEqual(rule.rules.ip_group, ['10.0.0.0/8'])
  await remove(page, `login-${TAG}`)

  // Connect rule (users × assets × accounts).
  await page.goto('/ui/console/connect-acls')
  await page.getByTestId('create-button').click()
  await field(page, 'field-name').fill(`ca-${TAG}`)
  await choose(page, 'action', /^\s*(Accept|Allow)/)
  await save(page, '/ui/console/connect-acls')
  await searchFor(page, `ca-${TAG}`, [`ca-${TAG}`])
  await screenshot(page, 'admin-connect-acls.png')
  await rename(page, 'connect-acls', `ca-${TAG}`, `conn-${TAG}`)
  const [conn] = await list(page, `acls/login-asset-acls/?search=conn-${TAG}`)
  assert.equal(conn.action.value ?? conn.action, 'accept')
  await remove(page, `conn-${TAG}`)

  // Connect method rule.
  await page.goto('/ui/console/connect-method-acls')
  await page.getByTestId('create-button').click()
  await field(page, 'field-name').fill(`cm-${TAG}`)
  await choose(page, 'connect_methods', 'web_sftp')
  await page.keyboard.press('Escape')
  await save(page, '/ui/console/connect-method-acls')
  await searchFor(page, `cm-${TAG}`, [`cm-${TAG}`])
  assert.match(await rowWith(page, `cm-${TAG}`).innerText(), /web_sftp/)
  await screenshot(page, 'admin-connect-method-acls.png')
  await rename(page, 'connect-method-acls', `cm-${TAG}`, `meth-${TAG}`)
  await remove(page, `meth-${TAG}`)

  // The command group last (the filter used it).
  await page.goto('/ui/console/command-groups')
  await rename(page, 'command-groups', `cg-${TAG}`, `cmds-${TAG}`)
  await remove(page, `cmds-${TAG}`)
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})

test('labels: a label made, put on an asset, and the asset list filtered by it', async () => {
  const { page, problems } = ctx
  problems.length = 0
  await page.goto('/ui/console/labels')
  await page.getByTestId('create-button').click()
  await field(page, 'field-name').fill(`env${TAG}`)
  await field(page, 'field-value').fill('prod')
  await save(page, '/ui/console/labels')
  await searchFor(page, `env${TAG}`, [`env${TAG}`])

  // On the asset, through its form.
  const [asset] = await list(page, `assets/assets/?name=${ASSET}`)
  await page.goto(`/ui/console/assets/${asset.id}/edit`)
  await page.waitForFunction(() => document.querySelector('[data-testid="field-name"] input')?.value)
  await page.getByTestId('field-labels').locator('.el-select').click()
  await page.keyboard.type(`env${TAG}:prod`)
  await page.keyboard.press('Enter')
  await page.keyboard.press('Escape')
  await page.getByTestId('form-submit').click()
  await success(page).waitFor()
  await page.waitForURL((u) => !u.pathname.endsWith('/edit'))

  // The asset list filtered by it shows that asset only.
  await page.goto('/ui/console/assets')
  await rows(page).first().waitFor()
  const filter = field(page, 'filter-labels')
  await filter.fill(`env${TAG}:prod`)
  await filter.press('Enter')
  await page.waitForFunction(
    ([name]) => {
      const rs = [...document.querySelectorAll('[data-testid="table-row"]')].filter((r) => r.offsetParent)
      return rs.length === 1 && rs[0].textContent.includes(name)
    },
    [ASSET],
  )
  await screenshot(page, 'admin-assets-by-label.png')

  await page.goto('/ui/console/labels')
  await searchFor(page, `env${TAG}`, [`env${TAG}`])
  assert.match(await rowWith(page, `env${TAG}`).innerText(), /\b1\b/)
  await screenshot(page, 'admin-labels.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT, REFUSED), [])
})
