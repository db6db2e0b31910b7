// The dashboard's figures, computed from the list endpoints: Portcullis has no
// `/api/v1/index/` (JumpServer's dashboard endpoint), so counts come from `?limit=1` lists
// (their `count`), series from one such count per day, and the top lists from the latest
// sessions of the period (at most SAMPLE; the page says when it is a sample).
import { api, type Query } from '@/api/client'
import type { Page, Row } from '@/api/types'

export const SAMPLE = 1000

export async function count(url: string, query: Query = {}): Promise<number> {
  const r = await api.get<Page<unknown> | unknown[]>(url, { ...query, limit: 1 })
  return Array.isArray(r) ? r.length : r.count
}

/** Runs `jobs` with at most `width` at a time (the server has other users too). */
export async function pool<T>(jobs: Array<() => Promise<T>>, width = 6): Promise<T[]> {
  const out: T[] = new Array(jobs.length)
  let next = 0
  async function worker() {
    while (next < jobs.length) {
      const i = next++
      out[i] = await jobs[i]()
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker))
  return out
}

export interface Day {
  label: string
  from: Date
  to: Date
}

/** The last `n` calendar days, oldest first, today included. */
export function days(n: number): Day[] {
  const out: Day[] = []
  const today = new Date()
  today.setHours(0, 0, 0, 0)
  for (let i = n - 1; i >= 0; i--) {
    const from = new Date(today.getTime() - i * 86400000)
    const to = new Date(from.getTime() + 86400000 - 1)
    out.push({ label: `${String(from.getMonth() + 1).padStart(2, '0')}-${String(from.getDate()).padStart(2, '0')}`, from, to })
  }
  return out
}

export function span(d: Day[]): Query {
  return { date_from: d[0].from.toISOString(), date_to: d[d.length - 1].to.toISOString() }
}

/** Per-day counts of a list. */
export function perDay(url: string, ds: Day[], query: Query = {}): Promise<number[]> {
  return pool(ds.map((d) => () => count(url, { ...query, date_from: d.from.toISOString(), date_to: d.to.toISOString() })))
}

/** The latest rows of a list in the period (one page of at most SAMPLE). */
export async function latest(url: string, query: Query): Promise<{ rows: Row[]; count: number }> {
  const r = await api.get<Page<Row>>(url, { ...query, limit: SAMPLE })
  return { rows: r.results, count: r.count }
}

/** The `n` most frequent values of `key`, most frequent first. */
export function top(rows: Row[], key: string, n = 8): Array<{ name: string; value: number }> {
  const m = new Map<string, number>()
  for (const r of rows) {
    const k = String(r[key] ?? '')
    if (k) m.set(k, (m.get(k) || 0) + 1)
  }
  return [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, value]) => ({ name, value }))
}
