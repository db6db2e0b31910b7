import { afterEach, describe, expect, it } from 'vitest'
import { MAX_PANES, closePane, closeTab, openTerminal, splitTab, terminals } from './tabs'

const target = { asset: 'a1', assetName: 'web-01', account: 'root', accountName: 'root' }

afterEach(() => {
  for (const t of [...terminals.tabs]) closeTab(t.id)
})

describe('splitTab', () => {
  it('adds panes up to four and refuses a fifth, whatever calls it', () => {
    const tab = openTerminal(target)
    expect(MAX_PANES).toBe(4)
    for (let n = 2; n <= 4; n++) {
      expect(splitTab(tab)).toBe(true)
      expect(tab.panes.length).toBe(n)
      expect(tab.active).toBe(n - 1)
    }
    expect(splitTab(tab)).toBe(false)
    expect(tab.panes.length).toBe(4)
    expect(tab.active).toBe(3)
    // Each pane is its own session to the same target.
    expect(new Set(tab.panes).size).toBe(4)
    expect(tab.panes.map((p) => p.target.asset)).toEqual(['a1', 'a1', 'a1', 'a1'])
  })

  it('splits again once a pane is closed', () => {
    const tab = openTerminal(target)
    for (let i = 0; i < 10 && splitTab(tab); i++);
    expect(tab.panes.length).toBe(4)
    closePane(tab, 1)
    expect(tab.panes.length).toBe(3)
    expect(splitTab(tab)).toBe(true)
    expect(tab.panes.length).toBe(4)
  })
})
