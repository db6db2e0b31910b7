// A blocking HTTP GET over the world's wasi:http 0.2 imports.
//
// componentize-js also offers `fetch` over the same import, and it works, but a failed fetch
// is a bare `TypeError: NetworkError`: the wasi:http error code is lost, so a request the host
// refused could not be told from a refused connection. These bindings keep the code.
// Resources are disposed child-first (stream, body, response, future), as the component model
// requires, instead of waiting for the garbage collector.
import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import { Fields, OutgoingRequest, httpErrorCode } from 'wasi:http/types@0.2.12';
import { pluginError } from './inventory.js';

const READ_SIZE = 64n * 1024n;
const DISPOSE = Symbol.dispose || Symbol.for('dispose');
const TIMEOUTS = [
  'connection-timeout',
  'connection-read-timeout',
  'connection-write-timeout',
  'http-response-timeout',
  'dns-timeout',
];

const dispose = (resource) => resource[DISPOSE]();

/** Maps a wasi:http error code to the plugin-error the inventory README names. */
export function transportError(code, url) {
  const name = code.tag.toLowerCase();
  const message = `the request to ${url} failed: ${name}`;
  if (name === 'http-request-denied' || name === 'destination-ip-prohibited') return pluginError('denied', message);
  if (TIMEOUTS.includes(name)) return pluginError('timeout');
  return pluginError('unavailable', message);
}

/** GETs one URL; returns { status, body: Uint8Array } or throws a plugin-error. */
export function get(scheme, authority, pathWithQuery, headers) {
  const url = `${scheme}://${authority}${pathWithQuery}`;
  const request = new OutgoingRequest(Fields.fromList(headers));
  request.setMethod({ tag: 'get' });
  request.setScheme({ tag: scheme === 'https' ? 'HTTPS' : 'HTTP' });
  request.setAuthority(authority);
  request.setPathWithQuery(pathWithQuery);
  let future;
  try {
    future = handle(request, undefined);
  } catch (e) {
    throw transportError(e.payload, url);
  }
  try {
    let answer = future.get();
    while (answer === undefined) {
      const ready = future.subscribe();
      ready.block();
      dispose(ready);
      answer = future.get();
    }
    if (answer.tag !== 'ok' || answer.val.tag !== 'ok') {
      throw transportError(answer.tag === 'ok' ? answer.val.val : { tag: 'internal-error' }, url);
    }
    const response = answer.val.val;
    try {
      const status = response.status();
      const body = response.consume();
      try {
        return { status, body: readAll(body, url) };
      } finally {
        dispose(body);
      }
    } finally {
      dispose(response);
    }
  } finally {
    dispose(future);
  }
}

function readAll(body, url) {
  const chunks = [];
  let length = 0;
  const stream = body.stream();
  try {
    for (;;) {
      let chunk;
      try {
        chunk = stream.blockingRead(READ_SIZE);
      } catch (e) {
        if (e.payload?.tag === 'closed') break;
        if (e.payload?.tag === 'last-operation-failed') {
          throw transportError(httpErrorCode(e.payload.val) ?? { tag: 'internal-error' }, url);
        }
        throw e;
      }
      chunks.push(chunk);
      length += chunk.length;
    }
  } finally {
    dispose(stream);
  }
  const all = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}
