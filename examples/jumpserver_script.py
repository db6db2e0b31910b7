#!/usr/bin/env python3
"""A JumpServer v4 API script, written the way JumpServer's own API guide writes them.

It uses only what that guide tells script authors to use: `requests`, and
`httpsig.requests_auth.HTTPSignatureAuth` with hmac-sha256 over
`(request-target) accept date`, plus `Accept: application/json`, `X-JMS-ORG` and a GMT
`Date` header on every call. Nothing in it knows it talks to Portcullis: pointed at a
JumpServer it behaves the same.

It runs an administrator's daily loop end to end:

  password login -> bearer token -> access key -> signature auth from then on;
  users, user groups, nodes, a host, an account, an asset permission;
  the new user's own view ("my assets", one asset's accounts and protocols, my nodes);
  the audit lists (login logs, operate logs, finished sessions); cleanup.

Every call checks its status code and the response fields a real script relies on. Any
difference is printed as one line

  INCOMPATIBLE: <METHOD> <path>: <what differs>

and the script carries on. At the end it prints a summary and exits 1 if anything was
incompatible (2 if it could not even log in).

Configuration (environment):
  JMS_URL       base URL, default http://127.0.0.1:8080
  JMS_USERNAME  administrator username, default admin
  JMS_PASSWORD  administrator password (required)
  JMS_ORG       organisation id for X-JMS-ORG, default the Default org

    pip install -r examples/requirements.txt
    JMS_URL=http://127.0.0.1:8080 JMS_PASSWORD=... python3 examples/jumpserver_script.py
"""

import datetime
import json
import os
import re
import secrets
import sys

import requests
from httpsig.requests_auth import HTTPSignatureAuth

JMS_URL = os.environ.get("JMS_URL", "http://127.0.0.1:8080").rstrip("/")
ADMIN_USERNAME = os.environ.get("JMS_USERNAME", "admin")
ADMIN_PASSWORD = os.environ.get("JMS_PASSWORD", "")
ORG_ID = os.environ.get("JMS_ORG", "00000000-0000-0000-0000-000000000002")
GMT_FORM = "%a, %d %b %Y %H:%M:%S GMT"
DATETIME_RE = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

PROBLEMS = []
CALLS = 0


def incompatible(method, path, what):
    """Reports one difference from JumpServer's behaviour, and carries on."""
    line = "INCOMPATIBLE: %s %s: %s" % (method, path, what)
    if line in PROBLEMS:
        return
    PROBLEMS.append(line)
    print(line, flush=True)


def short(text, n=300):
    text = text if isinstance(text, str) else json.dumps(text)
    return text if len(text) <= n else text[:n] + "..."


class Client:
    """One caller: a requests session with JumpServer's headers and one kind of auth."""

    def __init__(self, name):
        self.name = name
        self.session = requests.Session()  # keeps jms_sessionid, as JumpServer's flows need
        self.auth = None
        self.token = None

    def use_bearer(self, token):
        self.token, self.auth = token, None

    def use_access_key(self, key_id, secret):
        # Exactly the guide's get_auth().
        signature_headers = ["(request-target)", "accept", "date"]
        self.auth = HTTPSignatureAuth(
            key_id=key_id, secret=secret, algorithm="hmac-sha256", headers=signature_headers
        )
        self.token = None

    def headers(self):
        headers = {
            "Accept": "application/json",
            "X-JMS-ORG": ORG_ID,
            "Date": datetime.datetime.now(datetime.timezone.utc).strftime(GMT_FORM),
        }
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        return headers

    def call(self, method, path, expect, body=None, params=None, form=None, note=""):
        """One request; returns the decoded JSON body, or None when the status was not
        `expect` (which is reported)."""
        global CALLS
        CALLS += 1
        url = JMS_URL + path
        shown = path
        if params:
            shown += "?" + "&".join("%s=%s" % (k, v) for k, v in params.items())
        shown += note
        try:
            resp = self.session.request(
                method, url, params=params, json=body, data=form,
                headers=self.headers(), auth=self.auth, timeout=30,
            )
        except requests.RequestException as exc:
            incompatible(method, shown, "request failed: %s" % exc)
            return None
        if resp.status_code != expect:
            incompatible(
                method, shown,
                "expected HTTP %d, got %d: %s" % (expect, resp.status_code, short(resp.text)),
            )
            return None
        if resp.status_code == 204:
            return {}
        try:
            data = resp.json()
        except ValueError:
            incompatible(method, shown, "body is not JSON: %s" % short(resp.text))
            return None
        ctype = resp.headers.get("Content-Type", "")
        if "application/json" not in ctype:
            incompatible(method, shown, "Content-Type is %r, not application/json" % ctype)
        return data

    def get(self, path, expect=200, params=None):
        return self.call("GET", path, expect, params=params)

    def post(self, path, body, expect=201):
        return self.call("POST", path, expect, body=body)

    def patch(self, path, body, expect=200):
        return self.call("PATCH", path, expect, body=body)

    def delete(self, path, expect=204):
        return self.call("DELETE", path, expect)


