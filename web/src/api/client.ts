// The one HTTP client of the SPA. Everything that talks to /api goes through `request`
// so that cookie auth, CSRF, the org header, the 401 redirect and error wording are the
// same everywhere.
//
// - The session cookie `jms_sessionid` is sent by the browser (same origin, credentials).
// - Unsafe methods carry `X-CSRFToken: <cookie jms_csrftoken>`.
// - `X-JMS-ORG` carries the org chosen in the header switcher (see `setOrgProvider`).
// - A 401 on an authenticated call sends the user to /ui/login?next=<where they were>.
// - Errors are thrown as `ApiError`, whose `message` is the server's own words.

export const CSRF_COOKIE = 'jms_csrftoken'
export const API_BASE = '/api/v1'

export type Query = Record<string, string | number | boolean | null | undefined | Array<string | number>>

export interface RequestOptions {
  query?: Query
  /** JSON body (objects/arrays), or a FormData/Blob/string sent as is. */
  body?: unknown
  headers?: Record<string, string>
  /** Don't redirect to the login page on 401 (the login page itself, probes). */
  noAuthRedirect?: boolean
  /** Override the org for this request (null: send none). */
  org?: string | null
  signal?: AbortSignal
  /** Return the Response instead of parsing JSON (downloads). */
  raw?: boolean
}

/** Field errors in DRF shape: field → messages. Bulk errors carry the row (import). */
export type FieldErrors = Record<string, string[]>

export interface RowError {
  row?: number
  index: number
  errors: FieldErrors
}

/** A failed API call, with the server's words. */
export class ApiError extends Error {
  status: number
  code?: string
  body: unknown
  /** Field-level messages of a 400 on a single object. */
  fields: FieldErrors
  /** Per-item messages of a bulk request (import): only the failing items. */
  rows: RowError[]

  constructor(status: number, body: unknown, fallback: string) {
    const info = describeError(body)
    super(info.message || fallback)
    this.name = 'ApiError'
    this.status = status
    this.body = body
    this.code = info.code
    this.fields = info.fields
    this.rows = info.rows
  }
}

let orgProvider: () => string | null = () => null
/** The app sets this once: the org id the user selected in the header. */
export function setOrgProvider(fn: () => string | null) {
  orgProvider = fn
}

let unauthorizedHandler: (next: string) => void = (next) => {
  window.location.assign(`/ui/login?next=${encodeURIComponent(next)}`)
}
/** The app may route 401s through the router instead of a full page load. */
export function setUnauthorizedHandler(fn: (next: string) => void) {
  unauthorizedHandler = fn
}

export function readCookie(name: string): string | null {
  const parts = (typeof document === 'undefined' ? '' : document.cookie).split(';')
  for (const p of parts) {
    const i = p.indexOf('=')
    if (i < 0) continue
    if (p.slice(0, i).trim() === name) return decodeURIComponent(p.slice(i + 1).trim())
  }
  return null
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/** `/api/v1/x/` or `x/` (relative to /api/v1/) plus a query string. */
export function buildUrl(path: string, query?: Query): string {
  let url = path.startsWith('/') ? path : `${API_BASE}/${path}`
  if (query) {
    const qs = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined || v === null || v === '') continue
      if (Array.isArray(v)) {
        if (v.length) qs.set(k, v.join(','))
      } else qs.set(k, String(v))
    }
    const s = qs.toString()
    if (s) url += (url.includes('?') ? '&' : '?') + s
  }
  return url
}

/** Headers every call carries: CSRF on unsafe methods, the org. */
export function commonHeaders(method: string, org?: string | null): Record<string, string> {
  const h: Record<string, string> = { Accept: 'application/json' }
  if (!SAFE.has(method.toUpperCase())) {
    const csrf = readCookie(CSRF_COOKIE)
    if (csrf) h['X-CSRFToken'] = csrf
  }
  const o = org === undefined ? orgProvider() : org
  if (o) h['X-JMS-ORG'] = o
  return h
}

function currentLocation(): string {
  if (typeof window === 'undefined') return '/ui/'
  return window.location.pathname + window.location.search + window.location.hash
}

export async function request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const m = method.toUpperCase()
  const headers = { ...commonHeaders(m, opts.org), ...(opts.headers || {}) }
  let body: BodyInit | undefined
  if (opts.body !== undefined) {
    if (opts.body instanceof FormData || opts.body instanceof Blob || typeof opts.body === 'string') {
      body = opts.body as BodyInit
    } else {
      body = JSON.stringify(opts.body)
      headers['Content-Type'] = 'application/json'
    }
  }
  let res: Response
  try {
    res = await fetch(buildUrl(path, opts.query), {
      method: m,
      headers,
      body,
      credentials: 'same-origin',
      signal: opts.signal,
    })
  } catch (e) {
    if ((e as Error)?.name === 'AbortError') throw e
    throw new ApiError(0, null, 'The server could not be reached. Check your network connection and try again.')
  }
  if (res.status === 401 && !opts.noAuthRedirect) {
    const here = currentLocation()
    if (!here.startsWith('/ui/login')) unauthorizedHandler(here)
  }
  if (!res.ok) {
    const data = await parseBody(res)
    throw new ApiError(res.status, data, statusText(res.status))
  }
  if (opts.raw) return res as unknown as T
  if (res.status === 204) return undefined as T
  return (await parseBody(res)) as T
}

