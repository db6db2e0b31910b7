"""Example Portcullis cloud connector in Python: the `connector` export of `cloud-connector`.

Reads the example inventory API (examples/inventory/README.md) at config `endpoint` with the
bearer token of secret `api_token`. The mapping lives in inventory.py, HTTP in http_client.py.
"""
from wit_world import exports
from wit_world.exports.connector import InstancePage, ListRequest
from wit_world.imports import config, log, secrets
from wit_world.imports.portcullis_plugin_types import PluginInfo

import http_client
import inventory

PLUGIN_ID = "example-inventory-python"
VERSION = "0.1.0"


def _get(path: str, region=None) -> tuple:
    """GETs an inventory path with the token; returns (path with prefix, body) of a 200 answer."""
    endpoint = inventory.Endpoint.parse(config.get("endpoint"))
    with secrets.get("api_token") as secret:
        token = secrets.reveal(secret)
    full = endpoint.prefix + path
    log.emit(log.Level.DEBUG, "inventory request", [("method", "GET"), ("url", endpoint.url(path))])
    headers = [("authorization", b"Bearer " + token), ("accept", b"application/json")]
    status, body = http_client.get(endpoint.scheme, endpoint.authority, full, headers)
    inventory.check_status(status, full, region)
    return full, body


class Connector(exports.Connector):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            id=PLUGIN_ID,
            version=VERSION,
            display_name="Example inventory (Python)",
            features=["paging"],
        )

    def test_connection(self) -> None:
        _get(inventory.ping_path())

    def list_regions(self) -> list:
        full, body = _get(inventory.regions_path())
        return inventory.regions(body, full)

    def list_instances(self, request: ListRequest) -> InstancePage:
        path = inventory.instances_path(request.region, request.page_token, request.page_size)
        full, body = _get(path, request.region)
        return inventory.instance_page(body, full)
