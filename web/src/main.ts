import { createApp } from 'vue'
import { createPinia } from 'pinia'
import ElementPlus from 'element-plus'
import 'element-plus/dist/index.css'
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
app.use(ElementPlus)
app.use(router)

const session = useSession()
bindOrgHeader(session)
setLang(currentLang.value)
setUnauthorizedHandler((next) => {
  session.$patch({ user: null, loaded: true })
  const inApp = next.startsWith('/ui/') ? next.slice(3) : next
  if (router.currentRoute.value.name !== 'login') router.push({ name: 'login', query: { next: inApp } })
})

router.isReady().then(() => app.mount('#app'))
