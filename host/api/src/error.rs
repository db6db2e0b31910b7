//! Errors in the shapes JumpServer clients parse (reference §2.10 and §3.5).
//!
//! DRF-style errors carry `{"detail", "code"}`; validation errors are `{"field": ["msg"]}`;
//! view-specific refusals are `{"error": "…"}`. Clients branch on these shapes, so every
//! handler returns an [`ApiError`] and never builds an error body by hand.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_store::StoreError;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no credentials, or unknown/expired ones.
    NotAuthenticated,
    /// 401 with a specific reason (bad signature, IP not allowed, …).
    AuthenticationFailed(String),
    /// 403: authenticated, but the role does not grant this.
    PermissionDenied,
    /// 404 for the named model.
    NotFound(&'static str),
    /// 400 with per-field messages.
    Fields(BTreeMap<String, Vec<String>>),
    /// 400 `{"error": …}`, the shape of view-specific refusals.
    Refused(String),
    /// 403 `{"error": …}`, a view-specific refusal (e.g. deleting a node that holds assets).
    Forbidden(String),
    /// 400 with a body already in DRF's shape: a field map, or a list of them for a bulk
    /// request (`{}` for the items that were fine).
    Invalid(Value),
    /// 400 `{"error": code, "msg": text}`, the login endpoint's shape.
    Login { code: &'static str, msg: String },
    /// 412: a recent confirmation (password, MFA) is needed.
    ConfirmRequired(&'static str),
    /// 405.
    MethodNotAllowed,
    /// 500; the cause is logged, not shown.
    Internal(String),
}

impl ApiError {
    /// A single field error.
    pub fn field(name: &str, msg: impl Into<String>) -> Self {
        let mut m = BTreeMap::new();
        m.insert(name.to_owned(), vec![msg.into()]);
        ApiError::Fields(m)
    }
}

fn detail(status: StatusCode, text: &str, code: &str) -> Response {
    (status, axum::Json(json!({"detail": text, "code": code}))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotAuthenticated => {
                let mut r = detail(
                    StatusCode::UNAUTHORIZED,
                    "Authentication credentials were not provided.",
                    "not_authenticated",
                );
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Signature realm=\"api\",headers=\"(request-target) date\"",
                    ),
                );
                r
            }
            ApiError::AuthenticationFailed(text) => {
                detail(StatusCode::UNAUTHORIZED, &text, "authentication_failed")
            }
            ApiError::PermissionDenied => detail(
                StatusCode::FORBIDDEN,
                "You do not have permission to perform this action.",
                "permission_denied",
            ),
            ApiError::NotFound(model) => detail(
                StatusCode::NOT_FOUND,
                &format!("{model} object does not exist."),
                "object_does_not_exist",
            ),
            ApiError::Fields(map) => {
                (StatusCode::BAD_REQUEST, axum::Json(json!(map))).into_response()
            }
            ApiError::Refused(text) => {
                (StatusCode::BAD_REQUEST, axum::Json(json!({"error": text}))).into_response()
            }
            ApiError::Forbidden(text) => {
                (StatusCode::FORBIDDEN, axum::Json(json!({"error": text}))).into_response()
            }
            ApiError::Invalid(body) => (StatusCode::BAD_REQUEST, axum::Json(body)).into_response(),
            ApiError::Login { code, msg } => (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": code, "msg": msg})),
            )
                .into_response(),
            ApiError::ConfirmRequired(kind) => (
                StatusCode::PRECONDITION_FAILED,
                axum::Json(json!({
                    "type": "user_confirm_required",
                    "code": kind,
                    "detail": "This action require confirm current user",
                })),
            )
                .into_response(),
            ApiError::MethodNotAllowed => detail(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed.",
                "method_not_allowed",
            ),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server could not complete the request.",
                    "unexpect_error",
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ApiError::Refused(format!("{what} already exists")),
            StoreError::NotFound(what) => ApiError::Refused(format!("{what} not found")),
            StoreError::Invalid(msg) => ApiError::Refused(msg),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<portcullis_auth::AuthError> for ApiError {
    fn from(e: portcullis_auth::AuthError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// A JSON body that failed to parse, as a field error rather than axum's plain-text 422.
pub fn bad_json(err: &axum::extract::rejection::JsonRejection) -> ApiError {
    let text = err.body_text();
    ApiError::Fields(BTreeMap::from([(
        "non_field_errors".to_owned(),
        vec![text],
    )]))
}

/// The JSON value of a successful action (`{"msg": "ok"}`).
pub fn ok_msg() -> Value {
    json!({"msg": "ok"})
}
