//! Tickets (reviews): opened through the store the way the session engine opens them, then
//! listed, approved, rejected and closed over HTTP against the spawned server, on both
//! databases. Pins who sees a ticket (its applicant and reviewers everywhere; org admins and
//! auditors the org's), that only a reviewer may answer (not even a system admin otherwise),
//! that only the applicant may withdraw, that a ticket is answered once, and that the waiting
//! side's poll (`Store::ticket_state`) and the operation log see every transition.

use crate::client::*;
use crate::fixture::{Fixture, now};
use crate::support::{HttpResponse, Server, TestDb, http};
use portcullis_store::tickets::{NewTicket, TicketKind, TicketQuery, TicketState};
use portcullis_store::{Store, StoreError};
use serde_json::{Value, json};
use uuid::Uuid;

const DEFAULT_ORG: &str = "00000000-0000-0000-0000-000000000002";
const ORG_ADMIN_ROLE: &str = "00000000-0000-0000-0000-000000000005";
const ORG_AUDITOR_ROLE: &str = "00000000-0000-0000-0000-000000000006";
const TICKETS: &str = "/api/v1/tickets/tickets/";

fn default_org() -> Uuid {
    Uuid::parse_str(DEFAULT_ORG).unwrap()
}

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

/// The ids of a list answer, sorted, for order-free comparison.
fn ids(r: &HttpResponse) -> Vec<String> {
    let mut v: Vec<String> = rows(r)
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

fn sorted(ids: &[Uuid]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    v.sort();
    v
}

fn user_id(server: &Server, admin: &str, username: &str) -> Uuid {
    let r = get(server, admin, &format!("/api/v1/users/users/{username}/"));
    assert_eq!(r.status, 200, "{}", r.body);
    Uuid::parse_str(r.json()["id"].as_str().unwrap()).unwrap()
}

/// A request in an explicit org (`ROOT` for the cross-org view).
fn in_org(server: &Server, token: &str, org: &str, method: &str, path: &str) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http(
        &server.base,
        method,
        path,
        &[("Authorization", &auth), ("X-JMS-ORG", org)],
        None,
    )
    .unwrap()
}

fn put(server: &Server, token: &str, path: &str) -> HttpResponse {
    send(server, token, "PUT", path, &json!({}))
}

fn action(id: Uuid, what: &str) -> String {
    format!("{TICKETS}{id}/{what}/")
}

async fn other_org(f: &mut Fixture) -> Uuid {
    let org = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO orgs (id, name, date_created, date_updated) VALUES ($1, 'Other', $2, $2)",
    )
    .bind(org.to_string())
    .bind(now())
    .execute(&mut f.conn)
    .await
    .unwrap();
    org
}

/// Gives a user of the Default org another org role there.
async fn set_org_role(f: &mut Fixture, user: Uuid, role: &str) {
    let done =
        sqlx::query("UPDATE role_bindings SET role_id = $1 WHERE scope = 'org' AND user_id = $2")
            .bind(role)
            .bind(user.to_string())
            .execute(&mut f.conn)
            .await
            .unwrap();
    assert_eq!(done.rows_affected(), 1);
}

/// Operation-log rows about `id` with this action, as (org, actor).
async fn logged(f: &mut Fixture, id: Uuid, action: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT org_id, user_display FROM operate_logs
         WHERE resource_id = $1 AND action = $2 AND resource_type = 'Ticket'",
    )
    .bind(id.to_string())
    .bind(action)
    .fetch_all(&mut f.conn)
    .await
    .unwrap()
}

fn ticket(
    org: Uuid,
    kind: TicketKind,
    title: &str,
    applicant: (Uuid, &str),
    reviewers: &[Uuid],
) -> NewTicket {
    NewTicket {
        org,
        kind,
        title: title.into(),
        applicant_id: applicant.0,
        applicant_display: format!("{0}({0})", applicant.1),
        reviewers: reviewers.to_vec(),
        meta: json!({"command": "rm -rf /tmp/x", "asset": "web-1(10.0.0.1)"}),
    }
}

