import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { api, ApiError, buildUrl, describeError, setOrgProvider, setUnauthorizedHandler } from './client'
import { withConfirm, setConfirmAsker } from './stepup'

type Call = { url: string; init: RequestInit }
let calls: Call[] = []
let answers: Array<() => Response> = []

function json(status: number, body: unknown): () => Response {
  return () => new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

beforeEach(() => {
  calls = []
  answers = []
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    calls.push({ url, init })
    const next = answers.shift()
    if (!next) throw new Error(`unexpected fetch ${url}`)
    return next()
  })
  document.cookie = 'jms_csrftoken=tok123; path=/'
  setOrgProvider(() => 'org-1')
})
afterEach(() => {
  vi.unstubAllGlobals()
  document.cookie = 'jms_csrftoken=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/'
})

const header = (c: Call, name: string) => (c.init.headers as Record<string, string>)[name]

describe('CSRF and org headers', () => {
  it('sends X-CSRFToken from the jms_csrftoken cookie on unsafe methods only', async () => {
    answers.push(json(201, { id: 1 }), json(200, []), json(204, undefined))
    await api.post('users/users/', { name: 'a' })
    await api.get('users/users/')
    await api.delete('users/users/1/')
    expect(header(calls[0], 'X-CSRFToken')).toBe('tok123')
    expect(header(calls[1], 'X-CSRFToken')).toBeUndefined()
    expect(header(calls[2], 'X-CSRFToken')).toBe('tok123')
  })

  it('sends the selected org as X-JMS-ORG unless told otherwise', async () => {
    answers.push(json(200, {}), json(200, {}))
    await api.get('assets/assets/')
    await api.get('users/profile/', undefined, { org: null })
    expect(header(calls[0], 'X-JMS-ORG')).toBe('org-1')
    expect(header(calls[1], 'X-JMS-ORG')).toBeUndefined()
  })

  it('sends JSON bodies with their content type and same-origin credentials', async () => {
    answers.push(json(201, {}))
    await api.post('users/groups/', { name: 'ops' })
    expect(calls[0].init.body).toBe('{"name":"ops"}')
    expect(header(calls[0], 'Content-Type')).toBe('application/json')
    expect(calls[0].init.credentials).toBe('same-origin')
  })
})

describe('URLs', () => {
  it('builds paths relative to /api/v1 and drops empty query values', () => {
    expect(buildUrl('users/users/', { limit: 20, offset: 0, search: '', q: undefined, ids: ['a', 'b'] })).toBe('/api/v1/users/users/?limit=20&offset=0&ids=a%2Cb')
    expect(buildUrl('/api/v1/x/?a=1', { b: 2 })).toBe('/api/v1/x/?a=1&b=2')
  })
})

describe('401 handling', () => {
  it('sends the user to the login page with where they were', async () => {
    const seen: string[] = []
    setUnauthorizedHandler((next) => seen.push(next))
    window.history.replaceState(null, '', '/ui/console/users?q=bob')
    answers.push(json(401, { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' }))
    await expect(api.get('users/users/')).rejects.toBeInstanceOf(ApiError)
    expect(seen).toEqual(['/ui/console/users?q=bob'])
  })

  it('does not redirect when asked not to (the login page probing the session)', async () => {
    const seen: string[] = []
    setUnauthorizedHandler((next) => seen.push(next))
    answers.push(json(401, { detail: 'x' }))
    await expect(api.get('users/profile/', undefined, { noAuthRedirect: true })).rejects.toThrow('x')
    expect(seen).toEqual([])
  })
})

describe('error words', () => {
  it('uses detail', async () => {
    answers.push(json(403, { detail: 'You do not have permission to perform this action.', code: 'permission_denied' }))
    const e = (await api.get('x/').catch((x) => x)) as ApiError
    expect(e.message).toBe('You do not have permission to perform this action.')
    expect(e.code).toBe('permission_denied')
    expect(e.status).toBe(403)
  })

  it('uses the login msg and keeps the error code', () => {
    const d = describeError({ error: 'block_login', msg: 'The account is locked' })
    expect(d.message).toBe('The account is locked')
    expect(d.code).toBe('block_login')
  })

  it('takes code as the code and error as the words when both are present', async () => {
    answers.push(json(403, { error: 'MFA unset, please set first', code: 'mfa_unset', data: { url: '/ui/profile/mfa' } }))
    const e = (await api.get('x/').catch((x) => x)) as ApiError
    expect(e.message).toBe('MFA unset, please set first')
    expect(e.code).toBe('mfa_unset')
    const d = describeError({ error: 'MFA unset, please set first', code: 'mfa_unset', msg: '' })
    expect(d.message).toBe('MFA unset, please set first')
    expect(d.code).toBe('mfa_unset')
  })

  it('uses a bare error', () => {
    expect(describeError({ error: "Can't delete the root node" }).message).toBe("Can't delete the root node")
  })

  it('joins field errors and keeps them per field', () => {
    const d = describeError({ name: ['This field is required.'], non_field_errors: ['Bad pair.'] })
    expect(d.fields).toEqual({ name: ['This field is required.'], non_field_errors: ['Bad pair.'] })
    expect(d.message).toBe('name: This field is required.; Bad pair.')
  })

  it('reports bulk errors per row, skipping rows that passed', () => {
    const d = describeError([{}, { email: ['Enter a valid email address.'], row: 3 }])
    expect(d.rows).toEqual([{ index: 1, row: 3, errors: { email: ['Enter a valid email address.'] } }])
    expect(d.message).toBe('Row 3: email: Enter a valid email address.')
  })

  it('never shows an HTML error page as the message', async () => {
    answers.push(() => new Response('<html>Bad gateway</html>', { status: 502 }))
    const e = (await api.get('x/').catch((x) => x)) as ApiError
    expect(e.message).toMatch(/server failed \(502\)/)
  })

  it('says the server could not be reached on a network failure', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('Failed to fetch')
    })
    const e = (await api.get('x/').catch((x) => x)) as ApiError
    expect(e.status).toBe(0)
    expect(e.message).toMatch(/could not be reached/)
  })
})

describe('step-up confirmation (412)', () => {
  it('asks, confirms and retries once', async () => {
    const asked: string[] = []
    setConfirmAsker(async (kind) => {
      asked.push(kind)
      return true
    })
    answers.push(json(412, { type: 'user_confirm_required', code: 'mfa', detail: 'This action require confirm current user' }), json(200, { secret: 's' }))
    const r = await withConfirm(() => api.get<{ secret: string }>('accounts/account-secrets/1/'))
    expect(r.secret).toBe('s')
    expect(asked).toEqual(['mfa'])
  })

  it('fails in words when the user cancels', async () => {
    setConfirmAsker(async () => false)
    answers.push(json(412, { code: 'mfa', detail: 'x' }))
    await expect(withConfirm(() => api.get('accounts/account-secrets/1/'))).rejects.toThrow('Confirmation cancelled.')
  })
})
