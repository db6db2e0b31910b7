// Plugin API calls (`/api/v1/plugins/…`, routes/plugins.rs) and the shapes the pages use.
import { importFile } from '@/api/resources'
import type { Row } from '@/api/types'

export const PLUGINS = 'plugins/plugins/'
/** The server's bundle limit (routes/plugins.rs BUNDLE_LIMIT), checked before sending. */
export const BUNDLE_LIMIT = 256 * 1024 * 1024

/** A configuration field of the manifest (manifest.rs FieldSpec). */
export interface FieldSpec {
  type: 'string' | 'integer' | 'boolean' | 'enum'
  required?: boolean
  default?: string | number | boolean
  choices?: string[]
  label?: { en: string; zh?: string }
  help?: string
}

export interface Plugin extends Row {
  id: string
  plugin_id: string
  version: string
  name: string
  kind: string
  status: string
  is_active: boolean
  config_schema?: Record<string, FieldSpec>
  config?: Record<string, unknown>
  capabilities?: { http: string[]; remote: boolean; secrets: string[]; reveal: boolean }
  grants?: { http: string[]; remote: boolean; secrets: string[]; reveal: boolean }
  secrets?: { declared: string[]; bound: string[] }
  imports?: { kind?: string; imports?: string[]; exports?: string[]; wasi?: string[]; api_version?: string }
}

/** Multipart upload (`file`) with progress; resolves with the installed version. */
export function uploadBundle(file: File, onProgress: (p: number) => void): Promise<Plugin> {
  return importFile(PLUGINS, file, onProgress) as Promise<Plugin>
}

export function statusType(s: string): 'success' | 'info' | 'warning' | 'danger' | 'primary' {
  return s === 'enabled' ? 'success' : s === 'failed' ? 'danger' : s === 'disabled' ? 'warning' : 'info'
}