async function parseBody(res: Response): Promise<unknown> {
  const text = await res.text()
  if (!text) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export function statusText(status: number): string {
  switch (status) {
    case 400:
      return 'The request was refused: some values are not valid.'
    case 401:
      return 'Your session has ended. Please sign in again.'
    case 403:
      return 'You are not allowed to do this.'
    case 404:
      return 'Not found: it may have been deleted.'
    case 409:
      return 'Someone else is changing this right now. Try again in a moment.'
    case 412:
      return 'Please confirm your identity first.'
    case 413:
      return 'The file is too large.'
    case 429:
      return 'Too many requests. Wait a moment and try again.'
    default:
      return status >= 500 ? `The server failed (${status}). Try again; if it persists, tell your administrator.` : `Request failed (${status}).`
  }
}

function asMessages(v: unknown): string[] {
  if (v == null) return []
  if (Array.isArray(v)) return v.flatMap(asMessages)
  if (typeof v === 'object') {
    return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => asMessages(x).map((m) => `${k}: ${m}`))
  }
  return [String(v)]
}

function fieldsOf(obj: Record<string, unknown>): FieldErrors {
  const out: FieldErrors = {}
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'row') continue
    const msgs = asMessages(v)
    if (msgs.length) out[k] = msgs
  }
  return out
}

function joinFields(f: FieldErrors): string {
  return Object.entries(f)
    .map(([k, v]) => (k === 'non_field_errors' || k === 'detail' ? v.join(' ') : `${k}: ${v.join(' ')}`))
    .join('; ')
}

/**
 * The words of an error body, whatever its shape:
 * `{detail}`, `{error, msg}` (login), `{error}`, field dicts, bulk lists with `row`.
 * A string `code` beside `error` (e.g. `{error: 'MFA unset, please set first', code: 'mfa_unset'}`)
 * is the code and `error` the words; without `code`, the login's `error` is its code.
 */
export function describeError(body: unknown): { message: string; code?: string; fields: FieldErrors; rows: RowError[] } {
  const none = { message: '', fields: {}, rows: [] as RowError[] }
  if (body == null) return none
  if (typeof body === 'string') {
    const t = body.trim()
    // An HTML error page from a proxy is no message for a user.
    return { ...none, message: t.startsWith('<') ? '' : t.slice(0, 500) }
  }
  if (Array.isArray(body)) {
    const rows: RowError[] = []
    body.forEach((item, index) => {
      if (item && typeof item === 'object' && !Array.isArray(item)) {
        const errors = fieldsOf(item as Record<string, unknown>)
        if (Object.keys(errors).length) {
          const row = (item as Record<string, unknown>).row
          rows.push({ index, row: typeof row === 'number' ? row : undefined, errors })
        }
      } else if (item) {
        rows.push({ index, errors: { non_field_errors: asMessages(item) } })
      }
    })
    const message = rows
      .slice(0, 5)
      .map((r) => `${r.row ? `Row ${r.row}` : `Item ${r.index + 1}`}: ${joinFields(r.errors)}`)
      .join('\n')
    return { message: message + (rows.length > 5 ? `\n… and ${rows.length - 5} more` : ''), fields: {}, rows }
  }
  if (typeof body === 'object') {
    const o = body as Record<string, unknown>
    const code = typeof o.code === 'string' ? o.code : typeof o.error === 'string' && 'msg' in o ? (o.error as string) : undefined
    if (typeof o.detail === 'string') return { message: o.detail, code, fields: {}, rows: [] }
    if (typeof o.msg === 'string' && typeof o.error === 'string') return { message: o.msg || o.error, code, fields: {}, rows: [] }
    if (typeof o.error === 'string') return { message: o.error, code, fields: {}, rows: [] }
    if (typeof o.msg === 'string' && Object.keys(o).length <= 2) return { message: o.msg, code, fields: {}, rows: [] }
    const fields = fieldsOf(o)
    return { message: joinFields(fields), code, fields, rows: [] }
  }
  return { ...none, message: String(body) }
}

/** The words to show for any thrown value. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message
  if (e instanceof Error) return e.message
  return String(e)
}

export const api = {
  get: <T = unknown>(path: string, query?: Query, opts: RequestOptions = {}) => request<T>('GET', path, { ...opts, query }),
  post: <T = unknown>(path: string, body?: unknown, opts: RequestOptions = {}) => request<T>('POST', path, { ...opts, body }),
  put: <T = unknown>(path: string, body?: unknown, opts: RequestOptions = {}) => request<T>('PUT', path, { ...opts, body }),
  patch: <T = unknown>(path: string, body?: unknown, opts: RequestOptions = {}) => request<T>('PATCH', path, { ...opts, body }),
  delete: <T = unknown>(path: string, opts: RequestOptions = {}) => request<T>('DELETE', path, opts),
}
