// Running an account automation (test connectivity, verify, change secret) and following it
// to its end.
//
// The server's task endpoints answer once the work is done, but an execution it hands back may
// still say `running` (JumpServer's answer is a task to poll), so every execution is polled on
// `assets/automation-executions/{id}/` until it has finished or the wait runs out. Accounts run
// one after the other so the dialog can show how far along the run is and each account's
// outcome as soon as it is known. The HTTP calls and the clock come in as `AutomationDeps`, so
// the logic is tested without a server (automation.test.ts) and the view stays small.
//
// A run can be stopped (`RunOptions.signal`): the account in flight finishes (the server answers
// when its work is done, and that result is shown), no further account is started, and the
// accounts not started end as `stopped`. A stop during the poll of a `running` execution ends
// the wait at once; that account ends `unfinished` (the execution goes on on the server).
//
// Change secret takes a strategy (`ChangeSecret`): random (the default, optionally with password
// rules or an SSH key algorithm) or a specified secret, a password for password accounts and a
// private key for SSH-key accounts. The secret goes only into the request body.

export type AutomationAction = 'test' | 'verify' | 'change_secret'

/** An execution as `assets/automation-executions/{id}/` shows it (the fields used here). */
export interface Execution {
  id: string
  status: 'running' | 'success' | 'failed' | string
  error?: { code?: string; message?: string } | null
  duration?: number | null
}

/** The account acted on: its id, its asset's id and a label to show. */
export interface AccountRef {
  id: string
  asset: string
  label: string
  /** `password`, `ssh_key`, …: which kind of specified secret change_secret sends. */
  secretType?: string
}

/**
 * `stopped`: not started because the run was stopped; `unfinished`: started, but the wait for
 * its `running` execution was stopped (the execution goes on on the server).
 */
export type OutcomeStatus = 'pending' | 'running' | 'success' | 'failed' | 'stopped' | 'unfinished'

/** One account's outcome: `message` says in words why it failed. */
export interface Outcome {
  account: AccountRef
  status: OutcomeStatus
  execution?: string
  code?: string
  message?: string
  duration?: number | null
}

export interface AutomationDeps {
  post(path: string, body: unknown): Promise<unknown>
  get(path: string): Promise<unknown>
  /** Waits `ms`; resolves early when `signal` is aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  now(): number
}

export interface PollOptions {
  /** Milliseconds between two looks at a running execution. */
  interval?: number
  /** Give up waiting after this many milliseconds (the execution goes on on the server). */
  timeout?: number
  /** Stops the run: see the module comment. */
  signal?: AbortSignal
}

/** JumpServer's `password_rules` (lengths 16..30 on this server). */
export interface PasswordRules {
  length: number
  lowercase: boolean
  uppercase: boolean
  digit: boolean
  symbol: boolean
  exclude_symbols?: string
}

export const PASSWORD_LENGTH = { min: 16, max: 30 }
export const DEFAULT_PASSWORD_RULES: PasswordRules = { length: 16, lowercase: true, uppercase: true, digit: true, symbol: true }

/** Where change_secret's new secret comes from. */
export type ChangeSecret =
  | { strategy: 'random'; passwordRules?: PasswordRules; sshKeyAlgorithm?: 'ed25519' | 'rsa' }
  | { strategy: 'specific'; password?: string; privateKey?: string }

export interface RunOptions extends PollOptions {
  /** change_secret only; random by the platform's rules when absent. */
  secret?: ChangeSecret
}

/** Whether the account's specified secret is a private key (else a password). */
export const takesKey = (a: AccountRef) => a.secretType === 'ssh_key'

/**
 * What is wrong with a specified secret before anything is sent, as an i18n key under
 * `automation.secret.`, or null. `confirm` is the password typed a second time.
 */
export function secretProblem(accounts: AccountRef[], secret: ChangeSecret, confirm = ''): string | null {
  if (secret.strategy === 'random') {
    const r = secret.passwordRules
    if (!r) return null
    if (!(r.length >= PASSWORD_LENGTH.min && r.length <= PASSWORD_LENGTH.max)) return 'badLength'
    if (!(r.lowercase || r.uppercase || r.digit || r.symbol)) return 'noClass'
    return null
  }
  if (accounts.some((a) => !takesKey(a))) {
    if (!secret.password) return 'emptyPassword'
    if (/[\r\n]/.test(secret.password)) return 'lineBreak'
    if (secret.password !== confirm) return 'mismatch'
  }
  if (accounts.some(takesKey)) {
    const k = (secret.privateKey ?? '').trim()
    if (!k) return 'emptyKey'
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(k)) return 'notKey'
  }
  return null
}

const sameRules = (a: PasswordRules, b: PasswordRules) =>
  a.length === b.length && a.lowercase === b.lowercase && a.uppercase === b.uppercase && a.digit === b.digit && a.symbol === b.symbol && (a.exclude_symbols ?? '') === (b.exclude_symbols ?? '')

