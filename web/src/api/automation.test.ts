import { describe, expect, it } from 'vitest'
import { runAutomation, waitExecution, type AutomationDeps, type Outcome } from './automation'

/** Scripted server: answers POSTs and GETs from queues, records the calls, fake clock. */
function fakeDeps(posts: Array<unknown | Error>, gets: unknown[]) {
  const calls: string[] = []
  let clock = 0
  const deps: AutomationDeps = {
    async post(path, body) {
      calls.push(`POST ${path} ${JSON.stringify(body)}`)
      const a = posts.shift()
      if (a instanceof Error) throw a
      return a
    },
    async get(path) {
      calls.push(`GET ${path}`)
      return gets.shift()
    },
    async sleep(ms) {
      calls.push(`sleep ${ms}`)
      clock += ms
    },
    now: () => clock,
  }
  return { deps, calls }
}

const acc = (n: number) => ({ id: `a${n}`, asset: `h${n}`, label: `root@h${n}` })

describe('waitExecution', () => {
  it('polls a running execution until it finishes', async () => {
    const { deps, calls } = fakeDeps([], [{ id: 'e1', status: 'running' }, { id: 'e1', status: 'success', duration: 1.5 }])
    const e = await waitExecution({ id: 'e1', status: 'running' }, deps, { interval: 500 })
    expect(e.status).toBe('success')
    expect(e.duration).toBe(1.5)
    expect(calls).toEqual(['sleep 500', 'GET assets/automation-executions/e1/', 'sleep 500', 'GET assets/automation-executions/e1/'])
  })

  it('does not poll a finished execution', async () => {
    const { deps, calls } = fakeDeps([], [])
    const e = await waitExecution({ id: 'e1', status: 'failed' }, deps)
    expect(e.status).toBe('failed')
    expect(calls).toEqual([])
  })

  it('gives up after the timeout', async () => {
    const running = { id: 'e9', status: 'running' }
    const { deps } = fakeDeps([], [running, running, running, running])
    await expect(waitExecution(running, deps, { interval: 1000, timeout: 2500 })).rejects.toThrow(/e9 is still running/)
  })
})

describe('runAutomation', () => {
  it('runs each account in turn and reports every outcome with the error in words', async () => {
    const { deps, calls } = fakeDeps(
      [
        { task: 'e1', executions: [{ id: 'e1', status: 'success' }] },
        { task: 'e2', executions: [{ id: 'e2', status: 'running' }] },
        new Error('Method verify_account is not enabled for this platform.'),
      ],
      [{ id: 'e2', status: 'failed', error: { code: 'unauthorized', message: 'the secret was refused' } }],
    )
    const seen: Outcome[][] = []
    const out = await runAutomation('verify', [acc(1), acc(2), acc(3)], deps, (o) => seen.push(o), { interval: 10 })
    expect(out.map((o) => [o.status, o.code, o.message])).toEqual([
      ['success', undefined, undefined],
      ['failed', 'unauthorized', 'the secret was refused'],
      ['failed', undefined, 'Method verify_account is not enabled for this platform.'],
    ])
    expect(calls[0]).toBe('POST accounts/accounts/tasks/ {"action":"verify","accounts":["a1"]}')
    expect(calls).toContain('GET assets/automation-executions/e2/')
    // Progress: first all pending, then the second account running after the first succeeded.
    expect(seen[0].map((o) => o.status)).toEqual(['pending', 'pending', 'pending'])
    expect(seen.some((s) => s[0].status === 'success' && s[1].status === 'running' && s[2].status === 'pending')).toBe(true)
    expect(seen[seen.length - 1].map((o) => o.status)).toEqual(['success', 'failed', 'failed'])
  })

  it('tests connectivity with a ping on the account asset logging in as that account', async () => {
    const { deps, calls } = fakeDeps([{ id: 'e5', status: 'success' }], [])
    const out = await runAutomation('test', [acc(5)], deps, () => {})
    expect(calls).toEqual(['POST assets/assets/h5/automations/ping/ {"account":"a5"}'])
    expect(out[0].status).toBe('success')
    expect(out[0].execution).toBe('e5')
  })

  it('changes a secret through the asset change_secret method', async () => {
    const { deps, calls } = fakeDeps([{ id: 'e6', status: 'failed', error: { code: 'verify_failed', message: 'new secret refused' } }], [])
    const out = await runAutomation('change_secret', [acc(6)], deps, () => {})
    expect(calls).toEqual(['POST assets/assets/h6/automations/change_secret/ {"account":"a6"}'])
    expect([out[0].status, out[0].code]).toEqual(['failed', 'verify_failed'])
  })
})
