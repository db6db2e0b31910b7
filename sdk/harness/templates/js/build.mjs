// Builds app.js into a component with componentize-js's API (what `portcullis plugin build`
// runs): node build.mjs WIT_DIR WORLD OUT.wasm. Needs `npm install` in this directory first.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentize } from '@bytecodealliance/componentize-js';

const here = dirname(fileURLToPath(import.meta.url));
const [witPath, worldName, out] = process.argv.slice(2);
if (!witPath || !worldName || !out) {
  console.error('usage: node build.mjs WIT_DIR WORLD OUT.wasm');
  process.exit(2);
}
const http = worldName === 'cloud-connector' || worldName === 'auth-provider';
const { component } = await componentize({
  sourcePath: join(here, 'app.js'),
  witPath: resolve(witPath),
  worldName,
  // wasi:http only for the worlds that import it; logs go through portcullis:plugin/log.
  disableFeatures: http ? ['fetch-event', 'stdio'] : ['http', 'fetch-event', 'stdio'],
});
await mkdir(dirname(resolve(out)), { recursive: true });
await writeFile(out, component);
