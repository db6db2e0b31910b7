import { afterEach, describe, expect, it, vi } from 'vitest'
import { clipboardKey, hasAsyncClipboardRead, pasteWay } from './clipboardKeys'

const key = (k: string, mods: { ctrl?: boolean; shift?: boolean } = { ctrl: true, shift: true }, type = 'keydown') => ({
  type,
  key: k,
  ctrlKey: !!mods.ctrl,
  shiftKey: !!mods.shift,
})

describe('terminal clipboard keys', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('recognises Ctrl+Shift+C and Ctrl+Shift+V on keydown only', () => {
    expect(clipboardKey(key('C'))).toBe('copy')
    expect(clipboardKey(key('c'))).toBe('copy')
    expect(clipboardKey(key('V'))).toBe('paste')
    expect(clipboardKey(key('v'))).toBe('paste')
    expect(clipboardKey(key('V', { ctrl: true, shift: true }, 'keyup'))).toBeNull()
    expect(clipboardKey(key('V', { ctrl: true }))).toBeNull()
    expect(clipboardKey(key('c', { ctrl: true }))).toBeNull()
    expect(clipboardKey(key('X'))).toBeNull()
  })

  it('pastes through the browser where the async clipboard is missing, else by reading it if allowed', () => {
    expect(pasteWay(true, false)).toBe('native')
    // Denied natively too, but where it lands: the paste event is gated on the action.
    expect(pasteWay(false, false)).toBe('native')
    expect(pasteWay(true, true)).toBe('read')
    expect(pasteWay(false, true)).toBe('denied')
  })

  it('sees no async clipboard in an insecure context even if the object exists', () => {
    vi.stubGlobal('isSecureContext', false)
    expect(hasAsyncClipboardRead()).toBe(false)
    vi.stubGlobal('isSecureContext', true)
    vi.stubGlobal('navigator', { clipboard: undefined })
    expect(hasAsyncClipboardRead()).toBe(false)
    vi.stubGlobal('navigator', { clipboard: { readText: async () => '' } })
    expect(hasAsyncClipboardRead()).toBe(true)
  })
})
