// One web terminal connection: an xterm.js terminal bound to the server's terminal websocket
// (web UI contract, "Web terminal"). It lives outside any component so that moving between
// workbench pages, or re-laying out split panes, never drops a connection: a pane only
// attaches the terminal's element while it is shown.
//
// - Connects with a fresh `web_cli` connection token (one per connection, redeemed once).
// - Output is paced through `OutputQueue` so a large `cat` never freezes the tab.
// - Copy and paste follow the session's `actions` (copy/paste); denied attempts say so. They
//   also work on plain-http origins, which have no async clipboard (see `clipboardKeys.ts`).
// - Shows locked/unlocked/closed with the server's words; once the server ends the session
//   (terminated, idle, permission expired…) the terminal says why and takes no more input.
// - A connection an ACL sends to review waits in `reviewing` ("waiting for approval") until
//   a reviewer answers; the user may cancel the request.
// - When the socket drops without `closed`, it resumes the session with the resume key
//   (backoff, within the grace period), redrawing the screen the server sends.
import { reactive, markRaw } from 'vue'
import { ElMessage } from 'element-plus'
import { Terminal } from '@xterm/xterm'
import { FitAddon } from '@xterm/addon-fit'
import { WebLinksAddon } from '@xterm/addon-web-links'
import { api, errorText } from '@/api/client'
import { t } from '@/i18n'
import { copyText } from '@/views/workbench/clipboard'
import { clipboardKey, hasAsyncClipboardRead, pasteWay } from './clipboardKeys'
import {
  DEFAULT_GRACE_SECONDS,
  FINAL_ERROR_CODES,
  OutputQueue,
  parseServerMessage,
  reconnectDelay,
  terminalSocketUrl,
  withinGrace,
  type ServerMessage,
} from './protocol'

/** What to connect to: an asset and one of the caller's permitted accounts on it. */
export interface TerminalTarget {
  asset: string
  assetName: string
  /** The account alias from `permed_accounts` (`@INPUT` etc. for special accounts). */
  account: string
  accountName: string
  inputUsername?: string
  inputSecret?: string
}

export type TerminalState = 'connecting' | 'reviewing' | 'connected' | 'reconnecting' | 'closed' | 'error'

/** Seconds between pings; a socket silent for `DEAD_AFTER_MS` is treated as dropped. */
const PING_MS = 20_000
const DEAD_AFTER_MS = 50_000

let seq = 0
const encoder = new TextEncoder()

export class TerminalSession {
  readonly id = `term-${++seq}`
  readonly target: TerminalTarget
  /** Reactive view state for the pane. */
  readonly view = reactive({
    state: 'connecting' as TerminalState,
    /** The server's words for closed/error; empty otherwise. */
    message: '',
    /** The server's reason code when it ended the session (`admin_terminate`, …). */
    reason: '',
    /** While `reviewing`: the review ticket and who may approve it. */
    ticketId: '',
    reviewers: [] as string[],
    attempt: 0,
    locked: false,
    lockedBy: '',
    sessionId: '',
    actions: [] as string[],
  })
  /** The element xterm renders into; panes move it in and out of the page. */
  readonly el: HTMLDivElement
  readonly term: Terminal
  private fit = new FitAddon()
  private queue: OutputQueue
  private opened = false
  private ws: WebSocket | null = null
  private generation = 0
  private resumeKey = ''
  private graceSeconds = DEFAULT_GRACE_SECONDS
  private droppedAt = 0
  private resuming = false
  private final = false
  private lastHeard = 0
  private retryTimer: number | undefined
  private pingTimer: number | undefined
  private resizeTimer: number | undefined
  private observer: ResizeObserver | null = null
  /** Called on Alt+Left (-1) / Alt+Right (+1) inside the terminal. */
  onSwitchTab: (dir: -1 | 1) => void = () => undefined

