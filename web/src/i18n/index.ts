// vue-i18n set-up: English and Simplified Chinese, the choice kept in localStorage.
import { createI18n } from 'vue-i18n'
import { computed } from 'vue'
import en from './en'
import zh from './zh'
import elEn from 'element-plus/es/locale/lang/en'
import elZh from 'element-plus/es/locale/lang/zh-cn'

export type Lang = 'en' | 'zh'
const KEY = 'pc.lang'

function initial(): Lang {
  const saved = typeof localStorage !== 'undefined' ? localStorage.getItem(KEY) : null
  if (saved === 'en' || saved === 'zh') return saved
  return typeof navigator !== 'undefined' && navigator.language?.toLowerCase().startsWith('zh') ? 'zh' : 'en'
}

export const i18n = createI18n({
  legacy: false,
  locale: initial(),
  fallbackLocale: 'en',
  messages: { en, zh },
  missingWarn: false,
  fallbackWarn: false,
})

export function setLang(lang: Lang) {
  i18n.global.locale.value = lang
  localStorage.setItem(KEY, lang)
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
}

export const currentLang = computed<Lang>(() => i18n.global.locale.value as Lang)
/** Element Plus's own locale for the current language (dates, pager, empty texts). */
export const elementLocale = computed(() => (currentLang.value === 'zh' ? elZh : elEn))

/** `t` outside components. */
export const t = (key: string, args?: Record<string, unknown>) => (args ? i18n.global.t(key, args) : i18n.global.t(key))
