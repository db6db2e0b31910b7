// The time window of the audit lists: a [from, to] pair turned into the API's
// `date_from`/`date_to` (ISO 8601, which every log list accepts; §3 of the reference).
import { computed, ref, type Ref } from 'vue'
import type { Query } from '@/api/client'

export type Range = [Date, Date] | null

const DAY = 24 * 3600 * 1000

/** The last `days` days up to the end of today (so rows arriving later still show). */
export function lastDays(days: number): [Date, Date] {
  const end = new Date()
  end.setHours(23, 59, 59, 999)
  return [new Date(Date.now() - days * DAY), end]
}

/** The query of a range (nothing for "any time"). */
export function rangeQuery(r: Range): Query {
  if (!r) return {}
  return { date_from: r[0].toISOString(), date_to: r[1].toISOString() }
}

/** A range kept in the address bar (`?from=&to=` as epoch ms), `days` back by default. */
export function useRange(days: number | null): { range: Ref<Range>; query: Ref<Query> } {
  const params = new URLSearchParams(window.location.search)
  const from = Number(params.get('from'))
  const to = Number(params.get('to'))
  const initial: Range = from && to ? [new Date(from), new Date(to)] : params.get('from') === '0' || days === null ? null : lastDays(days)
  const range = ref<Range>(initial) as Ref<Range>
  const query = computed(() => rangeQuery(range.value))
  return { range, query }
}
