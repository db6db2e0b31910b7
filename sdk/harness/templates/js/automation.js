// {{display_name}}: a Portcullis platform automation in JavaScript (componentize-js).
import { emit } from 'portcullis:plugin/log@0.1.0';
import { open } from 'portcullis:plugin/remote@0.1.0';

const TIMEOUT_MS = 30000;
const notImplemented = (name) => { throw { tag: 'unavailable', val: `${name} is not implemented` }; };

export const automation = {
  describe() {
    return { id: '{{id}}', version: '0.1.0', displayName: '{{display_name}}', features: [] };
  },

  ping(target, params) {
    // Host errors are thrown with their plugin-error as `payload`; pass them on.
    try {
      const session = open(target, TIMEOUT_MS);
      const out = session.run('uname -s', TIMEOUT_MS);
      if (out.exitCode !== 0) {
        throw { tag: 'unavailable', val: `uname failed: ${new TextDecoder().decode(out.stderr).trim()}` };
      }
      emit('info', `the asset runs ${new TextDecoder().decode(out.stdout).trim()}`, []);
    } catch (e) {
      throw e.payload ?? e;
    }
  },

  verifyAccount(target, params) {
    try { open(target, TIMEOUT_MS); } catch (e) { throw e.payload ?? e; }
  },
  changeSecret() { notImplemented('change-secret'); },
  pushAccount() { notImplemented('push-account'); },
  gatherAccounts() { notImplemented('gather-accounts'); },
  removeAccount() { notImplemented('remove-account'); },
};
