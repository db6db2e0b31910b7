// Running an account automation (test connectivity, verify, change secret) and following it
// to its end.
//
// The server's task endpoints answer once the work is done, but an execution it hands back may
// still say `running` (JumpServer's answer is a task to poll), so every execution is polled on
// `assets/automation-executions/{id}/` until it has finished or the wait runs out. Accounts run
// one after the other so the dialog can show how far along the run is and each account's
// outcome as soon as it is known. The HTTP calls and the clock come in as `AutomationDeps`, so
// the logic is tested without a server (automation.test.ts) and the view stays small.

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
}

export type OutcomeStatus = 'pending' | 'running' | 'success' | 'failed'

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
  sleep(ms: number): Promise<void>
  now(): number
}

export interface PollOptions {
  /** Milliseconds between two looks at a running execution. */
  interval?: number
  /** Give up waiting after this many milliseconds (the execution goes on on the server). */
  timeout?: number
}

/** Raised when an execution still runs after the wait; the view says so in words. */
export class StillRunning extends Error {
  constructor(public execution: string) {
    super(`execution ${execution} is still running`)
    this.name = 'StillRunning'
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

/** Polls the execution until it is no longer `running`. */
export async function waitExecution(first: Execution, deps: AutomationDeps, opts: PollOptions = {}): Promise<Execution> {
  const interval = opts.interval ?? 1000
  const deadline = deps.now() + (opts.timeout ?? 5 * 60 * 1000)
  let e = first
  while (e.status === 'running') {
    if (deps.now() >= deadline) throw new StillRunning(e.id)
    await deps.sleep(interval)
    e = asExecution(await deps.get(`assets/automation-executions/${e.id}/`))
  }
  return e
}

/** Starts the action for one account and answers the first execution the server returns. */
async function start(action: AutomationAction, account: AccountRef, deps: AutomationDeps): Promise<Execution> {
  // Ping logs in as the account; change_secret with the default strategy: a random new secret.
  const answer =
    action === 'verify'
      ? await deps.post('accounts/accounts/tasks/', { action: 'verify', accounts: [account.id] })
      : await deps.post(`assets/assets/${account.asset}/automations/${action === 'test' ? 'ping' : 'change_secret'}/`, { account: account.id })
  const o = (answer ?? {}) as Record<string, unknown>
  // The tasks endpoint answers `{task, executions: [...]}`; the method endpoint the execution.
  const execs = Array.isArray(o.executions) ? o.executions : [o]
  return asExecution(execs[0])
}

/**
 * Runs the action on each account in turn. `onProgress` gets a fresh copy of every outcome
 * whenever one changes. A failure to start (refused, not enabled) is that account's outcome,
 * with the server's words, and the run goes on with the next account.
 */
export async function runAutomation(
  action: AutomationAction,
  accounts: AccountRef[],
  deps: AutomationDeps,
  onProgress: (outcomes: Outcome[]) => void,
  opts: PollOptions = {},
  describe: (e: unknown) => string = (e) => (e instanceof Error ? e.message : String(e)),
): Promise<Outcome[]> {
  const outcomes: Outcome[] = accounts.map((account) => ({ account, status: 'pending' }))
  const report = () => onProgress(outcomes.map((o) => ({ ...o })))
  report()
  for (const o of outcomes) {
    o.status = 'running'
    report()
    try {
      const e = await waitExecution(await start(action, o.account, deps), deps, opts)
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
      if (err instanceof StillRunning) {
        o.execution = err.execution
        o.code = 'still_running'
      }
      o.message = describe(err)
    }
    report()
  }
  return outcomes
}