fn assert_not_pending(r: &HttpResponse, state: &str) {
    assert_eq!(r.status, 400, "{}", r.body);
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.contains(state), "{}", r.body);
}

#[tokio::test]
async fn only_reviewers_answer_and_only_once_while_admins_and_auditors_read() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let mut pw = std::collections::HashMap::new();
        for (name, role) in [
            ("rev1", "user"),
            ("rev2", "user"),
            ("appl", "user"),
            ("plain", "user"),
            ("orgadm", "user"),
            ("orgaud", "user"),
            ("watcher", "auditor"),
        ] {
            pw.insert(name, create_user(dir.path(), &db, name, role));
        }
        let mut f = Fixture::new(&db.url).await;
        let id_of = |name: &str| user_id(&server, &admin, name);
        let (rev1_id, rev2_id, appl_id) = (id_of("rev1"), id_of("rev2"), id_of("appl"));
        set_org_role(&mut f, id_of("orgadm"), ORG_ADMIN_ROLE).await;
        set_org_role(&mut f, id_of("orgaud"), ORG_AUDITOR_ROLE).await;
        let tok = |name: &str| token(&server, name, &pw[name]);
        let (rev1, rev2, appl, plain) = (tok("rev1"), tok("rev2"), tok("appl"), tok("plain"));
        let (orgadm, orgaud, watcher) = (tok("orgadm"), tok("orgaud"), tok("watcher"));

        let store = Store::connect(&db.url).await.unwrap();
        let elsewhere = other_org(&mut f).await;
        let applicant = (appl_id, "appl");
        let t1 = store
            .create_ticket(&ticket(
                default_org(),
                TicketKind::CommandConfirm,
                "Command review: rm -rf /tmp/x",
                applicant,
                &[rev1_id, rev2_id, rev1_id],
            ))
            .await
            .unwrap();
        let t2 = store
            .create_ticket(&ticket(
                default_org(),
                TicketKind::LoginAssetConfirm,
                "Login review: web-1",
                applicant,
                &[rev1_id],
            ))
            .await
            .unwrap();
        let t3 = store
            .create_ticket(&ticket(
                elsewhere,
                TicketKind::LoginAssetConfirm,
                "Login review: db-1",
                applicant,
                &[rev2_id],
            ))
            .await
            .unwrap();
        assert_eq!(
            store.ticket_state(t1).await.unwrap(),
            Some((TicketState::Pending, String::new()))
        );

        // The reviewer sees the tickets to review, in JumpServer's shape, newest first.
        let r = get(&server, &rev1, &format!("{TICKETS}?limit=10"));
        assert_eq!(r.json()["count"], 2, "{}", r.body);
        let list = rows(&r);
        assert_eq!(list[0]["id"], t2.to_string(), "newest first: {}", r.body);
        let one = &list[1];
        assert_eq!(one["id"], t1.to_string());
        assert_eq!(one["title"], "Command review: rm -rf /tmp/x");
        assert_eq!(
            one["type"],
            json!({"value": "command_confirm", "label": "Command confirm"})
        );
        assert_eq!(one["state"]["value"], "pending");
        assert_eq!(one["status"]["value"], "open");
        assert_eq!(one["applicant"], "appl(appl)");
        assert_eq!(one["applicant_id"], appl_id.to_string());
        assert_eq!(one["org_id"], DEFAULT_ORG);
        assert_eq!(one["org_name"], "Default");
        assert_eq!(one["meta"]["command"], "rm -rf /tmp/x");
        assert_eq!(one["rel_snapshot"], one["meta"]);
        let assignees: Vec<&str> = one["assignees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            assignees,
            ["rev1(rev1)", "rev2(rev2)"],
            "duplicates dropped"
        );
        // The date window (`date_from`/`date_to`, as in the audit lists) is on when the
        // ticket was opened; a malformed date is a 400 naming the parameter.
        let day = |offset_days: i64| {
            (chrono::Utc::now() + chrono::Duration::days(offset_days))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        let window = |q: String| get(&server, &rev1, &format!("{TICKETS}?limit=10&{q}"));
        let r = window(format!("date_from={}&date_to={}", day(-1), day(1)));
        assert_eq!(r.json()["count"], 2, "{}", r.body);
        let r = window(format!("date_from={}", day(1)));
        assert_eq!(r.json()["count"], 0, "opened before date_from: {}", r.body);
        let r = window(format!("date_to={}", day(-1)));
        assert_eq!(r.json()["count"], 0, "opened after date_to: {}", r.body);
        let r = window("date_from=yesterday".into());
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.json()["date_from"].is_array(), "{}", r.body);
        let step = &one["process_map"][0];
        assert_eq!(step["approval_level"], 1);
        assert_eq!(step["state"], "pending");
        assert_eq!(step["assignees"].as_array().unwrap().len(), 2);
        assert_eq!(step["processor"], Value::Null);
        // Serial numbers: today's date and a counter, one after the other.
        let today = chrono::Local::now().format("%Y%m%d").to_string();
        let s1 = one["serial_num"].as_str().unwrap().to_owned();
        let s2 = list[0]["serial_num"].as_str().unwrap().to_owned();
        assert!(s1.starts_with(&today) && s1.len() == 12, "{s1}");
        let n = |s: &str| s[8..].parse::<u64>().unwrap();
        assert_eq!(n(&s2), n(&s1) + 1, "{s1} then {s2}");
        // Filters.
        let r = get(
            &server,
            &rev1,
            &format!("{TICKETS}?type=login_asset_confirm"),
        );
        assert_eq!(ids(&r), sorted(&[t2]));
        let r = get(&server, &rev2, &format!("{TICKETS}?assignee=self"));
        assert_eq!(ids(&r), sorted(&[t1, t3]), "rev2 reviews in both orgs");
        let r = get(&server, &rev1, &format!("{TICKETS}?search={s2}"));
        assert_eq!(ids(&r), sorted(&[t2]));
        let r = get(&server, &rev1, &format!("{TICKETS}?type=bogus"));
        assert_eq!(r.status, 400, "{}", r.body);
        let r = get(&server, &rev1, &format!("{TICKETS}?order=password"));
        assert_eq!(r.status, 400, "{}", r.body);
        // The applicant sees their own tickets in every org.
        let r = get(&server, &appl, TICKETS);
        assert_eq!(ids(&r), sorted(&[t1, t2, t3]));

        // A user with no part in a ticket neither lists nor reaches it.
        assert!(rows(&get(&server, &plain, TICKETS)).is_empty());
        for (method, path) in [
            ("GET", format!("{TICKETS}{t1}/")),
            ("PUT", action(t1, "approve")),
            ("PUT", action(t1, "reject")),
            ("PUT", action(t1, "close")),
        ] {
            let r = send(&server, &plain, method, &path, &json!({}));
            assert_eq!(r.status, 404, "{method} {path}: {}", r.body);
        }

        // Org admins and auditors read their org's tickets; the system auditor reads all in
        // the root view. None of them may answer.
        for (who, t) in [
            ("orgadm", &orgadm),
            ("orgaud", &orgaud),
            ("watcher", &watcher),
        ] {
            let r = get(&server, t, TICKETS);
            assert_eq!(ids(&r), sorted(&[t1, t2]), "{who}");
            let r = get(&server, t, &format!("{TICKETS}{t1}/"));
            assert_eq!(r.status, 200, "{who}: {}", r.body);
            for verb in ["approve", "reject"] {
                let r = put(&server, t, &action(t1, verb));
                assert_eq!(r.status, 403, "{who} {verb}: {}", r.body);
            }
        }
        for (who, t) in [("orgadm", &orgadm), ("orgaud", &orgaud)] {
            let r = get(&server, t, &format!("{TICKETS}{t3}/"));
            assert_eq!(r.status, 404, "{who} reaches another org: {}", r.body);
        }
        let r = in_org(&server, &watcher, "ROOT", "GET", TICKETS);
        assert_eq!(ids(&r), sorted(&[t1, t2, t3]));
        // A system admin who is not a reviewer reads but does not answer either.
        let r = in_org(
            &server,
            &admin,
            "ROOT",
            "GET",
            &format!("{TICKETS}?status=open"),
        );
        assert_eq!(ids(&r), sorted(&[t1, t2, t3]));
        let r = put(&server, &admin, &action(t1, "approve"));
        assert_eq!(r.status, 403, "{}", r.body);
        // Nor does the applicant answer their own ticket.
        let r = put(&server, &appl, &action(t1, "approve"));
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(
            store.ticket_state(t1).await.unwrap(),
            Some((TicketState::Pending, String::new())),
            "nothing was answered so far"
        );
        assert!(logged(&mut f, t1, "approve").await.is_empty());

        // A reviewer approves, once: the poll and the log see it.
        let r = put(&server, &rev1, &action(t1, "approve"));
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["state"]["value"], "approved");
        assert_eq!(v["status"]["value"], "closed");
        assert_eq!(v["process_map"][0]["processor"], "rev1(rev1)");
        assert!(v["process_map"][0]["approval_date"].is_string(), "{v}");
        assert_eq!(
            store.ticket_state(t1).await.unwrap(),
            Some((TicketState::Approved, "rev1(rev1)".into()))
        );
        assert_eq!(
            logged(&mut f, t1, "approve").await,
            [(DEFAULT_ORG.to_owned(), "rev1(rev1)".to_owned())]
        );
        let r = put(&server, &rev2, &action(t1, "reject"));
        assert_not_pending(&r, "approved");
        let r = send(&server, &rev1, "PATCH", &action(t1, "approve"), &json!({}));
        assert_not_pending(&r, "approved");
        assert_eq!(
            store.ticket_state(t1).await.unwrap(),
            Some((TicketState::Approved, "rev1(rev1)".into())),
            "the second answer changed nothing"
        );
        assert_eq!(logged(&mut f, t1, "approve").await.len(), 1);
        let r = get(&server, &admin, &format!("{TICKETS}?state=approved"));
        assert_eq!(ids(&r), sorted(&[t1]));

        // Reject, by a reviewer of another org's ticket (reviewers answer in any org).
        let r = put(&server, &rev2, &action(t3, "reject"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["state"]["value"], "rejected");
        assert_eq!(
            store.ticket_state(t3).await.unwrap(),
            Some((TicketState::Rejected, "rev2(rev2)".into()))
        );
        assert_eq!(
            logged(&mut f, t3, "reject").await,
            [(elsewhere.to_string(), "rev2(rev2)".to_owned())],
            "logged in the ticket's org"
        );
        let r = put(&server, &rev2, &action(t3, "approve"));
        assert_not_pending(&r, "rejected");
        let r = get(&server, &rev1, &format!("{TICKETS}?status=open"));
        assert_eq!(ids(&r), sorted(&[t2]));
        let r = get(&server, &rev1, &format!("{TICKETS}{t2}/"));
        assert_eq!(r.json()["state"]["value"], "pending", "{}", r.body);
        let r = put(
            &server,
            &rev1,
            &format!("{TICKETS}{}/approve/", Uuid::new_v4()),
        );
        assert_eq!(r.status, 404, "{}", r.body);

        store.close().await;
        server.stop();
        db.drop_db().await;
    }
}

