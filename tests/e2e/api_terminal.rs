//! Terminal tasks (kill and lock), the caller's own sessions, session replays and connection
//! tokens, driven over HTTP against the spawned server on both databases.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{HttpResponse, Server, TestDb, http};
use chrono::{Duration, Utc};
use portcullis_store::Store;
use portcullis_store::audits::{NewSession, SessionEnd};
use serde_json::{Value, json};
use uuid::Uuid;

const DEFAULT_ORG: &str = "00000000-0000-0000-0000-000000000002";
const ORG_ADMIN_ROLE: &str = "00000000-0000-0000-0000-000000000005";
const TOKENS: &str = "/api/v1/authentication/connection-token/";

fn rows(r: &HttpResponse) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    v.get("results")
        .cloned()
        .unwrap_or(v)
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("not a list: {}", r.body))
}

fn user_id(server: &Server, admin: &str, username: &str) -> Uuid {
    let r = get(server, admin, &format!("/api/v1/users/users/{username}/"));
    assert_eq!(r.status, 200, "{}", r.body);
    Uuid::parse_str(r.json()["id"].as_str().unwrap()).unwrap()
}

/// A request in an explicit org (`ROOT` for the cross-org view).
fn in_org(
    server: &Server,
    token: &str,
    org: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(
        &server.base,
        method,
        path,
        &[("Authorization", &auth), ("X-JMS-ORG", org)],
        body,
    )
    .unwrap()
}

async fn other_org(f: &mut Fixture) -> Uuid {
    let org = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO orgs (id, name, date_created, date_updated) VALUES ($1, 'Other', $2, $2)",
    )
    .bind(org.to_string())
    .bind(crate::fixture::now())
    .execute(&mut f.conn)
    .await
    .unwrap();
    org
}

fn new_session(id: Uuid, org: Uuid, user: (&str, Uuid)) -> NewSession {
    NewSession {
        id,
        org,
        user: format!("{0}({0})", user.0),
        user_id: user.1,
        asset: "web-1(10.0.0.1)".into(),
        asset_id: Uuid::new_v4(),
        account: "root(root)".into(),
        account_id: None,
        protocol: "ssh".into(),
        session_type: "normal".into(),
        login_from: "ST".into(),
        remote_addr: "10.1.1.1".into(),
        date_start: Utc::now() - Duration::minutes(10),
        terminal: String::new(),
        token_id: None,
    }
}

fn finished(replay_path: &str, replay_size: i64) -> SessionEnd {
    SessionEnd {
        date_end: Utc::now(),
        is_success: true,
        error_reason: String::new(),
        replay_size,
        replay_path: replay_path.into(),
    }
}

