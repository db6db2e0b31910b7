"""Native unit tests of inventory.py (CPython, no component): URLs, mapping, errors.

    componentize-py -d ../../wit -w cloud-connector bindings BINDINGS_DIR
    PYTHONPATH=BINDINGS_DIR python3 -m unittest test_inventory

examples/build.sh runs them before building the component.
"""
import json
import os
import unittest

from componentize_py_types import Err
from wit_world.imports import portcullis_plugin_types as types

import inventory

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "inventory", "fixture.json")


def load_fixture():
    with open(FIXTURE, encoding="utf-8") as f:
        return json.load(f)


def page_body(items, offset, size):
    """What serve.py answers for one page (offset tokens)."""
    end = offset + size
    return json.dumps({"items": items[offset:end], "next": str(end) if end < len(items) else None}).encode()


class EndpointTest(unittest.TestCase):
    def test_splits_scheme_authority_and_prefix(self):
        e = inventory.Endpoint.parse("https://inventory.example.com/v1/")
        self.assertEqual((e.scheme, e.authority, e.prefix), ("https", "inventory.example.com", "/v1"))
        e = inventory.Endpoint.parse("http://127.0.0.1:8080")
        self.assertEqual((e.scheme, e.authority, e.prefix), ("http", "127.0.0.1:8080", ""))
        self.assertEqual(e.url("/api/ping"), "http://127.0.0.1:8080/api/ping")

    def test_unset_or_not_http_is_invalid_input(self):
        for value, text in [
            (None, "config key `endpoint` is not set"),
            ("ftp://x", 'config key `endpoint` must be an http:// or https:// URL, got "ftp://x"'),
            ("http://", 'config key `endpoint` must be an http:// or https:// URL, got "http://"'),
        ]:
            with self.assertRaises(Err) as cm:
                inventory.Endpoint.parse(value)
            self.assertEqual(cm.exception.value, types.PluginError_InvalidInput(text))


class PathTest(unittest.TestCase):
    def test_instances_path_orders_and_encodes_parameters(self):
        self.assertEqual(inventory.instances_path("eu-west", None, 10), "/api/regions/eu-west/instances?page_size=10")
        self.assertEqual(
            inventory.instances_path("a b/c", "x&y=z~!'", 5),
            "/api/regions/a%20b%2Fc/instances?page_token=x%26y%3Dz~%21%27&page_size=5",
        )

    def test_page_size_is_clamped(self):
        self.assertTrue(inventory.instances_path("r", None, 0).endswith("page_size=10"))
        self.assertTrue(inventory.instances_path("r", None, 1000).endswith("page_size=100"))


class StatusTest(unittest.TestCase):
    def check(self, status, region, expected):
        with self.assertRaises(Err) as cm:
            inventory.check_status(status, "/api/x", region)
        self.assertEqual(cm.exception.value, expected)

    def test_statuses_map_to_plugin_errors(self):
        inventory.check_status(200, "/api/ping")
        self.check(401, None, types.PluginError_Unauthorized("the inventory refused the token: HTTP 401 to GET /api/x"))
        self.check(403, "r", types.PluginError_Unauthorized("the inventory refused the token: HTTP 403 to GET /api/x"))
        self.check(404, "eu-central", types.PluginError_NotFound('the inventory has no region "eu-central"'))
        self.check(404, None, types.PluginError_Unavailable("the inventory answered HTTP 404 to GET /api/x"))
        self.check(503, "r", types.PluginError_Unavailable("the inventory answered HTTP 503 to GET /api/x"))


class MappingTest(unittest.TestCase):
    def test_pages_through_every_fixture_region(self):
        fixture = load_fixture()
        for region, items in fixture["instances"].items():
            seen, token, pages = [], None, 0
            while True:
                offset = int(token) if token else 0
                page = inventory.instance_page(page_body(items, offset, 10), "/p")
                seen += page.instances
                pages += 1
                token = page.next_page_token
                if token is None:
                    break
            self.assertEqual([i.external_id for i in seen], [i["id"] for i in items])
            self.assertEqual(pages, (len(items) + 9) // 10)

    def test_maps_one_item(self):
        item = load_fixture()["instances"]["eu-west"][4]
        got = inventory.instance(item, "items[0]")
        self.assertEqual(got.external_id, "i-eu-west-005")
        self.assertEqual(got.name, "db-05")
        self.assertEqual(got.hostname, "db-05.eu-west.corp.example")
        self.assertEqual(got.private_ips, ["10.10.0.15"])
        self.assertEqual(got.public_ips, [])
        self.assertEqual((got.os_family, got.os_name), ("linux", "Ubuntu 24.04 LTS"))
        self.assertEqual(got.status, "stopped")
        self.assertEqual((got.zone, got.network), ("eu-west-c", "vpc-main"))
        self.assertEqual(got.tags, [("env", "prod"), ("team", "platform")])

    def test_normalises_os_family_and_defaults(self):
        minimal = {"id": "i-1", "name": "n", "status": "Running"}
        got = inventory.instance(minimal, "items[0]")
        self.assertEqual((got.os_family, got.status, got.tags, got.private_ips, got.hostname), ("other", "running", [], [], None))
        for family, expected in [("Windows", "windows"), ("UNIX", "unix"), ("aix", "other"), (None, "other")]:
            self.assertEqual(inventory.instance(dict(minimal, os_family=family), "i").os_family, expected)

    def test_regions(self):
        body = json.dumps(load_fixture()["regions"]).encode()
        self.assertEqual([r.id for r in inventory.regions(body, "/api/regions")], ["eu-west", "ap-east"])

    def malformed(self, body, fn=inventory.instance_page):
        with self.assertRaises(Err) as cm:
            fn(body, "/api/p")
        self.assertIsInstance(cm.exception.value, types.PluginError_Internal)
        return cm.exception.value.value

    def test_not_json_is_internal(self):
        self.assertTrue(self.malformed(b"<html>").startswith("the inventory's answer to GET /api/p is not JSON: "))

    def test_wrong_shapes_are_internal_and_say_where(self):
        prefix = "the inventory's answer to GET /api/p is malformed: "
        cases = [
            (b"[]", "the answer must be an object"),
            (b'{"next": null}', "items must be a list"),
            (b'{"items": [{"name": "x", "status": "up"}]}', "items[0].id must be a non-empty string"),
            (b'{"items": [{"id": "i", "name": "x", "status": "up", "tags": {"a": 1}}]}', "items[0].tags.a must be a string"),
            (b'{"items": [{"id": "i", "name": "x", "status": "up", "private_ips": [1]}]}', "items[0].private_ips[0] must be a string"),
            (b'{"items": [{"id": "i", "name": "x", "status": "up", "zone": 3}]}', "items[0].zone must be a string or null"),
            (b'{"items": [], "next": 3}', "next must be a string or null"),
        ]
        for body, text in cases:
            self.assertEqual(self.malformed(body), prefix + text)
        self.assertEqual(self.malformed(b'{"a": 1}', inventory.regions), prefix + "the answer must be a list")
        self.assertEqual(self.malformed(b'[{"id": "r"}]', inventory.regions), prefix + "[0].name must be a string")


if __name__ == "__main__":
    unittest.main()
