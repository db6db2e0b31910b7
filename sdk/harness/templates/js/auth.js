// {{display_name}}: a Portcullis auth provider in JavaScript (componentize-js).
import { get as configGet } from 'portcullis:plugin/config@0.1.0';
import * as http from './http.js';

function config(key) {
  const value = configGet(key);
  if (!value) throw { tag: 'invalid-input', val: `config key \`${key}\` is not set` };
  return value;
}

export const auth = {
  describe() {
    return { id: '{{id}}', version: '0.1.0', displayName: '{{display_name}}', features: [] };
  },
  begin(request) {
    return {
      redirectUrl: `${config('authorize_url')}?client_id=${config('client_id')}&redirect_uri=${request.callbackUrl}&state=${request.state}`,
      stash: '',
    };
  },
  complete(request) {
    const code = (request.params.find(([k]) => k === 'code') || [])[1];
    if (!code) throw { tag: 'invalid-input', val: 'the callback has no code' };
    const url = new URL(`${config('userinfo_url')}?code=${code}`);
    const { status, body } = http.get(url.protocol.replace(':', ''), url.host, url.pathname + url.search, []);
    if (status === 400 || status === 401 || status === 403) throw { tag: 'unauthorized', val: `the provider refused the code: HTTP ${status}` };
    if (status !== 200) throw { tag: 'unavailable', val: `HTTP ${status} from the provider` };
    let user;
    try {
      user = JSON.parse(new TextDecoder().decode(body));
    } catch (e) {
      throw { tag: 'internal', val: `the user info is not JSON: ${e.message}` };
    }
    // Check the shape: a missing string field would trap when the answer is lowered.
    if (!user || user.id === undefined || typeof user.username !== 'string') {
      throw { tag: 'internal', val: 'the user info has no id or username' };
    }
    return {
      subject: String(user.id),
      username: user.username,
      displayName: String(user.name || user.username),
      email: typeof user.email === 'string' ? user.email : undefined,
      phone: undefined,
      groups: [],
      attributes: [],
    };
  },
};
