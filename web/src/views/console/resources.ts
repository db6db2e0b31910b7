// The console's resources, described once (see crud.ts). Pages with more than a list and a
// form (users, assets, accounts) reuse these configs and add their own parts.
import type { Row } from '@/api/types'
import type { FieldDef, FormMode, Option } from '@/components/form'
import type { Column } from '@/components/table'
import type { ResourceConfig } from './crud'

const F = 'fields.'
const N = 'console.nouns.'
const M = 'console.menu.'

export const secretTypes: Option[] = [
  { value: 'password', label: 'choices.password' },
  { value: 'ssh_key', label: 'choices.sshKey' },
  { value: 'access_key', label: 'choices.accessKey' },
  { value: 'token', label: 'choices.token' },
  { value: 'api_key', label: 'choices.apiKey' },
]
export const permActions: Option[] = ['connect', 'upload', 'download', 'copy', 'paste', 'delete', 'share'].map((v) => ({ value: v, label: v }))
export const connectMethods: Option[] = ['web_cli', 'web_sftp', 'web_gui', 'ssh_client', 'ssh_guide', 'sftp_client', 'db_client', 'db_guide'].map((v) => ({ value: v, label: v }))
export const protocolNames = ['ssh', 'sftp', 'telnet', 'rdp', 'vnc', 'mysql', 'mariadb', 'postgresql', 'oracle', 'sqlserver', 'redis', 'mongodb', 'clickhouse', 'http', 'https', 'k8s']

const usersRemote = { url: 'users/users/', multiple: true }
const groupsRemote = { url: 'users/groups/', multiple: true }
const assetsRemote = { url: 'assets/assets/', multiple: true }
const nodesRemote = { url: 'assets/nodes/', multiple: true, label: (r: Row) => String(r.full_value || r.name) }

const common = {
  active: { prop: 'is_active', label: F + 'isActive', type: 'active', width: 100 } as Column,
  comment: { prop: 'comment', label: 'common.comment', hidden: true } as Column,
  created: { prop: 'date_created', label: 'common.dateCreated', hidden: true, sortable: true } as Column,
}
const commentField: FieldDef = { key: 'comment', label: 'common.comment', type: 'textarea', rows: 2 }
const activeField: FieldDef = { key: 'is_active', label: F + 'isActive', type: 'switch' }
const labelsField: FieldDef = { key: 'labels', label: F + 'labels', type: 'labels', help: F + 'labelsHelp' }

// ---------- users ----------
export const userFields: FieldDef[] = [
  { key: 'name', label: 'common.name', required: true },
  { key: 'username', label: F + 'username', required: true, disabled: (_m, mode) => mode === 'edit' },
  { key: 'email', label: F + 'email', required: true },
  { key: 'groups', label: F + 'groups', type: 'remote', remote: groupsRemote },
  { key: 'system_roles', label: F + 'systemRoles', type: 'remote', remote: { url: 'rbac/system-roles/', multiple: true, label: (r) => String(r.display_name || r.name) } },
  { key: 'org_roles', label: F + 'orgRoles', type: 'remote', remote: { url: 'rbac/org-roles/', multiple: true, label: (r) => String(r.display_name || r.name) } },
  {
    key: 'password_strategy',
    label: F + 'passwordStrategy',
    type: 'select',
    options: [
      { value: 'custom', label: F + 'passwordCustom' },
      { value: 'email', label: F + 'passwordEmail' },
    ],
    show: (m) => !m.id,
  },
  { key: 'password', label: F + 'password', type: 'password', show: (m) => !m.id && m.password_strategy === 'custom' },
  { key: 'need_update_password', label: F + 'needUpdatePassword', type: 'switch' },
  {
    key: 'mfa_level',
    label: F + 'mfaLevel',
    type: 'select',
    options: [
      { value: 0, label: F + 'mfaOff' },
      { value: 1, label: F + 'mfaOn' },
      { value: 2, label: F + 'mfaForced' },
    ],
  },
  activeField,
  { key: 'date_expired', label: F + 'dateExpired', type: 'datetime' },
  commentField,
]

