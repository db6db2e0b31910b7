// The reference's 412 step-up (§2.8): some reads (account secrets) need a recent MFA or
// password confirmation. `withConfirm(fn)` runs fn; on 412 it asks the user (the dialog
// mounted in App.vue), confirms with POST /authentication/confirm/, and runs fn again.
import { ApiError } from './client'

export type ConfirmKind = 'mfa' | 'password' | 'relogin'
type Asker = (kind: ConfirmKind) => Promise<boolean>

let asker: Asker = async () => false
export function setConfirmAsker(fn: Asker) {
  asker = fn
}

export async function withConfirm<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 412) throw e
    const body = (e.body || {}) as { code?: string }
    const kind: ConfirmKind = body.code === 'password' || body.code === 'relogin' ? body.code : 'mfa'
    const ok = await asker(kind)
    if (!ok) throw new ApiError(412, { detail: 'Confirmation cancelled.' }, 'Confirmation cancelled.')
    return await fn()
  }
}
