//! The API calls that put an SSH target in front of a user: a host asset pointing at a test
//! `sshd`, a password account on it, and a permission granting users access; and the users
//! and review ACLs the browser tests seed around it. Many gateway and web tests build this
//! same scene before exercising what they are about; keeping the exact request bodies in one
//! place means a change to the asset/account/permission/user/ACL API shape is made once, not
//! in every module.

use crate::client::{create_user, get, login, send};
use crate::sshd::Sshd;
use crate::support::{Server, TestDb, id_of, ok};
use serde_json::{Value, json};

/// The id of user `name`: the users detail route takes a username as well as an id, which is
/// how tests that made users by name (`create_user`) find the ids that permissions name.
/// Asserts 200.
pub fn user_id(server: &Server, admin: &str, name: &str) -> String {
    id_of(&ok(
        &get(server, admin, &format!("/api/v1/users/users/{name}/")),
        200,
    ))
}

/// Creates host asset `name` at 127.0.0.1 (platform 1, Linux) whose one `ssh` protocol is
/// `sshd`'s port, as the admin token `admin`; returns the asset id. Asserts 201.
pub fn add_ssh_host(server: &Server, admin: &str, name: &str, sshd: &Sshd) -> String {
    id_of(&ok(
        &send(
            server,
            admin,
            "POST",
            "/api/v1/assets/hosts/",
            &json!({"name": name, "address": "127.0.0.1", "platform": 1,
                    "protocols": [{"name": "ssh", "port": sshd.port()}]}),
        ),
        201,
    ))
}

/// Creates account `name` on `asset` holding `sshd`'s own user and password, so a
/// connection through the gateway really logs in to the target; returns the account id.
/// Asserts 201.
pub fn add_sshd_account(
    server: &Server,
    admin: &str,
    asset: &str,
    name: &str,
    sshd: &Sshd,
) -> String {
    id_of(&ok(
        &send(
            server,
            admin,
            "POST",
            "/api/v1/accounts/accounts/",
            &json!({"asset": asset, "name": name, "username": sshd.user(),
                    "secret_type": "password", "secret": sshd.password()}),
        ),
        201,
    ))
}

/// Creates asset permission `name` giving `users` the `actions` on `assets` through every
/// account (`@ALL`). Asserts 201 and returns the created permission, for the tests that go on
/// to change or delete it.
pub fn grant(
    server: &Server,
    admin: &str,
    name: &str,
    users: &[&str],
    assets: &[&str],
    actions: &[&str],
) -> Value {
    ok(
        &send(
            server,
            admin,
            "POST",
            "/api/v1/perms/asset-permissions/",
            &json!({"name": name, "users": users, "assets": assets,
                    "accounts": ["@ALL"], "actions": actions}),
        ),
        201,
    )
}

/// Grants the token's own user `all` on `assets` through permission `name` (as [`grant`]
/// does) and returns that user's profile, for tests whose administrator opens the sessions
/// (its `id` names it in ACLs).
pub fn grant_self(server: &Server, admin: &str, name: &str, assets: &[&str]) -> Value {
    let me = ok(&get(server, admin, "/api/v1/users/profile/"), 200);
    grant(
        server,
        admin,
        name,
        &[me["id"].as_str().unwrap()],
        assets,
        &["all"],
    );
    me
}

/// Creates ACL `kind` (the path below `/api/v1/acls/`, e.g. `login-asset-acls`,
/// `command-filter-acls`) named `name` with action `review`, sending what it matches to
/// user `reviewer` (an id) for approval; `fields` says what it matches. Asserts 201 and
/// returns the created ACL.
pub fn review_acl(
    server: &Server,
    admin: &str,
    kind: &str,
    name: &str,
    reviewer: &Value,
    fields: Value,
) -> Value {
    let mut body = json!({"name": name, "action": "review", "accounts": ["@ALL"],
                          "reviewers": [{"id": reviewer}]});
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().cloned().unwrap_or_default());
    ok(
        &send(
            server,
            admin,
            "POST",
            &format!("/api/v1/acls/{kind}/"),
            &body,
        ),
        201,
    )
}

/// Creates user `username` through the API: display name `name`, email
/// `<username>@example.com`, `password`, no password change asked at the next sign-in, and
/// the `extra` fields (which may override those). Asserts 201 and returns the created user.
pub fn add_user(
    server: &Server,
    admin: &str,
    name: &str,
    username: &str,
    password: &str,
    extra: Value,
) -> Value {
    let mut body = json!({"name": name, "username": username,
                          "email": format!("{username}@example.com"), "password": password,
                          "need_update_password": false});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    ok(
        &send(server, admin, "POST", "/api/v1/users/users/", &body),
        201,
    )
}

/// Creates a system administrator who also administers the Default org (whose objects the
/// console lists), as [`add_user`] does. Returns the created user.
pub fn add_admin_user(
    server: &Server,
    admin: &str,
    name: &str,
    username: &str,
    password: &str,
) -> Value {
    add_user(
        server,
        admin,
        name,
        username,
        password,
        json!({"system_roles": ["00000000-0000-0000-0000-000000000001"],
               "org_roles": ["00000000-0000-0000-0000-000000000005"]}),
    )
}

/// Creates user `username` with the CLI ([`create_user`]) and locks them out by failed
/// logins (the right password is then refused with `block_login`); returns the password.
pub fn locked_user(server: &Server, data: &std::path::Path, db: &TestDb, username: &str) -> String {
    let password = create_user(data, db, username, "user");
    for _ in 0..7 {
        assert_eq!(login(server, username, "not-it").status, 400);
    }
    assert_eq!(
        login(server, username, &password).json()["error"],
        "block_login"
    );
    password
}
