// Workbench routes (children of /workbench). Owned by the workbench pages.
import type { RouteRecordRaw } from 'vue-router'

export const workbenchRoutes: RouteRecordRaw[] = [
  { path: 'assets', name: 'wb-assets', component: () => import('./AssetsView.vue'), meta: { title: 'workbench.menu.assets', icon: 'Monitor' } },
  { path: 'terminal', name: 'wb-terminal', component: () => import('./TerminalView.vue'), meta: { title: 'workbench.menu.terminal', icon: 'Platform' } },
  { path: 'files', name: 'wb-files', component: () => import('./FilesView.vue'), meta: { title: 'workbench.menu.files', icon: 'FolderOpened' } },
]