async fn count(f: &mut Fixture, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(arg.to_owned())
        .fetch_one(&mut f.conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn kill_and_lock_create_tasks_only_for_running_sessions_of_the_callers_org() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let auditor_pw = create_user(dir.path(), &db, "watcher", "auditor");
        let user_pw = create_user(dir.path(), &db, "plain", "user");
        let orgadm_pw = create_user(dir.path(), &db, "orgadm", "user");
        let store = Store::connect(&db.url).await.unwrap();
        let mut f = Fixture::new(&db.url).await;
        let orgadm_id = user_id(&server, &admin, "orgadm");
        sqlx::query("UPDATE role_bindings SET role_id = $1 WHERE scope = 'org' AND user_id = $2")
            .bind(ORG_ADMIN_ROLE)
            .bind(orgadm_id.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
        let auditor = token(&server, "watcher", &auditor_pw);
        let user = token(&server, "plain", &user_pw);
        let orgadm = token(&server, "orgadm", &orgadm_pw);
        let elsewhere_org = other_org(&mut f).await;
        let default_org = Uuid::parse_str(DEFAULT_ORG).unwrap();
        let alice = ("alice", Uuid::new_v4());
        let (live, done, elsewhere) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        for (id, org) in [
            (live, default_org),
            (done, default_org),
            (elsewhere, elsewhere_org),
        ] {
            store
                .insert_session(&new_session(id, org, alice))
                .await
                .unwrap();
        }
        store.finish_session(done, &finished("", 0)).await.unwrap();
        let kill = "/api/v1/terminal/tasks/kill-session/";

        // Auditors and plain users may not terminate; nothing is written for them.
        for (who, t) in [("auditor", &auditor), ("user", &user)] {
            let r = send(&server, t, "POST", kill, &json!([live]));
            assert_eq!(r.status, 403, "{who}: {}", r.body);
            let r = send(
                &server,
                t,
                "POST",
                "/api/v1/terminal/tasks/toggle-lock-session/",
                &json!({"session_id": live, "task_name": "lock_session"}),
            );
            assert_eq!(r.status, 403, "{who}: {}", r.body);
        }
        assert!(store.pending_terminal_tasks().await.unwrap().is_empty());

        // Only the running session of the current org is accepted.
        let unknown = Uuid::new_v4();
        let r = send(
            &server,
            &admin,
            "POST",
            kill,
            &json!([live, done, elsewhere, unknown, "not-a-uuid", live]),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"ok": [live]}));
        let pending = store.pending_terminal_tasks().await.unwrap();
        assert_eq!(pending.len(), 1, "{pending:?}");
        assert_eq!(pending[0].name, "kill_session");
        assert_eq!(pending[0].args, live.to_string());
        assert!(pending[0].created_by.ends_with("(admin)"), "{pending:?}");
        assert_eq!(pending[0].kwargs["terminated_by"], pending[0].created_by);
        assert_eq!(
            count(
                &mut f,
                "SELECT COUNT(*) FROM operate_logs WHERE resource_id = $1 AND action = 'close'",
                &live.to_string()
            )
            .await,
            1,
            "the kill is in the operation log"
        );
        let r = send(&server, &admin, "POST", kill, &json!({"id": live}));
        assert_eq!(r.status, 400, "{}", r.body);

        // An org admin reaches their org only; the root view reaches every org.
        let r = send(&server, &orgadm, "POST", kill, &json!([elsewhere]));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"ok": []}));
        let r = send(&server, &orgadm, "POST", kill, &json!([live]));
        assert_eq!(r.json(), json!({"ok": [live]}), "{}", r.body);
        let r = in_org(
            &server,
            &admin,
            "ROOT",
            "POST",
            kill,
            Some(&json!([elsewhere])),
        );
        assert_eq!(r.json(), json!({"ok": [elsewhere]}), "{}", r.body);
        assert_eq!(store.pending_terminal_tasks().await.unwrap().len(), 3);

        // Lock and unlock.
        let lock = "/api/v1/terminal/tasks/toggle-lock-session/";
        let r = send(
            &server,
            &admin,
            "POST",
            lock,
            &json!({"session_id": live, "task_name": "lock_session"}),
        );
        assert_eq!(r.json(), json!({"ok": [live]}), "{}", r.body);
        let r = send(
            &server,
            &admin,
            "POST",
            lock,
            &json!({"session_id": done, "task_name": "unlock_session"}),
        );
        assert_eq!(r.json(), json!({"ok": []}), "{}", r.body);
        for body in [
            json!({"session_id": live, "task_name": "kill_session"}),
            json!({"session_id": "nope", "task_name": "lock_session"}),
            json!({"task_name": "lock_session"}),
        ] {
            let r = send(&server, &admin, "POST", lock, &body);
            assert_eq!(r.status, 400, "{body}: {}", r.body);
        }

        // The task list is scoped by the sessions' org; components finish tasks.
        let tasks = rows(&get(&server, &admin, "/api/v1/terminal/tasks/"));
        assert_eq!(tasks.len(), 3, "Default sees its own session's tasks");
        assert!(tasks.iter().all(|t| t["args"] == live.to_string()));
        assert_eq!(
            rows(&in_org(
                &server,
                &admin,
                "ROOT",
                "GET",
                "/api/v1/terminal/tasks/",
                None
            ))
            .len(),
            4
        );
        assert_eq!(
            get(&server, &auditor, "/api/v1/terminal/tasks/").status,
            403
        );
        let lock_task = tasks
            .iter()
            .find(|t| t["name"]["value"] == "lock_session")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/api/v1/terminal/tasks/{lock_task}/");
        assert_eq!(get(&server, &admin, &path).json()["is_finished"], false);
        let r = send(
            &server,
            &orgadm,
            "PATCH",
            &path,
            &json!({"is_finished": true}),
        );
        assert_eq!(
            r.status, 403,
            "an org admin does not finish tasks: {}",
            r.body
        );
        let r = send(
            &server,
            &admin,
            "PATCH",
            &path,
            &json!({"is_finished": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["is_finished"], true);
        assert!(r.json()["date_finished"].is_string());
        assert_eq!(store.pending_terminal_tasks().await.unwrap().len(), 3);
        let elsewhere_task = store
            .pending_terminal_tasks()
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.args == elsewhere.to_string())
            .unwrap();
        assert_eq!(
            get(
                &server,
                &admin,
                &format!("/api/v1/terminal/tasks/{}/", elsewhere_task.id)
            )
            .status,
            404,
            "another org's task is not visible in Default"
        );

        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn my_sessions_lists_only_the_callers_own() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let alice_pw = create_user(dir.path(), &db, "alice", "user");
        let bob_pw = create_user(dir.path(), &db, "bob", "user");
        let alice = token(&server, "alice", &alice_pw);
        let bob = token(&server, "bob", &bob_pw);
        let alice_id = user_id(&server, &admin, "alice");
        let bob_id = user_id(&server, &admin, "bob");
        let store = Store::connect(&db.url).await.unwrap();
        let mut f = Fixture::new(&db.url).await;
        let elsewhere = other_org(&mut f).await;
        let default_org = Uuid::parse_str(DEFAULT_ORG).unwrap();
        let (a1, a2, b1) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        store
            .insert_session(&new_session(a1, default_org, ("alice", alice_id)))
            .await
            .unwrap();
        store
            .insert_session(&new_session(a2, elsewhere, ("alice", alice_id)))
            .await
            .unwrap();
        store.finish_session(a2, &finished("", 0)).await.unwrap();
        store
            .insert_session(&new_session(b1, default_org, ("bob", bob_id)))
            .await
            .unwrap();

        let mine = rows(&get(&server, &alice, "/api/v1/terminal/my-sessions/"));
        let mut ids: Vec<&str> = mine.iter().map(|s| s["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        let mut want = vec![a1.to_string(), a2.to_string()];
        want.sort_unstable();
        assert_eq!(ids, want, "alice's sessions, in every org");
        assert_eq!(mine[0]["user"], "alice(alice)");
        assert!(
            mine[0]["login_from"]["value"].is_string(),
            "the session shape"
        );
        let live = rows(&get(
            &server,
            &alice,
            "/api/v1/terminal/my-sessions/?is_finished=0",
        ));
        assert_eq!(live.len(), 1);
        assert_eq!(live[0]["id"], a1.to_string());
        let theirs = rows(&get(&server, &bob, "/api/v1/terminal/my-sessions/"));
        assert_eq!(theirs.len(), 1);
        assert_eq!(theirs[0]["id"], b1.to_string());
        // A user_id filter cannot widen it to someone else's sessions.
        let r = get(
            &server,
            &bob,
            &format!("/api/v1/terminal/my-sessions/?user_id={alice_id}"),
        );
        assert!(
            rows(&r).iter().all(|s| s["user_id"] == bob_id.to_string()),
            "{}",
            r.body
        );
        // The full list stays an auditor's view.
        assert_eq!(get(&server, &bob, "/api/v1/terminal/sessions/").status, 403);

        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn replays_are_served_from_the_recordings_directory_only() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let auditor_pw = create_user(dir.path(), &db, "watcher", "auditor");
        let user_pw = create_user(dir.path(), &db, "plain", "user");
        let auditor = token(&server, "watcher", &auditor_pw);
        let user = token(&server, "plain", &user_pw);
        let store = Store::connect(&db.url).await.unwrap();
        let mut f = Fixture::new(&db.url).await;
        let elsewhere_org = other_org(&mut f).await;
        let default_org = Uuid::parse_str(DEFAULT_ORG).unwrap();
        let who = ("alice", Uuid::new_v4());

        // A recording of a few hundred kilobytes (several stream chunks), placed where the
        // server keeps recordings, and a file outside that directory the server must not serve.
        let recorded = Uuid::new_v4();
        let day = dir.path().join("recordings").join("2026-11-22");
        std::fs::create_dir_all(&day).unwrap();
        let mut cast = String::from(
            "{\"version\": 2, \"width\": 80, \"height\": 24, \"timestamp\": 1700000000}\n",
        );
        for i in 0..8000 {
            cast.push_str(&format!(
                "[{}.{:03}, \"o\", \"line {i} ünïcødé ✓\\r\\n\"]\n",
                i / 10,
                i % 1000
            ));
        }
        let rel = format!("2026-11-22/{recorded}.cast");
        std::fs::write(dir.path().join("recordings").join(&rel), &cast).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "TOP-SECRET").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            dir.path().join("secret.txt"),
            dir.path().join("recordings").join("link.cast"),
        )
        .unwrap();

        let (plain, escape, absolute, linked, foreign, missing) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let secret_abs = dir.path().join("secret.txt").display().to_string();
        for (id, org, path) in [
            (recorded, default_org, rel.as_str()),
            (plain, default_org, ""),
            (escape, default_org, "../secret.txt"),
            (absolute, default_org, secret_abs.as_str()),
            (linked, default_org, "link.cast"),
            (foreign, elsewhere_org, rel.as_str()),
            (missing, default_org, "2026-11-22/nothing-here.cast"),
        ] {
            store
                .insert_session(&new_session(id, org, who))
                .await
                .unwrap();
            let size = if path.is_empty() { 0 } else { 100 };
            store
                .finish_session(id, &finished(path, size))
                .await
                .unwrap();
        }
        let meta = |id: Uuid| format!("/api/v1/terminal/sessions/{id}/replay/");
        let download = |id: Uuid| format!("/api/v1/terminal/sessions/{id}/replay/download/");

        // Metadata and the exact bytes.
        let r = get(&server, &admin, &meta(recorded));
        assert_eq!(r.status, 200, "{}", r.body);
        let m = r.json();
        assert_eq!(m["type"], "asciicast");
        assert_eq!(m["src"], download(recorded));
        assert_eq!(m["timezone"], "UTC");
        assert_eq!(m["user"], "alice(alice)");
        assert!(
            m["date_start"].is_string() && m["date_end"].is_string(),
            "{m}"
        );
        let r = get(&server, &admin, &download(recorded));
        assert_eq!(r.status, 200, "{}", r.header("content-type").unwrap_or(""));
        assert!(
            r.header("content-disposition")
                .is_some_and(|v| v == format!("attachment; filename=\"{recorded}.cast\"")),
            "{:?}",
            r.headers
        );
        assert!(
            r.header("content-type")
                .is_some_and(|v| v == "application/x-asciicast" || v == "application/octet-stream"),
            "{:?}",
            r.headers
        );
        assert_eq!(r.body.len(), cast.len());
        assert!(
            r.body == cast,
            "the downloaded replay differs from the file"
        );

        // Auditors may view and download; plain users may not.
        assert_eq!(get(&server, &auditor, &meta(recorded)).status, 200);
        assert_eq!(get(&server, &auditor, &download(recorded)).body, cast);
        assert_eq!(get(&server, &user, &meta(recorded)).status, 403);
        assert_eq!(get(&server, &user, &download(recorded)).status, 403);

        // No replay, a missing file, another org's session, a row pointing outside the
        // directory (relative, absolute or through a symlink): 404, and never the secret.
        for (what, id) in [
            ("no replay", plain),
            ("missing file", missing),
            ("other org", foreign),
            ("../ escape", escape),
            ("absolute path", absolute),
            ("symlink out", linked),
            ("unknown session", Uuid::new_v4()),
        ] {
            for path in [meta(id), download(id)] {
                let r = get(&server, &admin, &path);
                assert_eq!(r.status, 404, "{what} {path}: {}", r.body);
                assert!(!r.body.contains("TOP-SECRET"), "{what}: {}", r.body);
                assert!(r.json()["detail"].is_string(), "{what}: {}", r.body);
            }
        }
        // The root view reaches the other org's session (same file).
        let r = in_org(&server, &admin, "ROOT", "GET", &download(foreign), None);
        assert_eq!(r.status, 200);
        assert!(r.body == cast);

        drop(server);
        db.drop_db().await;
    }
}

