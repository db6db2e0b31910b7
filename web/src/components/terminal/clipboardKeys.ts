// What the web terminal does with its copy/paste shortcuts (Ctrl+Shift+C / Ctrl+Shift+V).
//
// The async clipboard (`navigator.clipboard`) exists only in secure contexts (https or
// localhost). A bastion is often reached as `http://bastion.corp:8080`, where it is undefined:
// there, copying falls back to `execCommand('copy')` (see `copyText`), and pasting is left to
// the browser itself: the key is neither cancelled nor handled by xterm, so Chromium pastes into
// the focused xterm textarea and the terminal receives a native `paste` event, which the
// session gates on the `paste` action like any other paste (context menu, middle click, drop).

/** A terminal key the session handles itself. */
export type ClipboardKey = 'copy' | 'paste'

/** Which clipboard shortcut a keydown is, if any. */
export function clipboardKey(e: Pick<KeyboardEvent, 'type' | 'ctrlKey' | 'shiftKey' | 'key'>): ClipboardKey | null {
  if (e.type !== 'keydown' || !e.ctrlKey || !e.shiftKey) return null
  const key = e.key.toLowerCase()
  if (key === 'c') return 'copy'
  if (key === 'v') return 'paste'
  return null
}

/**
 * How Ctrl+Shift+V is served:
 * - `denied`: the session lacks the paste action (said in words, nothing is read);
 * - `read`: read the async clipboard and paste what it holds;
 * - `native`: no async clipboard here; let the browser paste into the terminal's textarea
 *   (its `paste` event is gated on the paste action where it lands).
 */
export type PasteWay = 'denied' | 'read' | 'native'

/** Decides how to paste, given the session's permission and whether the async clipboard can be read. */
export function pasteWay(canPaste: boolean, asyncClipboard: boolean): PasteWay {
  if (!asyncClipboard) return 'native'
  return canPaste ? 'read' : 'denied'
}

/** Whether this page may read the clipboard through `navigator.clipboard` (secure contexts only). */
export function hasAsyncClipboardRead(): boolean {
  return typeof navigator !== 'undefined' && !!navigator.clipboard?.readText && window.isSecureContext === true
}
