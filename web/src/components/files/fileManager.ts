// The web file manager's calls (web UI contract, "Web file manager (SFTP)"): open one over a
// `web_sftp` connection token, list, download, upload with progress (refusing a file larger
// than the server allows before sending it), rename, delete, mkdir, close.
import { api, ApiError, buildUrl, commonHeaders, request, statusText } from '@/api/client'

export interface FileManagerInfo {
  id: string
  session_id: string
  home: string
  actions: string[]
  max_upload_bytes: number
}

export interface FileEntry {
  name: string
  path: string
  is_dir: boolean
  size: number
  mode: string | number
  mtime: string
}

const BASE = 'terminal/file-manager/'

/** Creates a `web_sftp` token for the asset and account, then opens the file manager on it. */
export async function openFileManager(asset: string, account: string): Promise<FileManagerInfo> {
  const token = await api.post<{ id: string }>('authentication/connection-token/', {
    asset,
    account,
    protocol: 'sftp',
    connect_method: 'web_sftp',
  })
  return api.post<FileManagerInfo>(BASE, { token: token.id })
}

export function listDir(fm: string, path: string): Promise<FileEntry[]> {
  return api.get<FileEntry[]>(`${BASE}${fm}/list/`, { path })
}

/** Sorts directories first, then by name (the server does too; this keeps it true locally). */
export function sortEntries(entries: FileEntry[]): FileEntry[] {
  return [...entries].sort((a, b) => (a.is_dir === b.is_dir ? a.name.localeCompare(b.name) : a.is_dir ? -1 : 1))
}

/** The download URL (the browser streams it to a file; the cookie authenticates it). */
export function downloadUrl(fm: string, path: string): string {
  return buildUrl(`${BASE}${fm}/download/`, { path })
}

export function rename(fm: string, from: string, to: string) {
  return api.post(`${BASE}${fm}/rename/`, { from, to })
}

export function remove(fm: string, path: string) {
  return api.post(`${BASE}${fm}/delete/`, { path })
}

export function mkdir(fm: string, path: string) {
  return api.post(`${BASE}${fm}/mkdir/`, { path })
}

export function closeFileManager(fm: string) {
  return request('DELETE', `${BASE}${fm}/`, { noAuthRedirect: true })
}

/** `dir` + `name` as an SFTP path. */
export function join(dir: string, name: string): string {
  if (!dir || dir === '/') return `/${name}`
  return `${dir.replace(/\/+$/, '')}/${name}`
}

/** The parent directory of `path` (`/` stays `/`). */
export function parent(path: string): string {
  const p = path.replace(/\/+$/, '')
  const i = p.lastIndexOf('/')
  return i <= 0 ? '/' : p.slice(0, i)
}

/** Breadcrumbs of an absolute path: `[{name:'/', path:'/'}, {name:'home', path:'/home'}, …]`. */
export function crumbs(path: string): Array<{ name: string; path: string }> {
  const out = [{ name: '/', path: '/' }]
  let at = ''
  for (const part of path.split('/').filter(Boolean)) {
    at += `/${part}`
    out.push({ name: part, path: at })
  }
  return out
}

/** A size in words: 1.5 MB. */
export function humanSize(n: number): string {
  if (!Number.isFinite(n) || n < 0) return ''
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

/** A name the user typed is usable as one path component. */
export function validName(name: string): boolean {
  const n = name.trim()
  return !!n && n !== '.' && n !== '..' && !n.includes('/') && !n.includes('\0')
}

/**
 * Uploads `file` into `dir` as a raw body with progress (XHR: fetch has no upload progress).
 * Resolves on 2xx; rejects with an ApiError carrying the server's words (413 too large, 403
 * action denied, …). `abort` is set to a function cancelling the transfer.
 */
export function upload(
  fm: string,
  dir: string,
  file: File,
  onProgress: (loaded: number, total: number) => void,
  setAbort?: (abort: () => void) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', buildUrl(`${BASE}${fm}/upload/`, { path: dir, name: file.name }))
    xhr.withCredentials = true
    for (const [k, v] of Object.entries(commonHeaders('POST'))) xhr.setRequestHeader(k, v)
    xhr.setRequestHeader('Content-Type', 'application/octet-stream')
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size)
    xhr.onerror = () => reject(new ApiError(0, null, 'The upload was interrupted: the server could not be reached.'))
    xhr.onabort = () => reject(new DOMException('The upload was cancelled.', 'AbortError'))
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve()
      let body: unknown = xhr.responseText
      try {
        body = JSON.parse(xhr.responseText)
      } catch {
        /* text */
      }
      reject(new ApiError(xhr.status, body, statusText(xhr.status)))
    }
    setAbort?.(() => xhr.abort())
    xhr.send(file)
  })
}
