// Runs a cloud-connector component under Node against examples/inventory/serve.py and checks
// every call's answer: a quick end-to-end check of the three examples (any language) that
// needs no Rust host. The real checks run on wasmtime in the Rust harness; this one uses
// `jco transpile` (V8 + @bytecodealliance/preview2-shim for WASI and wasi:http).
//
//   node smoke.mjs TOOLS_DIR COMPONENT.wasm EXPECTED_ID
//
// Prints one line per check and `N passed, N failed`; exits 1 on a failure.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';

// componentize-py's core modules use extended constant expressions, behind a flag in Node 20.
setFlagsFromString('--experimental-wasm-extended-const');

const here = dirname(fileURLToPath(import.meta.url));
const [toolsDir, componentPath, expectedId] = process.argv.slice(2);
if (!toolsDir || !componentPath || !expectedId) {
  console.error('usage: node smoke.mjs TOOLS_DIR COMPONENT.wasm EXPECTED_ID');
  process.exit(2);
}
const tools = resolve(toolsDir);
const fixture = JSON.parse(readFileSync(join(here, '../inventory/fixture.json'), 'utf8'));

// The host side: configuration and secrets the checks change between calls, and a log.
const host = { config: {}, secrets: {}, logs: [] };
globalThis.__smokeHost = host;
const hostModule = `
const h = globalThis.__smokeHost;
export const log = { emit(level, message, fields) { h.logs.push({ level, message, fields }); } };
export const config = {
  get(key) { return h.config[key]; },
  getAll() { return Object.entries(h.config).sort(); },
};
class Secret {
  constructor(name) { this.secretName = name; }
  name() { return this.secretName; }
  publicPart() { return undefined; }
}
export const secrets = {
  Secret,
  get(name) {
    if (!(name in h.secrets)) throw { tag: 'denied', val: 'secret ' + name + ' is not granted' };
    return new Secret(name);
  },
  reveal(secret) { return new TextEncoder().encode(h.secrets[secret.secretName]); },
};
export const types = {};
`;

// Transpile into a directory under the tools dir, so the shim resolves from its node_modules.
const work = mkdtempSync(join(tools, 'smoke-'));
const server = spawn('python3', [join(here, '../inventory/serve.py'), '--port', '0'], {
  stdio: ['ignore', 'pipe', 'ignore'],
});
// Whatever happens (a component that fails to compile rejects a promise nobody awaits), the
// server is stopped and the scratch directory removed when the process exits.
const cleanup = () => {
  server.kill();
  rmSync(work, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('unhandledRejection', (e) => {
  console.log(`FAIL ${e?.stack ?? e}`);
  process.exit(1);
});
let passed = 0;
let failed = 0;
try {
  writeFileSync(join(work, 'host.js'), hostModule);
  const maps = ['log', 'config', 'secrets', 'types'].map((i) => `portcullis:plugin/${i}=../host.js#${i}`);
  execFileSync(join(tools, 'node_modules/.bin/jco'), [
    'transpile', resolve(componentPath), '-o', join(work, 'js'), '--name', 'plugin', '--no-typescript', '-q', '-M', ...maps,
  ], { stdio: 'inherit' });
  const endpoint = await new Promise((ok, fail) => {
    createInterface({ input: server.stdout }).once('line', (line) => ok(line.replace('listening on ', '')));
    server.once('exit', () => fail(new Error('serve.py exited')));
  });
  const { connector } = await import(pathToFileURL(join(work, 'js/plugin.js')).href);

  const check = (name, fn) => {
    host.config = { endpoint };
    host.secrets = { api_token: fixture.token };
    try {
      fn();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}: ${e.stack ?? e}`);
    }
  };
  const expectEqual = (got, want) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
  };
  const error = (fn) => {
    try {
      fn();
    } catch (e) {
      if (e.payload === undefined) throw e;
      return e.payload;
    }
    throw new Error('the call succeeded');
  };

  check('describe', () => {
    const info = connector.describe();
    expectEqual([info.id, info.version, info.features], [expectedId, '0.1.0', ['paging']]);
  });
  check('test-connection', () => connector.testConnection());
  check('list-regions', () => expectEqual(connector.listRegions(), fixture.regions));
  for (const [region, items] of Object.entries(fixture.instances)) {
    check(`list-instances pages through ${region}`, () => {
      const ids = [];
      let pageToken;
      let pages = 0;
      do {
        const page = connector.listInstances({ region, pageToken, pageSize: 10 });
        ids.push(...page.instances.map((i) => i.externalId));
        pageToken = page.nextPageToken;
        pages += 1;
      } while (pageToken !== undefined && pages < 10);
      expectEqual([ids, pages], [items.map((i) => i.id), Math.ceil(items.length / 10)]);
    });
  }
  check('list-instances maps an item', () => {
    const got = connector.listInstances({ region: 'eu-west', pageToken: '4', pageSize: 1 }).instances[0];
    expectEqual(got, {
      externalId: 'i-eu-west-005', name: 'db-05', hostname: 'db-05.eu-west.corp.example',
      privateIps: ['10.10.0.15'], publicIps: [], osFamily: 'linux', osName: 'Ubuntu 24.04 LTS',
      status: 'stopped', zone: 'eu-west-c', network: 'vpc-main', tags: [['env', 'prod'], ['team', 'platform']],
    });
  });
  check('a wrong token is unauthorized', () => {
    host.secrets.api_token = 'wrong';
    expectEqual(error(() => connector.testConnection()), {
      tag: 'unauthorized', val: 'the inventory refused the token: HTTP 401 to GET /api/ping',
    });
  });
  check('an ungranted secret is denied', () => {
    host.secrets = {};
    expectEqual(error(() => connector.listRegions()).tag, 'denied');
  });
  check('an unknown region is not-found', () => {
    expectEqual(error(() => connector.listInstances({ region: 'eu-central', pageSize: 10 })), {
      tag: 'not-found', val: 'the inventory has no region "eu-central"',
    });
  });
  check('a body that is not JSON is internal', () => {
    const e = error(() => connector.listInstances({ region: 'bad-json', pageSize: 10 }));
    const prefix = "the inventory's answer to GET /api/regions/bad-json/instances?page_size=10 is not JSON: ";
    if (e.tag !== 'internal' || !e.val.startsWith(prefix)) throw new Error(JSON.stringify(e));
  });
  check('an item without id is internal', () => {
    expectEqual(error(() => connector.listInstances({ region: 'bad-shape', pageSize: 10 })), {
      tag: 'internal',
      val: "the inventory's answer to GET /api/regions/bad-shape/instances?page_size=10 is malformed: items[0].id must be a non-empty string",
    });
  });
  check('a missing endpoint is invalid-input', () => {
    host.config = {};
    expectEqual(error(() => connector.testConnection()), { tag: 'invalid-input', val: 'config key `endpoint` is not set' });
  });
  check('a closed port is unavailable', () => {
    host.config.endpoint = 'http://127.0.0.1:9';
    const e = error(() => connector.testConnection());
    if (e.tag !== 'unavailable' || !e.val.startsWith('the request to http://127.0.0.1:9/api/ping failed: ')) {
      throw new Error(JSON.stringify(e));
    }
  });
  check('requests are logged without the token', () => {
    host.logs = [];
    connector.testConnection();
    expectEqual(host.logs.map((l) => [l.level, l.message, l.fields]), [
      ['debug', 'inventory request', [['method', 'GET'], ['url', `${endpoint}/api/ping`]]],
    ]);
  });
} finally {
  cleanup();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
