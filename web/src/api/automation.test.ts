import { describe, expect, it } from 'vitest'
import { DEFAULT_PASSWORD_RULES, changeSecretBody, runAutomation, secretProblem, waitExecution, type AutomationDeps, type Outcome } from './automation'

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

describe('stopping a run', () => {
  it('lets the account in flight finish, starts no further account and marks the rest stopped', async () => {
    const stop = new AbortController()
    const { deps, calls } = fakeDeps([], [])
    // The Stop click lands while the first account's request is in flight.
    deps.post = async (path, body) => {
      calls.push(`POST ${path} ${JSON.stringify(body)}`)
      stop.abort()
      return { task: 'e1', executions: [{ id: 'e1', status: 'success', duration: 0.4 }] }
    }
    const seen: Outcome[][] = []
    const out = await runAutomation('verify', [acc(1), acc(2), acc(3)], deps, (o) => seen.push(o), { signal: stop.signal })
    expect(calls).toEqual(['POST accounts/accounts/tasks/ {"action":"verify","accounts":["a1"]}'])
    expect(out.map((o) => o.status)).toEqual(['success', 'stopped', 'stopped'])
    expect(out[0].execution).toBe('e1')
    expect(seen[seen.length - 1].map((o) => o.status)).toEqual(['success', 'stopped', 'stopped'])
  })

  it('starts nothing when stopped before the first account', async () => {
    const stop = new AbortController()
    stop.abort()
    const { deps, calls } = fakeDeps([{ id: 'x', status: 'success' }], [])
    const out = await runAutomation('test', [acc(1), acc(2)], deps, () => {}, { signal: stop.signal })
    expect(calls).toEqual([])
    expect(out.map((o) => o.status)).toEqual(['stopped', 'stopped'])
  })

  it('stops the poll wait of a running execution: no further look, the account unfinished', async () => {
    const stop = new AbortController()
    const { deps, calls } = fakeDeps([{ id: 'e7', status: 'running' }, { id: 'e8', status: 'success' }], [{ id: 'e7', status: 'success' }])
    const signals: Array<AbortSignal | undefined> = []
    deps.sleep = async (ms, signal) => {
      calls.push(`sleep ${ms}`)
      signals.push(signal)
      stop.abort() // Stop while waiting between two looks
    }
    const out = await runAutomation('test', [acc(7), acc(8)], deps, () => {}, { signal: stop.signal, interval: 1000 })
    expect(calls).toEqual(['POST assets/assets/h7/automations/ping/ {"account":"a7"}', 'sleep 1000'])
    expect(signals).toEqual([stop.signal])
    expect(out.map((o) => [o.status, o.execution, o.code])).toEqual([
      ['unfinished', 'e7', 'stopped_waiting'],
      ['stopped', undefined, undefined],
    ])
  })

  it('does not poll at all once stopped', async () => {
    const stop = new AbortController()
    stop.abort()
    const { deps, calls } = fakeDeps([], [])
    await expect(waitExecution({ id: 'e3', status: 'running' }, deps, { signal: stop.signal })).rejects.toThrow(/stopped waiting for execution e3/)
    expect(calls).toEqual([])
  })
})

describe('change secret strategies', () => {
  const pw = { ...acc(1), secretType: 'password' }
  const key = { ...acc(2), secretType: 'ssh_key' }
  const PEM = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn==\n-----END OPENSSH PRIVATE KEY-----\n'

  it('sends a specified password to password accounts and a private key to SSH-key accounts', async () => {
    const { deps, calls } = fakeDeps([{ id: 'e1', status: 'success' }, { id: 'e2', status: 'success' }], [])
    const out = await runAutomation('change_secret', [pw, key], deps, () => {}, {
      secret: { strategy: 'specific', password: 'N3w-pass word', privateKey: PEM },
    })
    expect(calls).toEqual([
      'POST assets/assets/h1/automations/change_secret/ {"account":"a1","secret_strategy":"specific","secret":"N3w-pass word"}',
      `POST assets/assets/h2/automations/change_secret/ ${JSON.stringify({ account: 'a2', secret_strategy: 'specific', secret: PEM })}`,
    ])
    expect(out.map((o) => o.status)).toEqual(['success', 'success'])
    // The outcomes carry no secret.
    expect(JSON.stringify(out)).not.toContain('N3w-pass')
  })

  it('sends random with only the rules that differ from the defaults', () => {
    expect(changeSecretBody(pw, { strategy: 'random' })).toEqual({ account: 'a1' })
    expect(changeSecretBody(pw, { strategy: 'random', passwordRules: { ...DEFAULT_PASSWORD_RULES } })).toEqual({ account: 'a1' })
    expect(changeSecretBody(pw, { strategy: 'random', passwordRules: { ...DEFAULT_PASSWORD_RULES, length: 24, symbol: false } })).toEqual({
      account: 'a1',
      password_rules: { length: 24, lowercase: true, uppercase: true, digit: true, symbol: false },
    })
    expect(changeSecretBody(key, { strategy: 'random', passwordRules: { ...DEFAULT_PASSWORD_RULES, length: 24 }, sshKeyAlgorithm: 'rsa' })).toEqual({
      account: 'a2',
      ssh_key_algorithm: 'rsa',
    })
    expect(changeSecretBody(key, { strategy: 'random', sshKeyAlgorithm: 'ed25519' })).toEqual({ account: 'a2' })
  })

  it('refuses an empty or mismatched password, an empty or unreadable key, and impossible rules', () => {
    const specific = (password: string, privateKey = '') => ({ strategy: 'specific' as const, password, privateKey })
    expect(secretProblem([pw], specific(''), '')).toBe('emptyPassword')
    expect(secretProblem([pw], specific('abc'), 'abd')).toBe('mismatch')
    expect(secretProblem([pw], specific('abc'), 'abc')).toBeNull()
    expect(secretProblem([key], specific(''), '')).toBe('emptyKey')
    expect(secretProblem([key], specific('', 'ssh-ed25519 AAAA'), '')).toBe('notKey')
    expect(secretProblem([key], specific('', PEM), '')).toBeNull()
    expect(secretProblem([pw, key], specific('abc', ''), 'abc')).toBe('emptyKey')
    expect(secretProblem([pw], { strategy: 'random' })).toBeNull()
    expect(secretProblem([pw], { strategy: 'random', passwordRules: { ...DEFAULT_PASSWORD_RULES, length: 12 } })).toBe('badLength')
    const none = { length: 16, lowercase: false, uppercase: false, digit: false, symbol: false }
    expect(secretProblem([pw], { strategy: 'random', passwordRules: none })).toBe('noClass')
  })
})
