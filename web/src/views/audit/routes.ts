// Audit routes (children of /audit). Owned by the audit pages.
import type { RouteRecordRaw } from 'vue-router'

const Placeholder = () => import('@/components/PlaceholderView.vue')

export const auditRoutes: RouteRecordRaw[] = [
  { path: 'sessions', name: 'audit-sessions', component: Placeholder, props: { title: 'audit.menu.sessions' }, meta: { title: 'audit.menu.sessions', icon: 'VideoCamera' } },
  { path: 'commands', name: 'audit-commands', component: Placeholder, props: { title: 'audit.menu.commands' }, meta: { title: 'audit.menu.commands', icon: 'Tickets' } },
  { path: 'ftp-logs', name: 'audit-ftp', component: Placeholder, props: { title: 'audit.menu.ftpLogs' }, meta: { title: 'audit.menu.ftpLogs', icon: 'Files' } },
  { path: 'login-logs', name: 'audit-login', component: Placeholder, props: { title: 'audit.menu.loginLogs' }, meta: { title: 'audit.menu.loginLogs', icon: 'Key' } },
  { path: 'operate-logs', name: 'audit-operate', component: Placeholder, props: { title: 'audit.menu.operateLogs' }, meta: { title: 'audit.menu.operateLogs', icon: 'Notebook' } },
  { path: 'tickets', name: 'audit-tickets', component: Placeholder, props: { title: 'audit.menu.tickets' }, meta: { title: 'audit.menu.tickets', icon: 'Stamp' } },
]
