"""{{display_name}}: a Portcullis cloud connector in Python (componentize-py).

HTTP goes through wasi:http (http_client.py); the host filters it against the granted origins.
"""
import json
from urllib.parse import urlsplit

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.connector import InstancePage, ListRequest, Region
from wit_world.imports import config
from wit_world.imports.portcullis_plugin_types import (
    PluginError_Internal,
    PluginError_InvalidInput,
    PluginError_Unauthorized,
    PluginError_Unavailable,
    PluginInfo,
)

import http_client


def _get(path: str) -> bytes:
    endpoint = config.get("endpoint")
    if not endpoint:
        raise Err(PluginError_InvalidInput("config key `endpoint` is not set"))
    url = urlsplit(endpoint.rstrip("/") + path)
    status, body = http_client.get(url.scheme, url.netloc, url.path + (f"?{url.query}" if url.query else ""), [("accept", b"application/json")])
    if status in (401, 403):
        raise Err(PluginError_Unauthorized(f"HTTP {status} from {endpoint}{path}"))
    if not 200 <= status < 300:
        raise Err(PluginError_Unavailable(f"HTTP {status} from {endpoint}{path}"))
    return body


class Connector(exports.Connector):
    def describe(self) -> PluginInfo:
        return PluginInfo(id="{{id}}", version="0.1.0", display_name="{{display_name}}", features=[])

    def test_connection(self) -> None:
        _get("/health")

    def list_regions(self) -> list:
        try:
            return [Region(id=r["id"], name=r["name"]) for r in json.loads(_get("/regions"))]
        except (ValueError, KeyError, TypeError) as e:
            raise Err(PluginError_Internal(f"the regions answer is not a list of regions: {e}"))

    def list_instances(self, request: ListRequest) -> InstancePage:
        raise Err(PluginError_Unavailable("list-instances is not implemented"))