export const users: ResourceConfig = {
  base: 'users',
  url: 'users/users/',
  title: M + 'users',
  noun: 'users.noun',
  columns: [
    { prop: 'name', label: 'common.name', sortable: true, fixed: true },
    { prop: 'username', label: F + 'username', sortable: true },
    { prop: 'email', label: F + 'email' },
    { prop: 'groups', label: F + 'groups', type: 'refs' },
    { prop: 'system_roles', label: F + 'systemRoles', type: 'refs', hidden: true },
    { prop: 'org_roles', label: F + 'orgRoles', type: 'refs' },
    { prop: 'source', label: F + 'source', type: 'choice', hidden: true },
    { prop: 'mfa_level', label: F + 'mfaLevel', type: 'choice', hidden: true },
    { prop: 'login_blocked', label: F + 'loginBlocked', type: 'bool', hidden: true },
    { prop: 'last_login', label: F + 'lastLogin', hidden: true },
    common.active,
    common.comment,
  ],
  filters: [
    { key: 'is_active', label: F + 'isActive', type: 'bool' },
    { key: 'is_login_blocked', label: F + 'loginBlocked', type: 'bool' },
    {
      key: 'mfa_level',
      label: F + 'mfaLevel',
      type: 'select',
      options: [
        { value: '0', label: F + 'mfaOff' },
        { value: '1', label: F + 'mfaOn' },
        { value: '2', label: F + 'mfaForced' },
      ],
    },
  ],
  fields: userFields,
  defaults: () => ({ is_active: true, password_strategy: 'custom', mfa_level: 0, need_update_password: true, groups: [], system_roles: [], org_roles: [] }),
  model: (m, r) => ({ ...m, id: r.id }),
  payload: (b) => {
    const out = { ...b }
    if (out.system_roles && !(out.system_roles as unknown[]).length) delete out.system_roles
    if (out.org_roles && !(out.org_roles as unknown[]).length) delete out.org_roles
    return out
  },
  importable: true,
  exportName: 'users',
}

export const userGroups: ResourceConfig = {
  base: 'user-groups',
  url: 'users/groups/',
  title: M + 'userGroups',
  noun: N + 'userGroup',
  columns: [{ prop: 'name', label: 'common.name', sortable: true, fixed: true }, { prop: 'users_amount', label: F + 'usersAmount', width: 120 }, common.comment, common.created],
  fields: [{ key: 'name', label: 'common.name', required: true }, { key: 'users', label: F + 'members', type: 'remote', remote: usersRemote }, commentField],
  defaults: () => ({ users: [] }),
  importable: true,
  exportName: 'user-groups',
}

// ---------- assets ----------
/** Each category's platform types (the server's `category_types`); `custom` takes any type. */
export const platformTypes: Record<string, string[]> = {
  host: ['linux', 'windows', 'unix', 'macos', 'other'],
  device: ['general', 'cisco', 'huawei', 'h3c', 'juniper', 'tp_link', 'switch', 'router', 'firewall'],
  database: ['mysql', 'mariadb', 'postgresql', 'oracle', 'sqlserver', 'db2', 'dameng', 'clickhouse', 'mongodb', 'redis'],
  cloud: ['public', 'private', 'k8s'],
  web: ['website'],
  ds: ['general', 'windows_ad'],
  custom: [],
}
const platformCategories = Object.keys(platformTypes)
// Category and type are fixed once a platform exists (the server refuses a change).
const fixedOnEdit = (_m: Record<string, unknown>, mode: FormMode) => mode === 'edit'

