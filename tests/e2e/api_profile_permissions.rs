//! `GET /api/v1/users/profile/permissions/` (reference §2.10): the caller's permission codes in
//! the current org and the orgs of each UI area, for the web UI to decide what to show.

use crate::client::*;
use crate::support::{TestDb, http, ok};
use serde_json::Value;

const PATH: &str = "/api/v1/users/profile/permissions/";

fn codes(v: &Value) -> Vec<String> {
    v["perms"]
        .as_array()
        .unwrap_or_else(|| panic!("no perms: {v}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

fn org_names(v: &Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap_or_else(|| panic!("no {field}: {v}"))
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn profile_permissions_list_the_callers_codes_and_areas() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());

    let admin = token(&server, "admin", ADMIN_PASSWORD);
    let a = ok(&get(&server, &admin, PATH), 200);
    assert_eq!(a["username"], "admin");
    assert!(a["id"].as_str().is_some(), "{a}");
    let perms = codes(&a);
    for code in [
        "assets.add_asset",
        "users.add_user",
        "rbac.view_console",
        "audits.view_operatelog",
        "perms.view_myassets",
    ] {
        assert!(perms.contains(&code.to_owned()), "admin lacks {code}: {a}");
    }
    assert!(
        perms.iter().all(|c| !c.contains('*')),
        "concrete codes only"
    );
    let mut sorted = perms.clone();
    sorted.sort();
    assert_eq!(perms, sorted);
    for field in ["console_orgs", "audit_orgs", "workbench_orgs", "pam_orgs"] {
        let names = org_names(&a, field);
        assert!(names.contains(&"Default".to_owned()), "{field}: {a}");
        assert!(names.contains(&"GLOBAL".to_owned()), "{field}: {a}");
    }
    assert_eq!(a["console_orgs"][0]["is_root"], true, "{a}");

    let pw = create_user(dir.path(), &db, "worker", "user");
    let user = token(&server, "worker", &pw);
    let u = ok(&get(&server, &user, PATH), 200);
    assert_eq!(u["username"], "worker");
    let perms = codes(&u);
    for code in [
        "perms.view_myassets",
        "rbac.view_workbench",
        "users.view_profile",
    ] {
        assert!(perms.contains(&code.to_owned()), "user lacks {code}: {u}");
    }
    for code in [
        "assets.view_asset",
        "users.add_user",
        "rbac.view_console",
        "rbac.view_audit",
    ] {
        assert!(!perms.contains(&code.to_owned()), "user has {code}: {u}");
    }
    assert_eq!(org_names(&u, "console_orgs"), Vec::<String>::new());
    assert_eq!(org_names(&u, "audit_orgs"), Vec::<String>::new());
    assert_eq!(org_names(&u, "workbench_orgs"), ["Default"]);

    let pw = create_user(dir.path(), &db, "watcher", "auditor");
    let auditor = token(&server, "watcher", &pw);
    let w = ok(&get(&server, &auditor, PATH), 200);
    let perms = codes(&w);
    assert!(perms.contains(&"audits.view_operatelog".to_owned()), "{w}");
    assert!(perms.contains(&"terminal.view_session".to_owned()), "{w}");
    assert!(!perms.contains(&"assets.add_asset".to_owned()), "{w}");
    assert!(
        !perms.contains(&"terminal.terminate_session".to_owned()),
        "{w}"
    );
    assert_eq!(org_names(&w, "console_orgs"), Vec::<String>::new());
    assert!(
        org_names(&w, "audit_orgs").contains(&"Default".to_owned()),
        "{w}"
    );

    let anon = http(&server.base, "GET", PATH, &[], None).unwrap();
    assert_eq!(anon.status, 401, "{}", anon.body);
}
