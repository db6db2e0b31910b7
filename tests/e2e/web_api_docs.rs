//! The OpenAPI document and the interactive docs as the built binary serves them (issue 3):
//! the document at JumpServer's paths, the Swagger UI page at `/api/docs/` with every file it
//! loads served by the binary itself (the bastion has no internet), and the page working in a
//! real browser (`tests/web/api_docs.spec.mjs`); the same for the ReDoc page at `/api/redoc/`
//! (`tests/web/redoc.spec.mjs`).

use crate::client::{ADMIN_PASSWORD, start};
use crate::support::{HttpResponse, Server, TestDb, http};
use crate::web_ui::{artifacts_dir, run_spec};
use serde_json::Value;
use std::time::Duration;

fn fetch(server: &Server, path: &str) -> HttpResponse {
    http(&server.base, "GET", path, &[], None).unwrap()
}

/// The `src` and `href` values of a page.
fn links(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| {
            html.split(attr)
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_binary_serves_the_openapi_document_and_the_docs_page_offline() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());

    // The document, without credentials, at the paths JumpServer and drf-yasg clients use.
    let mut first: Option<Value> = None;
    for path in [
        "/api/docs/?format=openapi",
        "/api/swagger.json",
        "/api/swagger.yaml",
    ] {
        let r = fetch(&server, path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        let doc = r.json();
        assert!(
            doc["openapi"]
                .as_str()
                .unwrap_or_default()
                .starts_with("3."),
            "{path}"
        );
        assert!(
            doc["paths"]["/api/v1/users/users/"]["get"].is_object(),
            "{path}"
        );
        assert!(
            doc["paths"]["/api/v1/perms/users/{user}/assets/"]["get"].is_object(),
            "{path}"
        );
        if let Some(f) = &first {
            assert_eq!(f, &doc, "{path} answers the same document");
        }
        first = Some(doc);
    }
    assert_eq!(
        fetch(&server, "/api/swagger.yaml").header("content-type"),
        Some("application/yaml")
    );

    // The page, and every file it loads, from the binary.
    let page = fetch(&server, "/api/docs/");
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let files = links(&page.body);
    assert!(files.len() >= 3, "{}", page.body);
    for file in files.iter().filter(|f| f.starts_with("/api-docs/")) {
        let r = fetch(&server, file);
        assert_eq!(r.status, 200, "{file}");
        let kind = r.header("content-type").unwrap_or_default();
        if file.ends_with(".js") {
            assert_eq!(kind, "text/javascript; charset=utf-8", "{file}");
            assert!(r.body.len() > 1000, "{file} is {} bytes", r.body.len());
        } else {
            assert_eq!(kind, "text/css; charset=utf-8", "{file}");
        }
    }
    for must in [
        "/api-docs/swagger-ui-bundle.js",
        "/api-docs/swagger-ui.css",
        "/api-docs/init.js",
    ] {
        assert!(files.iter().any(|f| f == must), "{must} not on the page");
    }
    assert!(
        files.iter().all(|f| f.starts_with('/')),
        "a file from elsewhere: {files:?}"
    );

    let shot = artifacts_dir().join("api-docs.png");
    let _ = std::fs::remove_file(&shot);
    run_spec(
        "api_docs.spec.mjs",
        &server,
        &[
            ("PC_ADMIN_USER", "admin".into()),
            ("PC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
        ],
        Duration::from_secs(120),
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 1000, "no screenshot {}", shot.display());
    let _ = server.stop();
}

#[test]
fn the_binary_serves_the_redoc_page_offline() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let server = start(&db, dir.path());

    let page = fetch(&server, "/api/redoc/");
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let files = links(&page.body);
    for must in ["/api-docs/redoc.standalone.js", "/api-docs/redoc-init.js"] {
        assert!(files.iter().any(|f| f == must), "{must} not on the page");
        let r = fetch(&server, must);
        assert_eq!(r.status, 200, "{must}");
        assert_eq!(
            r.header("content-type"),
            Some("text/javascript; charset=utf-8"),
            "{must}"
        );
    }
    assert!(
        fetch(&server, "/api-docs/redoc.standalone.js").body.len() > 100_000,
        "the ReDoc bundle is not the npm package's standalone build"
    );
    assert!(
        files.iter().all(|f| f.starts_with('/')),
        "a file from elsewhere: {files:?}"
    );

    let shot = artifacts_dir().join("redoc.png");
    let _ = std::fs::remove_file(&shot);
    run_spec("redoc.spec.mjs", &server, &[], Duration::from_secs(120));
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 1000, "no screenshot {}", shot.display());
    let _ = server.stop();
}