export const platforms: ResourceConfig = {
  base: 'platforms',
  url: 'assets/platforms/',
  title: M + 'platforms',
  noun: N + 'platform',
  columns: [
    { prop: 'name', label: 'common.name', fixed: true },
    { prop: 'category', label: F + 'category', type: 'choice' },
    { prop: 'type', label: F + 'type', type: 'choice' },
    { prop: 'protocols', label: F + 'protocols', type: 'list' },
    { prop: 'charset', label: F + 'charset', type: 'choice', hidden: true },
    { prop: 'assets_amount', label: F + 'assetsAmount', width: 100 },
    { prop: 'internal', label: F + 'internal', type: 'bool', width: 100 },
  ],
  filters: [
    {
      key: 'category',
      label: F + 'category',
      type: 'select',
      options: platformCategories.map((v) => ({ value: v, label: v })),
    },
  ],
  fields: [
    { key: 'name', label: 'common.name', required: true },
    { key: 'category', label: F + 'category', type: 'select', required: true, options: platformCategories.map((v) => ({ value: v, label: v })), disabled: fixedOnEdit },
    // One type field per category: the choices follow the category (any text for `custom`).
    ...platformCategories.map(
      (cat): FieldDef =>
        platformTypes[cat].length
          ? { key: 'type', label: F + 'type', type: 'select', required: true, options: platformTypes[cat].map((v) => ({ value: v, label: v })), show: (m) => m.category === cat, disabled: fixedOnEdit }
          : { key: 'type', label: F + 'type', required: true, show: (m) => m.category === cat, disabled: fixedOnEdit },
    ),
    { key: 'protocols', label: F + 'protocols', type: 'protocols', required: true },
    {
      key: 'charset',
      label: F + 'charset',
      type: 'select',
      options: [
        { value: 'utf-8', label: 'utf-8' },
        { value: 'gbk', label: 'gbk' },
      ],
    },
    commentField,
  ],
  defaults: () => ({ category: 'host', type: 'linux', charset: 'utf-8', protocols: [{ name: 'ssh', port: 22 }] }),
  // `new?clone=<id>` copies a platform (a built-in one too): the copy is a custom platform.
  payload: (b, mode) => {
    const out = { ...b }
    if (mode === 'edit') {
      delete out.category
      delete out.type
    }
    return out
  },
  exportName: 'platforms',
}

export const zones: ResourceConfig = {
  base: 'zones',
  url: 'assets/zones/',
  title: M + 'zones',
  noun: N + 'zone',
  columns: [
    { prop: 'name', label: 'common.name', sortable: true, fixed: true },
    { prop: 'assets_amount', label: F + 'assetsAmount', width: 100 },
    { prop: 'gateways', label: F + 'gateways', type: 'refs' },
    common.comment,
  ],
  fields: [{ key: 'name', label: 'common.name', required: true }, { key: 'assets', label: F + 'assets', type: 'remote', remote: assetsRemote }, labelsField, commentField],
  defaults: () => ({ assets: [] }),
  importable: true,
  exportName: 'zones',
}

/** Fields every asset kind has; category-specific ones are added by the asset form. */
export function assetFields(category: string): FieldDef[] {
  const f: FieldDef[] = [
    { key: 'name', label: 'common.name', required: true },
    { key: 'address', label: category === 'web' ? F + 'url' : F + 'address', required: true },
    {
      key: 'platform',
      label: F + 'platform',
      type: 'remote',
      required: true,
      remote: { url: 'assets/platforms/', query: category ? { category } : {}, label: (r) => `${r.name} (${(r.type as Row)?.label ?? ''})` },
    },
    { key: 'nodes', label: F + 'nodes', type: 'remote', remote: nodesRemote },
    { key: 'zone', label: F + 'zone', type: 'remote', remote: { url: 'assets/zones/' } },
    { key: 'protocols', label: F + 'protocols', type: 'protocols' },
  ]
  if (category === 'database') f.push({ key: 'db_name', label: F + 'dbName' })
  if (category === 'web')
    f.push({
      key: 'autofill',
      label: F + 'autofill',
      type: 'select',
      options: [
        { value: 'no', label: 'no' },
        { value: 'basic', label: 'basic' },
        { value: 'script', label: 'script' },
      ],
    })
  if (category === 'ds') f.push({ key: 'domain_name', label: F + 'domainName' })
  f.push(labelsField, activeField, commentField)
  return f
}

/** The built-in Gateway platform (the server's `GATEWAY_PLATFORM_ID`). */
export const GATEWAY_PLATFORM_ID = 10

