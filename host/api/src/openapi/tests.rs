use super::*;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use axum::routing::{get, patch};
use std::collections::BTreeMap;
use tower::ServiceExt;

async fn noop() {}

#[test]
fn registered_reads_every_path_and_its_methods() {
    let router: Router<()> = Router::new()
        .route("/a/", get(noop).post(noop))
        .route("/a/{id}/", patch(noop).delete(noop).put(noop))
        .route(
            "/b/",
            get(noop).layer(axum::extract::DefaultBodyLimit::max(10)),
        )
        .merge(Router::new().route("/c/{*rest}", get(noop)))
        .fallback(noop);
    let found = registered(&router);
    let want = vec![
        Registered {
            path: "/a/".into(),
            methods: vec![Method::GET, Method::POST],
        },
        Registered {
            path: "/a/{id}/".into(),
            methods: vec![Method::DELETE, Method::PATCH, Method::PUT],
        },
        Registered {
            path: "/b/".into(),
            methods: vec![Method::GET],
        },
        Registered {
            path: "/c/{*rest}".into(),
            methods: vec![Method::GET],
        },
    ];
    let mut found = found;
    for r in &mut found {
        r.methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    }
    assert_eq!(found, want);
}

/// The rule this module exists for: a route in the router and not in the document fails.
#[test]
fn every_route_of_the_router_is_in_the_document_and_nothing_else() {
    let routes = registered(&crate::api_routes());
    assert!(
        routes.len() > 150,
        "only {} routes read from the router",
        routes.len()
    );
    for must in [
        "/api/v1/users/users/",
        "/api/v1/assets/{kind}/",
        "/api/v1/authentication/auth/",
        "/api/v1/perms/users/{user}/assets/",
        "/api/health/",
        "/api/docs/",
    ] {
        assert!(routes.iter().any(|r| r.path == must), "{must} not read");
    }
    let doc = document();
    let documented = documented(doc);
    let mut from_router: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &routes {
        assert!(
            !r.methods.is_empty(),
            "no methods read for {}: a layer on a whole Router hides them (put it on the \
             method router, as routes/plugins.rs does)",
            r.path
        );
        from_router.insert(
            openapi_path(&r.path),
            r.methods
                .iter()
                .map(|m| m.as_str().to_ascii_lowercase())
                .collect(),
        );
    }
    for (path, methods) in &from_router {
        let Some(doc_methods) = documented.get(path) else {
            panic!("{path} is served but not in the document");
        };
        assert_eq!(doc_methods, methods, "methods of {path}");
    }
    assert_eq!(documented.len(), from_router.len(), "documented paths");
}

/// The check above is not vacuous: a document built from fewer routes misses the route.
#[test]
fn a_route_left_out_is_caught() {
    let mut routes = registered(&crate::api_routes());
    routes.retain(|r| r.path != "/api/v1/users/users/");
    let doc = build(&routes, "test");
    assert!(!documented(&doc).contains_key("/api/v1/users/users/"));
    assert!(documented(document()).contains_key("/api/v1/users/users/"));
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0."));
    assert_eq!(doc["info"]["title"], "Portcullis API");
    assert!(!doc["info"]["version"].as_str().unwrap().is_empty());
    let paths = doc["paths"].as_object().unwrap();
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        assert!(path.starts_with('/'), "{path}");
        let item = item.as_object().unwrap();
        assert!(!item.is_empty(), "{path} has no operation");
        for (method, op) in item {
            assert!(
                ["get", "post", "put", "patch", "delete"].contains(&method.as_str()),
                "{method} {path}"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} twice");
            // Every `{param}` of the path is declared as a path parameter.
            for p in path_params(path) {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|x| x["name"] == p.as_str() && x["in"] == "path")
                });
                assert!(declared, "{method} {path}: parameter {p}");
            }
        }
    }
    // drf-yasg's operation ids, which generated SDKs name their methods after.
    assert_eq!(
        paths["/api/v1/users/users/"]["get"]["operationId"],
        "users_users_list"
    );
    assert_eq!(
        paths["/api/v1/users/users/{key}/"]["patch"]["operationId"],
        "users_users_partial_update"
    );
    // Every reference resolves.
    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling {r}"
        );
    }
}

