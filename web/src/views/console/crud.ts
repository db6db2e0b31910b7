// A console resource described once: list columns and filters, form fields, and how a
// record becomes a form and a form a request body. CrudList/CrudForm render it.
import type { Column, Filter, BulkAction } from '@/components/table'
import type { FieldDef, FormMode } from '@/components/form'
import type { Row } from '@/api/types'

export interface ResourceConfig {
  /** Route path under /console (e.g. `user-groups`); routes are <base>, <base>/new, <base>/:id/edit. */
  base: string
  /** List endpoint (relative to /api/v1/). */
  url: string
  /** Detail endpoint of one row (default `${url}${id}/`). */
  detailUrl?: (id: string) => string
  /** i18n key of the page title (plural). */
  title: string
  /** i18n key of one item, for form titles. */
  noun: string
  columns: Column[]
  filters?: Filter[]
  fields: FieldDef[]
  defaults?: () => Record<string, unknown>
  /** Post-process the body before sending. */
  payload?: (body: Record<string, unknown>, mode: FormMode, model: Record<string, unknown>) => Record<string, unknown>
  /** Pre-process the record into the form model. */
  model?: (model: Record<string, unknown>, record: Row) => Record<string, unknown>
  /** Moves the server's field errors onto the form's fields (e.g. `rules` → `ip_group`). */
  fieldErrors?: (errors: Record<string, string[]>) => Record<string, string[]>
  readOnly?: boolean
  importable?: boolean
  exportName?: string
  bulkActions?: BulkAction[]
  /** Where a click on the name goes (default: the edit form). */
  detailRoute?: (row: Row) => string
}

export function detailUrlOf(c: ResourceConfig, id: string | number): string {
  return c.detailUrl ? c.detailUrl(String(id)) : `${c.url}${id}/`
}