export const gateways: ResourceConfig = {
  base: 'gateways',
  url: 'assets/gateways/',
  title: M + 'gateways',
  noun: N + 'gateway',
  columns: [
    { prop: 'name', label: 'common.name', sortable: true, fixed: true },
    { prop: 'address', label: F + 'address', sortable: true },
    { prop: 'zone', label: F + 'zone', type: 'choice' },
    { prop: 'protocols', label: F + 'protocols', type: 'list' },
    { prop: 'connectivity', label: F + 'connectivity', type: 'choice' },
    common.active,
  ],
  // A gateway belongs to a zone: it is how that zone's assets are reached. Its platform is
  // always the built-in Gateway one (the server refuses any other), so it is not asked for.
  fields: assetFields('host')
    .filter((f) => f.key !== 'platform')
    .map((f) => (f.key === 'zone' ? { ...f, required: true } : f)),
  defaults: () => ({ is_active: true, protocols: [{ name: 'ssh', port: 22 }], nodes: [] }),
  payload: (b, mode) => (mode === 'edit' ? b : { ...b, platform: GATEWAY_PLATFORM_ID }),
  exportName: 'gateways',
}

export const labels: ResourceConfig = {
  base: 'labels',
  url: 'labels/labels/',
  title: M + 'labels',
  noun: N + 'label',
  columns: [
    { prop: 'name', label: 'common.name', sortable: true, fixed: true },
    { prop: 'value', label: F + 'value', sortable: true },
    { prop: 'res_count', label: F + 'resCount', width: 110 },
    common.comment,
  ],
  fields: [
    { key: 'name', label: 'common.name', required: true },
    { key: 'value', label: F + 'value', required: true },
    { key: 'color', label: F + 'color' },
    commentField,
  ],
  importable: true,
  exportName: 'labels',
}

// ---------- accounts ----------
export const accountFields: FieldDef[] = [
  { key: 'asset', label: F + 'asset', type: 'remote', required: true, remote: { url: 'assets/assets/' }, disabled: (_m, mode) => mode === 'edit' },
  { key: 'name', label: 'common.name', required: true },
  { key: 'username', label: F + 'username', required: true },
  { key: 'secret_type', label: F + 'secretType', type: 'select', options: secretTypes },
  { key: 'secret', label: F + 'secret', type: 'password', help: F + 'secretKeepHelp', show: (m) => m.secret_type !== 'ssh_key' },
  { key: 'secret', label: F + 'secret', type: 'textarea', rows: 5, help: F + 'secretKeepHelp', show: (m) => m.secret_type === 'ssh_key' },
  { key: 'passphrase', label: F + 'passphrase', type: 'password', show: (m) => m.secret_type === 'ssh_key' },
  { key: 'privileged', label: F + 'privileged', type: 'switch' },
  activeField,
  commentField,
]

export const accounts: ResourceConfig = {
  base: 'accounts',
  url: 'accounts/accounts/',
  title: M + 'accounts',
  noun: N + 'account',
  columns: [
    { prop: 'name', label: 'common.name', sortable: true, fixed: true },
    { prop: 'username', label: F + 'username', sortable: true },
    { prop: 'asset', label: F + 'asset', format: (r) => `${(r.asset as Row)?.name ?? ''} (${(r.asset as Row)?.address ?? ''})` },
    { prop: 'secret_type', label: F + 'secretType', type: 'choice' },
    { prop: 'privileged', label: F + 'privileged', type: 'bool', width: 100 },
    { prop: 'has_secret', label: F + 'hasSecret', type: 'bool', width: 100, hidden: true },
    { prop: 'source', label: F + 'source', type: 'choice', hidden: true },
    { prop: 'connectivity', label: F + 'connectivity', type: 'choice', hidden: true },
    common.active,
  ],
  filters: [
    { key: 'secret_type', label: F + 'secretType', type: 'select', options: secretTypes.map((o) => ({ value: String(o.value), label: o.label })) },
    { key: 'privileged', label: F + 'privileged', type: 'bool' },
    { key: 'is_active', label: F + 'isActive', type: 'bool' },
  ],
  fields: accountFields,
  defaults: () => ({ secret_type: 'password', is_active: true, privileged: false }),
  payload: (b, mode) => {
    const out = { ...b }
    if (mode === 'edit') delete out.asset
    if (out.secret === '') delete out.secret
    return out
  },
  importable: true,
  exportName: 'accounts',
}

