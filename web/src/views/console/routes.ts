// Console routes (children of /console): the administrator's area. Most resources are a
// config in resources.ts rendered by CrudList/CrudForm: <base>, <base>/new, <base>/:id/edit.
import type { RouteRecordRaw } from 'vue-router'
import * as R from './resources'
import type { ResourceConfig } from './crud'

const CrudList = () => import('./CrudList.vue')
const CrudForm = () => import('./CrudForm.vue')
const P = 'console.menu.'

interface Opts {
  icon: string
  group: string
  list?: () => Promise<unknown>
  form?: () => Promise<unknown>
}

function crud(c: ResourceConfig, o: Opts): RouteRecordRaw[] {
  const list: RouteRecordRaw = {
    path: c.base,
    name: `console-${c.base}`,
    component: (o.list || CrudList) as RouteRecordRaw['component'],
    props: { config: c },
    meta: { title: c.title, icon: o.icon, group: P + o.group },
  } as RouteRecordRaw
  if (c.readOnly) return [list]
  return [
    list,
    { path: `${c.base}/new`, name: `console-${c.base}-new`, component: o.form || CrudForm, props: { config: c } } as RouteRecordRaw,
    { path: `${c.base}/:id/edit`, name: `console-${c.base}-edit`, component: o.form || CrudForm, props: { config: c } } as RouteRecordRaw,
  ]
}

export const consoleRoutes: RouteRecordRaw[] = [
  ...crud(R.users, { icon: 'User', group: 'groupPeople', list: () => import('./UsersView.vue') }),
  ...crud(R.userGroups, { icon: 'UserFilled', group: 'groupPeople' }),
  { path: 'assets', name: 'console-assets', component: () => import('./AssetsView.vue'), meta: { title: P + 'assets', icon: 'Monitor', group: P + 'groupAssets' } },
  { path: 'assets/new', name: 'console-assets-new', component: () => import('./AssetForm.vue') },
  { path: 'assets/:id/edit', name: 'console-assets-edit', component: () => import('./AssetForm.vue') },
  { path: 'assets/:id', name: 'console-asset', component: () => import('./AssetDetail.vue') },
  ...crud(R.platforms, { icon: 'Cpu', group: 'groupAssets', list: () => import('./PlatformsView.vue') }),
  ...crud(R.zones, { icon: 'Location', group: 'groupAssets' }),
  ...crud(R.gateways, { icon: 'Share', group: 'groupAssets' }),
  ...crud(R.labels, { icon: 'CollectionTag', group: 'groupAssets' }),
  ...crud(R.accounts, { icon: 'Key', group: 'groupAccounts', list: () => import('./AccountsView.vue') }),
  ...crud(R.accountTemplates, { icon: 'Document', group: 'groupAccounts' }),
  ...crud(R.perms, { icon: 'Lock', group: 'groupPolicy' }),
  ...crud(R.commandGroups, { icon: 'Tickets', group: 'groupPolicy' }),
  ...crud(R.commandFilters, { icon: 'Filter', group: 'groupPolicy' }),
  ...crud(R.loginAcls, { icon: 'Guide', group: 'groupPolicy' }),
  ...crud(R.connectAcls, { icon: 'Connection', group: 'groupPolicy' }),
  ...crud(R.connectMethodAcls, { icon: 'Switch', group: 'groupPolicy' }),
  { path: 'plugins', name: 'console-plugins', component: () => import('./plugins/PluginsView.vue'), meta: { title: P + 'plugins', icon: 'Box', group: P + 'groupSystem' } },
  { path: 'plugins/:id', name: 'console-plugin', component: () => import('./plugins/PluginDetail.vue') },
]
