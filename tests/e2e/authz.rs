//! The authorization matrix: every route, driven over HTTP by one user per built-in role, with
//! the status each role must get written out in one table (role × route → status), plus an
//! org-isolation table (an org admin of one org against another org's objects).
//!
//! The expectations follow what the role names say and what JumpServer does (reference §2.6,
//! §2.10, §4.4; JumpServer's `only_system_permissions`: user deletion, system roles, every
//! `rolebinding`/`systemrolebinding`, role writes, organisations and settings are system-only):
//!
//! - SystemAdmin (`SA`): everything, in every org.
//! - SystemAuditor (`SAud`): self-service, plus read-only audit data (login, operate,
//!   password-change and FTP logs, sessions, commands) and the root view. Writes nothing.
//! - User (`U`, system role User + OrgUser in Default): self-service only (profile, my assets,
//!   own login log, own access keys behind a password confirmation).
//! - OrgAdmin (`OA`, system role User + OrgAdmin in Default): everything inside Default, nothing
//!   system-wide (system roles and bindings, generic role bindings, role writes, login ACLs,
//!   connect-method ACLs, settings, deleting users globally, making system admins) and nothing
//!   of another org.
//! - OrgAuditor (`OAud`, system role User + OrgAuditor in Default): self-service plus the org's
//!   audit data, read-only.
//!
//! Every mismatch is collected and printed (role, method, path, expected, got, body excerpt)
//! before the test fails, so one run shows them all. Do not bend an expectation to match the
//! server: a mismatch here is a server bug to fix.

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{HttpResponse, Server, TestDb, http};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// The roles of the matrix columns, in column order.
const ROLES: [&str; 5] = ["SA", "SAud", "U", "OA", "OAud"];

const OK: u16 = 200;
const NEW: u16 = 201;
const GONE: u16 = 204;
const DENY: u16 = 403;
const MISS: u16 = 404;
const CONFIRM: u16 = 412;
const BAD: u16 = 400;

/// Expected status per column: SA, SAud, U, OA, OAud.
type Exp = [u16; 5];

/// Everybody gets the same.
const fn all(s: u16) -> Exp {
    [s; 5]
}
/// Only the system admin.
const SYS_ONLY: Exp = [OK, DENY, DENY, DENY, DENY];
/// System admin and org admin (an org's inventory / configuration).
const ADMINS: Exp = [OK, DENY, DENY, OK, DENY];
/// Audit readers: both admins and both auditors, not the plain user.
const AUDIT: Exp = [OK, OK, DENY, OK, OK];

/// `[SA, _, _, OA, _]` with `s` for the admins and 403 for the rest.
const fn admins(s: u16) -> Exp {
    [s, DENY, DENY, s, DENY]
}
/// `s` for the system admin, 403 for everyone else.
const fn sys_only(s: u16) -> Exp {
    [s, DENY, DENY, DENY, DENY]
}

/// How a request is sent besides the bearer token.
#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// Bearer token only, no org header (the caller's default org).
    Plain,
    /// Bearer token plus the login's session cookies (for step-up confirmation).
    Session,
}

struct Row {
    method: &'static str,
    /// May hold `<name>` placeholders (see [`Vars`]).
    path: &'static str,
    /// JSON text with `<name>` placeholders; empty for no body.
    body: &'static str,
    exp: Exp,
    ctx: Ctx,
    /// Save the response's `id` under this per-role name.
    capture: Option<&'static str>,
}

fn row(method: &'static str, path: &'static str, body: &'static str, exp: Exp) -> Row {
    Row {
        method,
        path,
        body,
        exp,
        ctx: Ctx::Plain,
        capture: None,
    }
}

fn get_row(path: &'static str, exp: Exp) -> Row {
    row("GET", path, "", exp)
}

impl Row {
    fn session(mut self) -> Row {
        self.ctx = Ctx::Session;
        self
    }
    fn capture(mut self, name: &'static str) -> Row {
        self.capture = Some(name);
        self
    }
}

