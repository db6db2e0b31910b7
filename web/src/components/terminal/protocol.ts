// The web terminal's websocket protocol (web UI contract, "Web terminal"), kept free of the DOM
// and of xterm so it can be unit-tested: message shapes, socket URLs, the reconnect schedule
// and the output queue that paces writes into the terminal.

/** Text frames the server sends. Binary frames are terminal output. */
export type ServerMessage =
  | {
      type: 'session'
      session_id: string
      resume: string
      asset?: string
      account?: string
      actions?: string[]
      grace_seconds?: number
    }
  | { type: 'locked'; by?: string }
  | { type: 'unlocked' }
  | { type: 'closed'; reason?: string; message?: string }
  | { type: 'error'; message?: string; code?: string }
  /** The connection waits for a reviewer (an asset-connect ACL with action review). */
  | { type: 'review'; ticket_id: string; reviewers?: string[] }
  | { type: 'review_approved'; by?: string }
  | { type: 'pong' }

/** Parses a text frame; unknown or malformed frames give null (they are ignored). */
export function parseServerMessage(text: string): ServerMessage | null {
  try {
    const v = JSON.parse(text)
    if (v && typeof v === 'object' && typeof v.type === 'string') return v as ServerMessage
  } catch {
    /* not JSON */
  }
  return null
}

export const WS_PATH = '/api/v1/terminal/ws/terminal/'

/** `ws(s)://<this host>/api/v1/terminal/ws/terminal/?token=|resume=…&cols=&rows=`. */
export function terminalSocketUrl(
  loc: { protocol: string; host: string },
  how: { token: string } | { resume: string },
  cols: number,
  rows: number,
): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:'
  const q = new URLSearchParams()
  if ('token' in how) q.set('token', how.token)
  else q.set('resume', how.resume)
  q.set('cols', String(Math.max(1, Math.floor(cols))))
  q.set('rows', String(Math.max(1, Math.floor(rows))))
  return `${scheme}//${loc.host}${WS_PATH}?${q.toString()}`
}

/** Grace period when the server's `session` message does not say (the contract's default). */
export const DEFAULT_GRACE_SECONDS = 120

/**
 * Delay before reconnect attempt `attempt` (0-based): 0.5 s, 1 s, 2 s, 4 s, then every 8 s —
 * quick after a blip, gentle on a server that is down.
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(500 * 2 ** Math.max(0, attempt), 8000)
}

/** Whether another attempt still fits in the grace period that started at `droppedAt`. */
export function withinGrace(droppedAt: number, now: number, graceSeconds: number, nextDelay: number): boolean {
  // Keep a second of margin: a resume that reaches the server after the grace is refused.
  return now + nextDelay < droppedAt + graceSeconds * 1000 - 1000
}

/** Error codes after which reconnecting cannot succeed. */
export const FINAL_ERROR_CODES = new Set(['resume_invalid', 'resume_not_yours', 'resume_unavailable', 'token_invalid'])

/** A terminal that takes bytes and tells when it has processed them (xterm's `write`). */
export interface Sink {
  write(data: Uint8Array, done: () => void): void
}

/**
 * Paces output into the terminal. A websocket cannot be paused from a page, so output that
 * arrives faster than the terminal parses it waits here instead of inside xterm (which drops
 * data past 50 MB) and is handed over in bounded chunks: each chunk is small enough for
 * xterm to parse within its time slice, so the tab keeps painting and taking keys while a
 * large `cat` streams, and only `maxInFlight` bytes are ever queued inside xterm.
 */
export class OutputQueue {
  private chunks: Uint8Array[] = []
  private queued = 0
  private inFlight = 0
  /** Total bytes handed to the sink (for measurements). */
  written = 0

  constructor(
    private sink: Sink,
    private chunkBytes = 32 * 1024,
    private maxInFlight = 256 * 1024,
  ) {}

  /** Bytes received and not yet processed by the terminal. */
  get backlog(): number {
    return this.queued + this.inFlight
  }

  push(data: Uint8Array) {
    if (!data.length) return
    this.chunks.push(data)
    this.queued += data.length
    this.pump()
  }

  /** Forgets what was not handed over yet (the screen is about to be redrawn). */
  clear() {
    this.chunks = []
    this.queued = 0
  }

  private pump() {
    while (this.queued > 0 && this.inFlight < this.maxInFlight) {
      const chunk = this.take(this.chunkBytes)
      this.inFlight += chunk.length
      this.written += chunk.length
      this.sink.write(chunk, () => {
        this.inFlight -= chunk.length
        this.pump()
      })
    }
  }

  /** Up to `max` bytes from the front, coalescing small frames into one write. */
  private take(max: number): Uint8Array {
    const first = this.chunks[0]
    if (first.length >= max) {
      const head = first.subarray(0, max)
      if (first.length === max) this.chunks.shift()
      else this.chunks[0] = first.subarray(max)
      this.queued -= head.length
      return head
    }
    let size = 0
    let n = 0
    while (n < this.chunks.length && size + this.chunks[n].length <= max) size += this.chunks[n++].length
    if (n === 1) {
      this.chunks.shift()
      this.queued -= first.length
      return first
    }
    const out = new Uint8Array(size)
    let at = 0
    for (const c of this.chunks.splice(0, n)) {
      out.set(c, at)
      at += c.length
    }
    this.queued -= size
    return out
  }
}
