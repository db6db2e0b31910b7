"""{{display_name}}: a Portcullis auth provider in Python (componentize-py)."""
import json
from urllib.parse import urlsplit

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.auth import BeginResponse, Identity
from wit_world.imports import config
from wit_world.imports.portcullis_plugin_types import (
    PluginError_Internal,
    PluginError_InvalidInput,
    PluginError_Unauthorized,
    PluginError_Unavailable,
    PluginInfo,
)

import http_client


def _config(key: str) -> str:
    value = config.get(key)
    if not value:
        raise Err(PluginError_InvalidInput(f"config key `{key}` is not set"))
    return value


class Auth(exports.Auth):
    def describe(self) -> PluginInfo:
        return PluginInfo(id="{{id}}", version="0.1.0", display_name="{{display_name}}", features=[])

    def begin(self, request) -> BeginResponse:
        url = f"{_config('authorize_url')}?client_id={_config('client_id')}&redirect_uri={request.callback_url}&state={request.state}"
        return BeginResponse(redirect_url=url, stash="")

    def complete(self, request) -> Identity:
        code = dict(request.params).get("code")
        if not code:
            raise Err(PluginError_InvalidInput("the callback has no code"))
        url = urlsplit(f"{_config('userinfo_url')}?code={code}")
        status, body = http_client.get(url.scheme, url.netloc, f"{url.path}?{url.query}", [])
        if status in (400, 401, 403):
            raise Err(PluginError_Unauthorized(f"the provider refused the code: HTTP {status}"))
        if status != 200:
            raise Err(PluginError_Unavailable(f"HTTP {status} from the provider"))
        try:
            user = json.loads(body)
            return Identity(subject=user["id"], username=user["username"], display_name=user.get("name") or user["username"],
                            email=user.get("email"), phone=None, groups=[], attributes=[])
        except (ValueError, KeyError, TypeError) as e:
            raise Err(PluginError_Internal(f"the user info is not valid: {e}"))
