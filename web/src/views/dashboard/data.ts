// The dashboard's figures: one call to `GET /api/v1/index/?days=N` (host/api/src/routes/
// dashboard.rs, JumpServer's key names), which counts on the server over the whole period —
// no sampling, no per-day list calls.
import { api } from '@/api/client'

/** The periods the page offers (days, today included). */
export const PERIODS = [7, 30, 90] as const

/** One row of a top-10 list: `asset` or `user` is the display name. */
export interface TopRow {
  asset?: string
  asset_id?: string
  user?: string
  user_id?: string
  total: number
}

/** The fields of `GET /api/v1/index/` the page uses. */
export interface IndexData {
  days: number
  total_count_users: number
  total_count_users_this_week: number
  total_count_assets: number
  total_count_assets_this_week: number
  total_count_online_users: number
  total_count_online_sessions: number
  total_count_login_users: number
  total_count_sessions: number
  total_count_failed_sessions: number
  total_count_login_success: number
  total_count_login_failed: number
  dates_metrics_date: string[]
  dates_metrics_total_count_sessions: number[]
  dates_metrics_total_count_active_assets: number[]
  dates_metrics_total_count_login: number[]
  dates_metrics_total_count_login_failed: number[]
  dates_metrics_total_count_active_users: number[]
  dates_login_times_top10_assets: TopRow[]
  dates_login_times_top10_users: TopRow[]
}

/** The dashboard of the current org over the last `days` days. */
export function loadIndex(days: number): Promise<IndexData> {
  return api.get<IndexData>('index/', { days })
}

/** A top-10 list as chart items (`name`, `value`), most first. */
export function top(rows: TopRow[] | undefined, key: 'asset' | 'user'): Array<{ name: string; value: number }> {
  return (rows || []).map((r) => ({ name: String(r[key] ?? ''), value: Number(r.total) || 0 })).filter((r) => r.name)
}
