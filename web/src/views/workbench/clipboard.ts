// Copies text to the clipboard. `navigator.clipboard` exists only on secure origins (https or
// localhost); a bastion reached over plain http falls back to a hidden textarea + execCommand,
// after which focus goes back where it was (the web terminal keeps taking keys).
export async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text)
    return
  }
  const previous = document.activeElement
  const ta = document.createElement('textarea')
  ta.value = text
  ta.setAttribute('readonly', '')
  ta.style.position = 'fixed'
  ta.style.opacity = '0'
  document.body.appendChild(ta)
  ta.select()
  try {
    if (!document.execCommand('copy')) throw new Error('copy refused')
  } finally {
    ta.remove()
    if (previous instanceof HTMLElement) previous.focus({ preventScroll: true })
  }
}
