// Field definitions that drive ResourceForm, and the record ⇄ form-model conversions that
// every resource shares (choices → value, related stubs → ids).
import type { Query } from '@/api/client'
import type { Row } from '@/api/types'

export interface Option {
  value: string | number | boolean
  label: string
}

export type FieldType =
  | 'text'
  | 'textarea'
  | 'password'
  | 'number'
  | 'switch'
  | 'select'
  | 'multiselect'
  | 'remote'
  | 'datetime'
  | 'labels'
  | 'tags'
  | 'protocols'
  | 'selector'
  | 'slot'

export interface RemoteSpec {
  /** List endpoint searched with `search=`. */
  url: string
  multiple?: boolean
  /** Extra fixed query. */
  query?: Query
  /** Text of an option (default: name, or `name(username)` for users). */
  label?: (row: Row) => string
  /** Field holding the value (default `id`). */
  valueKey?: string
}

export interface FieldDef {
  key: string
  /** i18n key or literal text. */
  label: string
  type?: FieldType
  required?: boolean
  /** i18n key or literal text under the field. */
  help?: string
  placeholder?: string
  options?: Option[]
  remote?: RemoteSpec
  /** Only shown when this returns true. */
  show?: (model: Record<string, unknown>) => boolean
  disabled?: boolean | ((model: Record<string, unknown>, mode: FormMode) => boolean)
  min?: number
  max?: number
  /** Allow new values in a tags field. */
  allowCreate?: boolean
  /** Group title (i18n key or text): a new section starts at the first field of a group. */
  section?: string
  /** Rows of a textarea. */
  rows?: number
}

export type FormMode = 'create' | 'edit' | 'clone'

/** The form value of an API value: choice → its value, stub → its id, lists mapped. */
export function formValue(v: unknown, field?: FieldDef): unknown {
  if (field?.type === 'labels' && Array.isArray(v)) return v.map((l) => (l && typeof l === 'object' ? `${(l as Row).name}:${(l as Row).value}` : l))
  if (field?.type === 'protocols' || field?.type === 'selector') return v
  if (Array.isArray(v)) return v.map((x) => formValue(x))
  if (v && typeof v === 'object') {
    const o = v as Row
    if ('value' in o && 'label' in o) return o.value
    if ('id' in o) return o[field?.remote?.valueKey || 'id']
    if ('pk' in o) return o.pk
  }
  return v
}

/** Initial options of a remote select from the record's stubs (no request needed). */
export function initialOptions(v: unknown, spec?: RemoteSpec): Option[] {
  const list = Array.isArray(v) ? v : v ? [v] : []
  return list
    .filter((x) => x && typeof x === 'object')
    .map((x) => {
      const o = x as Row
      return { value: o[spec?.valueKey || 'id'], label: spec?.label ? spec.label(o) : String(o.name ?? o.display_name ?? o.username ?? o.id) }
    })
}

/** Form model of a record for the given fields. */
export function toModel(record: Row | null, fields: FieldDef[], defaults: Record<string, unknown> = {}): Record<string, unknown> {
  const m: Record<string, unknown> = { ...defaults }
  if (!record) return m
  for (const f of fields) {
    if (f.key in record) m[f.key] = formValue(record[f.key], f)
  }
  return m
}

/** The body to send: only the fields of the form (the server refuses unknown fields). */
export function toPayload(model: Record<string, unknown>, fields: FieldDef[], mode: FormMode): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of fields) {
    if (f.type === 'slot' && !(f.key in model)) continue
    if (f.show && !f.show(model)) continue
    let v = model[f.key]
    if (v === undefined) continue
    // Write-only secrets: an empty box on edit means "keep".
    if (f.type === 'password' && (v === '' || v == null) && mode !== 'create') continue
    if (f.type === 'datetime' && v === '') v = null
    out[f.key] = v
  }
  return out
}