# --- field checks: what scripts read out of JumpServer's answers ----------------------------


class Checker:
    """Checks on one response; every failure is one INCOMPATIBLE line for that call."""

    def __init__(self, method, path):
        self.method, self.path = method, path

    def fail(self, what):
        incompatible(self.method, self.path, what)
        return False

    def obj(self, data, what="response"):
        if not isinstance(data, dict):
            return self.fail("%s is not a JSON object: %s" % (what, short(data)))
        return True

    def has(self, obj, *fields):
        ok = True
        for f in fields:
            if not isinstance(obj, dict) or f not in obj:
                ok = self.fail("field %r missing (have %s)" % (
                    f, sorted(obj) if isinstance(obj, dict) else type(obj).__name__))
        return ok

    def eq(self, obj, field, want):
        if not self.has(obj, field):
            return False
        if obj[field] != want:
            return self.fail("%s is %r, expected %r" % (field, obj[field], want))
        return True

    def datetime(self, obj, field, nullable=False):
        if not self.has(obj, field):
            return False
        v = obj[field]
        if v is None and nullable:
            return True
        if not isinstance(v, str) or not DATETIME_RE.match(v):
            return self.fail("%s is %r, expected 'YYYY/MM/DD HH:MM:SS +ZZZZ'" % (field, v))
        return True

    def choice(self, obj, field, value=None):
        if not self.has(obj, field):
            return False
        v = obj[field]
        if not isinstance(v, dict) or "value" not in v or "label" not in v:
            return self.fail("%s is %r, expected a {value,label} choice" % (field, v))
        if value is not None and v["value"] != value:
            return self.fail("%s.value is %r, expected %r" % (field, v["value"], value))
        return True

    def stub(self, obj, field, want_id=None, extra=()):
        """`{id,name}` (plus `extra` keys); `want_id` checks the id."""
        if not self.has(obj, field):
            return False
        v = obj[field]
        keys = ("id", "name") + tuple(extra)
        if not isinstance(v, dict) or any(k not in v for k in keys):
            return self.fail("%s is %r, expected an {%s} object" % (field, v, ",".join(keys)))
        if want_id is not None and str(v["id"]) != str(want_id):
            return self.fail("%s.id is %r, expected %r" % (field, v["id"], want_id))
        return True

    def stubs(self, obj, field, contains=None, extra=()):
        """A list of `{id,name}`; `contains` is an id that must be among them."""
        if not self.has(obj, field):
            return False
        v = obj[field]
        keys = ("id", "name") + tuple(extra)
        if not isinstance(v, list) or any(
            not isinstance(i, dict) or any(k not in i for k in keys) for i in v
        ):
            return self.fail("%s is %s, expected a list of {%s}" % (field, short(v), ",".join(keys)))
        if contains is not None and str(contains) not in [str(i["id"]) for i in v]:
            return self.fail("%s does not contain %s: %s" % (field, contains, short(v)))
        return True

    def org(self, obj):
        ok = self.eq(obj, "org_id", ORG_ID)
        if self.has(obj, "org_name") and not isinstance(obj["org_name"], str):
            ok = self.fail("org_name is %r, expected a string" % obj["org_name"])
        return ok

    def uuid(self, obj, field="id"):
        if not self.has(obj, field):
            return False
        if not isinstance(obj[field], str) or not UUID_RE.match(obj[field]):
            return self.fail("%s is %r, expected a UUID string" % (field, obj[field]))
        return True

    def paginated(self, data, at_least=0):
        """`{count,next,previous,results}`; returns the results (or [])."""
        if not isinstance(data, dict):
            self.fail("expected a paginated object {count,next,previous,results}, got %s" % short(data))
            return []
        if not self.has(data, "count", "next", "previous", "results"):
            return data.get("results") or []
        if not isinstance(data["count"], int) or not isinstance(data["results"], list):
            self.fail("count/results have the wrong types: %s" % short(data))
            return []
        for link in ("next", "previous"):
            v = data[link]
            if v is not None and not (isinstance(v, str) and v.startswith("http")):
                self.fail("%s is %r, expected an absolute URL or null" % (link, v))
        if data["count"] < at_least:
            self.fail("count is %d, expected at least %d" % (data["count"], at_least))
        return data["results"]

    def bare_list(self, data):
        if not isinstance(data, list):
            self.fail("without limit expected a bare JSON array, got %s" % short(data))
            return []
        return data

    def find(self, items, what, **match):
        for i in items:
            if isinstance(i, dict) and all(str(i.get(k)) == str(v) for k, v in match.items()):
                return i
        self.fail("%s with %s not in the answer: %s" % (what, match, short(items)))
        return None


