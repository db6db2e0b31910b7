import { describe, expect, it } from 'vitest'
import { OutputQueue, parseServerMessage, reconnectDelay, terminalSocketUrl, withinGrace } from './protocol'

describe('terminal protocol', () => {
  it('builds the socket URL for a token and for a resume key', () => {
    expect(terminalSocketUrl({ protocol: 'http:', host: 'h:8080' }, { token: 'abc' }, 120.7, 40)).toBe('ws://h:8080/api/v1/terminal/ws/terminal/?token=abc&cols=120&rows=40')
    expect(terminalSocketUrl({ protocol: 'https:', host: 'h' }, { resume: 'k+/=' }, 80, 24)).toBe('wss://h/api/v1/terminal/ws/terminal/?resume=k%2B%2F%3D&cols=80&rows=24')
  })

  it('parses text frames and ignores junk', () => {
    expect(parseServerMessage('{"type":"locked","by":"audrey"}')).toEqual({ type: 'locked', by: 'audrey' })
    expect(parseServerMessage('not json')).toBeNull()
    expect(parseServerMessage('{"no":"type"}')).toBeNull()
  })

  it('backs off 0.5, 1, 2, 4 then 8 s, and stops trying before the grace runs out', () => {
    expect([0, 1, 2, 3, 4, 9].map(reconnectDelay)).toEqual([500, 1000, 2000, 4000, 8000, 8000])
    expect(withinGrace(0, 10_000, 120, 8000)).toBe(true)
    expect(withinGrace(0, 112_000, 120, 8000)).toBe(false)
  })
})

describe('OutputQueue', () => {
  /** A terminal that finishes writes only when told. */
  function fakeSink() {
    const pending: Array<{ data: Uint8Array; done: () => void }> = []
    return { pending, sink: { write: (data: Uint8Array, done: () => void) => pending.push({ data, done }) } }
  }

  it('never hands the terminal more than its in-flight budget, and coalesces what waits', () => {
    const { pending, sink } = fakeSink()
    const q = new OutputQueue(sink, 8, 16)
    for (let i = 0; i < 14; i++) q.push(new Uint8Array([i, i]))
    // 28 bytes arrived; the first 16 went straight to the terminal, 12 wait.
    expect(pending.map((p) => p.data.length)).toEqual([2, 2, 2, 2, 2, 2, 2, 2])
    expect(q.backlog).toBe(28)
    // As the terminal catches up, the waiting frames go in chunks of up to 8 bytes.
    pending.splice(0, 4).forEach((p) => p.done())
    expect(pending.slice(4).map((p) => p.data.length)).toEqual([8])
    expect(Array.from(pending[4].data)).toEqual([8, 8, 9, 9, 10, 10, 11, 11])
    pending.splice(0).forEach((p) => p.done())
    pending.splice(0).forEach((p) => p.done())
    expect(q.backlog).toBe(0)
    expect(q.written).toBe(28)
  })

  it('splits a large frame into chunks and drops what was not handed over on clear', () => {
    const { pending, sink } = fakeSink()
    const q = new OutputQueue(sink, 4, 8)
    q.push(new Uint8Array(20))
    expect(pending.map((p) => p.data.length)).toEqual([4, 4])
    q.clear()
    pending.splice(0).forEach((p) => p.done())
    expect(q.backlog).toBe(0)
    expect(q.written).toBe(8)
  })
})
