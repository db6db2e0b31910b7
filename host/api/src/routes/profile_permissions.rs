//! `GET /api/v1/users/profile/permissions/` (reference §2.10): the caller's permission codes
//! in the current org and the orgs where each area of the web UI is open to them, so that the
//! UI shows only what the caller can use. The answer is
//! `{id, username, perms, console_orgs, audit_orgs, workbench_orgs, pam_orgs}`.
//!
//! Roles hold codename *patterns* (`*`, `assets.*`, `!rbac.*`); `perms` lists the concrete
//! codes of [`CATALOGUE`] they grant, as JumpServer lists concrete permissions. Deciding
//! access is still each endpoint's `Caller::require`: this list only informs the UI.

use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use portcullis_core::builtin::{DEFAULT_ORG_ID, ROOT_ORG_ID, SYSTEM_ORG_ID};
use serde_json::{Value, json};
use uuid::Uuid;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/users/profile/permissions/",
        get(profile_permissions),
    )
}

/// Every permission code the server checks, by app. Wildcard role patterns are expanded
/// against this list.
pub(crate) const CATALOGUE: &[&str] = &[
    "accounts.add_account",
    "accounts.add_accounttemplate",
    "accounts.add_gatheredaccount",
    "accounts.change_account",
    "accounts.change_accounttemplate",
    "accounts.delete_account",
    "accounts.delete_accounttemplate",
    "accounts.push_account",
    "accounts.remove_account",
    "accounts.verify_account",
    "accounts.view_account",
    "accounts.view_accountsecret",
    "accounts.view_accounttemplate",
    "accounts.view_gatheredaccount",
    "acls.add_commandfilteracl",
    "acls.add_commandgroup",
    "acls.add_connectmethodacl",
    "acls.add_loginacl",
    "acls.add_loginassetacl",
    "acls.change_commandfilteracl",
    "acls.change_commandgroup",
    "acls.change_connectmethodacl",
    "acls.change_loginacl",
    "acls.change_loginassetacl",
    "acls.delete_commandfilteracl",
    "acls.delete_commandgroup",
    "acls.delete_connectmethodacl",
    "acls.delete_loginacl",
    "acls.delete_loginassetacl",
    "acls.view_commandfilteracl",
    "acls.view_commandgroup",
    "acls.view_connectmethodacl",
    "acls.view_loginacl",
    "acls.view_loginassetacl",
    "assets.add_asset",
    "assets.add_node",
    "assets.add_platform",
    "assets.add_zone",
    "assets.change_asset",
    "assets.change_node",
    "assets.change_platform",
    "assets.change_zone",
    "assets.delete_asset",
    "assets.delete_node",
    "assets.delete_platform",
    "assets.delete_zone",
    "assets.match_asset",
    "assets.match_node",
    "assets.test_assetconnectivity",
    "assets.view_asset",
    "assets.view_automationexecution",
    "assets.view_node",
    "assets.view_platform",
    "assets.view_zone",
    "audits.offline_usersession",
    "audits.view_ftplog",
    "audits.view_operatelog",
    "audits.view_passwordchangelog",
    "audits.view_userloginlog",
    "audits.view_usersession",
    "authentication.add_accesskey",
    "authentication.add_connectiontoken",
    "authentication.add_sshkey",
    "authentication.add_temptoken",
    "authentication.change_accesskey",
    "authentication.change_sshkey",
    "authentication.change_temptoken",
    "authentication.delete_accesskey",
    "authentication.delete_sshkey",
    "authentication.expire_connectiontoken",
    "authentication.reuse_connectiontoken",
    "authentication.view_accesskey",
    "authentication.view_connectiontoken",
    "authentication.view_sshkey",
    "authentication.view_temptoken",
    "labels.add_label",
    "labels.add_labeledresource",
    "labels.change_label",
    "labels.change_labeledresource",
    "labels.delete_label",
    "labels.delete_labeledresource",
    "labels.view_contenttype",
    "labels.view_label",
    "labels.view_labeledresource",
    "ops.view_celerytaskexecution",
    "orgs.add_organization",
    "orgs.change_organization",
    "orgs.delete_organization",
    "orgs.view_alljoinedorg",
    "orgs.view_rootorg",
    "perms.add_assetpermission",
    "perms.change_assetpermission",
    "perms.connect_myassets",
    "perms.delete_assetpermission",
    "perms.view_assetpermission",
    "perms.view_myassets",
    "perms.view_userassets",
    "plugins.add_plugin",
    "plugins.add_trustedkey",
    "plugins.change_plugin",
    "plugins.change_pluginsetting",
    "plugins.delete_plugin",
    "plugins.delete_trustedkey",
    "plugins.view_plugin",
    "plugins.view_pluginsetting",
    "plugins.view_trustedkey",
    "rbac.add_orgrolebinding",
    "rbac.add_role",
    "rbac.add_systemrolebinding",
    "rbac.change_orgrolebinding",
    "rbac.change_role",
    "rbac.change_systemrolebinding",
    "rbac.delete_orgrolebinding",
    "rbac.delete_role",
    "rbac.delete_rolebinding",
    "rbac.delete_systemrolebinding",
    "rbac.view_audit",
    "rbac.view_console",
    "rbac.view_dashboard",
    "rbac.view_filemanager",
    "rbac.view_orgrolebinding",
    "rbac.view_pam",
    "rbac.view_role",
    "rbac.view_rolebinding",
    "rbac.view_systemrolebinding",
    "rbac.view_webterminal",
    "rbac.view_workbench",
    "settings.change_setting",
    "settings.view_setting",
    "terminal.add_session",
    "terminal.change_task",
    "terminal.download_sessionreplay",
    "terminal.monitor_session",
    "terminal.terminate_session",
    "terminal.view_command",
    "terminal.view_commandstorage",
    "terminal.view_replaystorage",
    "terminal.view_session",
    "terminal.view_sessionreplay",
    "terminal.view_sessionsharing",
    "terminal.view_task",
    "tickets.view_ticket",
    "users.add_user",
    "users.add_usergroup",
    "users.change_profile",
    "users.change_user",
    "users.change_usergroup",
    "users.delete_user",
    "users.delete_usergroup",
    "users.match_user",
    "users.view_profile",
    "users.view_user",
    "users.view_usergroup",
];

