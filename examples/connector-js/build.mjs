// Builds the JavaScript example connector into a component with componentize-js's API.
//
//   node build.mjs TOOLS_DIR OUT.wasm
//
// TOOLS_DIR holds the node_modules installed from this directory's package.json
// (examples/build.sh uses target/guest-tools/js). The jco CLI is not used: its `componentize`
// command fails as installed here (see the repository's TESTING.md), the API does not.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [toolsDir, out] = process.argv.slice(2);
if (!toolsDir || !out) {
  console.error('usage: node build.mjs TOOLS_DIR OUT.wasm');
  process.exit(2);
}
const entry = join(resolve(toolsDir), 'node_modules/@bytecodealliance/componentize-js/src/componentize.js');
const { componentize } = await import(pathToFileURL(entry).href);

const { component, imports } = await componentize({
  sourcePath: join(here, 'app.js'),
  witPath: join(here, '../../wit'),
  worldName: 'cloud-connector',
  // `http` stays: fetch() runs over the world's wasi:http/outgoing-handler import. The world
  // exports no incoming handler, and logs go through portcullis:plugin/log, not the console.
  disableFeatures: ['fetch-event', 'stdio'],
});
await mkdir(dirname(resolve(out)), { recursive: true });
await writeFile(out, component);
console.log(`imports: ${[...new Set(imports.map(([ns]) => ns))].sort().join(', ')}`);
