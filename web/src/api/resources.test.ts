import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from './client'
import { bulkDelete, importFile } from './resources'

let urls: string[] = []
let methods: string[] = []

beforeEach(() => {
  urls = []
  methods = []
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    urls.push(url)
    methods.push(String(init.method))
    return new Response(null, { status: 204 })
  })
})
afterEach(() => vi.unstubAllGlobals())

describe('bulkDelete', () => {
  it('deletes through the list route filtered by id__in, 100 ids per request', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => `id${i}`)
    await bulkDelete('assets/assets', ids)
    expect(methods).toEqual(['DELETE', 'DELETE', 'DELETE'])
    const sent = urls.map((u) => new URL(u, 'http://x').searchParams.get('id__in')!.split(','))
    expect(urls.every((u) => new URL(u, 'http://x').pathname.endsWith('/api/v1/assets/assets/'))).toBe(true)
    expect(sent.map((s) => s.length)).toEqual([100, 100, 50])
    expect(sent.flat()).toEqual(ids)
  })

  it('sends nothing for an empty selection', async () => {
    await bulkDelete('users/users/', [])
    expect(urls).toEqual([])
  })
})

/** A stand-in for the browser's XMLHttpRequest: the test drives its upload and answer. */
class FakeXhr {
  static last: FakeXhr
  method = ''
  url = ''
  headers: Record<string, string> = {}
  sent: unknown
  status = 0
  responseText = ''
  withCredentials = false
  upload: { onprogress?: (e: { lengthComputable: boolean; loaded: number; total: number }) => void } = {}
  onload?: () => void
  onerror?: () => void
  constructor() {
    FakeXhr.last = this
  }
  open(method: string, url: string) {
    this.method = method
    this.url = url
  }
  setRequestHeader(k: string, v: string) {
    this.headers[k] = v
  }
  send(body: unknown) {
    this.sent = body
  }
  progress(loaded: number, total: number, lengthComputable = true) {
    this.upload.onprogress?.({ lengthComputable, loaded, total })
  }
  answer(status: number, body: unknown) {
    this.status = status
    this.responseText = typeof body === 'string' ? body : JSON.stringify(body)
    this.onload?.()
  }
}

describe('importFile', () => {
  beforeEach(() => vi.stubGlobal('XMLHttpRequest', FakeXhr))

  it('reports the upload in whole percents as the bytes go out, then resolves with the answer', async () => {
    const seen: number[] = []
    const file = new File(['a,b\n1,2\n'], 'x.csv', { type: 'text/csv' })
    const done = importFile('users/users/', file, (p) => seen.push(p))
    const xhr = FakeXhr.last
    expect([xhr.method, xhr.url]).toEqual(['POST', '/api/v1/users/users/'])
    expect((xhr.sent as FormData).get('file')).toBeInstanceOf(File)
    xhr.progress(0, 3000)
    xhr.progress(1000, 3000)
    xhr.progress(500, 0, false) // no total: nothing to report
    xhr.progress(2000, 3000)
    xhr.progress(3000, 3000)
    xhr.answer(201, [{ id: 1 }, { id: 2 }])
    expect(await done).toEqual([{ id: 1 }, { id: 2 }])
    expect(seen).toEqual([0, 33, 67, 100])
  })

  it('rejects a refused import with the per-row report', async () => {
    const done = importFile('users/users/', new File(['x'], 'x.csv'), () => {})
    FakeXhr.last.progress(1, 1)
    FakeXhr.last.answer(400, [{}, { row: 3, email: ['Enter a valid email address.'] }])
    const e = await done.then(
      () => null,
      (err: unknown) => err,
    )
    expect(e).toBeInstanceOf(ApiError)
    expect((e as ApiError).status).toBe(400)
    expect((e as ApiError).rows).toEqual([{ index: 1, row: 3, errors: { email: ['Enter a valid email address.'] } }])
  })
})