/// The matrix. Per-role placeholders (`<del_host>`, `<r>`, …) give each role its own object for
/// destructive requests, so the cells do not depend on each other.
fn matrix() -> Vec<Row> {
    vec![
        // ---- Self-service: every role ------------------------------------------------------
        get_row("/api/v1/users/profile/", all(OK)),
        get_row("/api/v1/orgs/orgs/current/", all(OK)),
        get_row("/api/v1/perms/users/self/assets/", all(OK)),
        get_row("/api/v1/perms/users/self/nodes/", all(OK)),
        get_row("/api/v1/audits/my-login-logs/", all(OK)),
        get_row("/api/v1/settings/public/", all(OK)),
        get_row("/api/v1/settings/public/open/", all(OK)),
        get_row(
            "/api/v1/authentication/confirm/?confirm_type=password",
            all(OK),
        ),
        get_row(
            "/api/v1/authentication/confirm/check/?confirm_type=mfa",
            all(CONFIRM),
        ),
        // Another user's granted assets: an admin's view of that user.
        get_row("/api/v1/perms/users/<target>/assets/", ADMINS),
        get_row("/api/v1/perms/users/<target>/nodes/", ADMINS),
        // Own access keys: creating one needs a fresh password confirmation (§2.8).
        get_row("/api/v1/authentication/access-keys/", all(OK)),
        row(
            "POST",
            "/api/v1/authentication/access-keys/",
            "{}",
            all(CONFIRM),
        ),
        row(
            "POST",
            "/api/v1/authentication/confirm/",
            r#"{"confirm_type": "password", "secret_key": "<pw>"}"#,
            all(OK),
        )
        .session(),
        row(
            "POST",
            "/api/v1/authentication/access-keys/",
            "{}",
            all(NEW),
        )
        .session()
        .capture("mykey"),
        get_row("/api/v1/authentication/access-keys/<mykey>/", all(OK)),
        row(
            "PATCH",
            "/api/v1/authentication/access-keys/<mykey>/",
            r#"{"is_active": false}"#,
            all(OK),
        ),
        row(
            "DELETE",
            "/api/v1/authentication/access-keys/<mykey>/",
            "",
            all(GONE),
        ),
        // Someone else's key is nobody's business, not even the system admin's.
        get_row("/api/v1/authentication/access-keys/<otherkey>/", all(MISS)),
        row(
            "PATCH",
            "/api/v1/authentication/access-keys/<otherkey>/",
            r#"{"is_active": false}"#,
            all(MISS),
        ),
        row(
            "DELETE",
            "/api/v1/authentication/access-keys/<otherkey>/",
            "",
            all(MISS),
        ),
        // ---- Users ---------------------------------------------------------------------------
        get_row("/api/v1/users/users/", ADMINS),
        get_row("/api/v1/users/users/<target>/", ADMINS),
        row(
            "POST",
            "/api/v1/users/users/",
            r#"{"name": "C", "username": "c-<r>", "email": "c-<r>@example.com"}"#,
            admins(NEW),
        ),
        // Making someone a system admin is a system-level act.
        row(
            "POST",
            "/api/v1/users/users/",
            r#"{"name": "E", "username": "e-<r>", "email": "e-<r>@example.com", "system_roles": ["<role_sysadmin>"]}"#,
            sys_only(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/users/users/<target>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        // An org admin cannot touch a system administrator.
        row(
            "PATCH",
            "/api/v1/users/users/admin/",
            r#"{"comment": "x"}"#,
            SYS_ONLY,
        ),
        row("PUT", "/api/v1/users/users/<target>/unblock/", "{}", ADMINS),
        row(
            "POST",
            "/api/v1/users/users/<rm_user>/remove/",
            "{}",
            ADMINS,
        ),
        // Deleting a user removes them from every org: system-level.
        row(
            "DELETE",
            "/api/v1/users/users/<del_user>/",
            "",
            sys_only(GONE),
        ),
        // ---- User groups ---------------------------------------------------------------------
        get_row("/api/v1/users/groups/", ADMINS),
        get_row("/api/v1/users/groups/<grp>/", ADMINS),
        get_row("/api/v1/users/users-groups-relations/", ADMINS),
        row(
            "POST",
            "/api/v1/users/groups/",
            r#"{"name": "g-<r>"}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/users/groups/<grp>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "POST",
            "/api/v1/users/groups/<grp>/add-all-users/",
            "{}",
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/users/groups/<del_grp>/",
            "",
            admins(GONE),
        ),
        // ---- RBAC: roles ---------------------------------------------------------------------
        get_row("/api/v1/rbac/roles/", ADMINS),
        get_row("/api/v1/rbac/org-roles/", ADMINS),
        get_row("/api/v1/rbac/org-roles/<role_orguser>/", ADMINS),
        // System roles are system-only (JumpServer: rbac.systemrole is only_system).
        get_row("/api/v1/rbac/system-roles/", SYS_ONLY),
        get_row("/api/v1/rbac/system-roles/<role_sysadmin>/", SYS_ONLY),
        // Role writes are system-only, org roles included (rbac.role / rbac.orgrole writes).
        row(
            "POST",
            "/api/v1/rbac/system-roles/",
            r#"{"name": "sr-<r>", "permissions": ["users.view_user"]}"#,
            sys_only(NEW),
        ),
        row(
            "POST",
            "/api/v1/rbac/org-roles/",
            r#"{"name": "or-<r>", "permissions": ["assets.view_asset"]}"#,
            sys_only(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/rbac/org-roles/<orole>/",
            r#"{"comment": "x"}"#,
            SYS_ONLY,
        ),
        row(
            "DELETE",
            "/api/v1/rbac/system-roles/<del_srole>/",
            "",
            sys_only(GONE),
        ),
        row(
            "POST",
            "/api/v1/rbac/system-roles/<role_sysadmin>/clone/",
            r#"{"name": "csr-<r>"}"#,
            sys_only(NEW),
        ),
        row(
            "POST",
            "/api/v1/rbac/org-roles/<role_orguser>/clone/",
            r#"{"name": "cor-<r>"}"#,
            sys_only(NEW),
        ),
        // ---- RBAC: bindings ------------------------------------------------------------------
        // Generic and system bindings are system-only (JumpServer: rbac.rolebinding and
        // rbac.systemrolebinding are only_system); org bindings are the org admin's.
        get_row("/api/v1/rbac/role-bindings/", SYS_ONLY),
        get_row("/api/v1/rbac/role-bindings/<ob_target>/", SYS_ONLY),
        get_row("/api/v1/rbac/system-role-bindings/", SYS_ONLY),
        get_row("/api/v1/rbac/system-role-bindings/<sb_target>/", SYS_ONLY),
        get_row("/api/v1/rbac/org-role-bindings/", ADMINS),
        get_row("/api/v1/rbac/org-role-bindings/<ob_target>/", ADMINS),
        row(
            "POST",
            "/api/v1/rbac/org-role-bindings/",
            r#"{"user": "<nb_user>", "role": "<role_orgauditor>"}"#,
            admins(NEW),
        ),
        row(
            "POST",
            "/api/v1/rbac/system-role-bindings/",
            r#"{"user": "<nb_user>", "role": "<role_sysauditor>"}"#,
            sys_only(NEW),
        ),
        row(
            "POST",
            "/api/v1/rbac/role-bindings/",
            r#"{"user": "<nb_user>", "role": "<role_sysadmin>"}"#,
            sys_only(NEW),
        ),
        row(
            "DELETE",
            "/api/v1/rbac/org-role-bindings/<del_ob>/",
            "",
            admins(GONE),
        ),
        row(
            "DELETE",
            "/api/v1/rbac/system-role-bindings/<del_sb>/",
            "",
            sys_only(GONE),
        ),
        // ---- Audit data: read by both auditors and both admins -------------------------------
        get_row("/api/v1/audits/login-logs/", AUDIT),
        get_row("/api/v1/audits/login-logs/<loginlog>/", AUDIT),
        get_row("/api/v1/audits/operate-logs/", AUDIT),
        get_row("/api/v1/audits/operate-logs/<oplog>/", AUDIT),
        get_row("/api/v1/audits/password-change-logs/", AUDIT),
        get_row("/api/v1/audits/ftp-logs/", AUDIT),
        get_row("/api/v1/audits/user-sessions/", AUDIT),
        row(
            "POST",
            "/api/v1/audits/user-sessions/offline/",
            r#"{"ids": []}"#,
            ADMINS,
        ),
        get_row("/api/v1/authentication/user-session/", all(OK)),
        get_row("/api/v1/terminal/sessions/", AUDIT),
        get_row("/api/v1/terminal/sessions/<sess>/", AUDIT),
        get_row("/api/v1/terminal/commands/", AUDIT),
        // A session without a recording: found (404 "no replay") by readers, refused to others.
        get_row(
            "/api/v1/terminal/sessions/<sess>/replay/",
            [MISS, MISS, DENY, MISS, MISS],
        ),
        // ---- The gateway's tasks and tickets -------------------------------------------------
        get_row("/api/v1/terminal/tasks/", ADMINS),
        row("POST", "/api/v1/terminal/tasks/kill-session/", "[]", ADMINS),
        get_row("/api/v1/terminal/my-sessions/", all(OK)),
        get_row("/api/v1/tickets/tickets/", all(OK)),
        get_row("/api/v1/authentication/connection-token/", all(OK)),
        // Ticket review (login confirmation): a reviewer approves or rejects the tickets
        // assigned to them, whatever their role; nobody else does, admins included (they see
        // the ticket: 403; the plain user does not: 404). The applicant's status poll is a
        // capability of the ticket id.
        row(
            "PUT",
            "/api/v1/tickets/tickets/<t_approve>/approve/",
            "",
            all(OK),
        ),
        row(
            "PUT",
            "/api/v1/tickets/tickets/<t_reject>/reject/",
            "",
            all(OK),
        ),
        row(
            "PUT",
            "/api/v1/tickets/tickets/<t_other>/approve/",
            "",
            [DENY, DENY, MISS, DENY, DENY],
        ),
        row(
            "PUT",
            "/api/v1/tickets/tickets/<t_other>/reject/",
            "",
            [DENY, DENY, MISS, DENY, DENY],
        ),
        get_row(
            "/api/v1/authentication/login-confirm-ticket/status/?ticket_id=<t_other>",
            all(OK),
        ),
        // ---- Host keys of an asset: the org's inventory ---------------------------------------
        get_row("/api/v1/assets/assets/<host>/host-keys/", ADMINS),
        row(
            "DELETE",
            "/api/v1/assets/assets/<host>/host-keys/",
            "",
            admins(GONE),
        ),
        // ---- Web file manager and web terminal: every built-in role has the workbench; the
        // connection token (here none) decides, and an open file manager is its owner's only.
        row(
            "POST",
            "/api/v1/terminal/file-manager/",
            r#"{"token": "<none>"}"#,
            all(BAD),
        ),
        get_row("/api/v1/terminal/file-manager/<none>/list/", all(MISS)),
        row(
            "DELETE",
            "/api/v1/terminal/file-manager/<none>/",
            "",
            all(MISS),
        ),
        row(
            "POST",
            "/api/v1/terminal/file-manager/<none>/mkdir/",
            r#"{"path": "/tmp/x"}"#,
            all(MISS),
        ),
        get_row("/api/v1/terminal/ws/terminal/", all(BAD)),
        // Monitoring a session is for those who audit it: the plain user is refused before any
        // handshake; the others find no live session to watch.
        get_row(
            "/api/v1/terminal/ws/monitor/?session_id=<sess>",
            [MISS, MISS, DENY, MISS, MISS],
        ),
        // ---- Settings: system-only -----------------------------------------------------------
        get_row(
            "/api/v1/settings/setting/?category=security_session",
            SYS_ONLY,
        ),
        get_row("/api/v1/settings/setting/?category=security", SYS_ONLY),
        row(
            "PATCH",
            "/api/v1/settings/setting/?category=security_login_limit",
            r#"{"SECURITY_LOGIN_LIMIT_COUNT": 7}"#,
            SYS_ONLY,
        ),
        // ---- Plugins: system-wide, the system admin only ------------------------------------
        // (`<none>` is an id no plugin has: the admin passes RBAC and gets 404; the install
        // row sends JSON instead of a bundle: the admin gets 400.)
        get_row("/api/v1/plugins/plugins/", SYS_ONLY),
        get_row("/api/v1/plugins/plugins/<none>/", sys_only(MISS)),
        row(
            "POST",
            "/api/v1/plugins/plugins/",
            r#"{"path": "x.tgz"}"#,
            sys_only(BAD),
        ),
        row(
            "PATCH",
            "/api/v1/plugins/plugins/<none>/grant/",
            r#"{"remote": true}"#,
            sys_only(MISS),
        ),
        row(
            "PATCH",
            "/api/v1/plugins/plugins/<none>/config/",
            "{}",
            sys_only(MISS),
        ),
        row(
            "PATCH",
            "/api/v1/plugins/plugins/<none>/limits/",
            "{}",
            sys_only(MISS),
        ),
        row(
            "PUT",
            "/api/v1/plugins/plugins/<none>/secrets/",
            "{}",
            sys_only(MISS),
        ),
        row(
            "POST",
            "/api/v1/plugins/plugins/<none>/enable/",
            "{}",
            sys_only(MISS),
        ),
        row(
            "POST",
            "/api/v1/plugins/plugins/<none>/disable/",
            "{}",
            sys_only(MISS),
        ),
        row(
            "POST",
            "/api/v1/plugins/plugins/<none>/rollback/",
            "{}",
            sys_only(MISS),
        ),
        row(
            "DELETE",
            "/api/v1/plugins/plugins/<none>/",
            "",
            sys_only(MISS),
        ),
        get_row("/api/v1/plugins/trusted-keys/", SYS_ONLY),
        row(
            "POST",
            "/api/v1/plugins/trusted-keys/",
            r#"{"publisher": "p-<r>", "public_key": "ed25519:4ZVTXdN41k9R60YLworXLbe/vq2Qg0Ht+LXEt8yexyY="}"#,
            sys_only(NEW),
        ),
        get_row("/api/v1/plugins/trusted-keys/94497471f5fb512c/", SYS_ONLY),
        row(
            "DELETE",
            "/api/v1/plugins/trusted-keys/94497471f5fb512c/",
            "",
            sys_only(GONE),
        ),
        get_row("/api/v1/plugins/settings/", SYS_ONLY),
        row(
            "PATCH",
            "/api/v1/plugins/settings/",
            r#"{"allow_unsigned": false}"#,
            SYS_ONLY,
        ),
        // ---- Assets, platforms, nodes, zones -------------------------------------------------
        get_row("/api/v1/assets/platforms/", ADMINS),
        get_row("/api/v1/assets/platforms/1/", ADMINS),
        get_row("/api/v1/assets/platform-automation-methods/", ADMINS),
        // ---- Automations: the built-in Linux platform names the plugin `portcullis-linux`,
        // which is not installed here, so the admins pass RBAC and get 400 (nothing runs) --------
        row(
            "POST",
            "/api/v1/assets/assets/<host>/automations/ping/",
            "{}",
            admins(BAD),
        ),
        row(
            "POST",
            "/api/v1/assets/assets/<host>/automations/verify_account/",
            r#"{"account": "<acct>"}"#,
            admins(BAD),
        ),
        row(
            "POST",
            "/api/v1/assets/assets/<host>/automations/change_secret/",
            r#"{"account": "<acct>"}"#,
            admins(BAD),
        ),
        row(
            "POST",
            "/api/v1/assets/assets/<host>/automations/push_account/",
            r#"{"account": "<acct>"}"#,
            admins(BAD),
        ),
        row(
            "POST",
            "/api/v1/assets/assets/<host>/automations/gather_accounts/",
            "{}",
            admins(BAD),
        ),
        row(
            "POST",
            "/api/v1/assets/assets/<host>/automations/remove_account/",
            r#"{"username": "gone-<r>"}"#,
            admins(BAD),
        ),
        row(
            "POST",
            "/api/v1/assets/assets/<host>/tasks/",
            r#"{"action": "test"}"#,
            admins(BAD),
        ),
        row(
            "POST",
            "/api/v1/accounts/accounts/tasks/",
            r#"{"action": "verify", "accounts": ["<acct>"]}"#,
            admins(BAD),
        ),
        get_row("/api/v1/assets/automation-executions/", ADMINS),
        get_row(
            "/api/v1/assets/automation-executions/00000000-0000-4000-8000-00000000abcd/",
            admins(MISS),
        ),
        get_row("/api/v1/accounts/gathered-accounts/", ADMINS),
        // Platforms are shared by every org: their automation settings are system-only.
        row(
            "PATCH",
            "/api/v1/assets/platforms/1/automation/",
            "{}",
            SYS_ONLY,
        ),
        get_row("/api/v1/assets/assets/", ADMINS),
        get_row("/api/v1/assets/hosts/", ADMINS),
        get_row("/api/v1/assets/hosts/<host>/", ADMINS),
        row(
            "POST",
            "/api/v1/assets/hosts/",
            r#"{"name": "h-<r>", "address": "10.9.0.1", "platform": 1, "protocols": [{"name": "ssh"}]}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/assets/hosts/<host>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/assets/assets/<del_host>/",
            "",
            admins(GONE),
        ),
        get_row("/api/v1/assets/nodes/", ADMINS),
        get_row("/api/v1/assets/nodes/<node>/", ADMINS),
        get_row("/api/v1/assets/nodes/children/tree/", ADMINS),
        get_row("/api/v1/assets/nodes/<node>/assets/", ADMINS),
        get_row("/api/v1/assets/nodes/children/", ADMINS),
        get_row("/api/v1/assets/nodes/<node>/children/", ADMINS),
        row(
            "POST",
            "/api/v1/assets/nodes/<node>/children/",
            r#"{"value": "c-<r>"}"#,
            admins(NEW),
        ),
        row(
            "PUT",
            "/api/v1/assets/nodes/<node>/assets/add/",
            r#"{"assets": ["<host>"]}"#,
            ADMINS,
        ),
        row(
            "POST",
            "/api/v1/assets/nodes/",
            r#"{"value": "n-<r>"}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/assets/nodes/<node>/",
            r#"{"value": "pn-<r>"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/assets/nodes/<del_node>/",
            "",
            admins(GONE),
        ),
        get_row("/api/v1/assets/zones/", ADMINS),
        get_row("/api/v1/assets/domains/", ADMINS),
        get_row("/api/v1/assets/zones/<zone>/", ADMINS),
        row(
            "POST",
            "/api/v1/assets/zones/",
            r#"{"name": "z-<r>"}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/assets/zones/<zone>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/assets/zones/<del_zone>/",
            "",
            admins(GONE),
        ),
        // ---- Accounts and templates ----------------------------------------------------------
        get_row("/api/v1/accounts/accounts/", ADMINS),
        get_row("/api/v1/accounts/accounts/<acct>/", ADMINS),
        row(
            "POST",
            "/api/v1/accounts/accounts/",
            r#"{"asset": "<host>", "username": "a-<r>", "secret": "s"}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/accounts/accounts/<acct>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/accounts/accounts/<del_acct>/",
            "",
            admins(GONE),
        ),
        row(
            "POST",
            "/api/v1/accounts/accounts/bulk/",
            r#"{"assets": ["<host>"], "username": "bk-<r>", "secret": "s"}"#,
            admins(NEW),
        ),
        // Secrets: the admins pass RBAC and then need an MFA confirmation (412); the rest 403.
        get_row("/api/v1/accounts/account-secrets/", admins(CONFIRM)),
        get_row("/api/v1/accounts/account-secrets/<acct>/", admins(CONFIRM)),
        get_row(
            "/api/v1/accounts/account-secrets/<acct>/histories/",
            admins(CONFIRM),
        ),
        get_row("/api/v1/accounts/account-templates/", ADMINS),
        get_row("/api/v1/accounts/account-templates/<tpl>/", ADMINS),
        row(
            "POST",
            "/api/v1/accounts/account-templates/",
            r#"{"name": "t-<r>", "username": "svc", "secret": "Tpl-s3cret"}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/accounts/account-templates/<tpl>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/accounts/account-templates/<del_tpl>/",
            "",
            admins(GONE),
        ),
        // ---- Asset permissions ---------------------------------------------------------------
        get_row("/api/v1/perms/asset-permissions/", ADMINS),
        get_row("/api/v1/perms/asset-permissions/<perm>/", ADMINS),
        get_row("/api/v1/perms/asset-permissions/<perm>/users/all/", ADMINS),
        get_row("/api/v1/perms/asset-permissions/<perm>/assets/all/", ADMINS),
        get_row("/api/v1/perms/asset-permissions/<perm>/accounts/", ADMINS),
        get_row("/api/v1/perms/asset-permissions-users-relations/", ADMINS),
        get_row(
            "/api/v1/perms/asset-permissions-user-groups-relations/",
            ADMINS,
        ),
        get_row("/api/v1/perms/asset-permissions-assets-relations/", ADMINS),
        get_row("/api/v1/perms/asset-permissions-nodes-relations/", ADMINS),
        row(
            "POST",
            "/api/v1/perms/asset-permissions/",
            r#"{"name": "p-<r>", "actions": ["all"]}"#,
            admins(NEW),
        ),
        row(
            "POST",
            "/api/v1/perms/asset-permissions-users-relations/",
            r#"{"assetpermission": "<perm>", "user": "<nb_user>"}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/perms/asset-permissions/<perm>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/perms/asset-permissions/<del_perm>/",
            "",
            admins(GONE),
        ),
        // ---- ACLs inside an org: the org's admins ----------------------------------------------
        get_row("/api/v1/acls/command-groups/", ADMINS),
        get_row("/api/v1/acls/command-groups/<cg>/", ADMINS),
        row(
            "POST",
            "/api/v1/acls/command-groups/",
            r#"{"name": "cg-<r>", "content": "rm"}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/acls/command-groups/<cg>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/acls/command-groups/<del_cg>/",
            "",
            admins(GONE),
        ),
        get_row("/api/v1/acls/command-filter-acls/", ADMINS),
        get_row("/api/v1/acls/command-filter-acls/<cf>/", ADMINS),
        row(
            "POST",
            "/api/v1/acls/command-filter-acls/",
            r#"{"name": "cf-<r>", "users": {"type": "ids", "ids": ["<bystander>"]}, "assets": {"type": "all"}, "command_groups": ["<cg>"]}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/acls/command-filter-acls/<cf>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/acls/command-filter-acls/<del_cf>/",
            "",
            admins(GONE),
        ),
        get_row("/api/v1/acls/login-asset-acls/", ADMINS),
        get_row("/api/v1/acls/login-asset-acls/<la>/", ADMINS),
        row(
            "POST",
            "/api/v1/acls/login-asset-acls/",
            r#"{"name": "la-<r>", "action": "accept", "users": {"type": "ids", "ids": ["<bystander>"]}, "assets": {"type": "all"}, "accounts": ["root"]}"#,
            admins(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/acls/login-asset-acls/<la>/",
            r#"{"comment": "x"}"#,
            ADMINS,
        ),
        row(
            "DELETE",
            "/api/v1/acls/login-asset-acls/<del_la>/",
            "",
            admins(GONE),
        ),
        // ---- System-wide ACLs: the system admin only -----------------------------------------
        get_row("/api/v1/acls/login-acls/", SYS_ONLY),
        get_row("/api/v1/acls/login-acls/<lacl>/", SYS_ONLY),
        row(
            "POST",
            "/api/v1/acls/login-acls/",
            r#"{"name": "l-<r>", "action": "accept", "users": {"type": "ids", "ids": ["<bystander>"]}}"#,
            sys_only(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/acls/login-acls/<lacl>/",
            r#"{"comment": "x"}"#,
            SYS_ONLY,
        ),
        row(
            "DELETE",
            "/api/v1/acls/login-acls/<del_l>/",
            "",
            sys_only(GONE),
        ),
        get_row("/api/v1/acls/connect-method-acls/", SYS_ONLY),
        get_row("/api/v1/acls/connect-method-acls/<cm>/", SYS_ONLY),
        row(
            "POST",
            "/api/v1/acls/connect-method-acls/",
            r#"{"name": "cm-<r>", "action": "accept", "users": {"type": "ids", "ids": ["<bystander>"]}, "connect_methods": ["web_cli"]}"#,
            sys_only(NEW),
        ),
        row(
            "PATCH",
            "/api/v1/acls/connect-method-acls/<cm>/",
            r#"{"comment": "x"}"#,
            SYS_ONLY,
        ),
        row(
            "DELETE",
            "/api/v1/acls/connect-method-acls/<del_cm>/",
            "",
            sys_only(GONE),
        ),
    ]
}

/// One cross-org check: who, which org they ask for (`X-JMS-ORG`, empty for none), the request,
/// the status, and strings the body must / must not contain (after placeholder substitution).
struct Iso {
    who: &'static str,
    org: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static str,
    status: u16,
    has: &'static [&'static str],
    lacks: &'static [&'static str],
}

const fn iso(
    who: &'static str,
    org: &'static str,
    method: &'static str,
    path: &'static str,
    status: u16,
) -> Iso {
    Iso {
        who,
        org,
        method,
        path,
        body: "",
        status,
        has: &[],
        lacks: &[],
    }
}

impl Iso {
    const fn body(mut self, body: &'static str) -> Iso {
        self.body = body;
        self
    }
    const fn has(mut self, has: &'static [&'static str]) -> Iso {
        self.has = has;
        self
    }
    const fn lacks(mut self, lacks: &'static [&'static str]) -> Iso {
        self.lacks = lacks;
        self
    }
}

/// Org isolation. `OA` is the admin of Default, `OB` the admin of org B (`<org_b>`), which was
/// written straight into the database with its own objects (`<b_*>`). Asking for an org one is
/// not in falls back to one's own org (§2.6), so B's objects are simply not there (404, absent
/// from lists) and writes land in the caller's own org.
fn isolation() -> Vec<Iso> {
    const B: &str = "<org_b>";
    vec![
        // Fallback: OA asking for B (or root) works in Default.
        iso("OA", B, "GET", "/api/v1/orgs/orgs/current/", OK)
            .has(&[r#""id":"<org_default>""#])
            .lacks(&["<org_b>"]),
        iso("OA", "ROOT", "GET", "/api/v1/orgs/orgs/current/", OK)
            .has(&[r#""id":"<org_default>""#, r#""is_root":false"#]),
        iso("OA", B, "GET", "/api/v1/assets/assets/", OK).lacks(&["<b_host>"]),
        iso("OA", "ROOT", "GET", "/api/v1/assets/assets/", OK).lacks(&["<b_host>"]),
        iso("OA", B, "GET", "/api/v1/assets/hosts/<b_host>/", MISS),
        iso("OA", "", "GET", "/api/v1/assets/hosts/<b_host>/?oid=<org_b>", MISS),
        iso("OA", B, "PATCH", "/api/v1/assets/hosts/<b_host>/", MISS).body(r#"{"comment": "x"}"#),
        iso("OA", B, "DELETE", "/api/v1/assets/assets/<b_host>/", MISS),
        // A create with B asked for lands in the caller's own org.
        iso("OA", B, "POST", "/api/v1/assets/hosts/", NEW)
            .body(r#"{"name": "iso-h", "address": "10.9.9.9", "platform": 1, "protocols": [{"name": "ssh"}]}"#)
            .has(&[r#""org_id":"<org_default>""#])
            .lacks(&["<org_b>"]),
        iso("OA", B, "GET", "/api/v1/assets/nodes/", OK).lacks(&["<b_node>"]),
        iso("OA", B, "GET", "/api/v1/assets/nodes/<b_node>/", MISS),
        iso("OA", B, "POST", "/api/v1/assets/nodes/<b_node>/children/", MISS)
            .body(r#"{"value": "iso-n"}"#),
        iso("OA", B, "DELETE", "/api/v1/assets/nodes/<b_node>/", MISS),
        iso("OA", B, "GET", "/api/v1/assets/zones/", OK).lacks(&["<b_zone>"]),
        iso("OA", B, "GET", "/api/v1/assets/zones/<b_zone>/", MISS),
        iso("OA", B, "DELETE", "/api/v1/assets/zones/<b_zone>/", MISS),
        iso("OA", B, "GET", "/api/v1/accounts/accounts/", OK).lacks(&["<b_acct>"]),
        iso("OA", B, "GET", "/api/v1/accounts/accounts/<b_acct>/", MISS),
        iso("OA", B, "PATCH", "/api/v1/accounts/accounts/<b_acct>/", MISS)
            .body(r#"{"comment": "x"}"#),
        iso("OA", B, "DELETE", "/api/v1/accounts/accounts/<b_acct>/", MISS),
        iso("OA", B, "GET", "/api/v1/accounts/account-templates/", OK).lacks(&["<b_tpl>"]),
        iso("OA", B, "GET", "/api/v1/accounts/account-templates/<b_tpl>/", MISS),
        iso("OA", B, "DELETE", "/api/v1/accounts/account-templates/<b_tpl>/", MISS),
        iso("OA", B, "GET", "/api/v1/perms/asset-permissions/", OK).lacks(&["<b_perm>"]),
        iso("OA", B, "GET", "/api/v1/perms/asset-permissions/<b_perm>/", MISS),
        iso("OA", B, "PATCH", "/api/v1/perms/asset-permissions/<b_perm>/", MISS)
            .body(r#"{"comment": "x"}"#),
        iso("OA", B, "DELETE", "/api/v1/perms/asset-permissions/<b_perm>/", MISS),
        iso("OA", B, "GET", "/api/v1/users/groups/", OK).lacks(&["<b_grp>"]),
        iso("OA", B, "GET", "/api/v1/users/groups/<b_grp>/", MISS),
        iso("OA", B, "DELETE", "/api/v1/users/groups/<b_grp>/", MISS),
        iso("OA", B, "GET", "/api/v1/acls/command-groups/", OK).lacks(&["<b_cg>"]),
        iso("OA", B, "GET", "/api/v1/acls/command-groups/<b_cg>/", MISS),
        iso("OA", B, "DELETE", "/api/v1/acls/command-groups/<b_cg>/", MISS),
        // B's members: not listed, not readable, not writable, not removable by OA.
        iso("OA", B, "GET", "/api/v1/users/users/?limit=1000", OK).lacks(&["<b_admin>"]),
        iso("OA", B, "GET", "/api/v1/users/users/<b_admin>/", MISS),
        iso("OA", B, "PATCH", "/api/v1/users/users/<b_admin>/", MISS).body(r#"{"comment": "x"}"#),
        iso("OA", B, "PUT", "/api/v1/users/users/<b_admin>/unblock/", MISS).body("{}"),
        iso("OA", B, "POST", "/api/v1/users/users/<b_admin>/remove/", MISS).body("{}"),
        iso("OA", B, "GET", "/api/v1/rbac/org-role-bindings/", OK).lacks(&["<b_binding>"]),
        iso("OA", B, "GET", "/api/v1/rbac/org-role-bindings/<b_binding>/", MISS),
        iso("OA", B, "DELETE", "/api/v1/rbac/org-role-bindings/<b_binding>/", MISS),
        // B's audit data.
        iso("OA", B, "GET", "/api/v1/terminal/sessions/", OK).lacks(&["<b_sess>"]),
        iso("OA", B, "GET", "/api/v1/terminal/sessions/<b_sess>/", MISS),
        iso("OA", B, "GET", "/api/v1/terminal/commands/", OK).lacks(&["<b_cmd>"]),
        iso("OA", B, "GET", "/api/v1/audits/operate-logs/?limit=1000", OK).lacks(&["<b_oplog>"]),
        iso("OA", B, "GET", "/api/v1/audits/operate-logs/<b_oplog>/", MISS),
        // Login logs have no org: an org-level reader sees those of the org's members only
        // (JumpServer filters them by the current org's usernames outside the root view).
        iso("OA", "", "GET", "/api/v1/audits/login-logs/?limit=1000", OK)
            .has(&[r#""username":"plain""#])
            .lacks(&[r#""username":"orgadm-b""#]),
        iso("OA", "", "GET", "/api/v1/audits/login-logs/<b_loginlog>/", MISS),
        iso("OAud", "", "GET", "/api/v1/audits/login-logs/?limit=1000", OK)
            .has(&[r#""username":"plain""#])
            .lacks(&[r#""username":"orgadm-b""#]),
        iso("OAud", B, "GET", "/api/v1/terminal/sessions/", OK).lacks(&["<b_sess>"]),
        iso("OAud", B, "GET", "/api/v1/terminal/sessions/<b_sess>/", MISS),
        iso("OAud", "ROOT", "GET", "/api/v1/terminal/sessions/", OK).lacks(&["<b_sess>"]),
        iso("U", "ROOT", "GET", "/api/v1/orgs/orgs/current/", OK)
            .has(&[r#""id":"<org_default>""#]),
        // The mirror image: B's admin works in B and cannot reach Default.
        iso("OB", "", "GET", "/api/v1/orgs/orgs/current/", OK).has(&[r#""id":"<org_b>""#]),
        iso("OB", "<org_default>", "GET", "/api/v1/orgs/orgs/current/", OK)
            .has(&[r#""id":"<org_b>""#]),
        iso("OB", "", "GET", "/api/v1/assets/assets/", OK)
            .has(&["<b_host>"])
            .lacks(&["<host>"]),
        iso("OB", "<org_default>", "GET", "/api/v1/assets/hosts/<host>/", MISS),
        iso("OB", "<org_default>", "DELETE", "/api/v1/assets/assets/<host>/", MISS),
        iso(
            "OB",
            "<org_default>",
            "POST",
            "/api/v1/assets/assets/<host>/automations/ping/",
            MISS,
        )
        .body("{}"),
        iso("OB", "", "GET", "/api/v1/users/users/?limit=1000", OK).lacks(&["<target>"]),
        iso("OB", "", "GET", "/api/v1/terminal/sessions/", OK)
            .has(&["<b_sess>"])
            .lacks(&["<sess>"]),
        // System-level roles do see B and the root view.
        iso("SA", B, "GET", "/api/v1/assets/hosts/<b_host>/", OK),
        iso("SA", "ROOT", "GET", "/api/v1/terminal/sessions/", OK).has(&["<b_sess>", "<sess>"]),
        iso("SAud", "ROOT", "GET", "/api/v1/orgs/orgs/current/", OK)
            .has(&[r#""is_root":true"#]),
        iso("SAud", "ROOT", "GET", "/api/v1/terminal/sessions/", OK)
            .has(&["<b_sess>", "<sess>"]),
        iso("SAud", "ROOT", "GET", "/api/v1/audits/operate-logs/?limit=1000", OK).has(&["<b_oplog>"]),
        iso("SAud", B, "GET", "/api/v1/terminal/sessions/<b_sess>/", OK),
        iso("SAud", B, "GET", "/api/v1/assets/hosts/<b_host>/", DENY),
    ]
}

// ---------------------------------------------------------------------------------------------
// Machinery
// ---------------------------------------------------------------------------------------------

/// Placeholder values: global ones and per-role ones (per-role wins).
#[derive(Default)]
struct Vars {
    global: HashMap<String, String>,
    per_role: HashMap<(String, String), String>,
}

impl Vars {
    fn set(&mut self, name: &str, value: impl ToString) {
        self.global.insert(name.to_owned(), value.to_string());
    }
    fn set_for(&mut self, role: &str, name: &str, value: impl ToString) {
        self.per_role
            .insert((role.to_owned(), name.to_owned()), value.to_string());
    }
    /// Replaces every `<name>`; `<r>` is the role's lower-case tag.
    fn fill(&self, role: &str, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('<') {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('>')
                .map(|e| start + e)
                .unwrap_or_else(|| panic!("unclosed placeholder in {text}"));
            let name = &rest[start + 1..end];
            let value = if name == "r" {
                role.to_ascii_lowercase()
            } else {
                self.per_role
                    .get(&(role.to_owned(), name.to_owned()))
                    .or_else(|| self.global.get(name))
                    .unwrap_or_else(|| panic!("no value for <{name}> ({role}) in {text}"))
                    .clone()
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// A logged-in caller.
struct Who {
    token: String,
    cookies: String,
}

fn request(
    server: &Server,
    who: &Who,
    session: bool,
    org: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> HttpResponse {
    let auth = format!("Bearer {}", who.token);
    let mut headers: Vec<(&str, &str)> = vec![("Authorization", &auth)];
    if session {
        headers.push(("Cookie", &who.cookies));
    }
    if !org.is_empty() {
        headers.push(("X-JMS-ORG", org));
    }
    // DELETE and GET without a body; everything else sends JSON.
    let body = body.filter(|_| method != "GET");
    http(&server.base, method, path, &headers, body).unwrap()
}

fn excerpt(body: &str) -> String {
    let one_line: String = body
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    if one_line.chars().count() > 240 {
        format!("{}…", one_line.chars().take(240).collect::<String>())
    } else {
        one_line
    }
}

/// Creates through the API as the system admin and returns the new object's id.
fn mk(server: &Server, admin: &str, path: &str, body: Value) -> String {
    let r = send(server, admin, "POST", path, &body);
    assert_eq!(r.status, 201, "setup: POST {path} {body}: {}", r.body);
    match &r.json()["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn user_id(f: &mut Fixture, username: &str) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&mut f.conn)
        .await
        .unwrap_or_else(|e| panic!("user {username}: {e}"))
}

async fn exec(f: &mut Fixture, sql: &str, binds: &[&str]) {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind(b.to_string());
    }
    q.execute(&mut f.conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn login_as(server: &Server, username: &str, password: &str) -> Who {
    let (token, cookies) = login_with_cookies(server, username, password);
    Who { token, cookies }
}

/// A session (and one command in it) written straight into `org`.
async fn session_in(f: &mut Fixture, org: &str) -> (String, String) {
    let (sess, cmd) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    sqlx::query("INSERT INTO sessions (id, org_id, user_display, user_id, asset, asset_id, account, protocol, date_start) VALUES ($1, $2, 'x', $3, 'a', $4, 'root', 'ssh', $5)")
        .bind(&sess)
        .bind(org)
        .bind(Uuid::new_v4().to_string())
        .bind(Uuid::new_v4().to_string())
        .bind(now())
        .execute(&mut f.conn)
        .await
        .expect("insert session");
    sqlx::query("INSERT INTO commands (id, org_id, session_id, input, timestamp) VALUES ($1, $2, $3, 'ls', $4)")
        .bind(&cmd)
        .bind(org)
        .bind(&sess)
        .bind(now())
        .execute(&mut f.conn)
        .await
        .expect("insert command");
    (sess, cmd)
}

/// A pending login-confirmation ticket in Default, applied for by `applicant`, reviewed by
/// `reviewer`.
async fn ticket_in(f: &mut Fixture, applicant: &str, reviewer: &str) -> String {
    let id = Uuid::new_v4().to_string();
    let serial = format!("T{}", Uuid::new_v4().simple());
    exec(
        f,
        "INSERT INTO tickets (id, serial_num, org_id, type, title, applicant_id, applicant_display, date_created, date_updated) VALUES ($1, $2, '00000000-0000-0000-0000-000000000002', 'login_confirm', 'Login confirm', $3, 'bystander', $4, $4)",
        &[&id, &serial, applicant, &now().to_string()],
    )
    .await;
    exec(
        f,
        "INSERT INTO ticket_reviewers (ticket_id, user_id) VALUES ($1, $2)",
        &[&id, reviewer],
    )
    .await;
    id
}

#[tokio::test]
async fn every_route_answers_each_builtin_role_as_its_name_says() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin_token = token(&server, "admin", ADMIN_PASSWORD);
    let mut f = Fixture::new(&db.url).await;
    let mut v = Vars::default();

    v.set("org_default", "00000000-0000-0000-0000-000000000002");
    v.set("none", Uuid::nil());
    v.set("role_sysadmin", "00000000-0000-0000-0000-000000000001");
    v.set("role_sysauditor", "00000000-0000-0000-0000-000000000002");
    v.set("role_orgadmin", "00000000-0000-0000-0000-000000000005");
    v.set("role_orgauditor", "00000000-0000-0000-0000-000000000006");
    v.set("role_orguser", "00000000-0000-0000-0000-000000000007");

    // ---- The callers: one per built-in role, plus B's admin and a bystander ----------------
    let mut passwords: HashMap<&str, String> = HashMap::new();
    passwords.insert("SA", ADMIN_PASSWORD.to_owned());
    for (role, username) in [
        ("SAud", "sysaud"),
        ("U", "plain"),
        ("OA", "orgadm"),
        ("OAud", "orgaud"),
        ("OB", "orgadm-b"),
        ("BY", "bystander"),
    ] {
        passwords.insert(role, create_user(dir.path(), &db, username, "user"));
    }
    // Org B, with its own objects, written straight into the schema.
    let org_b = Uuid::new_v4();
    v.set("org_b", org_b);
    exec(
        &mut f,
        "INSERT INTO orgs (id, name, date_created, date_updated) VALUES ($1, 'OrgB', $2, $2)",
        &[&org_b.to_string(), &now().to_string()],
    )
    .await;
    let sysaud = user_id(&mut f, "sysaud").await;
    let orgadm = user_id(&mut f, "orgadm").await;
    let orgaud = user_id(&mut f, "orgaud").await;
    let orgadm_b = user_id(&mut f, "orgadm-b").await;
    let bystander = user_id(&mut f, "bystander").await;
    // SystemAuditor: the system role alone, no org membership.
    exec(&mut f, "UPDATE role_bindings SET role_id = '00000000-0000-0000-0000-000000000002' WHERE scope = 'system' AND user_id = $1", &[&sysaud]).await;
    exec(
        &mut f,
        "DELETE FROM role_bindings WHERE scope = 'org' AND user_id = $1",
        &[&sysaud],
    )
    .await;
    // OrgAdmin / OrgAuditor of Default: system role User plus the org role.
    exec(&mut f, "UPDATE role_bindings SET role_id = '00000000-0000-0000-0000-000000000005' WHERE scope = 'org' AND user_id = $1", &[&orgadm]).await;
    exec(&mut f, "UPDATE role_bindings SET role_id = '00000000-0000-0000-0000-000000000006' WHERE scope = 'org' AND user_id = $1", &[&orgaud]).await;
    // B's admin: OrgAdmin in B only (not a member of Default).
    exec(&mut f, "UPDATE role_bindings SET role_id = '00000000-0000-0000-0000-000000000005', org_id = $2 WHERE scope = 'org' AND user_id = $1", &[&orgadm_b, &org_b.to_string()]).await;
    let b_binding: String =
        sqlx::query_scalar("SELECT id FROM role_bindings WHERE scope = 'org' AND user_id = $1")
            .bind(&orgadm_b)
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
    v.set("b_admin", &orgadm_b);
    v.set("b_binding", b_binding);
    v.set("bystander", &bystander);

    f.org = org_b;
    f.node("2", "OrgB").await;
    let b_node = f.node("2:1", "b-team").await;
    let b_host = f.asset("b-host", &[b_node]).await;
    let vault =
        portcullis_core::vault::Vault::new(portcullis_core::vault::MasterKey::generate(), vec![]);
    let b_acct = f.account(&vault, b_host, "b-root", "x").await;
    let b_grp = f
        .group("b-group", &[Uuid::parse_str(&orgadm_b).unwrap()])
        .await;
    let b_perm = f
        .permission(
            "b-perm",
            &[],
            &[b_grp],
            &[b_host],
            &[],
            &["@ALL"],
            127,
            Fixture::always(),
        )
        .await;
    f.org = portcullis_core::builtin::DEFAULT_ORG_ID;
    let (b_zone, b_tpl, b_cg, b_oplog) = (
        Uuid::new_v4().to_string(),
        Uuid::new_v4().to_string(),
        Uuid::new_v4().to_string(),
        Uuid::new_v4().to_string(),
    );
    let (ob, t) = (org_b.to_string(), now().to_string());
    exec(&mut f, "INSERT INTO zones (id, org_id, name, date_created, date_updated) VALUES ($1, $2, 'b-zone', $3, $3)", &[&b_zone, &ob, &t]).await;
    exec(&mut f, "INSERT INTO account_templates (id, org_id, name, date_created, date_updated) VALUES ($1, $2, 'b-tpl', $3, $3)", &[&b_tpl, &ob, &t]).await;
    exec(&mut f, "INSERT INTO command_groups (id, org_id, name, content, date_created, date_updated) VALUES ($1, $2, 'b-cg', 'rm', $3, $3)", &[&b_cg, &ob, &t]).await;
    exec(&mut f, "INSERT INTO operate_logs (id, org_id, user_display, action, resource_type, resource, datetime) VALUES ($1, $2, 'orgadm-b', 'create', 'Asset', 'b-host', $3)", &[&b_oplog, &ob, &t]).await;
    let (b_sess, b_cmd) = session_in(&mut f, &ob).await;
    let (sess, _cmd) = session_in(&mut f, "00000000-0000-0000-0000-000000000002").await;
    for (k, val) in [
        ("b_node", b_node.to_string()),
        ("b_host", b_host.to_string()),
        ("b_acct", b_acct.to_string()),
        ("b_grp", b_grp.to_string()),
        ("b_perm", b_perm.to_string()),
        ("b_zone", b_zone),
        ("b_tpl", b_tpl),
        ("b_cg", b_cg),
        ("b_oplog", b_oplog),
        ("b_sess", b_sess),
        ("b_cmd", b_cmd),
        ("sess", sess),
    ] {
        v.set(k, val);
    }

    // ---- Shared objects in Default, made by the system admin through the API --------------
    let a = &admin_token;
    let s = &server;
    let target = mk(
        s,
        a,
        "/api/v1/users/users/",
        json!({"name": "T", "username": "target", "email": "target@example.com"}),
    );
    let host = mk(
        s,
        a,
        "/api/v1/assets/hosts/",
        json!({"name": "shared-host", "address": "10.8.0.1", "platform": 1, "protocols": [{"name": "ssh"}]}),
    );
    let acct = mk(
        s,
        a,
        "/api/v1/accounts/accounts/",
        json!({"asset": host, "username": "shared", "secret": "s"}),
    );
    let node = mk(
        s,
        a,
        "/api/v1/assets/nodes/",
        json!({"value": "shared-node"}),
    );
    let zone = mk(
        s,
        a,
        "/api/v1/assets/zones/",
        json!({"name": "shared-zone"}),
    );
    let grp = mk(
        s,
        a,
        "/api/v1/users/groups/",
        json!({"name": "shared-group"}),
    );
    let tpl = mk(
        s,
        a,
        "/api/v1/accounts/account-templates/",
        json!({"name": "shared-tpl", "username": "svc", "secret": "Tpl-s3cret"}),
    );
    let perm = mk(
        s,
        a,
        "/api/v1/perms/asset-permissions/",
        json!({"name": "shared-perm", "actions": ["all"]}),
    );
    let cg = mk(
        s,
        a,
        "/api/v1/acls/command-groups/",
        json!({"name": "shared-cg", "content": "rm"}),
    );
    let who_by = json!({"type": "ids", "ids": [bystander]});
    let cf = mk(
        s,
        a,
        "/api/v1/acls/command-filter-acls/",
        json!({"name": "shared-cf", "users": who_by, "assets": {"type": "all"}, "command_groups": [cg]}),
    );
    let la = mk(
        s,
        a,
        "/api/v1/acls/login-asset-acls/",
        json!({"name": "shared-la", "action": "accept", "users": who_by, "assets": {"type": "all"}, "accounts": ["root"]}),
    );
    let lacl = mk(
        s,
        a,
        "/api/v1/acls/login-acls/",
        json!({"name": "shared-l", "action": "accept", "users": who_by}),
    );
    let cm = mk(
        s,
        a,
        "/api/v1/acls/connect-method-acls/",
        json!({"name": "shared-cm", "action": "accept", "users": who_by, "connect_methods": ["web_cli"]}),
    );
    let orole = mk(
        s,
        a,
        "/api/v1/rbac/org-roles/",
        json!({"name": "shared-orole", "permissions": ["assets.view_asset"]}),
    );
    for (k, val) in [
        ("target", &target),
        ("host", &host),
        ("acct", &acct),
        ("node", &node),
        ("zone", &zone),
        ("grp", &grp),
        ("tpl", &tpl),
        ("perm", &perm),
        ("cg", &cg),
        ("cf", &cf),
        ("la", &la),
        ("lacl", &lacl),
        ("cm", &cm),
        ("orole", &orole),
    ] {
        v.set(k, val);
    }
    let ob_target: String =
        sqlx::query_scalar("SELECT id FROM role_bindings WHERE scope = 'org' AND user_id = $1")
            .bind(&target)
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
    let sb_target: String =
        sqlx::query_scalar("SELECT id FROM role_bindings WHERE scope = 'system' AND user_id = $1")
            .bind(&target)
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
    v.set("ob_target", ob_target);
    v.set("sb_target", sb_target);

    // ---- Per-role objects for destructive requests ----------------------------------------
    for role in ROLES {
        let r = role.to_ascii_lowercase();
        let user = |p: &str| json!({"name": p, "username": format!("{p}-{r}"), "email": format!("{p}-{r}@example.com")});
        let del_user = mk(s, a, "/api/v1/users/users/", user("del"));
        let rm_user = mk(s, a, "/api/v1/users/users/", user("rm"));
        let nb_user = mk(s, a, "/api/v1/users/users/", user("nb"));
        let bd_user = mk(s, a, "/api/v1/users/users/", user("bd"));
        let del_ob = mk(
            s,
            a,
            "/api/v1/rbac/org-role-bindings/",
            json!({"user": bd_user, "role": "00000000-0000-0000-0000-000000000006"}),
        );
        let del_sb = mk(
            s,
            a,
            "/api/v1/rbac/system-role-bindings/",
            json!({"user": bd_user, "role": "00000000-0000-0000-0000-000000000002"}),
        );
        let del_srole = mk(
            s,
            a,
            "/api/v1/rbac/system-roles/",
            json!({"name": format!("dsr-{r}"), "permissions": ["users.view_user"]}),
        );
        let del_grp = mk(
            s,
            a,
            "/api/v1/users/groups/",
            json!({"name": format!("dg-{r}")}),
        );
        let del_host = mk(
            s,
            a,
            "/api/v1/assets/hosts/",
            json!({"name": format!("dh-{r}"), "address": "10.8.1.1", "platform": 1, "protocols": [{"name": "ssh"}]}),
        );
        let del_node = mk(
            s,
            a,
            "/api/v1/assets/nodes/",
            json!({"value": format!("dn-{r}")}),
        );
        let del_zone = mk(
            s,
            a,
            "/api/v1/assets/zones/",
            json!({"name": format!("dz-{r}")}),
        );
        let del_acct = mk(
            s,
            a,
            "/api/v1/accounts/accounts/",
            json!({"asset": host, "username": format!("da-{r}"), "secret": "s"}),
        );
        let del_tpl = mk(
            s,
            a,
            "/api/v1/accounts/account-templates/",
            json!({"name": format!("dt-{r}"), "username": "svc", "secret": "Tpl-s3cret"}),
        );
        let del_perm = mk(
            s,
            a,
            "/api/v1/perms/asset-permissions/",
            json!({"name": format!("dp-{r}"), "actions": ["all"]}),
        );
        let del_cg = mk(
            s,
            a,
            "/api/v1/acls/command-groups/",
            json!({"name": format!("dcg-{r}"), "content": "rm"}),
        );
        let del_cf = mk(
            s,
            a,
            "/api/v1/acls/command-filter-acls/",
            json!({"name": format!("dcf-{r}"), "users": who_by, "assets": {"type": "all"}, "command_groups": [cg]}),
        );
        let del_la = mk(
            s,
            a,
            "/api/v1/acls/login-asset-acls/",
            json!({"name": format!("dla-{r}"), "action": "accept", "users": who_by, "assets": {"type": "all"}, "accounts": ["root"]}),
        );
        let del_l = mk(
            s,
            a,
            "/api/v1/acls/login-acls/",
            json!({"name": format!("dl-{r}"), "action": "accept", "users": who_by}),
        );
        let del_cm = mk(
            s,
            a,
            "/api/v1/acls/connect-method-acls/",
            json!({"name": format!("dcm-{r}"), "action": "accept", "users": who_by, "connect_methods": ["web_cli"]}),
        );
        for (k, val) in [
            ("del_user", del_user),
            ("rm_user", rm_user),
            ("nb_user", nb_user),
            ("del_ob", del_ob),
            ("del_sb", del_sb),
            ("del_srole", del_srole),
            ("del_grp", del_grp),
            ("del_host", del_host),
            ("del_node", del_node),
            ("del_zone", del_zone),
            ("del_acct", del_acct),
            ("del_tpl", del_tpl),
            ("del_perm", del_perm),
            ("del_cg", del_cg),
            ("del_cf", del_cf),
            ("del_la", del_la),
            ("del_l", del_l),
            ("del_cm", del_cm),
        ] {
            v.set_for(role, k, val);
        }
    }

    // ---- Tickets: per role one to approve and one to reject as their reviewer, and one that
    // none of the matrix's callers reviews ------------------------------------------------------
    for (role, username) in [
        ("SA", "admin"),
        ("SAud", "sysaud"),
        ("U", "plain"),
        ("OA", "orgadm"),
        ("OAud", "orgaud"),
    ] {
        let reviewer = user_id(&mut f, username).await;
        let approve = ticket_in(&mut f, &bystander, &reviewer).await;
        let reject = ticket_in(&mut f, &bystander, &reviewer).await;
        v.set_for(role, "t_approve", approve);
        v.set_for(role, "t_reject", reject);
    }
    let other = ticket_in(&mut f, &bystander, &orgadm_b).await;
    v.set("t_other", other);

    // ---- Log everyone in (after the bindings are final) ------------------------------------
    let usernames: HashMap<&str, &str> = [
        ("SA", "admin"),
        ("SAud", "sysaud"),
        ("U", "plain"),
        ("OA", "orgadm"),
        ("OAud", "orgaud"),
        ("OB", "orgadm-b"),
        ("BY", "bystander"),
    ]
    .into_iter()
    .collect();
    let mut callers: HashMap<&str, Who> = HashMap::new();
    for (role, username) in &usernames {
        callers.insert(role, login_as(&server, username, &passwords[role]));
        v.set_for(role, "pw", &passwords[role]);
    }
    // The bystander's own access key: nobody else may see or touch it.
    let by = &callers["BY"];
    let r = request(
        &server,
        by,
        true,
        "",
        "POST",
        "/api/v1/authentication/confirm/",
        Some(&json!({"confirm_type": "password", "secret_key": passwords["BY"]})),
    );
    assert_eq!(r.status, 200, "setup: bystander confirm: {}", r.body);
    let r = request(
        &server,
        by,
        true,
        "",
        "POST",
        "/api/v1/authentication/access-keys/",
        Some(&json!({})),
    );
    assert_eq!(r.status, 201, "setup: bystander key: {}", r.body);
    v.set("otherkey", r.json()["id"].as_str().unwrap());
    // Audit rows in Default to read by id.
    let oplog: String = sqlx::query_scalar("SELECT id FROM operate_logs WHERE org_id = '00000000-0000-0000-0000-000000000002' ORDER BY datetime LIMIT 1")
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
    let loginlog: String =
        sqlx::query_scalar("SELECT id FROM login_logs WHERE username = 'plain' LIMIT 1")
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
    let b_loginlog: String =
        sqlx::query_scalar("SELECT id FROM login_logs WHERE username = 'orgadm-b' LIMIT 1")
            .fetch_one(&mut f.conn)
            .await
            .unwrap();
    v.set("b_loginlog", b_loginlog);
    v.set("oplog", oplog);
    v.set("loginlog", loginlog);

    // ---- Run the matrix --------------------------------------------------------------------
    let mut mismatches: Vec<String> = Vec::new();
    let mut checked = 0usize;
    let rows = matrix();
    for row in &rows {
        for (i, role) in ROLES.iter().enumerate() {
            let expected = row.exp[i];
            let path = v.fill(role, row.path);
            let body = (!row.body.is_empty()).then(|| {
                let text = v.fill(role, row.body);
                serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|e| panic!("bad body template {text}: {e}"))
            });
            let r = request(
                &server,
                &callers[role],
                row.ctx == Ctx::Session,
                "",
                row.method,
                &path,
                body.as_ref(),
            );
            checked += 1;
            if r.status != expected {
                mismatches.push(format!(
                    "{role:<5} {:<6} {path}  expected {expected}, got {}  body: {}",
                    row.method,
                    r.status,
                    excerpt(&r.body)
                ));
            } else if expected == DENY && !r.body.contains("permission_denied") {
                mismatches.push(format!(
                    "{role:<5} {:<6} {path}  403 without DRF's permission_denied body: {}",
                    row.method,
                    excerpt(&r.body)
                ));
            }
            if let Some(name) = row.capture
                && r.status == expected
                && let Some(id) = r.json()["id"].as_str()
            {
                v.set_for(role, name, id);
            }
            if let Some(name) = row.capture
                && !v
                    .per_role
                    .contains_key(&(role.to_string(), name.to_owned()))
            {
                // Keep later rows runnable: they will report their own mismatch.
                v.set_for(role, name, Uuid::nil());
            }
        }
    }

    // ---- Run the isolation table -----------------------------------------------------------
    for c in isolation() {
        let path = v.fill(c.who, c.path);
        let org = v.fill(c.who, c.org);
        let body = (!c.body.is_empty())
            .then(|| serde_json::from_str::<Value>(&v.fill(c.who, c.body)).expect("iso body"));
        let r = request(
            &server,
            &callers[c.who],
            false,
            &org,
            c.method,
            &path,
            body.as_ref(),
        );
        checked += 1;
        let label = format!(
            "{:<5} {:<6} {path} [X-JMS-ORG: {}]",
            c.who,
            c.method,
            if org.is_empty() { "-" } else { &org }
        );
        if r.status != c.status {
            mismatches.push(format!(
                "{label}  expected {}, got {}  body: {}",
                c.status,
                r.status,
                excerpt(&r.body)
            ));
            continue;
        }
        for h in c.has {
            let h = v.fill(c.who, h);
            if !r.body.contains(&h) {
                mismatches.push(format!(
                    "{label}  body should contain {h}: {}",
                    excerpt(&r.body)
                ));
            }
        }
        for l in c.lacks {
            let l = v.fill(c.who, l);
            if r.body.contains(&l) {
                mismatches.push(format!(
                    "{label}  body must not contain {l} (another org's data): {}",
                    excerpt(&r.body)
                ));
            }
        }
    }

    if !mismatches.is_empty() {
        eprintln!(
            "\n{} authorization mismatch(es) out of {checked} checks (role, method, path, expected, got, body):",
            mismatches.len()
        );
        for m in &mismatches {
            eprintln!("  {m}");
        }
        eprintln!();
    }
    drop(server);
    assert!(
        mismatches.is_empty(),
        "{} of {checked} authorization checks failed; see the list above",
        mismatches.len()
    );
}
