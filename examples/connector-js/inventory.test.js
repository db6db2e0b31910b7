// Native unit tests of inventory.js: `node --test` in this directory (no component needed).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as inventory from './inventory.js';

const fixture = JSON.parse(readFileSync(new URL('../inventory/fixture.json', import.meta.url), 'utf8'));
const bytes = (value) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

/** What serve.py answers for one page (offset tokens). */
function pageBody(items, offset, size) {
  const end = offset + size;
  return bytes({ items: items.slice(offset, end), next: end < items.length ? String(end) : null });
}

test('endpoint splits scheme, authority and prefix', () => {
  assert.deepEqual(inventory.parseEndpoint('https://inventory.example.com/v1/'), {
    scheme: 'https', authority: 'inventory.example.com', prefix: '/v1',
  });
  assert.deepEqual(inventory.parseEndpoint('http://127.0.0.1:8080'), {
    scheme: 'http', authority: '127.0.0.1:8080', prefix: '',
  });
});

test('an unset or non-http endpoint is invalid-input', () => {
  assert.throws(() => inventory.parseEndpoint(undefined), {
    tag: 'invalid-input', val: 'config key `endpoint` is not set',
  });
  for (const value of ['ftp://x', 'http://']) {
    assert.throws(() => inventory.parseEndpoint(value), {
      tag: 'invalid-input', val: `config key \`endpoint\` must be an http:// or https:// URL, got "${value}"`,
    });
  }
});

test('the instances path orders, encodes and clamps its parameters', () => {
  assert.equal(inventory.instancesPath('eu-west', undefined, 10), '/api/regions/eu-west/instances?page_size=10');
  assert.equal(
    inventory.instancesPath("a b/c", "x&y=z~!'", 5),
    '/api/regions/a%20b%2Fc/instances?page_token=x%26y%3Dz~%21%27&page_size=5',
  );
  assert.ok(inventory.instancesPath('r', undefined, 0).endsWith('page_size=10'));
  assert.ok(inventory.instancesPath('r', undefined, 1000).endsWith('page_size=100'));
});

test('statuses map to plugin errors', () => {
  inventory.checkStatus(200, '/api/ping');
  const cases = [
    [401, undefined, { tag: 'unauthorized', val: 'the inventory refused the token: HTTP 401 to GET /api/x' }],
    [403, 'r', { tag: 'unauthorized', val: 'the inventory refused the token: HTTP 403 to GET /api/x' }],
    [404, 'eu-central', { tag: 'not-found', val: 'the inventory has no region "eu-central"' }],
    [404, undefined, { tag: 'unavailable', val: 'the inventory answered HTTP 404 to GET /api/x' }],
    [503, 'r', { tag: 'unavailable', val: 'the inventory answered HTTP 503 to GET /api/x' }],
  ];
  for (const [status, region, expected] of cases) {
    assert.throws(() => inventory.checkStatus(status, '/api/x', region), expected);
  }
});

test('pages through every fixture region', () => {
  for (const [region, items] of Object.entries(fixture.instances)) {
    const seen = [];
    let token;
    let pages = 0;
    do {
      const page = inventory.instancePage(pageBody(items, token ? Number(token) : 0, 10), '/p');
      seen.push(...page.instances);
      token = page.nextPageToken;
      pages += 1;
    } while (token !== undefined);
    assert.deepEqual(seen.map((i) => i.externalId), items.map((i) => i.id), region);
    assert.equal(pages, Math.ceil(items.length / 10));
  }
});

test('maps one item', () => {
  assert.deepEqual(inventory.instance(fixture.instances['eu-west'][4], 'items[0]'), {
    externalId: 'i-eu-west-005', name: 'db-05', hostname: 'db-05.eu-west.corp.example',
    privateIps: ['10.10.0.15'], publicIps: [], osFamily: 'linux', osName: 'Ubuntu 24.04 LTS',
    status: 'stopped', zone: 'eu-west-c', network: 'vpc-main', tags: [['env', 'prod'], ['team', 'platform']],
  });
});

test('normalises the os family and fills defaults', () => {
  const minimal = { id: 'i-1', name: 'n', status: 'Running' };
  const got = inventory.instance(minimal, 'items[0]');
  assert.deepEqual([got.osFamily, got.status, got.tags, got.privateIps, got.hostname], ['other', 'running', [], [], undefined]);
  for (const [family, expected] of [['Windows', 'windows'], ['UNIX', 'unix'], ['aix', 'other'], [null, 'other']]) {
    assert.equal(inventory.instance({ ...minimal, os_family: family }, 'i').osFamily, expected);
  }
});

test('regions', () => {
  assert.deepEqual(inventory.regions(bytes(fixture.regions), '/api/regions').map((r) => r.id), ['eu-west', 'ap-east']);
});

test('a body that is not JSON is internal', () => {
  assert.throws(() => inventory.instancePage(bytes('<html>'), '/api/p'), (e) => {
    assert.equal(e.tag, 'internal');
    assert.ok(e.val.startsWith("the inventory's answer to GET /api/p is not JSON: "), e.val);
    return true;
  });
});

test('wrong shapes are internal and say where', () => {
  const prefix = "the inventory's answer to GET /api/p is malformed: ";
  const cases = [
    ['[]', 'the answer must be an object'],
    ['{"next": null}', 'items must be a list'],
    ['{"items": [{"name": "x", "status": "up"}]}', 'items[0].id must be a non-empty string'],
    ['{"items": [{"id": "i", "name": "x", "status": "up", "tags": {"a": 1}}]}', 'items[0].tags.a must be a string'],
    ['{"items": [{"id": "i", "name": "x", "status": "up", "private_ips": [1]}]}', 'items[0].private_ips[0] must be a string'],
    ['{"items": [{"id": "i", "name": "x", "status": "up", "zone": 3}]}', 'items[0].zone must be a string or null'],
    ['{"items": [], "next": 3}', 'next must be a string or null'],
  ];
  for (const [body, text] of cases) {
    assert.throws(() => inventory.instancePage(bytes(body), '/api/p'), { tag: 'internal', val: prefix + text });
  }
  assert.throws(() => inventory.regions(bytes('{"a": 1}'), '/api/p'), { tag: 'internal', val: `${prefix}the answer must be a list` });
  assert.throws(() => inventory.regions(bytes('[{"id": "r"}]'), '/api/p'), { tag: 'internal', val: `${prefix}[0].name must be a string` });
});