/** The change_secret request body for one account (`AutomationRequest` on the server). */
export function changeSecretBody(account: AccountRef, secret?: ChangeSecret): Record<string, unknown> {
  const body: Record<string, unknown> = { account: account.id }
  if (!secret) return body
  if (secret.strategy === 'specific') {
    body.secret_strategy = 'specific'
    body.secret = takesKey(account) ? secret.privateKey : secret.password
    return body
  }
  // Random: only what differs from the server's defaults, so the plain request stays `{account}`.
  if (takesKey(account)) {
    if (secret.sshKeyAlgorithm && secret.sshKeyAlgorithm !== 'ed25519') body.ssh_key_algorithm = secret.sshKeyAlgorithm
  } else if (secret.passwordRules && !sameRules(secret.passwordRules, DEFAULT_PASSWORD_RULES)) {
    const { exclude_symbols, ...rules } = secret.passwordRules
    body.password_rules = exclude_symbols ? { ...rules, exclude_symbols } : rules
  }
  return body
}

/** Raised when an execution still runs after the wait; the view says so in words. */
export class StillRunning extends Error {
  constructor(public execution: string) {
    super(`execution ${execution} is still running`)
    this.name = 'StillRunning'
  }
}

/** Raised when the wait for a running execution was stopped (`signal`). */
export class StoppedWaiting extends Error {
  constructor(public execution: string) {
    super(`stopped waiting for execution ${execution}; it goes on on the server`)
    this.name = 'StoppedWaiting'
  }
}

function asExecution(v: unknown): Execution {
  const o = (v ?? {}) as Record<string, unknown>
  return {
    id: String(o.id ?? ''),
    status: String(o.status ?? ''),
    error: (o.error as Execution['error']) ?? null,
    duration: typeof o.duration === 'number' ? o.duration : null,
  }
}

/** Polls the execution until it is no longer `running`, or the signal stops the wait. */
export async function waitExecution(first: Execution, deps: AutomationDeps, opts: PollOptions = {}): Promise<Execution> {
  const interval = opts.interval ?? 1000
  const deadline = deps.now() + (opts.timeout ?? 5 * 60 * 1000)
  const stopped = () => opts.signal?.aborted === true
  let e = first
  while (e.status === 'running') {
    if (stopped()) throw new StoppedWaiting(e.id)
    if (deps.now() >= deadline) throw new StillRunning(e.id)
    await deps.sleep(interval, opts.signal)
    if (stopped()) throw new StoppedWaiting(e.id)
    e = asExecution(await deps.get(`assets/automation-executions/${e.id}/`))
  }
  return e
}

/** Starts the action for one account and answers the first execution the server returns. */
async function start(action: AutomationAction, account: AccountRef, deps: AutomationDeps, secret?: ChangeSecret): Promise<Execution> {
  // Ping logs in as the account; change_secret by the chosen strategy (random by default).
  const answer =
    action === 'verify'
      ? await deps.post('accounts/accounts/tasks/', { action: 'verify', accounts: [account.id] })
      : action === 'test'
        ? await deps.post(`assets/assets/${account.asset}/automations/ping/`, { account: account.id })
        : await deps.post(`assets/assets/${account.asset}/automations/change_secret/`, changeSecretBody(account, secret))
  const o = (answer ?? {}) as Record<string, unknown>
  // The tasks endpoint answers `{task, executions: [...]}`; the method endpoint the execution.
  const execs = Array.isArray(o.executions) ? o.executions : [o]
  return asExecution(execs[0])
}

/**
 * Runs the action on each account in turn. `onProgress` gets a fresh copy of every outcome
 * whenever one changes. A failure to start (refused, not enabled) is that account's outcome,
 * with the server's words, and the run goes on with the next account. Once `opts.signal` is
 * aborted no further account starts: those end `stopped`.
 */
export async function runAutomation(
  action: AutomationAction,
  accounts: AccountRef[],
  deps: AutomationDeps,
  onProgress: (outcomes: Outcome[]) => void,
  opts: RunOptions = {},
  describe: (e: unknown) => string = (e) => (e instanceof Error ? e.message : String(e)),
): Promise<Outcome[]> {
  const outcomes: Outcome[] = accounts.map((account) => ({ account, status: 'pending' }))
  const report = () => onProgress(outcomes.map((o) => ({ ...o })))
  report()
  for (const o of outcomes) {
    if (opts.signal?.aborted) {
      for (const rest of outcomes) if (rest.status === 'pending') rest.status = 'stopped'
      report()
      break
    }
    o.status = 'running'
    report()
    try {
      const e = await waitExecution(await start(action, o.account, deps, opts.secret), deps, opts)
      o.execution = e.id
      o.duration = e.duration
      if (e.status === 'success') {
        o.status = 'success'
      } else {
        o.status = 'failed'
        o.code = e.error?.code
        o.message = e.error?.message || e.status
      }
    } catch (err) {
      o.status = 'failed'
      if (err instanceof StoppedWaiting) {
        o.status = 'unfinished'
        o.execution = err.execution
        o.code = 'stopped_waiting'
      } else if (err instanceof StillRunning) {
        o.execution = err.execution
        o.code = 'still_running'
      }
      o.message = describe(err)
    }
    report()
  }
  return outcomes
}
