// Types shared by ResourceTable and the pages that configure it.
import type { RouteLocationRaw } from 'vue-router'
import type { Row } from '@/api/types'

export type CellType = 'text' | 'bool' | 'active' | 'choice' | 'refs' | 'labels' | 'datetime' | 'list' | 'mono'

export interface Column {
  /** Field of the row (dots for nested: `platform.name`). */
  prop: string
  /** i18n key or literal text. */
  label: string
  type?: CellType
  width?: number | string
  minWidth?: number | string
  /** Server-side ordering by this field (or by `orderBy`). */
  sortable?: boolean
  orderBy?: string
  /** Shown only when the user turns it on in the column chooser. */
  hidden?: boolean
  /** Can't be hidden. */
  fixed?: boolean
  /** Text of the cell. */
  format?: (row: Row) => string
  /** Render the cell as a link. */
  link?: (row: Row) => RouteLocationRaw
}

export interface FilterOption {
  value: string
  label: string
}

export interface Filter {
  /** Query parameter. */
  key: string
  /** i18n key or literal text. */
  label: string
  type: 'select' | 'bool' | 'text'
  options?: FilterOption[]
}

export interface BulkAction {
  /** i18n key or literal text. */
  label: string
  danger?: boolean
  /** Runs on the selected rows; the table reloads afterwards. */
  run: (rows: Row[]) => Promise<unknown> | unknown
  testid?: string
}

/** A value at a dotted path. */
export function pick(row: unknown, path: string): unknown {
  let v: unknown = row
  for (const p of path.split('.')) {
    if (v == null || typeof v !== 'object') return undefined
    v = (v as Record<string, unknown>)[p]
  }
  return v
}

/** Human text of any API value: choices by label, refs by name, lists joined. */
export function display(v: unknown): string {
  if (v == null || v === '') return ''
  if (Array.isArray(v)) return v.map(display).filter(Boolean).join(', ')
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>
    if ('label' in o && o.label != null) return String(o.label)
    if ('display_name' in o && o.display_name) return String(o.display_name)
    if ('name' in o && 'value' in o && 'color' in o) return `${o.name}:${o.value}`
    if ('name' in o && 'port' in o) return `${o.name}/${o.port}`
    if ('name' in o) return String(o.name)
    if ('value' in o) return String(o.value)
    return JSON.stringify(o)
  }
  return String(v)
}
