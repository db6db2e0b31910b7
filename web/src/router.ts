// Routes (HTML5 history under /ui/). Each area has its own route file and layout:
//   views/console/routes.ts, views/workbench/routes.ts, views/audit/routes.ts.
// Menus are generated from `meta.title` (an i18n key), `meta.icon` (an Element Plus icon
// name) and `meta.group` (i18n key of a menu group); routes without `meta.title` stay out
// of the menu (forms, details).
import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import AreaLayout from '@/layouts/AreaLayout.vue'
import { consoleRoutes } from '@/views/console/routes'
import { workbenchRoutes } from '@/views/workbench/routes'
import { auditRoutes } from '@/views/audit/routes'
import { useSession } from '@/stores/session'

declare module 'vue-router' {
  interface RouteMeta {
    /** i18n key of the page title (and menu entry). */
    title?: string
    /** Element Plus icon component name for the menu. */
    icon?: string
    /** i18n key of the menu group. */
    group?: string
    /** The page is reachable without signing in. */
    public?: boolean
    /** Area of the layout: console | workbench | audit | dashboard. */
    area?: 'console' | 'workbench' | 'audit' | 'dashboard' | 'profile'
    /** Hide from the sidebar menu. */
    hidden?: boolean
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/', redirect: () => '/workbench/assets' },
  { path: '/login', name: 'login', component: () => import('@/views/LoginView.vue'), meta: { public: true } },
  {
    path: '/console',
    component: AreaLayout,
    meta: { area: 'console' },
    redirect: '/console/users',
    children: consoleRoutes,
  },
  {
    path: '/workbench',
    component: AreaLayout,
    meta: { area: 'workbench' },
    redirect: '/workbench/assets',
    children: workbenchRoutes,
  },
  {
    path: '/audit',
    component: AreaLayout,
    meta: { area: 'audit' },
    redirect: '/audit/sessions',
    children: auditRoutes,
  },
  {
    path: '/dashboard',
    component: AreaLayout,
    meta: { area: 'dashboard' },
    children: [{ path: '', name: 'dashboard', component: () => import('@/views/dashboard/DashboardView.vue'), meta: { title: 'dashboard.title', hidden: true } }],
  },
  {
    path: '/profile',
    component: AreaLayout,
    meta: { area: 'profile' },
    children: [{ path: '', name: 'profile', component: () => import('@/views/ProfileView.vue'), meta: { title: 'shell.profile', hidden: true } }],
  },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: () => import('@/views/NotFoundView.vue'), meta: { public: true } },
]

export const router = createRouter({
  history: createWebHistory('/ui/'),
  routes,
  scrollBehavior: () => ({ top: 0 }),
})

router.beforeEach(async (to) => {
  const session = useSession()
  if (to.meta.public) return true
  const ok = await session.load()
  // Signed in before in this browser, and no longer: the session ended (the login says so).
  if (!ok) return { name: 'login', query: { next: to.fullPath, ...(session.takeEnded() ? { expired: '1' } : {}) } }
  if (session.user?.need_update_password) return { name: 'login', query: { next: to.fullPath, step: 'password' } }
  // The start page depends on what the user may do.
  if (to.path === '/workbench/assets' && to.redirectedFrom?.path === '/' && session.isAdmin) return '/console/assets'
  return true
})

// A page's code chunk failed to load (usually a new version was deployed while this tab was
// open): load the page afresh instead of leaving a blank view.
router.onError((error, to) => {
  if (/Failed to fetch dynamically imported module|Importing a module script failed|error loading dynamically imported module/i.test(String(error?.message))) {
    const key = 'pc.reloaded'
    if (sessionStorage.getItem(key) !== to.fullPath) {
      sessionStorage.setItem(key, to.fullPath)
      window.location.assign(`/ui${to.fullPath}`)
    }
  }
})
