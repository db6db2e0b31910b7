//! Lists exported as CSV and XLSX (`?format=`), and files imported through the bulk creates
//! (reference §1.3): the round trip into a fresh database, the per-row error report, filters,
//! RBAC.

use crate::client::*;
use crate::fixture::Fixture;
use crate::support::{Server, TestDb};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An HTTP answer with a binary body.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One request with an arbitrary body, read back as bytes (the shared client speaks text).
fn raw(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Raw {
    let addr = server.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n"
    );
    if let Some(ct) = content_type {
        req.push_str(&format!(
            "Content-Type: {ct}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    s.write_all(&bytes).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let mut rest = all[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut tail = &rest[..];
        while let Some(eol) = tail.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(String::from_utf8_lossy(&tail[..eol]).trim(), 16)
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&tail[eol + 2..eol + 2 + n]);
            tail = &tail[eol + 2 + n + 2..];
        }
        rest = out;
    }
    Raw {
        status,
        headers,
        body: rest,
    }
}

/// A multipart form holding `data` as its `file` field, the way the web UI uploads.
fn multipart(file_name: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----portcullis-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The records of an exported CSV file (header first), after checking the byte-order mark.
fn csv_rows(file: &[u8]) -> Vec<Vec<String>> {
    assert!(file.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&file[3..])
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// The first sheet of an XLSX file as text cells.
fn xlsx_rows(file: &[u8]) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx, open_workbook_from_rs};
    let mut book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(file.to_vec())).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// The value of `column` in each data row.
fn column(rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = rows[0]
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]));
    rows[1..].iter().map(|r| r[i].clone()).collect()
}

/// A user as compared across databases: the fields a file carries, related objects by name.
fn comparable(u: &Value) -> Value {
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap().to_owned())
            .collect();
        n.sort();
        n
    };
    json!({
        "username": u["username"], "name": u["name"], "email": u["email"],
        "phone": u["phone"], "wechat": u["wechat"], "comment": u["comment"],
        "mfa_level": u["mfa_level"], "is_active": u["is_active"],
        "date_expired": u["date_expired"], "need_update_password": u["need_update_password"],
        "source": u["source"], "groups": names(&u["groups"]),
        "system_roles": names(&u["system_roles"]), "org_roles": names(&u["org_roles"]),
    })
}

fn by_username(list: &Value) -> Vec<Value> {
    let mut v: Vec<Value> = list.as_array().unwrap().iter().map(comparable).collect();
    v.sort_by_key(|u| u["username"].as_str().unwrap().to_owned());
    v
}