  constructor(target: TerminalTarget) {
    this.target = target
    this.el = document.createElement('div')
    this.el.className = 'pc-xterm'
    this.el.dataset.testid = 'terminal'
    this.term = new Terminal({
      cursorBlink: true,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace',
      fontSize: 14,
      scrollback: 5000,
      allowProposedApi: false,
      theme: { background: '#0f1722', foreground: '#d8dee9', cursor: '#f0f4fa', selectionBackground: '#3b5b8a' },
    })
    this.term.loadAddon(this.fit)
    this.term.loadAddon(new WebLinksAddon())
    this.queue = new OutputQueue({ write: (data, done) => this.term.write(data, done) })
    this.term.onData((d) => this.send(encoder.encode(d)))
    this.term.onBinary((d) => {
      const b = new Uint8Array(d.length)
      for (let i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 0xff
      this.send(b)
    })
    this.term.onResize(({ cols, rows }) => this.sendResize(cols, rows))
    this.term.attachCustomKeyEventHandler((e) => this.onKey(e))
    // Copy/paste per the session's actions: stop the browser events before xterm sees them.
    this.el.addEventListener('copy', (e) => this.guardCopy(e), true)
    this.el.addEventListener('cut', (e) => this.guardCopy(e), true)
    this.el.addEventListener('paste', (e) => this.guardPaste(e), true)
    this.el.addEventListener('drop', (e) => this.guardPaste(e), true)
    // Tests and measurements read the session from the element.
    ;(this.el as unknown as { pcSession: TerminalSession }).pcSession = this
    markRaw(this)
  }

  get title(): string {
    return `${this.target.accountName}@${this.target.assetName}`
  }

  get canCopy(): boolean {
    return this.view.actions.includes('copy')
  }

  get canPaste(): boolean {
    return this.view.actions.includes('paste')
  }

  /** Bytes received and not yet drawn. */
  get backlog(): number {
    return this.queue.backlog
  }

  /** Puts the terminal into `container` (first time: opens xterm there) and connects. */
  attach(container: HTMLElement) {
    container.appendChild(this.el)
    if (!this.opened) {
      this.opened = true
      this.term.open(this.el)
      this.fitNow()
      void this.connect()
    } else {
      this.fitNow()
    }
    this.observer?.disconnect()
    this.observer = new ResizeObserver(() => this.fitSoon())
    this.observer.observe(container)
  }

  /** Takes the element out of the page; the connection stays. */
  detach() {
    this.observer?.disconnect()
    this.observer = null
    this.el.remove()
  }

  focus() {
    this.term.focus()
  }

  fitNow() {
    if (!this.el.isConnected || !this.el.clientWidth || !this.el.clientHeight) return
    try {
      this.fit.fit()
    } catch {
      /* not rendered yet */
    }
  }

  private fitSoon() {
    window.clearTimeout(this.resizeTimer)
    this.resizeTimer = window.setTimeout(() => this.fitNow(), 60)
  }

  /** Starts a new session (first connect, or "connect again" after one ended). */
  async connect() {
    this.final = false
    this.resumeKey = ''
    this.resuming = false
    this.view.state = 'connecting'
    this.view.message = ''
    this.view.reason = ''
    this.view.ticketId = ''
    this.view.reviewers = []
    this.view.attempt = 0
    this.view.locked = false
    this.setInput(true)
    let tokenId: string
    try {
      const body: Record<string, unknown> = {
        asset: this.target.asset,
        account: this.target.account,
        protocol: 'ssh',
        connect_method: 'web_cli',
      }
      if (this.target.inputUsername) body.input_username = this.target.inputUsername
      if (this.target.inputSecret) body.input_secret = this.target.inputSecret
      const token = await api.post<{ id: string }>('authentication/connection-token/', body)
      tokenId = token.id
    } catch (e) {
      this.fail(errorText(e))
      return
    }
    if (this.final) return
    this.open({ token: tokenId })
  }

  private open(how: { token: string } | { resume: string }) {
    const gen = ++this.generation
    const url = terminalSocketUrl(window.location, how, this.term.cols, this.term.rows)
    const ws = new WebSocket(url)
    ws.binaryType = 'arraybuffer'
    this.ws = ws
    this.lastHeard = Date.now()
    ws.onmessage = (ev) => {
      if (gen !== this.generation) return
      this.lastHeard = Date.now()
      if (ev.data instanceof ArrayBuffer) this.queue.push(new Uint8Array(ev.data))
      else if (typeof ev.data === 'string') {
        const msg = parseServerMessage(ev.data)
        if (msg) this.onMessage(msg)
      }
    }
    ws.onclose = () => {
      if (gen !== this.generation) return
      this.onDrop()
    }
    window.clearInterval(this.pingTimer)
    this.pingTimer = window.setInterval(() => this.ping(gen), PING_MS)
  }

  private onMessage(msg: ServerMessage) {
    switch (msg.type) {
      case 'session':
        if (this.resuming) {
          // The server redraws the current screen next: start from a clean terminal, in
          // order with what was already written.
          this.queue.clear()
          this.queue.push(encoder.encode('\x1bc'))
          this.resuming = false
        }
        this.resumeKey = msg.resume
        this.graceSeconds = msg.grace_seconds ?? DEFAULT_GRACE_SECONDS
        this.view.sessionId = msg.session_id
        this.view.actions = msg.actions || []
        this.view.state = 'connected'
        this.view.attempt = 0
        this.view.message = ''
        this.view.ticketId = ''
        this.droppedAt = 0
        // The size may have changed while away.
        this.sendResize(this.term.cols, this.term.rows)
        break
      case 'locked':
        this.view.locked = true
        this.view.lockedBy = msg.by || ''
        break
      case 'unlocked':
        this.view.locked = false
        this.view.lockedBy = ''
        break
      case 'closed':
        this.final = true
        this.view.state = 'closed'
        this.view.reason = msg.reason || ''
        this.view.message = msg.message || ''
        this.note([this.endTitle, this.view.message, t('workbench.terminal.inputStopped')].filter(Boolean).join(' — '))
        this.setInput(false)
        this.stopSocket()
        break
      case 'review':
        this.view.state = 'reviewing'
        this.view.ticketId = msg.ticket_id
        this.view.reviewers = msg.reviewers || []
        this.note(t('workbench.terminal.reviewWaiting', { who: this.view.reviewers.join(', ') || '—' }))
        break
      case 'review_approved':
        this.view.ticketId = ''
        this.note(t('workbench.terminal.reviewApproved', { by: msg.by || '—' }))
        break
      case 'error':
        if (this.resuming && msg.code && !FINAL_ERROR_CODES.has(msg.code)) return // try again
        this.fail(msg.message || msg.code || t('workbench.terminal.error'))
        break
      case 'pong':
        break
    }
  }

  /** The socket closed. Without a `closed`, the session waits for us during the grace. */
  private onDrop() {
    window.clearInterval(this.pingTimer)
    this.ws = null
    if (this.final) return
    if (!this.resumeKey) {
      this.fail(this.view.message || t('workbench.terminal.error'))
      return
    }
    if (!this.droppedAt) this.droppedAt = Date.now()
    const delay = reconnectDelay(this.view.attempt)
    if (!withinGrace(this.droppedAt, Date.now(), this.graceSeconds, delay)) {
      this.fail(t('workbench.terminal.reconnectGaveUp', { s: this.graceSeconds }), 'closed')
      return
    }
    this.view.state = 'reconnecting'
    window.clearTimeout(this.retryTimer)
    this.retryTimer = window.setTimeout(() => this.retry(), delay)
  }

  private retry() {
    if (this.final || !this.resumeKey || this.ws) return
    this.view.attempt++
    this.resuming = true
    this.open({ resume: this.resumeKey })
  }

  /** The browser is back online: try now instead of waiting for the timer. */
  retryNow() {
    if (this.view.state !== 'reconnecting' || this.ws) return
    window.clearTimeout(this.retryTimer)
    this.retry()
  }

  /** Drops the current socket as if the network had (tests, and a silent socket). */
  dropConnection() {
    const ws = this.ws
    if (!ws) return
    this.generation++
    ws.onclose = null
    ws.onmessage = null
    ws.close()
    this.onDrop()
  }

  private ping(gen: number) {
    if (gen !== this.generation || !this.ws) return
    if (Date.now() - this.lastHeard > DEAD_AFTER_MS) {
      this.dropConnection()
      return
    }
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'ping' }))
  }

  private fail(message: string, state: TerminalState = 'error') {
    this.final = true
    this.view.state = state
    this.view.message = message
    this.note(message)
    this.setInput(false)
    this.stopSocket()
  }

  /** The heading of the end-of-session message: why the server ended it, in words. */
  get endTitle(): string {
    const key = `workbench.terminal.ended.${this.view.reason}`
    const title = this.view.reason ? t(key) : ''
    return title && title !== key ? title : t('workbench.terminal.closed')
  }

  /** Withdraws a connection waiting for review (the server closes the ticket). */
  cancelReview() {
    const ws = this.ws
    if (this.view.state !== 'reviewing' || !ws || ws.readyState !== WebSocket.OPEN) return
    ws.send(JSON.stringify({ type: 'cancel' }))
  }

  /** Lets xterm take keystrokes, or not (an ended session shows no live cursor). */
  private setInput(on: boolean) {
    this.term.options.disableStdin = !on
    this.term.options.cursorBlink = on
  }

  private stopSocket() {
    window.clearInterval(this.pingTimer)
    window.clearTimeout(this.retryTimer)
    const ws = this.ws
    this.ws = null
    this.generation++
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close()
  }

  /** A dim line in the terminal itself, so the scrollback tells what happened. */
  private note(text: string) {
    this.queue.push(encoder.encode(`\r\n\x1b[2m[${text.replace(/[\x00-\x1f]/g, ' ')}]\x1b[0m\r\n`))
  }

  private send(data: Uint8Array) {
    if (this.view.state !== 'connected' || this.view.locked) return
    const ws = this.ws
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(data)
  }

  private sendResize(cols: number, rows: number) {
    const ws = this.ws
    if (this.view.state === 'connected' && ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }))
  }

  private onKey(e: KeyboardEvent): boolean {
    if (e.type !== 'keydown') return true
    if (e.altKey && !e.ctrlKey && !e.metaKey && (e.key === 'ArrowLeft' || e.key === 'ArrowRight')) {
      e.preventDefault()
      this.onSwitchTab(e.key === 'ArrowLeft' ? -1 : 1)
      return false
    }
    const key = clipboardKey(e)
    if (key === 'copy') {
      e.preventDefault()
      void this.copySelection()
      return false
    }
    if (key === 'paste') {
      // Without the async clipboard (plain http), the browser pastes into xterm's textarea:
      // no preventDefault, and `false` keeps xterm from treating the key as input.
      if (pasteWay(this.canPaste, hasAsyncClipboardRead()) !== 'native') {
        e.preventDefault()
        void this.pasteClipboard()
      }
      return false
    }
    return true
  }

  async copySelection() {
    if (!this.term.hasSelection()) return
    if (!this.canCopy) {
      ElMessage.warning(t('workbench.terminal.copyDenied'))
      return
    }
    try {
      await copyText(this.term.getSelection())
    } catch (e) {
      ElMessage.error(errorText(e))
    }
  }

  async pasteClipboard() {
    if (!this.canPaste) {
      ElMessage.warning(t('workbench.terminal.pasteDenied'))
      return
    }
    try {
      const text = await navigator.clipboard.readText()
      if (text) this.term.paste(text)
    } catch (e) {
      ElMessage.error(errorText(e))
    }
  }

  private guardCopy(e: Event) {
    if (this.canCopy) return
    e.preventDefault()
    e.stopImmediatePropagation()
    ;(e as ClipboardEvent).clipboardData?.setData('text/plain', '')
    ElMessage.warning(t('workbench.terminal.copyDenied'))
  }

  private guardPaste(e: Event) {
    if (this.canPaste) return
    e.preventDefault()
    e.stopImmediatePropagation()
    ElMessage.warning(t('workbench.terminal.pasteDenied'))
  }

  /** Ends the connection for good and frees the terminal. */
  dispose() {
    this.final = true
    this.stopSocket()
    window.clearTimeout(this.resizeTimer)
    this.detach()
    this.term.dispose()
  }
}
