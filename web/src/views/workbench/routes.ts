// Workbench routes (children of /workbench). Owned by the workbench pages.
import type { RouteRecordRaw } from 'vue-router'

const Placeholder = () => import('@/components/PlaceholderView.vue')

export const workbenchRoutes: RouteRecordRaw[] = [
  { path: 'assets', name: 'wb-assets', component: Placeholder, props: { title: 'workbench.menu.assets' }, meta: { title: 'workbench.menu.assets', icon: 'Monitor' } },
  { path: 'terminal', name: 'wb-terminal', component: Placeholder, props: { title: 'workbench.menu.terminal' }, meta: { title: 'workbench.menu.terminal', icon: 'Platform' } },
  { path: 'files', name: 'wb-files', component: Placeholder, props: { title: 'workbench.menu.files' }, meta: { title: 'workbench.menu.files', icon: 'FolderOpened' } },
]
