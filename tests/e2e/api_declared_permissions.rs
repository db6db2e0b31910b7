//! The permission each operation of the OpenAPI document declares (`x-permissions`, from
//! `host/api/src/access/table.rs`) is the one the server enforces: a user whose roles grant
//! everything but exactly that permission gets 403, and the same user with it granted does not.
//! Driven from the served document, so a declaration that drifts from the check fails here.

use crate::client::*;
use crate::support::{TestDb, ok};
use serde_json::{Value, json};

/// The operations probed: no path parameter (nothing to look up first), one declared code,
/// and a method whose call with an empty body changes nothing broadly (GET lists and reads,
/// POST creates that refuse `{}` or make one stray object).
fn probes(doc: &Value) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.contains('{') {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            if !matches!(method.as_str(), "get" | "post") {
                continue;
            }
            let x = &op["x-permissions"];
            let kind = x["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: {op}"));
            let codes = x["codes"].as_array().unwrap();
            if matches!(kind, "org" | "system") && codes.len() == 1 {
                out.push((
                    method.to_uppercase(),
                    path.clone(),
                    kind.to_owned(),
                    codes[0].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_declared_permission_is_the_one_enforced() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);

    let doc = ok(&get(&server, &admin, "/api/swagger.json"), 200);
    let probes = probes(&doc);
    assert!(
        probes.len() > 60,
        "only {} operations to probe",
        probes.len()
    );

    let pw = create_user(dir.path(), &db, "probe", "user");
    let probe = token(&server, "probe", &pw);
    let probe_id = ok(&get(&server, &probe, "/api/v1/users/profile/"), 200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Codes the built-in User roles already grant cannot be taken away by another role.
    let own: Vec<String> = ok(
        &get(&server, &probe, "/api/v1/users/profile/permissions/"),
        200,
    )["perms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();

    // One custom role per scope, bound once; its permissions change per probe.
    let mut roles = std::collections::HashMap::new();
    for (scope, roles_path, bindings_path) in [
        (
            "org",
            "/api/v1/rbac/org-roles/",
            "/api/v1/rbac/org-role-bindings/",
        ),
        (
            "system",
            "/api/v1/rbac/system-roles/",
            "/api/v1/rbac/system-role-bindings/",
        ),
    ] {
        let r = send(
            &server,
            &admin,
            "POST",
            roles_path,
            &json!({"name": format!("Probe-{scope}"), "permissions": []}),
        );
        let role = ok(&r, 201)["id"].as_str().unwrap().to_owned();
        let r = send(
            &server,
            &admin,
            "POST",
            bindings_path,
            &json!({"user": probe_id, "role": role}),
        );
        ok(&r, 201);
        roles.insert(scope, format!("{roles_path}{role}/"));
    }
    let grant = |scope: &str, patterns: Value| {
        let r = send(
            &server,
            &admin,
            "PATCH",
            &roles[scope],
            &json!({"permissions": patterns}),
        );
        ok(&r, 200);
    };

    let mut checked = 0;
    let mut wrong = Vec::new();
    for (method, path, kind, code) in &probes {
        if own.contains(code) {
            continue;
        }
        let call = || {
            if method == "GET" {
                get(&server, &probe, path)
            } else {
                send(&server, &probe, method, path, &json!({}))
            }
        };
        // Everything but the declared code: refused.
        grant(kind, json!(["*", format!("!{code}")]));
        let without = call();
        // With it: past the permission check (whatever the empty body then earns).
        grant(kind, json!(["*"]));
        let with = call();
        grant(kind, json!([]));
        if without.status != 403 || matches!(with.status, 401 | 403) {
            wrong.push(format!(
                "{method} {path} ({kind} {code}): without {} with {} {}",
                without.status,
                with.status,
                with.body.chars().take(120).collect::<String>()
            ));
        }
        checked += 1;
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked > 50, "only {checked} operations checked");
    let _ = server.stop();
}