export const accountTemplates: ResourceConfig = {
  base: 'account-templates',
  url: 'accounts/account-templates/',
  title: M + 'accountTemplates',
  noun: N + 'accountTemplate',
  columns: [
    { prop: 'name', label: 'common.name', sortable: true, fixed: true },
    { prop: 'username', label: F + 'username' },
    { prop: 'secret_type', label: F + 'secretType', type: 'choice' },
    { prop: 'secret_strategy', label: F + 'secretStrategy', type: 'choice' },
    { prop: 'privileged', label: F + 'privileged', type: 'bool', width: 100 },
    common.active,
  ],
  fields: [
    { key: 'name', label: 'common.name', required: true },
    { key: 'username', label: F + 'username', required: true },
    { key: 'secret_type', label: F + 'secretType', type: 'select', options: secretTypes },
    {
      key: 'secret_strategy',
      label: F + 'secretStrategy',
      type: 'select',
      options: [
        { value: 'specific', label: 'choices.specific' },
        { value: 'random', label: 'choices.random' },
      ],
    },
    { key: 'secret', label: F + 'secret', type: 'password', help: F + 'secretKeepHelp', show: (m) => m.secret_strategy !== 'random' },
    { key: 'privileged', label: F + 'privileged', type: 'switch' },
    { key: 'auto_push', label: F + 'autoPush', type: 'switch' },
    { key: 'platforms', label: F + 'platforms', type: 'remote', remote: { url: 'assets/platforms/', multiple: true } },
    activeField,
    commentField,
  ],
  defaults: () => ({ secret_type: 'password', secret_strategy: 'specific', is_active: true, privileged: false, auto_push: false, platforms: [] }),
  exportName: 'account-templates',
}

// ---------- authorization ----------
export const perms: ResourceConfig = {
  base: 'perms',
  url: 'perms/asset-permissions/',
  title: M + 'perms',
  noun: N + 'perm',
  columns: [
    { prop: 'name', label: 'common.name', sortable: true, fixed: true },
    { prop: 'users_amount', label: F + 'users', width: 90 },
    { prop: 'user_groups_amount', label: F + 'userGroups', width: 110 },
    { prop: 'assets_amount', label: F + 'assets', width: 90 },
    { prop: 'nodes_amount', label: F + 'nodes', width: 90 },
    { prop: 'accounts', label: F + 'accounts', type: 'list' },
    { prop: 'actions', label: F + 'actions', type: 'list', hidden: true },
    { prop: 'date_expired', label: F + 'dateExpired', hidden: true },
    { prop: 'is_valid', label: F + 'valid', type: 'bool', width: 90 },
    common.active,
  ],
  filters: [
    { key: 'is_valid', label: F + 'valid', type: 'bool' },
    { key: 'is_active', label: F + 'isActive', type: 'bool' },
  ],
  fields: [
    { key: 'name', label: 'common.name', required: true },
    { key: 'users', label: F + 'users', type: 'remote', remote: usersRemote, section: 'fields.users' },
    { key: 'user_groups', label: F + 'userGroups', type: 'remote', remote: groupsRemote, section: 'fields.users' },
    { key: 'assets', label: F + 'assets', type: 'remote', remote: assetsRemote, section: 'fields.assets' },
    { key: 'nodes', label: F + 'nodes', type: 'remote', remote: nodesRemote, section: 'fields.assets' },
    {
      key: 'accounts',
      label: F + 'accounts',
      type: 'tags',
      help: 'perm.accountsHelp',
      options: ['@ALL', '@SPEC', '@INPUT', '@USER', '@ANON'].map((v) => ({ value: v, label: v })),
      section: 'fields.accounts',
    },
    { key: 'protocols', label: F + 'protocols', type: 'tags', options: ['all', ...protocolNames].map((v) => ({ value: v, label: v })), section: 'fields.accounts' },
    { key: 'actions', label: F + 'actions', type: 'multiselect', options: permActions, section: 'fields.accounts' },
    { key: 'date_start', label: F + 'dateStart', type: 'datetime', section: 'perm.validity' },
    { key: 'date_expired', label: F + 'dateExpired', type: 'datetime', section: 'perm.validity' },
    activeField,
    commentField,
  ],
  defaults: () => ({ users: [], user_groups: [], assets: [], nodes: [], accounts: ['@ALL'], protocols: ['all'], actions: ['connect', 'upload', 'download', 'copy', 'paste', 'delete'], is_active: true }),
  payload: (b) => {
    const out = { ...b }
    if (!out.date_start) delete out.date_start
    if (!out.date_expired) delete out.date_expired
    return out
  },
  importable: true,
  exportName: 'asset-permissions',
}

