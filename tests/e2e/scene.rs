//! The API calls that put an SSH target in front of a user: a host asset pointing at a test
//! `sshd`, a password account on it, and a permission granting users access. Many gateway
//! and web tests build this same scene before exercising what they are about; keeping the
//! exact request bodies in one place means a change to the asset/account/permission API
//! shape is made once, not in every module.

use crate::client::{get, send};
use crate::sshd::Sshd;
use crate::support::{Server, id_of, ok};
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
