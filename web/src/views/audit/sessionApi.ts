// What an auditor does to a session: terminate, lock/unlock input, fetch the recording.
// The server's words come back through ApiError; callers show them with ElMessage.
import { api, request } from '@/api/client'
import { saveBlob } from '@/api/resources'
import type { Row } from '@/api/types'

/** `POST /terminal/tasks/kill-session/` with a JSON array of ids → the ids accepted. */
export async function terminate(ids: string[]): Promise<string[]> {
  const r = await api.post<{ ok?: string[] }>('terminal/tasks/kill-session/', ids)
  return r?.ok || []
}

/** `POST /terminal/tasks/toggle-lock-session/`: the engine discards input while locked. */
export function setLocked(id: string, locked: boolean): Promise<unknown> {
  return api.post('terminal/tasks/toggle-lock-session/', { session_id: id, task_name: locked ? 'lock_session' : 'unlock_session' })
}

export function sessionDetail(id: string): Promise<Row> {
  return api.get<Row>(`terminal/sessions/${id}/`)
}

/** The asciicast v2 text of a finished session. */
export async function castText(id: string, signal?: AbortSignal): Promise<string> {
  const res = await request<Response>('GET', `terminal/sessions/${id}/replay/download/`, { raw: true, signal, headers: { Accept: '*/*' } })
  return res.text()
}

export async function downloadCast(id: string, text?: string): Promise<void> {
  const body = text ?? (await castText(id))
  saveBlob(new Blob([body], { type: 'application/x-asciicast' }), `session-${id}.cast`)
}

/** "1h 02m", "3m 05s", "12s". */
export function duration(seconds: unknown): string {
  const s = Math.max(0, Math.round(Number(seconds) || 0))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const r = s % 60
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`
  if (m) return `${m}m ${String(r).padStart(2, '0')}s`
  return `${r}s`
}

/** A Date of an API datetime (`2025/01/31 10:20:30 +0800` or ISO). */
export function parseWhen(v: unknown): Date {
  return new Date(String(v).replace(/^(\d{4})\/(\d\d)\/(\d\d) /, '$1-$2-$3T').replace(/ ?([+-]\d\d)(\d\d)$/, '$1:$2'))
}

/** Local date-time text of an API datetime. */
export function when(v: unknown): string {
  if (!v) return ''
  const d = parseWhen(v)
  if (isNaN(d.getTime())) return String(v)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** Element tag type of a command risk level. */
export function riskType(level: unknown): 'success' | 'warning' | 'danger' | 'info' | 'primary' {
  switch (Number(level)) {
    case 0:
      return 'success'
    case 4:
      return 'warning'
    case 5:
    case 6:
      return 'danger'
    case 7:
      return 'primary'
    default:
      return 'info'
  }
}

/** The `value` of a `{value,label}` choice (or the value itself). */
export function choiceValue(v: unknown): unknown {
  return v && typeof v === 'object' && 'value' in (v as Record<string, unknown>) ? (v as Record<string, unknown>).value : v
}