def checker(method, path, params=None):
    if params:
        path += "?" + "&".join("%s=%s" % (k, v) for k, v in params.items())
    return Checker(method, path)


# --- the daily loop ---------------------------------------------------------------------------


def get_token(client, username, password):
    """The guide's get_token(): a form post, `json.loads(response.text)['token']`."""
    path = "/api/v1/authentication/auth/"
    data = client.call("POST", path, 201, form={"username": username, "password": password},
                       note=" (form body, as in JumpServer's API guide)")
    if data is None:
        # The guide posts a form; JSON is what the other clients send. Try it so the rest of
        # the loop still runs (the form problem is already reported).
        data = client.call("POST", path, 201, body={"username": username, "password": password},
                           note=" (JSON body)")
    if data is None:
        return None
    c = checker("POST", path)
    if not c.obj(data):
        return None
    c.has(data, "token", "keyword", "date_expired", "user")
    c.eq(data, "keyword", "Bearer")
    c.datetime(data, "date_expired")
    if c.has(data, "user") and isinstance(data["user"], dict):
        c.eq(data["user"], "username", username)
    return data.get("token")


def main():
    if not ADMIN_PASSWORD:
        print("set JMS_PASSWORD (and JMS_URL, JMS_USERNAME)", file=sys.stderr)
        return 2
    tag = secrets.token_hex(3)
    print("JumpServer API script against %s (org %s, run %s)" % (JMS_URL, ORG_ID, tag), flush=True)

    # -- 1. password -> bearer token ---------------------------------------------------------
    admin = Client("admin")
    token = get_token(admin, ADMIN_USERNAME, ADMIN_PASSWORD)
    if not token:
        print("cannot log in as %s; stopping" % ADMIN_USERNAME)
        return summary(fatal=True)
    admin.use_bearer(token)
    me = admin.get("/api/v1/users/profile/")
    if me is not None:
        c = checker("GET", "/api/v1/users/profile/")
        c.eq(me, "username", ADMIN_USERNAME)
        c.choice(me, "mfa_level")
        c.choice(me, "source", "local")

    # -- 2. access key (password step-up first, as JumpServer requires), then signatures ----
    ok = admin.post("/api/v1/authentication/confirm/",
                    {"confirm_type": "password", "secret_key": ADMIN_PASSWORD}, expect=200)
    key = admin.post("/api/v1/authentication/access-keys/", {})
    if key is None:
        print("no access key; carrying on with the bearer token")
    else:
        c = checker("POST", "/api/v1/authentication/access-keys/")
        c.uuid(key, "id")
        c.has(key, "secret", "is_active")
        if isinstance(key.get("secret"), str) and key.get("id"):
            admin.use_access_key(key["id"], key["secret"])
            print("signing with access key %s" % key["id"], flush=True)
        keys = admin.get("/api/v1/authentication/access-keys/")
        if keys is not None:
            c = checker("GET", "/api/v1/authentication/access-keys/")
            found = c.find(c.bare_list(keys), "access key", id=key.get("id"))
            if found is not None:
                if "secret" in found and found["secret"]:
                    c.fail("the list shows the secret; only POST may return it")
                c.datetime(found, "date_created")
        # A wrong secret must be refused with JumpServer's 401 body.
        bad = Client("bad-signature")
        bad.use_access_key(key.get("id", ""), "not-the-secret")
        resp = requests.get(JMS_URL + "/api/v1/users/profile/", headers=bad.headers(),
                            auth=bad.auth, timeout=30)
        c = checker("GET", "/api/v1/users/profile/ (wrong signature)")
        if resp.status_code != 401:
            c.fail("expected HTTP 401, got %d: %s" % (resp.status_code, short(resp.text)))
        else:
            try:
                body = resp.json()
                c.has(body, "detail", "code")
            except ValueError:
                c.fail("401 body is not JSON: %s" % short(resp.text))

    me = admin.get("/api/v1/users/profile/")
    if me is not None:
        checker("GET", "/api/v1/users/profile/").eq(me, "username", ADMIN_USERNAME)
    current = admin.get("/api/v1/orgs/orgs/current/")
    if current is not None:
        c = checker("GET", "/api/v1/orgs/orgs/current/")
        c.eq(current, "id", ORG_ID)
        c.has(current, "name", "is_default", "is_root")

    # -- 3. users -----------------------------------------------------------------------------
    username = "compat-%s" % tag
    user_password = "Compat-Pa55word!%s" % tag
    path = "/api/v1/users/users/"
    user = admin.post(path, {
        "name": "Compat User %s" % tag,
        "username": username,
        "email": "%s@example.com" % username,
        "password_strategy": "custom",
        "password": user_password,
        "need_update_password": False,
        "mfa_level": 0,
        "source": "local",
        "comment": "created by jumpserver_script.py",
    })
    user_id = None
    if user is not None:
        c = checker("POST", path)
        c.uuid(user)
        user_id = user.get("id")
        c.eq(user, "username", username)
        if "password" in user:
            c.fail("the write-only password is echoed back")
        c.choice(user, "source", "local")
        c.choice(user, "mfa_level", 0)
        c.stubs(user, "groups")
        if c.has(user, "system_roles") and not all(
            isinstance(r, dict) and "id" in r and "display_name" in r for r in user["system_roles"]
        ):
            c.fail("system_roles is %s, expected [{id,display_name}]" % short(user["system_roles"]))
        c.datetime(user, "date_joined")
        c.eq(user, "is_active", True)
        c.eq(user, "is_valid", True)

    params = {"limit": 10, "offset": 0, "search": username}
    data = admin.get(path, params=params)
    if data is not None:
        c = checker("GET", path, params)
        c.find(c.paginated(data, at_least=1), "new user", username=username)
    params = {"limit": 10, "offset": 0, "q": username}  # v4.10.13+ clients send q=
    data = admin.get(path, params=params)
    if data is not None:
        c = checker("GET", path, params)
        c.find(c.paginated(data, at_least=1), "new user", username=username)
    params = {"limit": 1, "offset": 0}
    data = admin.get(path, params=params)
    if data is not None:
        c = checker("GET", path, params)
        results = c.paginated(data, at_least=2)
        if len(results) != 1:
            c.fail("limit=1 returned %d results" % len(results))
        if data.get("next") is None and data.get("count", 0) >= 2:
            c.fail("next is null although more results exist")
    params = {"username": username}
    data = admin.get(path, params=params)
    if data is not None:
        c = checker("GET", path, params)
        c.find(c.bare_list(data), "new user", username=username)

    detail_path = "/api/v1/users/users/%s/" % username
    data = admin.get(detail_path)
    if data is not None:
        c = checker("GET", detail_path)
        c.eq(data, "id", user_id)
        c.eq(data, "username", username)
    if user_id:
        p = "/api/v1/users/users/%s/" % user_id
        data = admin.patch(p, {"name": "Compat User %s (patched)" % tag, "phone": {"code": "+86", "phone": "13800000000"}})
        if data is not None:
            c = checker("PATCH", p)
            c.eq(data, "name", "Compat User %s (patched)" % tag)
            if c.has(data, "phone") and not (
                isinstance(data["phone"], dict) and data["phone"].get("phone") == "13800000000"
            ):
                c.fail("phone is %r, expected {code,phone}" % (data["phone"],))

    # -- 4. user group ------------------------------------------------------------------------
    group_id = None
    path = "/api/v1/users/groups/"
    group = admin.post(path, {"name": "compat-group-%s" % tag, "users": [user_id] if user_id else [],
                              "comment": "created by jumpserver_script.py"})
    if group is not None:
        c = checker("POST", path)
        c.uuid(group)
        group_id = group.get("id")
        c.stubs(group, "users", contains=user_id)
        c.org(group)
    params = {"limit": 10, "offset": 0, "search": "compat-group-%s" % tag}
    data = admin.get(path, params=params)
    if data is not None:
        c = checker("GET", path, params)
        g = c.find(c.paginated(data, at_least=1), "group", id=group_id)
        if g is not None:
            c.eq(g, "users_amount", 1 if user_id else 0)
    if user_id and group_id:
        p = "/api/v1/users/users/%s/" % user_id
        data = admin.get(p)
        if data is not None:
            checker("GET", p).stubs(data, "groups", contains=group_id)

    # -- 5. platforms and nodes ---------------------------------------------------------------
    linux_id = None
    path = "/api/v1/assets/platforms/"
    data = admin.get(path)
    if data is not None:
        c = checker("GET", path)
        linux = c.find(c.bare_list(data), "platform", name="Linux")
        if linux is not None:
            linux_id = linux.get("id")
            if not isinstance(linux_id, int):
                c.fail("platform id is %r, expected an integer" % (linux_id,))
            c.choice(linux, "category", "host")
            c.choice(linux, "type", "linux")

    root_value = "compat-%s" % tag
    parent_path = "/Default/%s" % root_value
    web_path = parent_path + "/web"
    path = "/api/v1/assets/nodes/"
    web = admin.post(path, {"full_value": web_path})
    web_id = parent_id = parent_key = None
    if web is not None:
        c = checker("POST", path)
        c.uuid(web)
        web_id = web.get("id")
        c.eq(web, "value", "web")
        c.eq(web, "name", "web")
        c.eq(web, "full_value", web_path)
        if c.has(web, "key") and not re.match(r"^\d+(:\d+)+$", str(web["key"])):
            c.fail("key is %r, expected colon-separated digits" % web["key"])
        c.org(web)
    params = {"value": root_value}
    data = admin.get(path, params=params)
    if data is not None:
        c = checker("GET", path, params)
        parent = c.find(c.bare_list(data), "parent node", value=root_value)
        if parent is not None:
            parent_id, parent_key = parent.get("id"), parent.get("key")
            c.eq(parent, "full_value", parent_path)
    db_id = None
    if parent_id:
        p = "/api/v1/assets/nodes/%s/children/" % parent_id
        db = admin.post(p, {"value": "db"})
        if db is not None:
            c = checker("POST", p)
            db_id = db.get("id")
            c.eq(db, "full_value", parent_path + "/db")
        data = admin.get(p)
        if data is not None:
            c = checker("GET", p)
            kids = c.bare_list(data)
            c.find(kids, "child node", id=web_id)
            c.find(kids, "child node", id=db_id)
        if parent_key:
            p = "/api/v1/assets/nodes/children/tree/"
            params = {"key": parent_key}
            data = admin.get(p, params=params)
            if data is not None:
                c = checker("GET", p, params)
                tree = c.bare_list(data)
                n = c.find(tree, "tree node", id=web.get("key") if web else None)
                if n is not None:
                    c.has(n, "name", "title", "pId", "isParent", "open", "meta")
                    c.eq(n, "pId", parent_key)
                    if isinstance(n.get("meta"), dict):
                        c.eq(n["meta"], "type", "node")

    # -- 6. a host --------------------------------------------------------------------------
    host_name = "compat-host-%s" % tag
    path = "/api/v1/assets/hosts/"
    host = admin.post(path, {
        "name": host_name,
        "address": "10.0.0.%d" % (int(tag, 16) % 250 + 1),
        "platform": linux_id if linux_id is not None else 1,
        "protocols": [{"name": "ssh", "port": 22}, {"name": "sftp", "port": 22}],
        "nodes_display": [web_path],
        "is_active": True,
        "comment": "created by jumpserver_script.py",
    })
    host_id = None
    if host is not None:
        c = checker("POST", path)
        c.uuid(host)
        host_id = host.get("id")
        c.stub(host, "platform", want_id=linux_id)
        c.stubs(host, "nodes", contains=web_id)
        if c.has(host, "nodes_display") and web_path not in (host["nodes_display"] or []):
            c.fail("nodes_display is %r, expected to contain %r" % (host["nodes_display"], web_path))
        if c.has(host, "protocols"):
            protos = {(p.get("name"), p.get("port")) for p in host["protocols"] if isinstance(p, dict)}
            if ("ssh", 22) not in protos:
                c.fail("protocols is %s, expected to contain {name: ssh, port: 22}" % short(host["protocols"]))
        c.choice(host, "category", "host")
        c.choice(host, "type", "linux")
        c.choice(host, "connectivity")
        c.datetime(host, "date_created")
        c.org(host)
    if host_id:
        p = "/api/v1/assets/hosts/%s/" % host_id
        data = admin.get(p)
        if data is not None:
            c = checker("GET", p)
            c.eq(data, "name", host_name)
            c.stubs(data, "nodes", contains=web_id)
        p = "/api/v1/assets/assets/"
        params = {"limit": 10, "offset": 0, "search": host_name}
        data = admin.get(p, params=params)
        if data is not None:
            c = checker("GET", p, params)
            c.find(c.paginated(data, at_least=1), "host", id=host_id)
        if parent_id:
            params = {"node_id": parent_id, "all": 1, "limit": 10}
            data = admin.get(p, params=params)
            if data is not None:
                c = checker("GET", p, params)
                c.find(c.paginated(data, at_least=1), "host under the parent node", id=host_id)
        if web_id:
            p = "/api/v1/assets/nodes/%s/assets/" % web_id
            data = admin.get(p)
            if data is not None:
                c = checker("GET", p)
                c.find(c.bare_list(data), "host", id=host_id)

    # -- 7. an account on the host ----------------------------------------------------------
    account_id = None
    if host_id:
        path = "/api/v1/accounts/accounts/"
        account = admin.post(path, {
            "asset": host_id,
            "name": "root",
            "username": "root",
            "secret_type": "password",
            "secret": "Acc0unt-secret-%s" % tag,
            "privileged": True,
            "is_active": True,
        })
        if account is not None:
            c = checker("POST", path)
            c.uuid(account)
            account_id = account.get("id")
            if account.get("secret"):
                c.fail("the write-only secret is echoed back")
            c.stub(account, "asset", want_id=host_id, extra=("address",))
            c.choice(account, "secret_type", "password")
            c.choice(account, "source", "local")
            c.eq(account, "username", "root")
            c.datetime(account, "date_created")
            c.org(account)
        params = {"asset": host_id}
        data = admin.get(path, params=params)
        if data is not None:
            c = checker("GET", path, params)
            c.find(c.bare_list(data), "account", id=account_id)
        params = {"asset_id": host_id, "username": "root", "limit": 10, "offset": 0}
        data = admin.get(path, params=params)
        if data is not None:
            c = checker("GET", path, params)
            c.find(c.paginated(data, at_least=1), "account", id=account_id)

    # -- 8. an asset permission: the group gets the node, every account ---------------------
    perm_id = None
    perm_name = "compat-perm-%s" % tag
    if group_id and parent_id:
        path = "/api/v1/perms/asset-permissions/"
        perm = admin.post(path, {
            "name": perm_name,
            "user_groups": [group_id],
            "nodes": [parent_id],
            "accounts": ["@ALL"],
            "protocols": ["all"],
            "actions": ["all"],
            "is_active": True,
            "comment": "created by jumpserver_script.py",
        })
        if perm is not None:
            c = checker("POST", path)
            c.uuid(perm)
            perm_id = perm.get("id")
            c.stubs(perm, "user_groups", contains=group_id)
            c.stubs(perm, "nodes", contains=parent_id)
            c.eq(perm, "accounts", ["@ALL"])
            if c.has(perm, "actions"):
                acts = perm["actions"]
                if not isinstance(acts, list) or not all(
                    isinstance(a, dict) and "value" in a and "label" in a for a in acts
                ):
                    c.fail("actions is %s, expected a list of {value,label}" % short(acts))
                elif "connect" not in [a["value"] for a in acts]:
                    c.fail("actions %s lacks connect after [\"all\"]" % short(acts))
            c.datetime(perm, "date_start")
            c.datetime(perm, "date_expired")
            c.eq(perm, "is_valid", True)
            c.org(perm)
        if user_id:
            params = {"user_id": user_id, "limit": 10, "offset": 0}
            data = admin.get(path, params=params)
            if data is not None:
                c = checker("GET", path, params)
                c.find(c.paginated(data, at_least=1), "permission (through the group)", id=perm_id)

    # -- 9. the new user's own view -----------------------------------------------------------
    if user_id:
        me_client = Client(username)
        utoken = get_token(me_client, username, user_password)
        if utoken:
            me_client.use_bearer(utoken)
            path = "/api/v1/perms/users/self/assets/"
            params = {"limit": 10, "offset": 0}
            data = me_client.get(path, params=params)
            if data is not None and host_id:
                c = checker("GET", path, params)
                a = c.find(c.paginated(data, at_least=1), "permitted host", id=host_id)
                if a is not None:
                    c.eq(a, "name", host_name)
                    c.stub(a, "platform", want_id=linux_id)
                    c.choice(a, "category", "host")
                    c.choice(a, "type", "linux")
                    c.stubs(a, "nodes")
                    c.org(a)
            params = {"search": host_name, "limit": 10}
            data = me_client.get(path, params=params)
            if data is not None and host_id:
                c = checker("GET", path, params)
                c.find(c.paginated(data, at_least=1), "permitted host", id=host_id)
            if host_id:
                p = "/api/v1/perms/users/self/assets/%s/" % host_id
                data = me_client.get(p)
                if data is not None:
                    c = checker("GET", p)
                    c.eq(data, "id", host_id)
                    if c.has(data, "permed_accounts"):
                        accs = data["permed_accounts"] if isinstance(data["permed_accounts"], list) else []
                        acc = c.find(accs, "permitted account", username="root")
                        if acc is not None:
                            c.has(acc, "id", "alias", "name", "username", "has_username",
                                  "has_secret", "secret_type", "actions", "date_expired")
                            c.eq(acc, "has_secret", True)
                            if not isinstance(acc.get("secret_type"), str):
                                c.fail("permed_accounts[].secret_type is %r, expected a plain string"
                                       % (acc.get("secret_type"),))
                            acts = acc.get("actions")
                            if not isinstance(acts, list) or "connect" not in [
                                a.get("value") for a in acts if isinstance(a, dict)
                            ]:
                                c.fail("permed_accounts[].actions is %s, expected {value,label} incl. connect"
                                       % short(acts))
                    if c.has(data, "permed_protocols"):
                        protos = data["permed_protocols"] if isinstance(data["permed_protocols"], list) else []
                        ssh = c.find(protos, "permitted protocol", name="ssh")
                        if ssh is not None:
                            c.eq(ssh, "port", 22)
            path = "/api/v1/perms/users/self/nodes/"
            data = me_client.get(path)
            if data is not None and parent_id:
                c = checker("GET", path)
                n = c.find(c.bare_list(data), "permitted node", id=parent_id)
                if n is not None:
                    c.has(n, "name", "key", "value", "full_value", "org_id", "assets_amount")
                    c.eq(n, "full_value", parent_path)

    # -- 10. audit ------------------------------------------------------------------------------
    now = datetime.datetime.now(datetime.timezone.utc)
    date_from = (now - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    date_to = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    path = "/api/v1/audits/login-logs/"
    params = {"date_from": date_from, "date_to": date_to, "limit": 20, "offset": 0}
    data = admin.get(path, params=params)
    if data is not None:
        c = checker("GET", path, params)
        logs = c.paginated(data, at_least=1)
        log = c.find(logs, "login log of the admin", username=ADMIN_USERNAME)
        if log is not None:
            c.has(log, "id", "ip", "city", "user_agent", "reason", "backend")
            c.choice(log, "type")
            c.choice(log, "status", True)
            c.choice(log, "mfa")
            c.datetime(log, "datetime")
    if user_id:
        params = {"date_from": date_from, "date_to": date_to, "search": username, "limit": 10}
        data = admin.get(path, params=params)
        if data is not None:
            c = checker("GET", path, params)
            c.find(c.paginated(data, at_least=1), "login log of the new user", username=username)
    path = "/api/v1/audits/operate-logs/"
    params = {"date_from": date_from, "date_to": date_to, "limit": 50, "offset": 0}
    data = admin.get(path, params=params)
    if data is not None:
        c = checker("GET", path, params)
        logs = c.paginated(data, at_least=1)
        if logs:
            log = logs[0]
            c.has(log, "id", "user", "resource_type", "resource", "remote_addr")
            c.choice(log, "action")
            c.datetime(log, "datetime")
            if "create" not in [l.get("action", {}).get("value") for l in logs
                                if isinstance(l.get("action"), dict)]:
                c.fail("no 'create' entry although this script created objects")
    path = "/api/v1/terminal/sessions/"
    params = {"is_finished": 1, "limit": 10, "offset": 0}
    data = admin.get(path, params=params)
    if data is not None:
        checker("GET", path, params).paginated(data)
    params = {"is_finished": 1, "date_from": date_from, "date_to": date_to}
    data = admin.get(path, params=params)
    if data is not None:
        checker("GET", path, params).bare_list(data)

    # -- 11. cleanup ----------------------------------------------------------------------------
    if perm_id:
        admin.delete("/api/v1/perms/asset-permissions/%s/" % perm_id)
    if account_id:
        admin.delete("/api/v1/accounts/accounts/%s/" % account_id)
    if host_id:
        admin.delete("/api/v1/assets/hosts/%s/" % host_id)
    for node in (web_id, db_id, parent_id):
        if node:
            admin.delete("/api/v1/assets/nodes/%s/" % node)
    if group_id:
        admin.delete("/api/v1/users/groups/%s/" % group_id)
    if user_id:
        p = "/api/v1/users/users/%s/" % user_id
        admin.delete(p)
        resp = admin.session.get(JMS_URL + p, headers=admin.headers(), auth=admin.auth, timeout=30)
        c = checker("GET", p + " (after delete)")
        if resp.status_code != 404:
            c.fail("expected HTTP 404, got %d: %s" % (resp.status_code, short(resp.text)))
        else:
            try:
                c.has(resp.json(), "detail", "code")
            except ValueError:
                c.fail("404 body is not JSON: %s" % short(resp.text))
    if key is not None and key.get("id"):
        admin.use_bearer(token)
        admin.delete("/api/v1/authentication/access-keys/%s/" % key["id"])

    return summary()


def summary(fatal=False):
    print("-" * 72)
    print("%d calls, %d incompatibilities" % (CALLS, len(PROBLEMS)))
    for line in PROBLEMS:
        print("  " + line)
    if fatal:
        return 2
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
