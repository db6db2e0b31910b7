"""{{display_name}}: a Portcullis platform automation in Python (componentize-py).

Build: `portcullis plugin build` (runs componentize-py -w platform-automation componentize app).
"""
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, remote
from wit_world.imports.types import PluginError_Unavailable, PluginInfo

TIMEOUT_MS = 30_000


class Automation(exports.Automation):
    def describe(self) -> PluginInfo:
        return PluginInfo(id="{{id}}", version="0.1.0", display_name="{{display_name}}", features=[])

    def ping(self, target, params: str) -> None:
        # Host errors (unauthorized, unavailable, timeout...) are raised as Err and returned as is.
        with remote.open(target, TIMEOUT_MS) as session:
            out = session.run("uname -s", TIMEOUT_MS)
        if out.exit_code != 0:
            raise Err(PluginError_Unavailable(f"uname failed: {out.stderr.decode(errors='replace').strip()}"))
        log.emit(log.Level.INFO, f"the asset runs {out.stdout.decode(errors='replace').strip()}", [])

    def verify_account(self, target, params: str) -> None:
        with remote.open(target, TIMEOUT_MS):
            pass

    def change_secret(self, target, account, new_secret, params: str) -> None:
        raise Err(PluginError_Unavailable("change-secret is not implemented"))

    def push_account(self, target, account, secret, options, params: str) -> None:
        raise Err(PluginError_Unavailable("push-account is not implemented"))

    def gather_accounts(self, target, params: str) -> list:
        raise Err(PluginError_Unavailable("gather-accounts is not implemented"))

    def remove_account(self, target, username: str, params: str) -> None:
        raise Err(PluginError_Unavailable("remove-account is not implemented"))
