// The inventory API (see examples/inventory/README.md): URLs, answers to WIT records, errors.
//
// Plain JavaScript with no component imports, so it runs natively in the unit tests
// (inventory.test.js, `node --test`) as well as inside the component. Errors are thrown as
// `plugin-error` values ({ tag, val }), which componentize-js returns as the `err` case.

export const DEFAULT_PAGE_SIZE = 10;
export const MAX_PAGE_SIZE = 100;
const OS_FAMILIES = ['linux', 'windows', 'unix'];

/** A plugin-error value; thrown from an export it becomes the `err` of its result. */
export function pluginError(tag, val) {
  return val === undefined ? { tag } : { tag, val };
}

/** The configured base URL split the way wasi:http wants it; throws invalid-input. */
export function parseEndpoint(value) {
  if (value === undefined || value === null) {
    throw pluginError('invalid-input', 'config key `endpoint` is not set');
  }
  for (const scheme of ['http', 'https']) {
    if (value.startsWith(`${scheme}://`)) {
      const rest = value.slice(scheme.length + 3);
      const slash = rest.indexOf('/');
      const authority = slash < 0 ? rest : rest.slice(0, slash);
      const prefix = slash < 0 ? '' : rest.slice(slash).replace(/\/+$/, '');
      if (authority !== '') return { scheme, authority, prefix };
    }
  }
  throw pluginError(
    'invalid-input',
    `config key \`endpoint\` must be an http:// or https:// URL, got ${JSON.stringify(value)}`,
  );
}

/** Percent-encodes everything but RFC 3986's unreserved characters. */
export function encode(value) {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export const pingPath = () => '/api/ping';
export const regionsPath = () => '/api/regions';

/** The instances URL path: page_token (when given) before page_size, both encoded. */
export function instancesPath(region, pageToken, pageSize) {
  const size = pageSize === 0 ? DEFAULT_PAGE_SIZE : Math.min(pageSize, MAX_PAGE_SIZE);
  const token = pageToken === undefined || pageToken === null ? '' : `page_token=${encode(pageToken)}&`;
  return `/api/regions/${encode(region)}/instances?${token}page_size=${size}`;
}

/** Maps a non-200 status to its plugin-error; `region` set for the instances endpoint. */
export function checkStatus(status, path, region) {
  if (status === 200) return;
  if (status === 401 || status === 403) {
    throw pluginError('unauthorized', `the inventory refused the token: HTTP ${status} to GET ${path}`);
  }
  if (status === 404 && region !== undefined) {
    throw pluginError('not-found', `the inventory has no region ${JSON.stringify(region)}`);
  }
  throw pluginError('unavailable', `the inventory answered HTTP ${status} to GET ${path}`);
}

/** A JSON value of the wrong shape; the message names where. */
class Malformed extends Error {}

export function parseJson(body, path) {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (e) {
    throw pluginError('internal', `the inventory's answer to GET ${path} is not JSON: ${e.message}`);
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function object(value, where) {
  if (!isObject(value)) throw new Malformed(`${where} must be an object`);
  return value;
}

function string(obj, key, where, nonEmpty = false) {
  const value = obj[key];
  if (typeof value !== 'string' || (nonEmpty && value === '')) {
    throw new Malformed(`${where}.${key} must be ${nonEmpty ? 'a non-empty string' : 'a string'}`);
  }
  return value;
}

function optionalString(obj, key, where) {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new Malformed(`${where}.${key} must be a string or null`);
  return value;
}

function strings(obj, key, where) {
  const value = obj[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Malformed(`${where}.${key} must be a list of strings`);
  value.forEach((item, i) => {
    if (typeof item !== 'string') throw new Malformed(`${where}.${key}[${i}] must be a string`);
  });
  return [...value];
}

function tags(obj, where) {
  const value = obj.tags;
  if (value === undefined || value === null) return [];
  if (!isObject(value)) throw new Malformed(`${where}.tags must be an object`);
  const pairs = Object.entries(value);
  for (const [key, tag] of pairs) {
    if (typeof tag !== 'string') throw new Malformed(`${where}.tags.${key} must be a string`);
  }
  return pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** One inventory item as a WIT instance (mapping table in the inventory README). */
export function instance(item, where) {
  const obj = object(item, where);
  const family = optionalString(obj, 'os_family', where)?.toLowerCase();
  return {
    externalId: string(obj, 'id', where, true),
    name: string(obj, 'name', where),
    hostname: optionalString(obj, 'hostname', where),
    privateIps: strings(obj, 'private_ips', where),
    publicIps: strings(obj, 'public_ips', where),
    osFamily: OS_FAMILIES.includes(family) ? family : 'other',
    osName: optionalString(obj, 'os_name', where),
    status: string(obj, 'status', where).toLowerCase(),
    zone: optionalString(obj, 'zone', where),
    network: optionalString(obj, 'network', where),
    tags: tags(obj, where),
  };
}

function malformed(path, e) {
  if (!(e instanceof Malformed)) throw e;
  return pluginError('internal', `the inventory's answer to GET ${path} is malformed: ${e.message}`);
}

/** The answer of /api/regions as WIT regions. */
export function regions(body, path) {
  const value = parseJson(body, path);
  try {
    if (!Array.isArray(value)) throw new Malformed('the answer must be a list');
    return value.map((item, i) => {
      const obj = object(item, `[${i}]`);
      return { id: string(obj, 'id', `[${i}]`, true), name: string(obj, 'name', `[${i}]`) };
    });
  } catch (e) {
    throw malformed(path, e);
  }
}

/** The answer of the instances endpoint as a WIT instance page. */
export function instancePage(body, path) {
  const value = parseJson(body, path);
  try {
    const obj = object(value, 'the answer');
    if (!Array.isArray(obj.items)) throw new Malformed('items must be a list');
    const instances = obj.items.map((item, i) => instance(item, `items[${i}]`));
    const next = obj.next;
    if (next !== undefined && next !== null && typeof next !== 'string') {
      throw new Malformed('next must be a string or null');
    }
    return { instances, nextPageToken: next ? next : undefined };
  } catch (e) {
    throw malformed(path, e);
  }
}
