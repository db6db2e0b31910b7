// Example Portcullis cloud connector in JavaScript: the `connector` export of `cloud-connector`.
//
// Reads the example inventory API (examples/inventory/README.md) at config `endpoint` with the
// bearer token of secret `api_token`. The mapping lives in inventory.js, HTTP in http.js.
import { get as configGet } from 'portcullis:plugin/config@0.1.0';
import { emit } from 'portcullis:plugin/log@0.1.0';
import { get as secretGet, reveal } from 'portcullis:plugin/secrets@0.1.0';
import * as http from './http.js';
import * as inventory from './inventory.js';

const PLUGIN_ID = 'example-inventory-js';
const VERSION = '0.1.0';
const DISPOSE = Symbol.dispose || Symbol.for('dispose');

/** Reveals secret `api_token`; host errors (denied, not-found) propagate unchanged. */
function token() {
  const secret = secretGet('api_token');
  try {
    return reveal(secret);
  } finally {
    secret[DISPOSE]();
  }
}

/** GETs an inventory path with the token; returns { path, body } of a 200 answer. */
function get(path, region) {
  const endpoint = inventory.parseEndpoint(configGet('endpoint'));
  const bearer = new Uint8Array([...new TextEncoder().encode('Bearer '), ...token()]);
  const full = endpoint.prefix + path;
  const url = `${endpoint.scheme}://${endpoint.authority}${full}`;
  emit('debug', 'inventory request', [['method', 'GET'], ['url', url]]);
  const headers = [
    ['authorization', bearer],
    ['accept', new TextEncoder().encode('application/json')],
  ];
  const { status, body } = http.get(endpoint.scheme, endpoint.authority, full, headers);
  inventory.checkStatus(status, full, region);
  return { path: full, body };
}

export const connector = {
  describe() {
    return { id: PLUGIN_ID, version: VERSION, displayName: 'Example inventory (JavaScript)', features: ['paging'] };
  },

  testConnection() {
    get(inventory.pingPath());
  },

  listRegions() {
    const { path, body } = get(inventory.regionsPath());
    return inventory.regions(body, path);
  },

  listInstances({ region, pageToken, pageSize }) {
    const { path, body } = get(inventory.instancesPath(region, pageToken, pageSize), region);
    return inventory.instancePage(body, path);
  },
};
