// Reading an asciicast v2 recording for search: the output as plain text with the time of
// every piece, and the mapping between recorded time and played time when idle time is
// capped (asciinema-player's `idleTimeLimit` shortens every gap longer than the limit).

export interface CastHeader {
  version: number
  width: number
  height: number
  timestamp?: number
  [k: string]: unknown
}

export interface Cast {
  header: CastHeader
  /** Output pieces in order: recorded time (s) and text without escape sequences. */
  output: Array<{ t: number; text: string }>
  /** Every event time (output, input, resize), ascending. */
  times: number[]
  duration: number
}

export function parseCast(text: string): Cast {
  const lines = text.split('\n')
  let header: CastHeader = { version: 2, width: 80, height: 24 }
  try {
    header = JSON.parse(lines[0] || '{}')
  } catch {
    /* not a header: keep the defaults, the player will say what is wrong */
  }
  const output: Cast['output'] = []
  const times: number[] = []
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]
    if (!l || l[0] !== '[') continue
    let ev: unknown
    try {
      ev = JSON.parse(l)
    } catch {
      continue
    }
    if (!Array.isArray(ev) || typeof ev[0] !== 'number') continue
    times.push(ev[0])
    if (ev[1] === 'o' && typeof ev[2] === 'string') output.push({ t: ev[0], text: stripAnsi(ev[2]) })
  }
  return { header, output, times, duration: times.length ? times[times.length - 1] : 0 }
}

// CSI, OSC (ended by BEL or ST), other two-byte escapes, and carriage returns.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[@-Z\\-_]|\x1b[()#][0-9A-Za-z]|[\r\x07\x00]/g

export function stripAnsi(s: string): string {
  return s.replace(ANSI, '')
}

export interface Match {
  /** Recorded time of the output piece where the match starts. */
  t: number
  before: string
  text: string
  after: string
}

/** Case-insensitive matches of `q` in the whole output (across pieces), first `max`. */
export function searchOutput(cast: Cast, q: string, max = 200): { matches: Match[]; more: boolean } {
  const needle = q.trim().toLowerCase()
  if (!needle) return { matches: [], more: false }
  const starts: number[] = []
  let all = ''
  for (const o of cast.output) {
    starts.push(all.length)
    all += o.text
  }
  const hay = all.toLowerCase()
  const matches: Match[] = []
  let from = 0
  let more = false
  for (;;) {
    const at = hay.indexOf(needle, from)
    if (at < 0) break
    if (matches.length >= max) {
      more = true
      break
    }
    // The piece holding the match's first character.
    let lo = 0
    let hi = starts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (starts[mid] <= at) lo = mid
      else hi = mid - 1
    }
    const flat = (s: string) => s.replace(/\s+/g, ' ')
    matches.push({
      t: cast.output[lo]?.t ?? 0,
      before: flat(all.slice(Math.max(0, at - 40), at)).slice(-12),
      text: all.slice(at, at + needle.length),
      after: flat(all.slice(at + needle.length, at + needle.length + 40)).slice(0, 30),
    })
    from = at + Math.max(1, needle.length)
  }
  return { matches, more }
}

/** Recorded time → played time with gaps capped at `limit` seconds (no cap: same). */
export function toPlayed(times: number[], t: number, limit?: number): number {
  if (!limit) return t
  let played = 0
  let prev = 0
  for (const x of times) {
    if (x > t) break
    played += Math.min(x - prev, limit)
    prev = x
  }
  return played + Math.min(Math.max(0, t - prev), limit)
}

/** Played time → recorded time (the inverse of `toPlayed`). */
export function toRecorded(times: number[], p: number, limit?: number): number {
  if (!limit) return p
  let played = 0
  let prev = 0
  for (const x of times) {
    const step = Math.min(x - prev, limit)
    if (played + step >= p) return prev + (p - played)
    played += step
    prev = x
  }
  return prev + (p - played)
}
