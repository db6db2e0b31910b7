//! Writing platforms (`/api/v1/assets/platforms/`, reference §4.8): custom platforms are
//! created, changed and deleted; built-in ones keep their identity; a platform that assets use
//! cannot be deleted; only system roles write; every write is in the operation log.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{TestDb, ok};
use serde_json::{Value, json};

const PLATFORMS: &str = "/api/v1/assets/platforms/";

async fn platform_log_actions(url: &str) -> Vec<String> {
    let mut f = Fixture::new(url).await;
    let mut v: Vec<String> =
        sqlx::query_scalar("SELECT action FROM operate_logs WHERE resource_type = 'Platform'")
            .fetch_all(&mut f.conn)
            .await
            .unwrap();
    v.sort();
    v
}

fn protocol<'a>(platform: &'a Value, name: &str) -> &'a Value {
    platform["protocols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {platform}"))
}

#[tokio::test]
async fn custom_platforms_are_created_changed_and_deleted_when_unused() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        let p = ok(
            &send(
                &server,
                &admin,
                "POST",
                PLATFORMS,
                &json!({"name": "Hardened Linux", "category": "host", "type": {"value": "linux"},
                        "protocols": [{"name": "ssh", "port": 2222},
                                      {"name": "sftp", "port": 2222}],
                        "su_enabled": true, "su_method": "sudo", "comment": "bastion-only"}),
            ),
            201,
        );
        let id = p["id"].as_i64().unwrap();
        assert!(id >= 1000, "custom ids start at 1000: {p}");
        assert_eq!(p["internal"], false);
        assert_eq!(p["category"]["value"], "host");
        assert_eq!(p["type"]["value"], "linux");
        assert_eq!(p["su_method"]["value"], "sudo");
        assert_eq!(
            protocol(&p, "ssh")["primary"],
            true,
            "first is primary: {p}"
        );
        assert_eq!(protocol(&p, "sftp")["port"], 2222);
        assert!(p["automation"].is_object(), "{p}");
        let listed = ok(&get(&server, &admin, &format!("{PLATFORMS}{id}/")), 200);
        assert_eq!(listed["name"], "Hardened Linux");

        // The name is unique.
        let dup = send(
            &server,
            &admin,
            "POST",
            PLATFORMS,
            &json!({"name": "Hardened Linux", "category": "host", "type": "linux",
                    "protocols": [{"name": "ssh", "port": 22}]}),
        );
        assert_eq!(dup.status, 400, "{}", dup.body);
        assert!(
            dup.json()["name"][0]
                .as_str()
                .unwrap()
                .contains("already exists")
        );

        // Changed: ports, comment; the category and type are fixed.
        let changed = ok(
            &send(
                &server,
                &admin,
                "PATCH",
                &format!("{PLATFORMS}{id}/"),
                &json!({"comment": "v2", "protocols": [{"name": "ssh", "port": 2200}]}),
            ),
            200,
        );
        assert_eq!(changed["comment"], "v2");
        assert_eq!(changed["protocols"].as_array().unwrap().len(), 1);
        assert_eq!(protocol(&changed, "ssh")["port"], 2200);
        let recat = send(
            &server,
            &admin,
            "PATCH",
            &format!("{PLATFORMS}{id}/"),
            &json!({"category": "database", "type": "mysql"}),
        );
        assert_eq!(recat.status, 400, "{}", recat.body);
        assert!(
            recat.json()["category"][0]
                .as_str()
                .unwrap()
                .contains("cannot be changed")
        );

        // In use by an asset: not deleted, with a clear reason.
        let host = ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/hosts/",
                &json!({"name": "h1", "address": "10.9.0.1", "platform": id,
                        "protocols": [{"name": "ssh"}]}),
            ),
            201,
        );
        assert_eq!(
            host["protocols"][0]["port"], 2200,
            "the platform's port: {host}"
        );
        let refused = send(
            &server,
            &admin,
            "DELETE",
            &format!("{PLATFORMS}{id}/"),
            &json!({}),
        );
        assert_eq!(refused.status, 400, "{}", refused.body);
        let why = refused.json()["error"].as_str().unwrap().to_owned();
        assert!(why.contains("used by 1 asset"), "{why}");
        assert_eq!(
            get(&server, &admin, &format!("{PLATFORMS}{id}/")).status,
            200
        );

        let host_id = host["id"].as_str().unwrap();
        let gone = send(
            &server,
            &admin,
            "DELETE",
            &format!("/api/v1/assets/assets/{host_id}/"),
            &json!({}),
        );
        assert_eq!(gone.status, 204, "{}", gone.body);
        let deleted = send(
            &server,
            &admin,
            "DELETE",
            &format!("{PLATFORMS}{id}/"),
            &json!({}),
        );
        assert_eq!(deleted.status, 204, "{}", deleted.body);
        assert_eq!(
            get(&server, &admin, &format!("{PLATFORMS}{id}/")).status,
            404
        );

        assert_eq!(
            platform_log_actions(&db.url).await,
            ["create", "delete", "update"]
        );
        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn built_in_platforms_keep_their_identity_and_cannot_be_deleted() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let linux = ok(&get(&server, &admin, &format!("{PLATFORMS}Linux/")), 200);
    assert_eq!(linux["internal"], true);
    let id = linux["id"].as_i64().unwrap();
    let path = format!("{PLATFORMS}{id}/");

    for (body, field) in [
        (json!({"name": "Penguin"}), "name"),
        (json!({"type": "windows"}), "type"),
        (
            json!({"protocols": [{"name": "ssh", "port": 22}]}),
            "protocols",
        ),
        (json!({"custom_fields": [{"name": "x"}]}), "custom_fields"),
    ] {
        let r = send(&server, &admin, "PATCH", &path, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.json()[field].is_array(), "{body}: {}", r.body);
    }
    // Ports and settings can be adjusted: the same protocols, ssh on another port.
    let mut protocols = linux["protocols"].clone();
    for p in protocols.as_array_mut().unwrap() {
        if p["name"] == "ssh" {
            p["port"] = json!(2022);
        }
    }
    let adjusted = ok(
        &send(
            &server,
            &admin,
            "PATCH",
            &path,
            &json!({"protocols": protocols, "comment": "ours"}),
        ),
        200,
    );
    assert_eq!(protocol(&adjusted, "ssh")["port"], 2022);
    assert_eq!(adjusted["name"], "Linux");
    assert_eq!(adjusted["comment"], "ours");

    let del = send(&server, &admin, "DELETE", &path, &json!({}));
    assert_eq!(del.status, 400, "{}", del.body);
    assert!(
        del.json()["error"].as_str().unwrap().contains("built-in"),
        "{}",
        del.body
    );
    assert_eq!(get(&server, &admin, &path).status, 200);
}