export const commandGroups: ResourceConfig = {
  base: 'command-groups',
  url: 'acls/command-groups/',
  title: M + 'commandGroups',
  noun: N + 'commandGroup',
  columns: [
    { prop: 'name', label: 'common.name', sortable: true, fixed: true },
    { prop: 'type', label: F + 'type', type: 'choice', width: 110 },
    { prop: 'content', label: F + 'content', type: 'mono' },
    { prop: 'ignore_case', label: F + 'ignoreCase', type: 'bool', width: 110 },
    common.comment,
  ],
  fields: [
    { key: 'name', label: 'common.name', required: true },
    {
      key: 'type',
      label: F + 'type',
      type: 'select',
      options: [
        { value: 'command', label: 'choices.command' },
        { value: 'regex', label: 'choices.regex' },
      ],
    },
    { key: 'content', label: F + 'content', type: 'textarea', rows: 8, required: true, help: F + 'contentHelp' },
    { key: 'ignore_case', label: F + 'ignoreCase', type: 'switch' },
    commentField,
  ],
  defaults: () => ({ type: 'command', ignore_case: true }),
  exportName: 'command-groups',
}

function actionOptions(values: string[]): Option[] {
  const key: Record<string, string> = { reject: 'acl.reject', accept: 'acl.accept', review: 'acl.review', warning: 'acl.warning', notify_and_warn: 'acl.notifyAndWarn', notice: 'acl.notice' }
  return values.map((v) => ({ value: v, label: key[v] || v }))
}

function aclBase(withAssets: boolean, actions: string[]): FieldDef[] {
  const f: FieldDef[] = [
    { key: 'name', label: 'common.name', required: true },
    { key: 'priority', label: F + 'priority', type: 'number', min: 1, max: 100, help: F + 'priorityHelp' },
    { key: 'users', label: F + 'users', type: 'selector', remote: { url: 'users/users/' } },
  ]
  if (withAssets) {
    f.push({ key: 'assets', label: F + 'assets', type: 'selector', remote: { url: 'assets/assets/' } })
    f.push({ key: 'accounts', label: F + 'accounts', type: 'tags', options: [{ value: '@ALL', label: 'acl.allAccounts' }], help: 'acl.accountsHelp' })
  }
  f.push({ key: 'action', label: F + 'action', type: 'select', options: actionOptions(actions), required: true })
  f.push({ key: 'reviewers', label: F + 'reviewers', type: 'remote', remote: usersRemote, show: (m) => m.action === 'review' || m.action === 'notice' || m.action === 'notify_and_warn' })
  return f
}
const aclColumns = (extra: Column[] = []): Column[] => [
  { prop: 'name', label: 'common.name', sortable: true, fixed: true },
  { prop: 'priority', label: F + 'priority', sortable: true, width: 100 },
  ...extra,
  { prop: 'action', label: F + 'action', type: 'choice', width: 120 },
  common.active,
  common.comment,
]
const aclDefaults = (withAssets: boolean) => () => ({
  priority: 50,
  is_active: true,
  users: { type: 'all' },
  ...(withAssets ? { assets: { type: 'all' }, accounts: ['@ALL'] } : {}),
  reviewers: [],
})
const rulesFields: FieldDef[] = [{ key: 'ip_group', label: F + 'ipGroup', type: 'tags', help: F + 'ipGroupHelp', options: [{ value: '*', label: '*' }] }]
const rulesModel = (m: Record<string, unknown>, r: Row) => ({ ...m, ip_group: ((r.rules as Row)?.ip_group as string[]) || ['*'], _rules: r.rules })
const rulesPayload = (b: Record<string, unknown>, _mode: unknown, m: Record<string, unknown>) => {
  const out = { ...b }
  delete out.ip_group
  out.rules = { ...((m._rules as Row) || {}), ip_group: (m.ip_group as string[])?.length ? m.ip_group : ['*'] }
  return out
}
/** The server reports a bad address as `rules: ["ip_group: …"]`: show it under the IP field. */
const rulesErrors = (errors: Record<string, string[]>) => {
  const out = { ...errors }
  const ip = (out.rules || []).filter((m) => m.startsWith('ip_group:')).map((m) => m.slice('ip_group:'.length).trim())
  if (ip.length) {
    out.ip_group = [...(out.ip_group || []), ...ip]
    out.rules = out.rules.filter((m) => !m.startsWith('ip_group:'))
    if (!out.rules.length) delete out.rules
  }
  return out
}