/// Users (and their group) exported to CSV and XLSX come back unchanged in a fresh database,
/// one through a `text/csv` body, one through a multipart XLSX upload; on both backends.
#[tokio::test]
async fn users_exported_as_csv_and_xlsx_import_into_a_fresh_database() {
    for db in TestDb::both().await {
        let backend = db.backend;
        let dir = tempfile::tempdir().unwrap();
        let server = start(&db, dir.path());
        let admin = token(&server, "admin", ADMIN_PASSWORD);
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/groups/",
            &json!([{"name": "imp-team", "comment": "importers"}]),
        );
        assert_eq!(r.status, 201, "{backend}: {}", r.body);
        let team = r.json()[0]["id"].as_str().unwrap().to_owned();
        // A bulk create in JSON: one request, an array back.
        let r = send(
            &server,
            &admin,
            "POST",
            "/api/v1/users/users/",
            &json!([
                {"name": "Imp One", "username": "imp1", "email": "imp1@example.com",
                 "password": "Str0ng-enough", "phone": {"code": "+1", "phone": "5550100"},
                 "comment": "first, with a comma", "mfa_level": 2, "groups": [team]},
                {"name": "Imp Two", "username": "imp2", "email": "imp2@example.com",
                 "is_active": false, "date_expired": "2031-02-03 04:05:06 +0000",
                 "wechat": "imp-two"},
                {"name": "Imp Three", "username": "imp3", "email": "imp3@example.com",
                 "groups": [{"id": team}], "need_update_password": false},
            ]),
        );
        assert_eq!(r.status, 201, "{backend}: {}", r.body);
        assert_eq!(r.json().as_array().unwrap().len(), 3);
        let source = get(&server, &admin, "/api/v1/users/users/?search=imp").json();
        assert_eq!(source.as_array().unwrap().len(), 3, "{source}");

        let csv = raw(
            &server,
            &admin,
            "GET",
            "/api/v1/users/users/?search=imp&format=csv",
            None,
            b"",
        );
        assert_eq!(csv.status, 200, "{backend}: {}", csv.text());
        assert!(csv.header("content-type").starts_with("text/csv"));
        assert!(
            csv.header("content-disposition")
                .starts_with("attachment; filename=users-")
                && csv.header("content-disposition").ends_with(".csv"),
            "{}",
            csv.header("content-disposition")
        );
        let rows = csv_rows(&csv.body);
        assert_eq!(rows.len(), 4, "header and three users (admin filtered out)");
        let mfa = column(&rows, "mfa_level");
        assert!(mfa.contains(&"Force enable(2)".to_owned()), "{mfa:?}");
        assert!(
            column(&rows, "groups").contains(&format!("imp-team({team})")),
            "stubs as name(id)"
        );
        assert!(!rows[0].contains(&"password".to_owned()));

        let xlsx = raw(
            &server,
            &admin,
            "GET",
            "/api/v1/users/users/?search=imp&format=xlsx",
            None,
            b"",
        );
        assert_eq!(xlsx.status, 200, "{backend}: {}", xlsx.text());
        assert_eq!(xlsx.header("content-type"), XLSX);
        assert!(xlsx.header("content-disposition").ends_with(".xlsx"));
        let sheet = xlsx_rows(&xlsx.body);
        assert_eq!(sheet.len(), 4);
        assert_eq!(
            column(&sheet, "username")
                .iter()
                .filter(|u| u.starts_with("imp"))
                .count(),
            3
        );
        let groups_csv = raw(
            &server,
            &admin,
            "GET",
            "/api/v1/users/groups/?format=csv",
            None,
            b"",
        );
        assert_eq!(groups_csv.status, 200);
        let want = by_username(&source);

        // Fresh databases of the same backend: the group first, then the users.
        for via_xlsx in [false, true] {
            let fresh = if backend == "sqlite" {
                TestDb::sqlite()
            } else {
                TestDb::postgres().await
            };
            let dir2 = tempfile::tempdir().unwrap();
            let other = start(&fresh, dir2.path());
            let admin2 = token(&other, "admin", ADMIN_PASSWORD);
            let r = raw(
                &other,
                &admin2,
                "POST",
                "/api/v1/users/groups/",
                Some("text/csv"),
                &groups_csv.body,
            );
            assert_eq!(r.status, 201, "{backend}: {}", r.text());
            let r = if via_xlsx {
                let (ct, body) = multipart("users.xlsx", XLSX, &xlsx.body);
                raw(
                    &other,
                    &admin2,
                    "POST",
                    "/api/v1/users/users/",
                    Some(&ct),
                    &body,
                )
            } else {
                raw(
                    &other,
                    &admin2,
                    "POST",
                    "/api/v1/users/users/",
                    Some("text/csv; charset=utf-8"),
                    &csv.body,
                )
            };
            assert_eq!(r.status, 201, "{backend} xlsx={via_xlsx}: {}", r.text());
            assert_eq!(r.json().as_array().unwrap().len(), 3);
            let got = get(&other, &admin2, "/api/v1/users/users/?search=imp").json();
            assert_eq!(by_username(&got), want, "{backend} xlsx={via_xlsx}");
            drop(other);
            fresh.drop_db().await;
        }
        drop(server);
        db.drop_db().await;
    }
}

