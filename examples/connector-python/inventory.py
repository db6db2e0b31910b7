"""The inventory API (see examples/inventory/README.md): URLs, answers to WIT records, errors.

Pure Python over the generated binding types: no host calls, so it runs natively in the unit
tests (test_inventory.py) as well as inside the component.
"""
import json
from urllib.parse import quote

from componentize_py_types import Err
from wit_world.exports.connector import Instance, InstancePage, Region
from wit_world.imports.portcullis_plugin_types import (
    PluginError_Internal,
    PluginError_InvalidInput,
    PluginError_NotFound,
    PluginError_Unauthorized,
    PluginError_Unavailable,
)

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
OS_FAMILIES = ("linux", "windows", "unix")


class Endpoint:
    """The configured base URL, split the way wasi:http wants it."""

    def __init__(self, scheme: str, authority: str, prefix: str):
        self.scheme = scheme
        self.authority = authority
        self.prefix = prefix

    @staticmethod
    def parse(value):
        """Parses config `endpoint`; raises Err(invalid-input) when unset or not http(s)."""
        if value is None:
            raise Err(PluginError_InvalidInput("config key `endpoint` is not set"))
        for scheme in ("http", "https"):
            rest = value[len(scheme) + 3 :] if value.startswith(scheme + "://") else None
            if rest:
                authority, slash, path = rest.partition("/")
                if authority:
                    return Endpoint(scheme, authority, ("/" + path).rstrip("/") if slash else "")
        raise Err(
            PluginError_InvalidInput(
                f"config key `endpoint` must be an http:// or https:// URL, got {json.dumps(value)}"
            )
        )

    def url(self, path: str) -> str:
        """The whole URL of a path and query made by the functions below."""
        return f"{self.scheme}://{self.authority}{self.prefix}{path}"


def encode(value: str) -> str:
    """Percent-encodes everything but RFC 3986's unreserved characters."""
    return quote(value, safe="")


def ping_path() -> str:
    return "/api/ping"


def regions_path() -> str:
    return "/api/regions"


def instances_path(region: str, page_token, page_size: int) -> str:
    """The instances URL path: page_token (when given) before page_size, both encoded."""
    size = DEFAULT_PAGE_SIZE if page_size == 0 else min(page_size, MAX_PAGE_SIZE)
    query = f"page_token={encode(page_token)}&" if page_token is not None else ""
    return f"/api/regions/{encode(region)}/instances?{query}page_size={size}"


def check_status(status: int, path: str, region=None) -> None:
    """Maps a non-200 status to its plugin-error; region set for the instances endpoint."""
    if status == 200:
        return
    if status in (401, 403):
        raise Err(PluginError_Unauthorized(f"the inventory refused the token: HTTP {status} to GET {path}"))
    if status == 404 and region is not None:
        raise Err(PluginError_NotFound(f"the inventory has no region {json.dumps(region)}"))
    raise Err(PluginError_Unavailable(f"the inventory answered HTTP {status} to GET {path}"))


class Malformed(Exception):
    """A JSON value of the wrong shape; the message names where."""


def parse_json(body: bytes, path: str):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Err(PluginError_Internal(f"the inventory's answer to GET {path} is not JSON: {e}"))


def _string(obj: dict, key: str, where: str, non_empty=False) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or (non_empty and value == ""):
        kind = "a non-empty string" if non_empty else "a string"
        raise Malformed(f"{where}.{key} must be {kind}")
    return value


def _optional_string(obj: dict, key: str, where: str):
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise Malformed(f"{where}.{key} must be a string or null")
    return value


def _strings(obj: dict, key: str, where: str) -> list:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{where}.{key} must be a list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise Malformed(f"{where}.{key}[{i}] must be a string")
    return list(value)


def _tags(obj: dict, where: str) -> list:
    value = obj.get("tags")
    if value is None:
        return []
    if not isinstance(value, dict):
        raise Malformed(f"{where}.tags must be an object")
    for key, tag in value.items():
        if not isinstance(tag, str):
            raise Malformed(f"{where}.tags.{key} must be a string")
    return sorted(value.items())


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise Malformed(f"{where} must be an object")
    return value


def instance(item, where: str) -> Instance:
    """One inventory item as a WIT instance (mapping table in the inventory README)."""
    obj = _object(item, where)
    family = _optional_string(obj, "os_family", where)
    family = family.lower() if family is not None and family.lower() in OS_FAMILIES else "other"
    return Instance(
        external_id=_string(obj, "id", where, non_empty=True),
        name=_string(obj, "name", where),
        hostname=_optional_string(obj, "hostname", where),
        private_ips=_strings(obj, "private_ips", where),
        public_ips=_strings(obj, "public_ips", where),
        os_family=family,
        os_name=_optional_string(obj, "os_name", where),
        status=_string(obj, "status", where).lower(),
        zone=_optional_string(obj, "zone", where),
        network=_optional_string(obj, "network", where),
        tags=_tags(obj, where),
    )


def _malformed(path: str, e: Malformed) -> Err:
    return Err(PluginError_Internal(f"the inventory's answer to GET {path} is malformed: {e}"))


def regions(body: bytes, path: str) -> list:
    """The answer of /api/regions as WIT regions."""
    value = parse_json(body, path)
    try:
        if not isinstance(value, list):
            raise Malformed("the answer must be a list")
        out = []
        for i, item in enumerate(value):
            obj = _object(item, f"[{i}]")
            out.append(Region(id=_string(obj, "id", f"[{i}]", non_empty=True), name=_string(obj, "name", f"[{i}]")))
        return out
    except Malformed as e:
        raise _malformed(path, e)


def instance_page(body: bytes, path: str) -> InstancePage:
    """The answer of the instances endpoint as a WIT instance page."""
    value = parse_json(body, path)
    try:
        obj = _object(value, "the answer")
        items = obj.get("items")
        if not isinstance(items, list):
            raise Malformed("items must be a list")
        instances = [instance(item, f"items[{i}]") for i, item in enumerate(items)]
        nxt = obj.get("next")
        if nxt is not None and not isinstance(nxt, str):
            raise Malformed("next must be a string or null")
        return InstancePage(instances=instances, next_page_token=nxt or None)
    except Malformed as e:
        raise _malformed(path, e)
