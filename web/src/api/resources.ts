// Helpers over `client.ts` for the patterns every resource shares: paged lists,
// export as a file, import of a file with upload progress, bulk delete.
import { api, ApiError, buildUrl, commonHeaders, request, statusText, type Query } from './client'
import type { Page } from './types'

/** One page of a list (`limit`/`offset`). */
export function listPage<T>(url: string, query: Query, signal?: AbortSignal): Promise<Page<T>> {
  return request<Page<T>>('GET', url, { query, signal })
}

/** Up to `limit` items (a small list: org list, selects); accepts both list shapes. */
export async function listAll<T>(url: string, query: Query = {}, limit = 200): Promise<T[]> {
  const r = await api.get<Page<T> | T[]>(url, { ...query, limit })
  return Array.isArray(r) ? r : r.results
}

/** Downloads the list as CSV or XLSX through the API's `?format=` export. */
export async function exportList(url: string, query: Query, format: 'csv' | 'xlsx', filename: string): Promise<void> {
  const q = { ...query }
  delete q.limit
  delete q.offset
  const res = await request<Response>('GET', url, { query: { ...q, format }, raw: true })
  const blob = await res.blob()
  saveBlob(blob, `${filename}.${format}`)
}

export function saveBlob(blob: Blob, name: string) {
  const a = document.createElement('a')
  a.href = URL.createObjectURL(blob)
  a.download = name
  document.body.appendChild(a)
  a.click()
  setTimeout(() => {
    URL.revokeObjectURL(a.href)
    a.remove()
  }, 1000)
}

/**
 * Imports a CSV/XLSX file into a list endpoint (bulk create) with upload progress.
 * Rejects with an ApiError whose `rows` is the per-row report.
 */
export function importFile(
  url: string,
  file: File,
  onProgress?: (percent: number) => void,
  method: 'POST' | 'PUT' = 'POST',
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open(method, buildUrl(url))
    xhr.withCredentials = true
    for (const [k, v] of Object.entries(commonHeaders(method))) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(Math.round((e.loaded / e.total) * 100))
    }
    xhr.onerror = () => reject(new ApiError(0, null, 'The server could not be reached.'))
    xhr.onload = () => {
      let body: unknown = xhr.responseText
      try {
        body = JSON.parse(xhr.responseText)
      } catch {
        /* text */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body)
      else reject(new ApiError(xhr.status, body, statusText(xhr.status)))
    }
    const form = new FormData()
    form.append('file', file)
    xhr.send(form)
  })
}

/** Ids per filtered DELETE: keeps the URL well under the server's header limit. */
const DELETE_CHUNK = 100

/**
 * Bulk delete by ids through the list route's filtered DELETE (`?id__in=`), which the
 * server applies all or nothing per request (assets, accounts, users, platforms).
 */
export async function bulkDelete(url: string, ids: Array<string | number>): Promise<void> {
  const base = url.endsWith('/') ? url : url + '/'
  for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
    await api.delete(base, { query: { id__in: ids.slice(i, i + DELETE_CHUNK).join(',') } })
  }
}