/// The code that opens each area of the UI, and the answer's field listing its orgs.
const AREAS: [(&str, &str); 4] = [
    ("console_orgs", "rbac.view_console"),
    ("audit_orgs", "rbac.view_audit"),
    ("workbench_orgs", "rbac.view_workbench"),
    ("pam_orgs", "rbac.view_pam"),
];

fn org_stub(id: Uuid, name: &str) -> Value {
    json!({
        "id": id,
        "name": name,
        "is_default": id == DEFAULT_ORG_ID,
        "is_root": id == ROOT_ORG_ID,
        "is_system": id == SYSTEM_ORG_ID,
    })
}

async fn profile_permissions(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<Json<Value>, ApiError> {
    let user = state
        .store()
        .user_record(&caller.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    let perms: Vec<&str> = CATALOGUE
        .iter()
        .copied()
        .filter(|code| caller.roles.grants(caller.org, code))
        .collect();

    // The orgs the caller may work in: every org for system-level roles, else their own.
    let system_level = caller.roles.grants(None, "orgs.view_rootorg");
    let mine = caller.roles.org_ids();
    let orgs = state
        .store()
        .list_orgs(if system_level { None } else { Some(&mine) })
        .await?;
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(caller.user_id));
    out.insert("username".into(), json!(user.username));
    out.insert("perms".into(), json!(perms));
    for (field, code) in AREAS {
        let mut list = Vec::new();
        if system_level && caller.roles.grants(None, code) {
            list.push(org_stub(ROOT_ORG_ID, "GLOBAL"));
        }
        list.extend(
            orgs.iter()
                .filter(|o| caller.roles.grants(Some(o.id), code))
                .map(|o| org_stub(o.id, &o.name)),
        );
        out.insert(field.into(), Value::Array(list));
    }
    Ok(Json(Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::CATALOGUE;

    #[test]
    fn the_catalogue_is_sorted_and_unique() {
        let mut sorted = CATALOGUE.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, CATALOGUE);
    }

    /// The apps whose codes endpoints check.
    const APPS: &[&str] = &[
        "accounts",
        "acls",
        "assets",
        "audits",
        "authentication",
        "labels",
        "ops",
        "orgs",
        "perms",
        "rbac",
        "settings",
        "terminal",
        "tickets",
        "users",
    ];

    /// Whether a string literal has the shape of a permission code, `app.verb_model`.
    fn is_code(text: &str) -> bool {
        let Some((app, rest)) = text.split_once('.') else {
            return false;
        };
        APPS.contains(&app)
            && rest.contains('_')
            && !rest.starts_with('_')
            && !rest.ends_with('_')
            && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    }

    fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every permission code written in the API's source (`require("…")`,
    /// `require_system("…")`, `grants(…, "…")`, code constants) is in the catalogue, so a
    /// role pattern that grants it shows in `perms` and the UI offers what the endpoint
    /// allows. Codes assembled at run time (`format!`) are not seen here; the catalogue lists
    /// them by hand.
    #[test]
    fn every_code_an_endpoint_checks_is_in_the_catalogue() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        let mut missing = Vec::new();
        let mut seen = 0;
        for file in files {
            if file.ends_with("profile_permissions.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            // Every piece between double quotes: a code is always a whole literal, and
            // a piece of code outside literals never has a code's exact shape.
            for literal in text.split('"') {
                if is_code(literal) {
                    seen += 1;
                    if !CATALOGUE.contains(&literal) {
                        missing.push(format!("{literal} ({})", file.display()));
                    }
                }
            }
        }
        assert!(
            seen > 50,
            "the scan found only {seen} codes: is it still reading the routes?"
        );
        assert!(missing.is_empty(), "codes not in CATALOGUE: {missing:#?}");
    }
}
