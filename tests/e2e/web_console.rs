//! The administrator's console in a real browser (`tests/web/console.spec.mjs`): a node made in
//! the asset tree, a Linux host with ssh and a password account made in it through the asset
//! form, an asset permission made through its form, a duplicate name refused in words, and the
//! language switch. Afterwards the API must show exactly what the browser chose: the asset's
//! address, platform, port and node, its account, and a permission that really grants the
//! user that account with connect and copy only.

use crate::client::{ADMIN_PASSWORD, get, send, start, token};
use crate::support::{TestDb, id_of, ok, rows};
use crate::web_ui::{assert_screenshots, remove_screenshots, run_spec};
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

/// The value of a choice (`{"value", "label"}`) or a plain string.
fn value_of(v: &Value) -> &str {
    v["value"].as_str().or(v.as_str()).unwrap_or_default()
}

/// The sorted values of a list of choices.
fn values(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| a.iter().map(|x| value_of(x).to_owned()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn the_console_creates_a_node_an_asset_and_a_permission_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);

    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let grantee = format!("grantee.{tag}");
    let grantee_password = "Grantee-Pass-42";
    let user = ok(
        &send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/users/",
            &json!({"name": format!("Grantee {tag}"), "username": grantee,
                    "email": format!("{grantee}@example.com"), "password": grantee_password,
                    "need_update_password": false}),
        ),
        201,
    );
    let node = format!("web-node-{tag}");
    let asset = format!("web-host-{tag}");
    let address = "10.20.30.40";
    let port = 2222;
    let account = format!("ops{tag}");
    let secret = format!("Secret-{tag}-x");
    let perm = format!("web-perm-{tag}");

    let shots = [
        "console-users.png",
        "console-assets.png",
        "console-asset-form.png",
        "console-perms.png",
        "console-zh.png",
    ];
    remove_screenshots(&shots);
    run_spec(
        "console.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_CON_GRANTEE", grantee.clone()),
            ("PC_CON_NODE", node.clone()),
            ("PC_CON_ASSET", asset.clone()),
            ("PC_CON_ADDRESS", address.into()),
            ("PC_CON_PORT", port.to_string()),
            ("PC_CON_ACCOUNT", account.clone()),
            ("PC_CON_SECRET", secret.clone()),
            ("PC_CON_PERM", perm.clone()),
        ],
        Duration::from_secs(300),
    );
    assert_screenshots(&shots);

    // The node, a child of the org's root.
    let nodes = rows(&get(
        &server,
        &admin,
        &format!("/api/v1/assets/nodes/?search={node}"),
    ));
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0]["value"], node.as_str());
    let full = nodes[0]["full_value"].as_str().unwrap_or_default();
    assert!(
        full.ends_with(&format!("/{node}")) && full.matches('/').count() == 2,
        "{full}"
    );
    let node_id = id_of(&nodes[0]);

    // One asset of that name (the duplicate was refused), with the form's values, in the node.
    let assets = rows(&get(
        &server,
        &admin,
        &format!("/api/v1/assets/assets/?search={asset}"),
    ));
    assert_eq!(assets.len(), 1, "{assets:?}");
    let a = &assets[0];
    let asset_id = id_of(a);
    assert_eq!(a["name"], asset.as_str());
    assert_eq!(a["address"], address);
    assert_eq!(a["platform"]["name"], "Linux", "{a}");
    assert_eq!(value_of(&a["category"]), "host");
    let protocols = a["protocols"].as_array().cloned().unwrap_or_default();
    assert!(
        protocols
            .iter()
            .any(|p| p["name"] == "ssh" && p["port"] == port),
        "ssh on {port}: {protocols:?}"
    );
    assert_eq!(
        a["nodes"]
            .as_array()
            .map(|n| n.iter().map(id_of).collect::<Vec<_>>()),
        Some(vec![node_id.clone()]),
        "{a}"
    );
    let in_node = rows(&get(
        &server,
        &admin,
        &format!("/api/v1/assets/assets/?node_id={node_id}"),
    ));
    assert_eq!(
        in_node.iter().map(id_of).collect::<Vec<_>>(),
        std::slice::from_ref(&asset_id)
    );

    // Its one account, with a secret that is never shown.
    let accounts = rows(&get(
        &server,
        &admin,
        &format!("/api/v1/accounts/accounts/?asset={asset_id}"),
    ));
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let acc = &accounts[0];
    assert_eq!(acc["username"], account.as_str());
    assert_eq!(acc["name"], account.as_str());
    assert_eq!(value_of(&acc["secret_type"]), "password");
    assert_eq!(acc["has_secret"], true);
    assert!(!acc.to_string().contains(&secret), "{acc}");

    // The permission as chosen in the form.
    let perms = rows(&get(
        &server,
        &admin,
        &format!("/api/v1/perms/asset-permissions/?search={perm}"),
    ));
    assert_eq!(perms.len(), 1, "{perms:?}");
    let p = ok(
        &get(
            &server,
            &admin,
            &format!("/api/v1/perms/asset-permissions/{}/", id_of(&perms[0])),
        ),
        200,
    );
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        x["id"]
                            .as_str()
                            .or(x.as_str())
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(ids(&p["users"]), [id_of(&user)], "{p}");
    assert_eq!(ids(&p["assets"]), std::slice::from_ref(&asset_id), "{p}");
    assert_eq!(p["accounts"], json!([account]), "{p}");
    assert_eq!(values(&p["actions"]), ["connect", "copy"], "{p}");
    assert_eq!(p["is_active"], true);

    // And it grants what it says: the user sees the asset with that account, connect and copy.
    let as_user = token(&server, &grantee, grantee_password);
    let granted = ok(
        &get(
            &server,
            &as_user,
            &format!("/api/v1/perms/users/self/assets/{asset_id}/"),
        ),
        200,
    );
    let permed = granted["permed_accounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(permed.len(), 1, "{granted}");
    assert_eq!(permed[0]["username"], account.as_str());
    assert_eq!(
        values(&permed[0]["actions"]),
        ["connect", "copy"],
        "{granted}"
    );
    let _ = server.stop();
}
