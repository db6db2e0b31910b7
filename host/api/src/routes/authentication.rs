//! `/api/v1/authentication/…`: password login for tokens (§2.2) and access keys (§2.4).

use crate::AppState;
use crate::ctx::{Caller, ClientIp};
use crate::error::{ApiError, bad_json};
use crate::fmt::datetime;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use portcullis_auth::{LoginRequest, LoginType};
use portcullis_core::secret::SecretString;
use serde_json::{Value, json};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/authentication/auth/", post(login))
        .route("/api/v1/authentication/tokens/", post(login))
        .route(
            "/api/v1/authentication/access-keys/",
            get(list_keys).post(create_key),
        )
}

/// `POST /authentication/auth/`: a bearer token for a username and password.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let user_agent = header("user-agent").to_owned();
    let login_type = match header("x-jms-login-type") {
        "T" => LoginType::T,
        "W" => LoginType::W,
        _ => LoginType::U,
    };
    let Json(body) = body.map_err(|e| bad_json(&e))?;
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (username, password) = (field("username"), field("password"));
    if username.is_empty() || password.is_empty() {
        let mut missing = std::collections::BTreeMap::new();
        for (k, v) in [("username", &username), ("password", &password)] {
            if v.is_empty() {
                missing.insert(k.to_owned(), vec!["This field is required.".to_owned()]);
            }
        }
        return Err(ApiError::Fields(missing));
    }
    let auth = state.auth();
    let ok = auth
        .login(&LoginRequest {
            username,
            password: SecretString::new(format!("{password}{}", field("challenge"))),
            ip,
            user_agent,
            login_type,
            backend: "password".into(),
        })
        .await
        .map_err(|f| {
            if f.is_internal() {
                ApiError::Internal(f.msg)
            } else {
                ApiError::Login {
                    code: f.code,
                    msg: f.msg,
                }
            }
        })?;
    let issued = auth.issue_bearer(ok.user_id, &ip.to_string()).await?;
    let user = state
        .store()
        .user_record(&ok.user_id.to_string())
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": issued.token.expose(),
            "keyword": "Bearer",
            "date_expired": datetime(issued.date_expired),
            "user": crate::routes::users::user_json(&user),
        })),
    ))
}

async fn list_keys(caller: Caller, State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = state.auth().access_keys(caller.user_id).await?;
    Ok(Json(Value::Array(
        keys.into_iter()
            .map(|k| {
                json!({
                    "id": k.id,
                    "is_active": k.is_active,
                    "ip_group": k.ip_group,
                    "date_created": datetime(k.date_created),
                    "date_last_used": crate::fmt::opt_datetime(k.date_last_used),
                })
            })
            .collect(),
    )))
}

async fn create_key(
    caller: Caller,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (id, secret) = state
        .auth()
        .create_access_key(caller.user_id)
        .await
        .map_err(|e| ApiError::Refused(e.to_string()))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "secret": secret.expose(), "is_active": true, "ip_group": ["*"]})),
    ))
}