export const commandFilters: ResourceConfig = {
  base: 'command-filters',
  url: 'acls/command-filter-acls/',
  title: M + 'commandFilters',
  noun: N + 'commandFilter',
  columns: aclColumns([{ prop: 'command_groups', label: F + 'commandGroups', type: 'refs' }]),
  fields: [
    ...aclBase(true, ['reject', 'accept', 'review', 'warning', 'notify_and_warn']),
    { key: 'command_groups', label: F + 'commandGroups', type: 'remote', required: true, remote: { url: 'acls/command-groups/', multiple: true } },
    activeField,
    commentField,
  ],
  defaults: () => ({ ...aclDefaults(true)(), command_groups: [], action: 'reject' }),
  exportName: 'command-filters',
}

export const loginAcls: ResourceConfig = {
  base: 'login-acls',
  url: 'acls/login-acls/',
  title: M + 'loginAcls',
  noun: N + 'loginAcl',
  columns: aclColumns([{ prop: 'rules.ip_group', label: F + 'ipGroup', type: 'list' }]),
  fields: [...aclBase(false, ['reject', 'accept', 'review', 'notice']), ...rulesFields, activeField, commentField],
  defaults: () => ({ ...aclDefaults(false)(), action: 'reject', ip_group: ['*'] }),
  model: rulesModel,
  payload: rulesPayload,
  fieldErrors: rulesErrors,
  exportName: 'login-acls',
}

export const connectAcls: ResourceConfig = {
  base: 'connect-acls',
  url: 'acls/login-asset-acls/',
  title: M + 'connectAcls',
  noun: N + 'connectAcl',
  columns: aclColumns([{ prop: 'rules.ip_group', label: F + 'ipGroup', type: 'list' }]),
  fields: [...aclBase(true, ['reject', 'accept', 'review', 'notice']), ...rulesFields, activeField, commentField],
  defaults: () => ({ ...aclDefaults(true)(), action: 'reject', ip_group: ['*'] }),
  model: rulesModel,
  payload: rulesPayload,
  fieldErrors: rulesErrors,
  exportName: 'connect-acls',
}

export const connectMethodAcls: ResourceConfig = {
  base: 'connect-method-acls',
  url: 'acls/connect-method-acls/',
  title: M + 'connectMethodAcls',
  noun: N + 'connectMethodAcl',
  columns: aclColumns([{ prop: 'connect_methods', label: F + 'connectMethods', type: 'list' }]),
  fields: [...aclBase(false, ['reject', 'accept']), { key: 'connect_methods', label: F + 'connectMethods', type: 'multiselect', options: connectMethods, required: true }, activeField, commentField],
  defaults: () => ({ ...aclDefaults(false)(), action: 'reject', connect_methods: [] }),
  exportName: 'connect-method-acls',
}