#[tokio::test]
async fn connection_tokens_are_checked_against_the_grant_and_private_to_their_owner() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let alice_pw = create_user(dir.path(), &db, "alice", "user");
        let bob_pw = create_user(dir.path(), &db, "bob", "user");
        let alice = token(&server, "alice", &alice_pw);
        let bob = token(&server, "bob", &bob_pw);
        let alice_id = user_id(&server, &admin, "alice");
        let store = Store::connect(&db.url).await.unwrap();
        let mut f = Fixture::new(&db.url).await;
        let vault = portcullis_core::vault::Vault::new(
            portcullis_core::vault::MasterKey::generate(),
            vec![],
        );
        let root = f.node_id("1").await;
        let web = f.asset("web-1", &[root]).await;
        let web_root = f.account(&vault, web, "root", "pw").await;
        let upload_only = f.asset("upload-only", &[root]).await;
        let upload_acct = f.account(&vault, upload_only, "root", "pw").await;
        let unpermitted = f.asset("not-yours", &[root]).await;
        let other_acct = f.account(&vault, unpermitted, "root", "pw").await;
        f.permission(
            "alice-web",
            &[alice_id],
            &[],
            &[web],
            &[],
            &["@ALL", "@INPUT"],
            1,
            Fixture::always(),
        )
        .await;
        f.permission(
            "alice-upload",
            &[alice_id],
            &[],
            &[upload_only],
            &[],
            &["@ALL"],
            2,
            Fixture::always(),
        )
        .await;

        // Refusals, before anything is written.
        let body = |asset: Uuid, account: &str, protocol: &str| json!({"asset": asset, "account": account, "protocol": protocol, "connect_method": "ssh_client"});
        for (what, b) in [
            (
                "unknown account",
                body(web, &Uuid::new_v4().to_string(), "ssh"),
            ),
            (
                "another asset's account",
                body(web, &other_acct.to_string(), "ssh"),
            ),
            ("@USER not granted", body(web, "@USER", "ssh")),
            (
                "protocol not granted",
                body(web, &web_root.to_string(), "rdp"),
            ),
            (
                "no connect action",
                body(upload_only, &upload_acct.to_string(), "ssh"),
            ),
            (
                "unpermitted asset",
                body(unpermitted, &other_acct.to_string(), "ssh"),
            ),
        ] {
            let r = send(&server, &alice, "POST", TOKENS, &b);
            assert_eq!(r.status, 400, "{what}: {}", r.body);
            assert_eq!(
                r.json()["code"],
                "perm_account_invalid",
                "{what}: {}",
                r.body
            );
            assert_eq!(r.json()["detail"], "Account not found", "{what}");
        }
        for (what, b) in [
            ("missing asset", body(Uuid::new_v4(), "@INPUT", "ssh")),
            ("no account", json!({"asset": web, "protocol": "ssh"})),
            (
                "bad options",
                json!({"asset": web, "account": "@INPUT", "protocol": "ssh", "connect_options": 3}),
            ),
            (
                "unknown field",
                json!({"asset": web, "account": "@INPUT", "protocol": "ssh", "colour": 1}),
            ),
        ] {
            let r = send(&server, &alice, "POST", TOKENS, &b);
            assert_eq!(r.status, 400, "{what}: {}", r.body);
            assert!(r.json()["detail"].is_string(), "{what}: {}", r.body);
        }
        assert_eq!(
            count(
                &mut f,
                "SELECT COUNT(*) FROM connection_tokens WHERE user_id = $1",
                &alice_id.to_string()
            )
            .await,
            0
        );

        // A token for the granted account.
        let r = send(
            &server,
            &alice,
            "POST",
            TOKENS,
            &body(web, &web_root.to_string(), "ssh"),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let t = r.json();
        let id = t["id"].as_str().unwrap().to_owned();
        let value = t["value"].as_str().unwrap().to_owned();
        assert_eq!(value.len(), 16);
        assert!(value.chars().all(|c| c.is_ascii_alphanumeric()), "{value}");
        let left = t["expire_time"].as_i64().unwrap();
        assert!((290..=300).contains(&left), "{left}");
        assert_eq!(t["is_reusable"], false);
        assert_eq!(t["user"]["id"], alice_id.to_string());
        assert_eq!(t["asset"]["id"], web.to_string());
        assert_eq!(t["account"], web_root.to_string());
        assert_eq!(t["actions"][0]["value"], "connect");
        assert_eq!(t["org_id"], DEFAULT_ORG);
        assert_eq!(t["connect_options"]["resolution"], "auto");
        let sealed: String =
            sqlx::query_scalar("SELECT secret FROM connection_tokens WHERE id = $1")
                .bind(&id)
                .fetch_one(&mut f.conn)
                .await
                .unwrap();
        assert!(
            sealed.starts_with("pcv1:") && !sealed.contains(&value),
            "stored sealed"
        );

        // @INPUT with a typed secret: write-only, stored sealed.
        let r = send(
            &server,
            &alice,
            "POST",
            "/api/v1/users/connection-token/",
            &json!({"asset": {"id": web}, "account": "@INPUT", "protocol": "sftp",
                    "input_username": "deploy", "input_secret": "typed-Pa55"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let input_id = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(r.json()["input_username"], "deploy");
        assert!(!r.body.contains("typed-Pa55"), "{}", r.body);
        let sealed: String =
            sqlx::query_scalar("SELECT input_secret FROM connection_tokens WHERE id = $1")
                .bind(&input_id)
                .fetch_one(&mut f.conn)
                .await
                .unwrap();
        assert!(sealed.starts_with("pcv1:") && !sealed.contains("typed-Pa55"));

        // The owner lists (without values) and reads (with the value) on both mounts.
        for base in [TOKENS, "/api/v1/users/connection-token/"] {
            let list = rows(&get(&server, &alice, base));
            assert_eq!(list.len(), 2, "{base}");
            assert!(list.iter().all(|t| t.get("value").is_none()), "{list:?}");
            assert!(list.iter().all(|t| t.get("input_secret").is_none()));
            let d = get(&server, &alice, &format!("{base}{id}/"));
            assert_eq!(d.status, 200, "{}", d.body);
            assert_eq!(d.json()["value"], value.as_str());
        }
        // Another user sees none of it, and cannot act on it.
        let theirs = get(&server, &bob, TOKENS);
        assert_eq!(rows(&theirs).len(), 0);
        assert!(!theirs.body.contains(&value));
        let r = get(&server, &bob, &format!("{TOKENS}{id}/"));
        assert_eq!(r.status, 404);
        assert!(!r.body.contains(&value));
        assert_eq!(
            send(
                &server,
                &bob,
                "PATCH",
                &format!("{TOKENS}{id}/expire/"),
                &json!({})
            )
            .status,
            404
        );
        assert_eq!(
            send(
                &server,
                &alice,
                "DELETE",
                &format!("{TOKENS}{id}/"),
                &json!({})
            )
            .status,
            405
        );

        // Reuse is refused until the setting allows it.
        let reuse = format!("{TOKENS}{input_id}/reuse/");
        let r = send(
            &server,
            &alice,
            "PATCH",
            &reuse,
            &json!({"is_reusable": true}),
        );
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["detail"].as_str().unwrap().contains("not allowed"));
        store
            .set_setting("CONNECTION_TOKEN_REUSABLE", "security", &json!(true))
            .await
            .unwrap();
        let r = send(
            &server,
            &alice,
            "PATCH",
            &reuse,
            &json!({"is_reusable": true}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["is_reusable"], true);
        assert!(r.json()["expire_time"].as_i64().unwrap() > 29 * 24 * 3600);

        // Expiring ends it: gone from the list and the detail.
        let r = send(
            &server,
            &alice,
            "PATCH",
            &format!("{TOKENS}{id}/expire/"),
            &json!({}),
        );
        assert_eq!(r.status, 204, "{}", r.body);
        let list = rows(&get(&server, &alice, TOKENS));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["id"], input_id.as_str());
        assert_eq!(get(&server, &alice, &format!("{TOKENS}{id}/")).status, 404);
        let record = store
            .connection_token(Uuid::parse_str(&id).unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(record.is_expired(Utc::now()));

        drop(server);
        db.drop_db().await;
    }
}
