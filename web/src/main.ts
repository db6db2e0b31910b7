import { createApp } from 'vue'
import { createPinia } from 'pinia'
// Element Plus: components are imported on demand (vite.config.ts); the base styles and those
// of the services called from code (messages, boxes, loading) are imported here.
import 'element-plus/theme-chalk/base.css'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import 'element-plus/es/components/loading/style/css'
import 'element-plus/es/components/notification/style/css'
import { ElLoading } from 'element-plus'
import './styles/main.css'
import App from './App.vue'
import { router } from './router'
import { i18n, setLang, currentLang } from './i18n'
import { useSession, bindOrgHeader } from './stores/session'
import { setUnauthorizedHandler } from './api/client'

// The SPA lives under /ui/; the server serves it for any path, so bring `/` and strays there.
if (!window.location.pathname.startsWith('/ui')) {
  window.history.replaceState(null, '', '/ui/')
}

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
app.use(i18n)
app.directive('loading', ElLoading.directive)
app.use(router)

const session = useSession()
bindOrgHeader(session)
setLang(currentLang.value)
// A 401 on a page means the session ended (expired, signed out elsewhere, invalidated): the
// login says so, and brings the user back to the page afterwards.
setUnauthorizedHandler((next) => {
  session.$patch({ user: null, loaded: true })
  session.takeEnded()
  const inApp = next.startsWith('/ui/') ? next.slice(3) : next
  if (router.currentRoute.value.name !== 'login') router.push({ name: 'login', query: { next: inApp, expired: '1' } })
})

router.isReady().then(() => app.mount('#app'))