#[tokio::test]
async fn the_applicant_withdraws_a_pending_ticket_and_the_store_keeps_its_rules() {
    for db in TestDb::both().await {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let rev_pw = create_user(dir.path(), &db, "rev1", "user");
        let appl_pw = create_user(dir.path(), &db, "appl", "user");
        let mut f = Fixture::new(&db.url).await;
        let (rev_id, appl_id) = (
            user_id(&server, &admin, "rev1"),
            user_id(&server, &admin, "appl"),
        );
        let plain_id = f.user("plain").await;
        let rev = token(&server, "rev1", &rev_pw);
        let appl = token(&server, "appl", &appl_pw);
        let store = Store::connect(&db.url).await.unwrap();
        let new = ticket(
            default_org(),
            TicketKind::LoginConfirm,
            "Login review",
            (appl_id, "appl"),
            &[rev_id],
        );
        let t = store.create_ticket(&new).await.unwrap();

        // Only the applicant withdraws; the reviewer may answer but not close.
        let r = put(&server, &rev, &action(t, "close"));
        assert_eq!(r.status, 403, "{}", r.body);
        let r = put(&server, &admin, &action(t, "close"));
        assert_eq!(r.status, 403, "{}", r.body);
        let r = put(&server, &appl, &action(t, "close"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["state"]["value"], "closed");
        assert_eq!(r.json()["status"]["value"], "closed");
        assert_eq!(
            store.ticket_state(t).await.unwrap().map(|s| s.0),
            Some(TicketState::Closed)
        );
        assert_eq!(
            logged(&mut f, t, "close").await,
            [(DEFAULT_ORG.to_owned(), "appl(appl)".to_owned())]
        );
        let r = put(&server, &appl, &action(t, "close"));
        assert_not_pending(&r, "closed");
        let r = put(&server, &rev, &action(t, "approve"));
        assert_not_pending(&r, "closed");

        // The store answers false for a ticket that is no longer pending, refuses a processor
        // who is not a reviewer, and refuses tickets nobody could answer.
        assert!(!store.close_ticket(t, "system").await.unwrap());
        assert!(!store.process_ticket(t, true, rev_id, "r").await.unwrap());
        let t2 = store.create_ticket(&new).await.unwrap();
        match store.process_ticket(t2, true, plain_id, "plain").await {
            Err(StoreError::Invalid(_)) => {}
            other => panic!("a non-reviewer processed a ticket: {other:?}"),
        }
        assert_eq!(
            store.ticket_state(t2).await.unwrap().map(|s| s.0),
            Some(TicketState::Pending)
        );
        assert!(
            store
                .process_ticket(t2, false, rev_id, "rev1(rev1)")
                .await
                .unwrap()
        );
        assert!(
            !store
                .process_ticket(t2, true, rev_id, "rev1(rev1)")
                .await
                .unwrap()
        );
        assert!(
            !store
                .process_ticket(Uuid::new_v4(), true, rev_id, "x")
                .await
                .unwrap()
        );
        for bad in [
            NewTicket {
                reviewers: vec![],
                ..new.clone()
            },
            NewTicket {
                title: "  ".into(),
                ..new.clone()
            },
            NewTicket {
                meta: json!([1]),
                ..new.clone()
            },
        ] {
            assert!(
                matches!(store.create_ticket(&bad).await, Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
        let ghost = NewTicket {
            reviewers: vec![Uuid::new_v4()],
            ..new.clone()
        };
        assert!(matches!(
            store.create_ticket(&ghost).await,
            Err(StoreError::NotFound(_))
        ));
        let (count, _) = store
            .list_tickets(&TicketQuery {
                limit: 100,
                ..TicketQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(count, 2, "refused tickets left nothing behind");

        // Tickets opened at the same moment still get distinct serial numbers.
        let opened = futures_join(&store, &new, 8).await;
        let mut serials = Vec::new();
        for id in &opened {
            serials.push(store.ticket(*id).await.unwrap().unwrap().serial_num);
        }
        serials.sort();
        serials.dedup();
        assert_eq!(serials.len(), opened.len(), "{serials:?}");

        // A deleted applicant's tickets go with them (through the store's pool, which has
        // SQLite's foreign keys on).
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(appl_id.to_string())
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(store.ticket_state(t).await.unwrap(), None);
        let (count, _) = store
            .list_tickets(&TicketQuery {
                limit: 100,
                ..TicketQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(count, 0);

        store.close().await;
        server.stop();
        db.drop_db().await;
    }
}

/// Opens `n` copies of `new` concurrently.
async fn futures_join(store: &Store, new: &NewTicket, n: usize) -> Vec<Uuid> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (store, new) = (store.clone(), new.clone());
        tasks.spawn(async move { store.create_ticket(&new).await });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        out.push(done.unwrap().unwrap());
    }
    out
}
