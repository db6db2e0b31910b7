//! `GET /api/health/` (and `/api/v1/health/`): liveness plus the database's state.
//!
//! JumpServer answers `{status, db_status, db_time, redis_status, redis_time, time}`; Portcullis
//! has no Redis, so it reports the fields it can answer truthfully and adds the database kind
//! and the version. It answers 200 while the process serves requests, with `status: false`
//! and 503 when the database does not answer, so a load balancer takes the host out.

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/health/", get(health))
        .route("/api/v1/health/", get(health))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = state.store();
    let (ok, db_time, error) = match store.ping().await {
        Ok(latency) => (true, latency.as_secs_f64(), None),
        Err(e) => (false, 0.0, Some(e.to_string())),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "status": ok,
        "db_status": ok,
        "db_time": db_time,
        "db_backend": store.backend().name(),
        "time": chrono::Utc::now().timestamp(),
        "version": state.inner.version,
    });
    if let (Some(err), Some(map)) = (error, body.as_object_mut()) {
        map.insert("db_error".into(), Value::String(err));
    }
    (code, Json(body))
}
