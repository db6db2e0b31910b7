// Console routes (children of /console): the administrator's area.
import type { RouteRecordRaw } from 'vue-router'

const Placeholder = () => import('@/components/PlaceholderView.vue')
const P = 'console.menu.'

function soon(path: string, title: string, icon: string, group: string): RouteRecordRaw {
  return { path, component: Placeholder, props: { title: P + title }, meta: { title: P + title, icon, group: P + group } }
}

export const consoleRoutes: RouteRecordRaw[] = [
  { path: 'users', name: 'users', component: () => import('./UsersView.vue'), meta: { title: P + 'users', icon: 'User', group: P + 'groupPeople' } },
  soon('user-groups', 'userGroups', 'UserFilled', 'groupPeople'),
  soon('assets', 'assets', 'Monitor', 'groupAssets'),
  soon('platforms', 'platforms', 'Cpu', 'groupAssets'),
  soon('zones', 'zones', 'Location', 'groupAssets'),
  soon('gateways', 'gateways', 'Share', 'groupAssets'),
  soon('labels', 'labels', 'CollectionTag', 'groupAssets'),
  soon('accounts', 'accounts', 'Key', 'groupAccounts'),
  soon('account-templates', 'accountTemplates', 'Document', 'groupAccounts'),
  soon('perms', 'perms', 'Lock', 'groupPolicy'),
  soon('command-groups', 'commandGroups', 'Tickets', 'groupPolicy'),
  soon('command-filters', 'commandFilters', 'Filter', 'groupPolicy'),
  soon('login-acls', 'loginAcls', 'Guide', 'groupPolicy'),
  soon('connect-acls', 'connectAcls', 'Connection', 'groupPolicy'),
  soon('connect-method-acls', 'connectMethodAcls', 'Switch', 'groupPolicy'),
  soon('plugins', 'plugins', 'Box', 'groupSystem'),
]
