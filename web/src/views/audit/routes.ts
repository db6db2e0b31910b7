// Audit routes (children of /audit). Owned by the audit pages.
import type { RouteRecordRaw } from 'vue-router'

export const auditRoutes: RouteRecordRaw[] = [
  { path: 'sessions', name: 'audit-sessions', component: () => import('./SessionsView.vue'), meta: { title: 'audit.menu.sessions', icon: 'VideoCamera' } },
  { path: 'sessions/:id/monitor', name: 'audit-session-monitor', component: () => import('./SessionMonitor.vue') },
  { path: 'sessions/:id/replay', name: 'audit-session-replay', component: () => import('./SessionReplay.vue') },
  { path: 'commands', name: 'audit-commands', component: () => import('./CommandsView.vue'), meta: { title: 'audit.menu.commands', icon: 'Tickets' } },
  { path: 'ftp-logs', name: 'audit-ftp', component: () => import('./FtpLogsView.vue'), meta: { title: 'audit.menu.ftpLogs', icon: 'Files' } },
  { path: 'login-logs', name: 'audit-login', component: () => import('./LoginLogsView.vue'), meta: { title: 'audit.menu.loginLogs', icon: 'Key' } },
  { path: 'operate-logs', name: 'audit-operate', component: () => import('./OperateLogsView.vue'), meta: { title: 'audit.menu.operateLogs', icon: 'Notebook' } },
  { path: 'tickets', name: 'audit-tickets', component: () => import('./TicketsView.vue'), meta: { title: 'audit.menu.tickets', icon: 'Stamp' } },
]