#[tokio::test]
async fn bad_platform_input_gets_field_errors_and_only_system_roles_write() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let before = get(&server, &admin, PLATFORMS)
        .json()
        .as_array()
        .unwrap()
        .len();

    let empty = send(&server, &admin, "POST", PLATFORMS, &json!({}));
    assert_eq!(empty.status, 400, "{}", empty.body);
    for field in ["name", "category", "type", "protocols"] {
        assert!(empty.json()[field].is_array(), "{field}: {}", empty.body);
    }
    for (body, field) in [
        (
            json!({"name": "x", "category": "host", "type": "mysql",
                   "protocols": [{"name": "ssh", "port": 22}]}),
            "type",
        ),
        (
            json!({"name": "x", "category": "host", "type": "linux",
                   "protocols": [{"name": "ssh", "port": 70000}]}),
            "protocols",
        ),
        (
            json!({"name": "x", "category": "host", "type": "linux",
                   "protocols": [{"name": "ssh", "port": 22, "primary": true},
                                 {"name": "sftp", "port": 22, "primary": true}]}),
            "protocols",
        ),
        (
            json!({"name": "x", "category": "host", "type": "linux",
                   "protocols": [{"name": "ssh", "port": 22}, {"name": "ssh", "port": 23}]}),
            "protocols",
        ),
        (
            json!({"name": "x", "category": "host", "type": "linux", "charset": "latin1",
                   "protocols": [{"name": "ssh", "port": 22}]}),
            "charset",
        ),
        (
            json!({"name": "x", "category": "host", "type": "linux", "colour": "red",
                   "protocols": [{"name": "ssh", "port": 22}]}),
            "colour",
        ),
    ] {
        let r = send(&server, &admin, "POST", PLATFORMS, &body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.json()[field].is_array(), "{body}: {}", r.body);
    }
    // A custom category takes any type.
    let custom = ok(
        &send(
            &server,
            &admin,
            "POST",
            PLATFORMS,
            &json!({"name": "Mainframe", "category": "custom", "type": "zos",
                    "protocols": ["telnet/23"],
                    "custom_fields": [{"name": "lpar", "label": "LPAR", "type": "str"}]}),
        ),
        201,
    );
    assert_eq!(custom["protocols"][0]["port"], 23);
    assert_eq!(custom["custom_fields"][0]["name"], "lpar");
    let id = custom["id"].as_i64().unwrap();

    for role in ["user", "auditor"] {
        let name = format!("p{role}");
        let pw = create_user(dir.path(), &db, &name, role);
        let t = token(&server, &name, &pw);
        for (method, path) in [
            ("POST", PLATFORMS.to_owned()),
            ("PATCH", format!("{PLATFORMS}{id}/")),
            ("DELETE", format!("{PLATFORMS}{id}/")),
        ] {
            let r = send(
                &server,
                &t,
                method,
                &path,
                &json!({"name": "y", "category": "host", "type": "linux",
                        "protocols": [{"name": "ssh", "port": 22}]}),
            );
            assert_eq!(r.status, 403, "{role} {method} {path}: {}", r.body);
        }
    }
    let after = get(&server, &admin, PLATFORMS)
        .json()
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before + 1);
}

