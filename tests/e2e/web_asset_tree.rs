//! The asset page's node and type trees in a real browser (`tests/web/asset_tree.spec.mjs`):
//! with and without sub-nodes, rename, delete (an empty node after confirming; one holding
//! assets refused in words), moving and adding assets to another node, and the type tree
//! filtering the list. Afterwards the API must show what the browser did: the renamed node,
//! the deleted one gone, the refused one kept, and each asset in the nodes it was put in.

use crate::client::{ADMIN_PASSWORD, get, send, start, token};
use crate::support::{TestDb, id_of, ok, rows};
use crate::web_ui::{assert_screenshots, remove_screenshots, run_spec};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

#[test]
fn the_asset_trees_rename_delete_move_and_filter_in_a_real_browser() {
    let db = TestDb::sqlite();
    let data = tempfile::tempdir().unwrap();
    let server = start(&db, data.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let tag = &Uuid::new_v4().simple().to_string()[..8];
    let n = |s: &str| format!("nt-{tag}-{s}");
    let (p, c) = (n("p"), n("c"));
    let asset = |path: &str, kind: &str, body: serde_json::Value| {
        let mut body = body;
        body["nodes_display"] = json!([path]);
        id_of(&ok(
            &send(
                &server,
                &admin,
                "POST",
                &format!("/api/v1/assets/{kind}/"),
                &body,
            ),
            201,
        ))
    };
    let a1 = asset(
        &format!("/Default/{p}"),
        "hosts",
        json!({"name": n("a1"), "address": "10.81.0.1", "platform": 1,
                "protocols": [{"name": "ssh", "port": 22}]}),
    );
    let a2 = asset(
        &format!("/Default/{p}/{c}"),
        "hosts",
        json!({"name": n("a2"), "address": "10.81.0.2", "platform": 1,
                "protocols": [{"name": "ssh", "port": 22}]}),
    );
    asset(
        &format!("/Default/{p}"),
        "databases",
        json!({"name": n("db"), "address": "10.81.0.3", "platform": 40,
                "protocols": [{"name": "mysql"}], "db_name": "app"}),
    );
    for leaf in ["empty", "move", "old"] {
        ok(
            &send(
                &server,
                &admin,
                "POST",
                "/api/v1/assets/nodes/",
                &json!({"value": n(leaf)}),
            ),
            201,
        );
    }
    let shots = [
        "tree-with-descendants.png",
        "tree-without-descendants.png",
        "tree-renamed.png",
        "tree-delete-confirm.png",
        "tree-delete-refused.png",
        "tree-moved.png",
        "tree-type-database.png",
        "tree-type-mysql.png",
    ];
    remove_screenshots(&shots);
    run_spec(
        "asset_tree.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("PC_TREE_TAG", tag.to_owned()),
        ],
        Duration::from_secs(240),
    );
    assert_screenshots(&shots);

    let node = |value: &str| {
        rows(&get(
            &server,
            &admin,
            &format!("/api/v1/assets/nodes/?value={value}"),
        ))
    };
    assert!(node(&n("old")).is_empty(), "renamed away");
    assert_eq!(node(&n("renamed")).len(), 1);
    assert!(node(&n("empty")).is_empty(), "deleted");
    assert_eq!(node(&p).len(), 1, "the node holding assets is kept");
    let nodes_of = |id: &str| {
        let a = ok(
            &get(&server, &admin, &format!("/api/v1/assets/assets/{id}/")),
            200,
        );
        let mut v: Vec<String> = a["nodes_display"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(nodes_of(&a1), [format!("/Default/{}", n("move"))], "moved");
    assert_eq!(
        nodes_of(&a2),
        [
            format!("/Default/{}", n("move")),
            format!("/Default/{p}/{c}")
        ],
        "added"
    );
    let _ = server.stop();
}