#[test]
fn schemas_come_from_the_handlers_field_lists() {
    let doc = document();
    let user = &doc["components"]["schemas"]["User"]["properties"];
    for f in crate::routes::users::WRITABLE {
        assert!(user.get(*f).is_some(), "User.{f}");
    }
    assert_eq!(user["password"]["writeOnly"], true);
    assert_eq!(user["date_joined"]["readOnly"], true);
    assert_eq!(user["is_active"]["type"], "boolean");
    let list = &doc["paths"]["/api/v1/users/users/"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in ["limit", "offset", "search", "q", "order", "format"] {
        assert!(params.contains(&p), "list parameter {p}");
    }
    assert_eq!(
        doc["paths"]["/api/v1/assets/{kind}/"]["post"]["responses"]["201"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/Asset"
    );
}

#[test]
fn security_schemes_name_every_way_in() {
    let doc = document();
    let s = &doc["components"]["securitySchemes"];
    assert_eq!(s["AccessKey"]["type"], "apiKey");
    assert_eq!(s["AccessKey"]["name"], "Authorization");
    assert!(
        s["AccessKey"]["description"]
            .as_str()
            .unwrap()
            .contains("Signature keyId=")
    );
    assert!(
        s["PrivateToken"]["description"]
            .as_str()
            .unwrap()
            .contains("Token ")
    );
    assert_eq!(s["Bearer"]["type"], "http");
    assert_eq!(s["Bearer"]["scheme"], "bearer");
    assert_eq!(s["Session"]["in"], "cookie");
    assert_eq!(s["Session"]["name"], portcullis_auth::SESSION_COOKIE);
    assert_eq!(s["CsrfToken"]["name"], "X-CSRFToken");
    let global: Vec<String> = doc["security"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o.as_object().unwrap().keys().cloned())
        .collect();
    for name in ["AccessKey", "PrivateToken", "Bearer", "Session"] {
        assert!(global.contains(&name.to_owned()), "{name}");
    }
    // Logging in needs no credentials; listing users does.
    assert_eq!(
        doc["paths"]["/api/v1/authentication/auth/"]["post"]["security"],
        json!([])
    );
    assert!(
        doc["paths"]["/api/v1/users/users/"]["get"]
            .get("security")
            .is_none()
    );
    // Open operations are the routes declared public in `access`, and only those.
    for (m, p, need) in crate::access::DECLARED {
        let op = &doc["paths"][openapi_path(p)][m.to_ascii_lowercase()];
        let open = matches!(need, crate::access::Need::Public);
        assert_eq!(op.get("security") == Some(&json!([])), open, "{m} {p}");
    }
}

/// Every operation says what it needs, from the same declaration the access layer checks.
#[test]
fn every_operation_states_its_permission() {
    let doc = document();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let x = &op["x-permissions"];
            let kind = x["kind"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no x-permissions"));
            let codes: Vec<&str> = x["codes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            let text = op["description"].as_str().unwrap();
            match kind {
                "public" => assert!(text.starts_with("Public"), "{method} {path}"),
                "authenticated" => assert!(text.contains("authenticated user"), "{method} {path}"),
                _ => {
                    assert!(!codes.is_empty(), "{method} {path}");
                    for c in &codes {
                        assert!(text.contains(c), "{method} {path}: {text}");
                    }
                }
            }
        }
    }
    assert!(count > 250, "{count} operations");
    let users = &doc["paths"]["/api/v1/users/users/"];
    assert_eq!(
        users["get"]["x-permissions"],
        json!({"kind": "org", "codes": ["users.view_user"]})
    );
    assert_eq!(
        users["post"]["x-permissions"]["codes"],
        json!(["users.add_user"])
    );
    assert_eq!(
        doc["paths"]["/api/v1/users/users/{key}/"]["delete"]["x-permissions"],
        json!({"kind": "system", "codes": ["users.delete_user"]})
    );
    assert!(
        users["get"]["description"]
            .as_str()
            .unwrap()
            .contains("`users.view_user` in the current org")
    );
    let login = &doc["paths"]["/api/v1/authentication/auth/"]["post"];
    assert_eq!(login["x-permissions"]["kind"], "public");
    assert!(login["responses"].get("403").is_none());
}

#[test]
fn summaries_name_the_act_and_the_resource() {
    let doc = document();
    let s = |p: &str, m: &str| doc["paths"][p][m]["summary"].as_str().unwrap().to_owned();
    assert_eq!(s("/api/v1/assets/{kind}/", "get"), "List assets");
    assert_eq!(s("/api/v1/assets/{kind}/{key}/", "get"), "Retrieve asset");
    assert_eq!(
        s("/api/v1/assets/{kind}/{key}/", "patch"),
        "Partially update asset"
    );
    assert_eq!(s("/api/v1/assets/{kind}/{key}/", "delete"), "Delete asset");
    assert_eq!(s("/api/v1/assets/platforms/", "get"), "List platforms");
    assert_eq!(s("/api/v1/users/groups/{key}/", "put"), "Update group");
    assert_eq!(s("/api/v1/assets/categories/", "get"), "Get categories");
    assert!(s("/api/v1/users/users/", "post").starts_with("Create user"));
    assert_eq!(
        s("/api/v1/accounts/account-templates/", "get"),
        "List account templates"
    );
    assert_eq!(
        s("/api/v1/assets/nodes/{key}/children/", "get"),
        "Get children of node"
    );
    assert_eq!(s("/api/v1/rbac/roles/{key}/clone/", "post"), "Clone role");
    assert_eq!(s("/api/v1/users/profile/", "get"), "Get profile");
}

#[test]
fn writes_take_the_resources_writable_fields() {
    let doc = document();
    let body = |p: &str, m: &str| {
        doc["paths"][p][m]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    let create = body("/api/v1/users/users/", "post");
    assert_eq!(
        create["oneOf"][0]["$ref"],
        "#/components/schemas/UserRequest"
    );
    assert_eq!(
        body("/api/v1/users/users/{key}/", "patch")["$ref"],
        "#/components/schemas/UserRequest"
    );
    let req = &doc["components"]["schemas"]["UserRequest"]["properties"];
    assert!(req.get("username").is_some());
    assert!(req.get("password").is_some());
    assert!(
        req.get("date_joined").is_none(),
        "read-only field in a request"
    );
    assert!(req.get("id").is_none());
}

async fn get_path(uri: &str) -> (StatusCode, String, Vec<u8>) {
    let res = routes::<()>()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
    (status, kind, body.to_vec())
}

#[tokio::test]
async fn the_docs_page_and_the_document_are_served() {
    let (status, kind, body) = get_path("/api/docs/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("text/html"));
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("/api-docs/swagger-ui-bundle.js"));
    assert!(html.contains("/api-docs/swagger-ui.css"));
    assert!(html.contains("/api-docs/init.js"));
    assert!(html.contains("data-spec=\"/api/docs/?format=openapi\""));
    // No third-party host: the bastion has no internet.
    assert!(!html.contains("http://") && !html.contains("https://"));

    for uri in [
        "/api/docs/?format=openapi",
        "/api/swagger.json",
        "/api/swagger.yaml",
    ] {
        let (status, kind, body) = get_path(uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(&doc, document(), "{uri}");
        if uri.ends_with(".yaml") {
            assert_eq!(kind, "application/yaml");
        } else {
            assert!(kind.contains("json"), "{uri}: {kind}");
        }
    }
}

#[tokio::test]
async fn the_redoc_page_is_served_with_local_files_under_a_strict_policy() {
    let res = routes::<()>()
        .oneshot(Request::get("/api/redoc/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("connect-src 'self';"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
    let html = String::from_utf8(body.to_vec()).unwrap();
    assert!(html.contains("/api-docs/redoc.standalone.js"));
    assert!(html.contains("/api-docs/redoc-init.js"));
    assert!(html.contains("data-spec=\"/api/docs/?format=openapi\""));
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<script>"), "no inline script");
}
