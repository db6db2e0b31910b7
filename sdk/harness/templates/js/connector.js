// {{display_name}}: a Portcullis cloud connector in JavaScript (componentize-js).
// HTTP goes through wasi:http (http.js); the host filters it against the granted origins.
import { get as configGet } from 'portcullis:plugin/config@0.1.0';
import * as http from './http.js';

function get(path) {
  const endpoint = configGet('endpoint');
  if (!endpoint) throw { tag: 'invalid-input', val: 'config key `endpoint` is not set' };
  const url = new URL(endpoint.replace(/\/$/, '') + path);
  const { status, body } = http.get(url.protocol.replace(':', ''), url.host, url.pathname + url.search,
    [['accept', new TextEncoder().encode('application/json')]]);
  if (status === 401 || status === 403) throw { tag: 'unauthorized', val: `HTTP ${status} from ${url}` };
  if (status < 200 || status > 299) throw { tag: 'unavailable', val: `HTTP ${status} from ${url}` };
  return body;
}

export const connector = {
  describe() {
    return { id: '{{id}}', version: '0.1.0', displayName: '{{display_name}}', features: [] };
  },
  testConnection() {
    get('/health');
  },
  listRegions() {
    let list;
    try {
      list = JSON.parse(new TextDecoder().decode(get('/regions')));
    } catch (e) {
      if (e.tag) throw e;
      throw { tag: 'internal', val: `the regions answer is not JSON: ${e.message}` };
    }
    return list.map((r) => ({ id: String(r.id), name: String(r.name) }));
  },
  listInstances() {
    throw { tag: 'unavailable', val: 'list-instances is not implemented' };
  },
};
