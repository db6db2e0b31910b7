use super::*;
use std::collections::BTreeSet;

/// The rule this module exists for: every method of every route the router serves has a
/// declared need, and nothing is declared that the router does not serve.
#[test]
fn every_route_declares_its_need() {
    let routes = crate::openapi::registered(&crate::api_routes());
    let mut served = BTreeSet::new();
    let mut missing = Vec::new();
    for r in &routes {
        for m in &r.methods {
            served.insert((m.as_str().to_owned(), r.path.clone()));
            if need_of(m, &r.path).is_none() {
                missing.push(format!("{m} {}", r.path));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes without a declared need (add them to access/table.rs):\n{}",
        missing.join("\n")
    );
    let mut stale = Vec::new();
    let mut seen = BTreeSet::new();
    for (m, p, _) in DECLARED {
        assert!(seen.insert((*m, *p)), "{m} {p} declared twice");
        if !served.contains(&((*m).to_owned(), (*p).to_owned())) {
            stale.push(format!("{m} {p}"));
        }
    }
    assert!(
        stale.is_empty(),
        "declared but not served:\n{}",
        stale.join("\n")
    );
}

/// The check above is not vacuous: a route left out of the table is found.
#[test]
fn a_route_without_a_declaration_is_found() {
    assert!(need_of(&Method::GET, "/api/v1/users/users/").is_some());
    assert!(need_of(&Method::HEAD, "/api/v1/users/users/").is_some());
    assert!(need_of(&Method::GET, "/api/v1/no/such/route/").is_none());
    assert!(need_of(&Method::OPTIONS, "/api/v1/users/users/").is_none());
}

/// Every code a route names is one the permission catalogue knows, so that wildcard roles
/// expand to it in `/users/profile/permissions/`.
#[test]
fn declared_codes_are_in_the_catalogue() {
    let catalogue = crate::routes::profile_permissions::CATALOGUE;
    for code in all_codes() {
        assert!(catalogue.contains(&code), "{code} is not in CATALOGUE");
        let (app, action) = code.split_once('.').unwrap();
        assert!(!app.is_empty() && !action.is_empty(), "{code}");
    }
}

/// The routes the matrix leans on, spelled out: a change here is a change of who may do what.
#[test]
fn spot_checks_of_the_table() {
    let expect = [
        ("GET", "/api/v1/users/users/", "org", "users.view_user"),
        (
            "DELETE",
            "/api/v1/users/users/{key}/",
            "system",
            "users.delete_user",
        ),
        ("GET", "/api/v1/assets/{kind}/", "org", "assets.view_asset"),
        ("POST", "/api/v1/assets/{kind}/", "org", "assets.add_asset"),
        (
            "GET",
            "/api/v1/acls/login-acls/",
            "system",
            "acls.view_loginacl",
        ),
        (
            "GET",
            "/api/v1/rbac/system-roles/",
            "system",
            "rbac.view_role",
        ),
        ("GET", "/api/v1/rbac/org-roles/", "org", "rbac.view_role"),
        ("POST", "/api/v1/authentication/auth/", "public", ""),
        (
            "GET",
            "/api/v1/perms/users/{user}/assets/",
            "authenticated",
            "",
        ),
        ("GET", "/api/v1/users/profile/", "org", "users.view_profile"),
    ];
    for (m, p, kind, code) in expect {
        let need = need_of(&Method::from_bytes(m.as_bytes()).unwrap(), p)
            .unwrap_or_else(|| panic!("{m} {p} undeclared"));
        assert_eq!(need.kind(), kind, "{m} {p}");
        let codes = need.codes();
        if code.is_empty() {
            assert!(codes.is_empty(), "{m} {p}: {codes:?}");
        } else {
            assert_eq!(codes, vec![code], "{m} {p}");
        }
    }
}
