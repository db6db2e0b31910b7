// Shapes of the JumpServer-compatible API (reference §1.3, §3).

/** `{count,next,previous,results}` of a list asked with `limit`. */
export interface Page<T> {
  count: number
  next: string | null
  previous: string | null
  results: T[]
}

/** A choice field: `{value, label}`. */
export interface Choice<V = string> {
  value: V
  label: string
}

/** A related-object stub. */
export interface Ref {
  id: string
  name?: string
  [k: string]: unknown
}

export interface Label {
  id: string
  name: string
  value: string
  color?: string
}

export interface Org {
  id: string
  name: string
  is_default?: boolean
  is_root?: boolean
  is_system?: boolean
  internal?: boolean
}

export interface UserProfile {
  id: string
  name: string
  username: string
  email: string
  is_superuser?: boolean
  is_org_admin?: boolean
  need_update_password?: boolean
  mfa_level?: Choice<number>
  is_otp_secret_key_bound?: boolean
  system_roles?: Array<{ id: string; display_name?: string; name?: string }>
  org_roles?: Array<{ id: string; display_name?: string; name?: string }>
  lang?: string
  [k: string]: unknown
}

export interface Node {
  id: string
  key: string
  value: string
  name: string
  full_value: string
  assets_amount?: number
}

/** A zTree item of `…/tree/` endpoints (§4.7). */
export interface TreeItem {
  id: string
  name: string
  title?: string
  pId: string
  isParent: boolean
  open?: boolean
  meta: { type: 'node' | 'asset' | string; data: Record<string, unknown> }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Row = Record<string, any>
