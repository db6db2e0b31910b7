import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { bulkDelete } from './resources'

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
