// The open web terminals of this page: tabs, each with one to four split panes. A module
// singleton, so terminals outlive the terminal page's component (moving to My assets and back
// keeps every connection).
import { reactive, markRaw } from 'vue'
import { TerminalSession, type TerminalTarget } from './TerminalSession'

/** At most this many panes in one tab. */
export const MAX_PANES = 4

export interface TerminalTab {
  id: string
  panes: TerminalSession[]
  /** Index of the focused pane. */
  active: number
}

let seq = 0

export const terminals: { tabs: TerminalTab[]; current: string } = reactive({
  tabs: [] as TerminalTab[],
  current: '',
}) as never

function session(target: TerminalTarget): TerminalSession {
  const s = markRaw(new TerminalSession(target))
  s.onSwitchTab = (dir) => switchTab(dir)
  return s
}

export function currentTab(): TerminalTab | undefined {
  return terminals.tabs.find((t) => t.id === terminals.current)
}

/** Opens a new tab connected to `target` and makes it current. */
export function openTerminal(target: TerminalTarget): TerminalTab {
  const tab: TerminalTab = { id: `tab-${++seq}`, panes: [session(target)], active: 0 }
  terminals.tabs.push(tab)
  terminals.current = tab.id
  return tab
}

/** Adds a pane to the tab, connected to the same target as its focused pane. */
export function splitTab(tab: TerminalTab): boolean {
  if (tab.panes.length >= MAX_PANES) return false
  const from = tab.panes[tab.active] || tab.panes[0]
  tab.panes.push(session({ ...from.target }))
  tab.active = tab.panes.length - 1
  return true
}

export function closePane(tab: TerminalTab, index: number) {
  const [gone] = tab.panes.splice(index, 1)
  gone?.dispose()
  if (!tab.panes.length) closeTab(tab.id)
  else tab.active = Math.min(tab.active, tab.panes.length - 1)
}

export function closeTab(id: string) {
  const i = terminals.tabs.findIndex((t) => t.id === id)
  if (i < 0) return
  const [tab] = terminals.tabs.splice(i, 1)
  tab.panes.forEach((p) => p.dispose())
  if (terminals.current === id) terminals.current = terminals.tabs[Math.min(i, terminals.tabs.length - 1)]?.id || ''
}

/** Alt+Left / Alt+Right: the previous / next tab, wrapping around. */
export function switchTab(dir: -1 | 1) {
  const n = terminals.tabs.length
  if (n < 2) return
  const i = terminals.tabs.findIndex((t) => t.id === terminals.current)
  terminals.current = terminals.tabs[(i + dir + n) % n].id
}

/** Whether any connection is live (to warn before leaving the page). */
export function anyLive(): boolean {
  return terminals.tabs.some((t) => t.panes.some((p) => p.view.state === 'connected' || p.view.state === 'reconnecting'))
}

// The browser came back online: resume waiting sessions at once.
if (typeof window !== 'undefined') {
  window.addEventListener('online', () => terminals.tabs.forEach((t) => t.panes.forEach((p) => p.retryNow())))
}