/// A file with bad rows is refused as a whole: DRF's list, one dict per row, failing rows
/// naming their row of the file; nothing is written.
#[tokio::test]
async fn a_file_with_a_bad_row_writes_nothing_and_reports_the_row() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);
    // Display labels as headers (as JumpServer's export writes them); a blank line is skipped.
    let file = "\u{feff}Name*,Username*,Email*,Active\n\
                Good One,good1,good1@example.com,true\n\
                \n\
                Bad Mail,bad2,not-an-email,true\n\
                Twin,good1,twin@example.com,false\n";
    let r = raw(
        &server,
        &admin,
        "POST",
        "/api/v1/users/users/",
        Some("text/csv"),
        file.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let report = r.json();
    let report = report.as_array().unwrap();
    assert_eq!(report.len(), 3, "{report:?}");
    assert_eq!(report[0], json!({}));
    assert_eq!(report[1]["row"], 3);
    assert!(report[1]["email"].is_array(), "{report:?}");
    assert_eq!(report[2]["row"], 4);
    assert!(report[2]["username"].is_array(), "{report:?}");
    let users = get(&server, &admin, "/api/v1/users/users/").json();
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "only the admin: {users}"
    );

    // The same for assets in an XLSX file: an unknown platform on the second row.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["name", "address", "platform", "protocols"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in [
        ["ok-host", "10.1.0.1", "Linux", "ssh/22"],
        ["bad-host", "10.1.0.2", "NoSuchPlatform", "ssh/22"],
    ]
    .iter()
    .enumerate()
    {
        for (c, v) in row.iter().enumerate() {
            sheet.write_string(r as u32 + 1, c as u16, *v).unwrap();
        }
    }
    let file = book.save_to_buffer().unwrap();
    let r = raw(
        &server,
        &admin,
        "POST",
        "/api/v1/assets/hosts/",
        Some(XLSX),
        &file,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let report = r.json();
    assert_eq!(report[0], json!({}));
    assert_eq!(report[1]["row"], 3);
    assert!(report[1]["platform"].is_array(), "{report}");
    let hosts = get(&server, &admin, "/api/v1/assets/hosts/").json();
    assert_eq!(hosts.as_array().unwrap().len(), 0, "{hosts}");

    // A JSON bulk create with a bad item is refused the same way, without rows.
    let r = send(
        &server,
        &admin,
        "POST",
        "/api/v1/users/groups/",
        &json!([{"name": "g1"}, {"name": ""}, {"name": "g1"}]),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let report = r.json();
    assert_eq!(report[0], json!({}));
    assert!(report[1]["name"].is_array() && report[1].get("row").is_none());
    assert!(
        report[2]["name"].is_array(),
        "a duplicate within the request"
    );
    assert_eq!(
        get(&server, &admin, "/api/v1/users/groups/").json(),
        json!([])
    );
    // An empty file and a multipart form without a file are field errors.
    let r = raw(
        &server,
        &admin,
        "POST",
        "/api/v1/users/users/",
        Some("text/csv"),
        b"name,username\n",
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["file"].is_array(), "{}", r.text());
    let (ct, _) = multipart("x.csv", "text/csv", b"");
    let r = raw(
        &server,
        &admin,
        "POST",
        "/api/v1/users/users/",
        Some(&ct),
        b"------portcullis-test-boundary--\r\n",
    );
    assert_eq!(r.status, 400, "{}", r.text());
}

/// Hosts, groups and accounts import from CSV and XLSX; host exports honour filters and the
/// whole filtered list is exported, past the 200 rows of a bare list and the 1000 of a page.
#[tokio::test]
async fn hosts_groups_and_accounts_import_and_exports_follow_filters() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());
    let admin = token(&server, "admin", ADMIN_PASSWORD);

    let hosts = "name,address,platform,protocols,nodes_display,is_active,comment\n\
                 web1,10.0.0.1,Linux,ssh/2222,/Default/dev,true,\"front, public\"\n\
                 web2,10.0.0.2,Linux(1),\"ssh/22,sftp/22\",/Default/dev,false,\n";
    let r = raw(
        &server,
        &admin,
        "POST",
        "/api/v1/assets/hosts/",
        Some("text/csv"),
        hosts.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(
        created[0]["protocols"],
        json!([{"name": "ssh", "port": 2222}])
    );
    assert_eq!(created[0]["comment"], "front, public");
    assert_eq!(created[1]["is_active"], false);
    assert_eq!(created[1]["nodes_display"], json!(["/Default/dev"]));

    // XLSX of two more hosts, with display labels as headers.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["Name*", "IP/Host*", "Platform*", "Protocols"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, name) in ["db1", "db2"].iter().enumerate() {
        sheet.write_string(r as u32 + 1, 0, *name).unwrap();
        sheet
            .write_string(r as u32 + 1, 1, format!("10.0.1.{r}"))
            .unwrap();
        sheet.write_number(r as u32 + 1, 2, 1).unwrap();
        sheet.write_string(r as u32 + 1, 3, "ssh").unwrap();
    }
    let r = raw(
        &server,
        &admin,
        "POST",
        "/api/v1/assets/hosts/",
        Some(XLSX),
        &book.save_to_buffer().unwrap(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()[1]["protocols"],
        json!([{"name": "ssh", "port": 22}])
    );

    // Filters apply to exports.
    let csv = raw(
        &server,
        &admin,
        "GET",
        "/api/v1/assets/hosts/?search=web&is_active=1&format=csv",
        None,
        b"",
    );
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert!(
        csv.header("content-disposition")
            .contains("filename=hosts-")
    );
    let rows = csv_rows(&csv.body);
    assert_eq!(column(&rows, "name"), vec!["web1"]);
    assert_eq!(column(&rows, "platform"), vec!["Linux(1)"]);
    assert_eq!(column(&rows, "protocols"), vec!["ssh/2222"]);
    assert_eq!(column(&rows, "category"), vec!["Host(host)"]);
    let xlsx = raw(
        &server,
        &admin,
        "GET",
        "/api/v1/assets/hosts/?format=xlsx&order=-name",
        None,
        b"",
    );
    assert_eq!(xlsx.status, 200);
    let sheet = xlsx_rows(&xlsx.body);
    assert_eq!(column(&sheet, "name"), vec!["web2", "web1", "db2", "db1"]);
    assert_eq!(column(&sheet, "is_active")[0], "false");

    // Accounts from CSV: the asset as exported (`name(id)`).
    let web1 = created[0]["id"].as_str().unwrap();
    let accounts = format!(
        "asset,username,secret_type,secret,privileged\n\
         web1({web1}),root,password,S3cret-one,true\n\
         web1({web1}),deploy,Password(password),S3cret-two,false\n"
    );
    let r = raw(
        &server,
        &admin,
        "POST",
        "/api/v1/accounts/accounts/",
        Some("text/csv"),
        accounts.as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let acc = r.json();
    assert_eq!(acc[0]["privileged"], true);
    assert_eq!(acc[1]["secret_type"]["value"], "password");
    assert_eq!(acc[1]["asset"]["id"], web1);

    // Groups from a multipart CSV upload; then more than a page of them exported.
    let mut groups = String::from("name,comment\n");
    for i in 0..1001 {
        groups.push_str(&format!("grp-{i:04},bulk\n"));
    }
    let (ct, body) = multipart("groups.csv", "text/csv", groups.as_bytes());
    let r = raw(
        &server,
        &admin,
        "POST",
        "/api/v1/users/groups/",
        Some(&ct),
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json().as_array().unwrap().len(), 1001);
    let csv = raw(
        &server,
        &admin,
        "GET",
        "/api/v1/users/groups/?format=csv&limit=5",
        None,
        b"",
    );
    assert_eq!(csv.status, 200);
    let rows = csv_rows(&csv.body);
    assert_eq!(rows.len(), 1002, "every group, not a page");
    // A detail is not a list: it passes through as JSON.
    let r = raw(
        &server,
        &admin,
        "GET",
        &format!("/api/v1/assets/hosts/{web1}/?format=csv"),
        None,
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["name"], "web1");
}

/// Exporting is listing: a plain user can neither export nor import users; errors stay JSON.
#[tokio::test]
async fn a_plain_user_cannot_export_or_import_users() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let pw = create_user(dir.path(), &db, "plain", "user");
    let server = start(&db, dir.path());
    let plain = token(&server, "plain", &pw);
    for format in ["csv", "xlsx"] {
        let r = raw(
            &server,
            &plain,
            "GET",
            &format!("/api/v1/users/users/?format={format}"),
            None,
            b"",
        );
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.json()["code"], "permission_denied");
    }
    let r = raw(
        &server,
        &plain,
        "POST",
        "/api/v1/users/users/",
        Some("text/csv"),
        b"name,username,email\nX,x,x@example.com\n",
    );
    assert_eq!(r.status, 403, "{}", r.text());
    let mut f = Fixture::new(&db.url).await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username = 'x'")
        .fetch_one(&mut f.conn)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