async fn platform_label_bindings(url: &str) -> i64 {
    let mut f = Fixture::new(url).await;
    sqlx::query_scalar("SELECT COUNT(*) FROM labeled_resources WHERE res_type = 'assets.platform'")
        .fetch_one(&mut f.conn)
        .await
        .unwrap()
}

fn label_pairs(p: &Value) -> Vec<String> {
    let mut v: Vec<String> = p["labels"]
        .as_array()
        .unwrap_or_else(|| panic!("labels: {p}"))
        .iter()
        .map(|l| {
            format!(
                "{}:{}",
                l["name"].as_str().unwrap(),
                l["value"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn platform_automation_and_labels_are_stored_merged_checked_and_shown() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);

        // The methods a platform may name: the built-in ones at least.
        let methods = ok(
            &get(
                &server,
                &admin,
                "/api/v1/assets/platform-automation-methods/",
            ),
            200,
        );
        let ping = methods
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "portcullis-linux/ping")
            .unwrap_or_else(|| panic!("{methods}"));
        assert_eq!(ping["method"], "ping");
        assert_eq!(ping["builtin"], true);

        let p = ok(
            &send(
                &server,
                &admin,
                "POST",
                PLATFORMS,
                &json!({"name": "Automated", "category": "host", "type": "linux",
                        "protocols": [{"name": "ssh", "port": 22}],
                        "automation": {"ansible_enabled": true,
                                       "ping_enabled": true,
                                       "ping_method": "portcullis-linux/ping",
                                       "ping_params": {"timeout": "5"},
                                       "change_secret_enabled": true,
                                       "change_secret_method": "portcullis-linux/change-secret"},
                        "labels": ["env:prod"]}),
            ),
            201,
        );
        let id = p["id"].as_i64().unwrap();
        let path = format!("{PLATFORMS}{id}/");
        let a = &p["automation"];
        assert_eq!(a["ansible_enabled"], true, "{p}");
        assert_eq!(a["ping_enabled"], true);
        assert_eq!(a["ping_method"], "portcullis-linux/ping");
        assert_eq!(a["ping_params"], json!({"timeout": "5"}));
        assert_eq!(a["change_secret_method"], "portcullis-linux/change-secret");
        assert_eq!(a["push_account_enabled"], false);
        assert_eq!(a["push_account_method"], "");
        assert_eq!(label_pairs(&p), ["env:prod"]);

        // Read back: detail and list show the same.
        let shown = ok(&get(&server, &admin, &path), 200);
        assert_eq!(shown["automation"], p["automation"]);
        assert_eq!(label_pairs(&shown), ["env:prod"]);
        let listed = ok(
            &get(&server, &admin, &format!("{PLATFORMS}?name=Automated")),
            200,
        );
        assert_eq!(label_pairs(&listed[0]), ["env:prod"], "{listed}");

        // A partial update merges: ping stays on, labels not sent stay.
        let changed = ok(
            &send(
                &server,
                &admin,
                "PATCH",
                &path,
                &json!({"automation": {"verify_account_enabled": true,
                                       "verify_account_method": "portcullis-linux",
                                       "ping_enabled": false}}),
            ),
            200,
        );
        let a = &changed["automation"];
        assert_eq!(a["ping_enabled"], false, "{changed}");
        assert_eq!(a["ping_method"], "portcullis-linux/ping");
        assert_eq!(a["verify_account_enabled"], true);
        assert_eq!(a["verify_account_method"], "portcullis-linux");
        assert_eq!(a["change_secret_enabled"], true);
        assert_eq!(label_pairs(&changed), ["env:prod"]);
        let relabeled = ok(
            &send(
                &server,
                &admin,
                "PATCH",
                &path,
                &json!({"labels": ["tier:db", {"name": "env", "value": "prod"}]}),
            ),
            200,
        );
        assert_eq!(label_pairs(&relabeled), ["env:prod", "tier:db"]);
        assert_eq!(relabeled["automation"], changed["automation"]);

        // Bad input: 400 with the field errors, nothing written.
        let before = ok(&get(&server, &admin, &path), 200);
        for (body, field, inner) in [
            (
                json!({"automation": {"bogus_enabled": true}}),
                "automation",
                Some("bogus_enabled"),
            ),
            (
                json!({"automation": {"ping_enabled": "yes"}}),
                "automation",
                Some("ping_enabled"),
            ),
            (
                json!({"automation": {"ping_method": "nope/ping"}}),
                "automation",
                Some("ping_method"),
            ),
            (
                json!({"automation": {"change_secret_method": "portcullis-linux/ping"}}),
                "automation",
                Some("change_secret_method"),
            ),
            (
                json!({"automation": {"ping_params": [1]}}),
                "automation",
                Some("ping_params"),
            ),
            (
                json!({"automation": "on"}),
                "automation",
                Some("non_field_errors"),
            ),
            (
                json!({"comment": "changed", "automation": {"ping_enabled": true,
                                                            "push_account_enabled": 1}}),
                "automation",
                Some("push_account_enabled"),
            ),
            (
                json!({"comment": "changed", "labels": "env:dev"}),
                "labels",
                None,
            ),
            (
                json!({"comment": "changed",
                       "labels": ["00000000-0000-4000-8000-00000000abcd"]}),
                "labels",
                None,
            ),
        ] {
            let r = send(&server, &admin, "PATCH", &path, &body);
            assert_eq!(r.status, 400, "{body}: {}", r.body);
            let errors = &r.json()[field];
            match inner {
                Some(k) => assert!(errors[k].is_array(), "{body}: {}", r.body),
                None => assert!(errors.is_array(), "{body}: {}", r.body),
            }
            assert_eq!(ok(&get(&server, &admin, &path), 200), before, "{body}");
        }
        let count = get(&server, &admin, PLATFORMS)
            .json()
            .as_array()
            .unwrap()
            .len();
        let r = send(
            &server,
            &admin,
            "POST",
            PLATFORMS,
            &json!({"name": "Refused", "category": "host", "type": "linux",
                    "protocols": [{"name": "ssh", "port": 22}],
                    "automation": {"ping_method": "portcullis-linux/gather-accounts"},
                    "labels": ["fresh:label"]}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            r.json()["automation"]["ping_method"].is_array(),
            "{}",
            r.body
        );
        assert_eq!(
            get(&server, &admin, PLATFORMS)
                .json()
                .as_array()
                .unwrap()
                .len(),
            count
        );
        let fresh = ok(
            &get(&server, &admin, "/api/v1/labels/labels/?name=fresh"),
            200,
        );
        assert_eq!(fresh, json!([]), "no label created by a refused write");

        // The per-platform automation endpoint takes the same method names.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{path}automation/"),
            &json!({"ping_method": "nope/ping"}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["ping_method"].is_array(), "{}", r.body);
        let r = ok(
            &send(
                &server,
                &admin,
                "PATCH",
                &format!("{path}automation/"),
                &json!({"ping_method": "portcullis-linux/ping", "ping_enabled": true}),
            ),
            200,
        );
        assert_eq!(r["ping_enabled"], true, "{r}");

        // Deleting the platform removes its label bindings.
        assert_eq!(platform_label_bindings(&db.url).await, 2);
        let gone = send(&server, &admin, "DELETE", &path, &json!({}));
        assert_eq!(gone.status, 204, "{}", gone.body);
        assert_eq!(platform_label_bindings(&db.url).await, 0);

        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn an_installed_plugins_methods_are_listed_and_accepted_by_platform_writes() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        // The Linux plugin under another id (installed only, never enabled: the id in the
        // component is not checked before enable).
        let src = crate::automation::linux_plugin_dir();
        let work = dir.path().join("acme");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::copy(src.join("plugin.wasm"), work.join("plugin.wasm")).unwrap();
        let manifest = std::fs::read_to_string(src.join("plugin.toml"))
            .unwrap()
            .replace("id = \"portcullis-linux\"", "id = \"acme-linux\"");
        std::fs::write(work.join("plugin.toml"), manifest).unwrap();
        let bundle = dir.path().join("acme.tar.gz");
        let status = std::process::Command::new("tar")
            .arg("-C")
            .arg(&work)
            .arg("-czf")
            .arg(&bundle)
            .args(["plugin.toml", "plugin.wasm"])
            .status()
            .unwrap();
        assert!(status.success());
        let body = json!({"name": "Acme", "category": "host", "type": "linux",
                          "protocols": [{"name": "ssh", "port": 22}],
                          "automation": {"ping_enabled": true, "ping_method": "acme-linux/ping"}});
        // Not installed yet: an unknown method.
        let r = send(&server, &admin, "POST", PLATFORMS, &body);
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(
            r.json()["automation"]["ping_method"].is_array(),
            "{}",
            r.body
        );

        ok(
            &send(
                &server,
                &admin,
                "PATCH",
                "/api/v1/plugins/settings/",
                &json!({"allow_unsigned": true}),
            ),
            200,
        );
        let installed = crate::automation::upload(
            &server,
            &admin,
            "/api/v1/plugins/plugins/",
            &std::fs::read(&bundle).unwrap(),
        );
        assert_eq!(installed.status, 201, "{}", installed.body);

        let methods = ok(
            &get(
                &server,
                &admin,
                "/api/v1/assets/platform-automation-methods/",
            ),
            200,
        );
        let ping = methods
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "acme-linux/ping")
            .unwrap_or_else(|| panic!("{methods}"));
        assert_eq!(ping["builtin"], false);
        assert_eq!(ping["plugin"], "acme-linux");
        let p = ok(&send(&server, &admin, "POST", PLATFORMS, &body), 201);
        assert_eq!(p["automation"]["ping_method"], "acme-linux/ping", "{p}");
        // It offers no gather_facts method.
        let r = send(
            &server,
            &admin,
            "PATCH",
            &format!("{PLATFORMS}{}/", p["id"]),
            &json!({"automation": {"gather_facts_method": "acme-linux/gather-facts"}}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        drop(server);
        db.drop_db().await;
    }
}

/// A request in a given org (`X-JMS-ORG`); `ROOT` is the global view.
fn in_org(
    server: &crate::support::Server,
    token: &str,
    org: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> crate::support::HttpResponse {
    let auth = format!("Bearer {token}");
    crate::support::http(
        &server.base,
        method,
        path,
        &[("Authorization", &auth), ("X-JMS-ORG", org)],
        body,
    )
    .unwrap()
}

/// In the root (global) view every org's labels are listed, so a platform (which belongs to
/// no org) takes labels of any org there; each binding stays in its label's org, so that org
/// shows it and the others do not, and the root view's write replaces the bindings of every
/// org. In an org, a label of another org is still refused.
#[tokio::test]
async fn platform_labels_of_another_org_from_the_root_view() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let be = db.backend;
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/orgs/orgs/",
            &json!({"name": "Team B"}),
        );
        let b = ok(&r, 201)["id"].as_str().unwrap().to_owned();
        let r = in_org(
            &server,
            &admin,
            &b,
            "POST",
            "/api/v1/labels/labels/",
            Some(&json!({"name": "team", "value": "b"})),
        );
        let label = ok(&r, 201)["id"].as_str().unwrap().to_owned();
        let p = ok(
            &send(
                &server,
                &admin,
                "POST",
                PLATFORMS,
                &json!({"name": "Shared", "category": "host", "type": "linux",
                        "protocols": [{"name": "ssh", "port": 22}], "labels": ["env:prod"]}),
            ),
            201,
        );
        let path = format!("{PLATFORMS}{}/", p["id"]);

        // From Default, Team B's label does not exist.
        let r = send(&server, &admin, "PATCH", &path, &json!({"labels": [label]}));
        assert_eq!(r.status, 400, "{be}: {}", r.body);
        assert!(r.json()["labels"].is_array(), "{}", r.body);

        // From the root view it does; the root view's write replaces every org's labels.
        let r = in_org(
            &server,
            &admin,
            "ROOT",
            "PATCH",
            &path,
            Some(&json!({"labels": [label, "tier:web"]})),
        );
        assert_eq!(r.status, 200, "{be}: {}", r.body);
        assert_eq!(label_pairs(&r.json()), ["team:b", "tier:web"], "{be}");
        let shown = |org: &str| {
            let r = in_org(&server, &admin, org, "GET", &path, None);
            label_pairs(&ok(&r, 200))
        };
        assert_eq!(shown("ROOT"), ["team:b", "tier:web"]);
        assert_eq!(shown(&b), ["team:b"], "{be}: kept in Team B");
        assert_eq!(
            shown("default"),
            ["tier:web"],
            "{be}: a new pair goes to Default"
        );
        let r = in_org(
            &server,
            &admin,
            "ROOT",
            "PATCH",
            &path,
            Some(&json!({"labels": []})),
        );
        assert_eq!(r.status, 200, "{be}: {}", r.body);
        assert!(shown("ROOT").is_empty());
        assert_eq!(platform_label_bindings(&db.url).await, 0);
        drop(server);
        db.drop_db().await;
    }
}
