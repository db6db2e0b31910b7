// Command review in a real browser (run by tests/e2e/web_command_review.rs): a command that a
// command-filter ACL with action `review` matches, typed in a web terminal to a real sshd
// target, asks first and then waits; the reviewer, signed in in a second browser context,
// approves it on the tickets page and it runs; the next one is rejected there and the
// terminal says so, without running it. Screenshots: review-*.png.

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { env, launch, newPage, screenshot, unexpected, signIn } from './support.mjs'

const admin = { username: env('PC_ADMIN_USER'), password: env('PC_ADMIN_PASSWORD') }
const boss = { username: env('PC_REVIEWER'), password: env('PC_REVIEWER_PASSWORD') }
const TARGET = env('PC_REVIEW_TARGET')
const SIGNED_OUT = /status of 401/

let browser
let user
let reviewer
before(async () => {
  browser = await launch()
  user = await newPage(browser)
  user.page.on('dialog', (d) => (d.type() === 'beforeunload' ? d.accept() : d.dismiss()))
  await signIn(user.page, admin)
  reviewer = await newPage(browser)
  await signIn(reviewer.page, boss)
})
after(async () => {
  await browser?.close()
})

const waitForText = (page, text) =>
  page.waitForFunction(
    (text) => {
      const s = document.querySelector('.pc-xterm')?.pcSession
      if (!s) return false
      const b = s.term.buffer.active
      for (let n = 0; n < b.length; n++) if (b.getLine(n).translateToString(true).includes(text)) return true
      return false
    },
    text,
    { timeout: 30_000 },
  )
const screen = (page) =>
  page.evaluate(() => {
    const s = document.querySelector('.pc-xterm').pcSession
    const b = s.term.buffer.active
    const out = []
    for (let n = 0; n < b.length; n++) out.push(b.getLine(n).translateToString(true))
    return out.join('\n')
  })

/** The reviewer answers the pending ticket whose command is `command` on the tickets page. */
async function answer(command, verb) {
  const { page } = reviewer
  await page.goto('/ui/audit/tickets')
  const row = page.locator('[data-testid="table-row"]:visible', { hasText: command }).first()
  await row.getByTestId(`ticket-${verb}`).waitFor({ timeout: 20_000 })
  await screenshot(page, `review-ticket-${verb}.png`)
  await row.getByTestId(`ticket-${verb}`).click()
  await page.locator('.el-message-box .el-button--primary').click()
  await page.locator('.el-message--success').first().waitFor()
}

test('a reviewed command waits for the reviewer, runs when approved and not when rejected', async () => {
  const { page, problems } = user
  await page.goto('/ui/workbench/assets')
  const row = page.locator('[data-testid="table-row"]:visible').filter({ hasText: TARGET }).first()
  await row.getByTestId('asset-connect').click()
  await page.getByTestId('connect-terminal').click()
  await page.locator('[data-testid="terminal-pane"][data-state="connected"]').first().waitFor({ timeout: 20_000 })
  await page.locator('.pc-xterm').first().click()

  const approved = 'echo $((6*7))-approved'
  await page.keyboard.type(`${approved}\r`)
  await waitForText(page, 'requires review')
  await page.keyboard.type('y\r')
  await waitForText(page, 'Ticket:')
  await screenshot(page, 'review-waiting.png')
  assert.doesNotMatch(await screen(page), /42-approved/, 'nothing ran before the review')
  await answer(approved, 'approve')
  await waitForText(page, '42-approved')
  assert.match(await screen(page), /approved/)

  const rejected = 'echo $((5*5))-rejected'
  await page.keyboard.type(`${rejected}\r`)
  await waitForText(page, 'requires review')
  // The second question: the first one's text is there already; wait for a second ticket.
  await page.waitForFunction(() => {
    const b = document.querySelector('.pc-xterm').pcSession.term.buffer.active
    let n = 0
    for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).includes('requires review')) n++
    return n >= 2
  })
  await page.keyboard.type('y\r')
  await answer(rejected, 'reject')
  await waitForText(page, 'is forbidden')
  assert.doesNotMatch(await screen(page), /25-rejected/, 'the rejected command did not run')
  await screenshot(page, 'review-rejected.png')
  assert.deepEqual(unexpected(problems, SIGNED_OUT), [])
  assert.deepEqual(unexpected(reviewer.problems, SIGNED_OUT), [])
})
