// Precompresses the built web UI for the server (host/web/build.rs runs this after the build):
// next to every text file of at least 1 KiB, `<file>.gz` (gzip level 9) and `<file>.br`
// (brotli quality 9: within 8% of quality 11's size in a thirtieth of its time, which counts
// because every UI change rebuilds this), each kept only when it saves at least a tenth. The
// server picks one by the request's Accept-Encoding and never compresses at run time.
//
// Usage: node compress.mjs <dist dir>

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, extname } from 'node:path'
import { brotliCompressSync, gzipSync, constants } from 'node:zlib'

const TEXT = new Set(['.js', '.mjs', '.css', '.html', '.svg', '.json', '.txt', '.map', '.wasm', '.xml'])
const MIN_SIZE = 1024

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* files(path)
    else if (entry.isFile()) yield path
  }
}

const dist = process.argv[2]
if (!dist || !statSync(dist).isDirectory()) {
  console.error('usage: node compress.mjs <dist dir>')
  process.exit(2)
}

let raw = 0
let br = 0
for (const path of [...files(dist)]) {
  if (!TEXT.has(extname(path)) || statSync(path).size < MIN_SIZE) continue
  const data = readFileSync(path)
  const variants = [
    ['.gz', gzipSync(data, { level: 9 })],
    ['.br', brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 9,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      },
    })],
  ]
  for (const [suffix, packed] of variants) {
    if (packed.length <= data.length * 0.9) {
      writeFileSync(path + suffix, packed)
      if (suffix === '.br') {
        raw += data.length
        br += packed.length
      }
    }
  }
}
console.log(`compressed ${raw} bytes of text to ${br} bytes (brotli)`)
