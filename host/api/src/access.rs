//! Which permission each endpoint needs, declared once per route ([`table::DECLARED`]) and
//! enforced from that declaration by a layer on every route ([`enforce`]), so that the check
//! and the OpenAPI document ([`crate::openapi`], `x-permissions`) read the same row.
//!
//! The decision itself stays with the core's permission evaluation: [`Need::check`] asks
//! [`Caller::require`] / [`Caller::require_system`], which ask the caller's roles. What a
//! handler still decides is what no route-level rule can: which objects of a list the caller
//! sees (their own assets, their own tickets), and rules that depend on the request's content
//! ([`Need::Rule`]), whose text the document shows.
//!
//! The authenticated [`Caller`] the layer builds is handed to the handler through the
//! request's extensions, so a request is authenticated once.

mod table;

use crate::AppState;
use crate::ctx::Caller;
use crate::error::ApiError;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::OnceLock;

pub(crate) use table::DECLARED;

/// A rule that depends on the request's content; the handler applies it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    /// What decides, for the document.
    pub text: &'static str,
    /// The permission codes involved.
    pub codes: &'static [&'static str],
}

/// What a route needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Need {
    /// Nothing: logging in, health, public settings, these docs.
    Public,
    /// Any authenticated user; the handler shows them only their own objects.
    User,
    /// The permission in the current org (a system role's grant counts in every org).
    Org(&'static str),
    /// The permission from a system role: acts whose effect reaches beyond one org.
    System(&'static str),
    /// Any one of these permissions in the current org.
    Any(&'static [&'static str]),
    /// The permission in the current org, checked here; some inputs need more, which the
    /// handler checks and [`Rule::text`] says (a user update that changes role bindings).
    OrgWith(&'static str, Rule),
    /// Authenticated; the handler checks what [`Rule::text`] says.
    Rule(Rule),
    /// An authenticated user, but the handler authenticates, because it also takes what the
    /// layer would refuse ([`Rule::text`] says what).
    Own(Rule),
}

impl Need {
    /// Refuses with 403 unless `caller` has what this need names.
    pub(crate) fn check(&self, caller: &Caller) -> Result<(), ApiError> {
        match self {
            Need::Public | Need::User | Need::Rule(_) | Need::Own(_) => Ok(()),
            Need::Org(code) | Need::OrgWith(code, _) => caller.require(code),
            Need::System(code) => caller.require_system(code),
            Need::Any(codes) => {
                if codes.iter().any(|c| caller.require(c).is_ok()) {
                    Ok(())
                } else {
                    Err(ApiError::PermissionDenied)
                }
            }
        }
    }

    /// The permission codes involved, for the document and the permission catalogue.
    pub(crate) fn codes(&self) -> Vec<&'static str> {
        match self {
            Need::Public | Need::User => Vec::new(),
            Need::Org(c) | Need::System(c) => vec![*c],
            Need::Any(codes) => codes.to_vec(),
            Need::Rule(r) | Need::Own(r) => r.codes.to_vec(),
            Need::OrgWith(c, r) => std::iter::once(*c).chain(r.codes.iter().copied()).collect(),
        }
    }

    /// One sentence for the document.
    pub(crate) fn describe(&self) -> String {
        match self {
            Need::Public => "Public: no authentication needed.".into(),
            Need::User => "Any authenticated user (answers cover the caller's own objects).".into(),
            Need::Org(c) => format!("Requires the permission `{c}` in the current org."),
            Need::OrgWith(c, r) => {
                format!(
                    "Requires the permission `{c}` in the current org; {}.",
                    r.text
                )
            }
            Need::System(c) => format!("Requires the permission `{c}` from a system role."),
            Need::Any(codes) => format!(
                "Requires one of the permissions {} in the current org.",
                codes
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Need::Rule(r) => format!("Requires an authenticated user; the permission {}.", r.text),
            Need::Own(r) => format!("Any authenticated user; {}.", r.text),
        }
    }

    /// The scope word for `x-permissions`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Need::Public => "public",
            Need::User | Need::Own(_) => "authenticated",
            Need::Org(_) | Need::Any(_) | Need::OrgWith(..) => "org",
            Need::System(_) => "system",
            Need::Rule(_) => "rule",
        }
    }
}

/// The declared need of `method` on the route `path` (axum syntax). HEAD is GET's.
pub(crate) fn need_of(method: &Method, path: &str) -> Option<Need> {
    static MAP: OnceLock<HashMap<(&'static str, &'static str), Need>> = OnceLock::new();
    let map = MAP.get_or_init(|| DECLARED.iter().map(|(m, p, n)| ((*m, *p), *n)).collect());
    let method = if *method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    map.get(&(method, path)).copied()
}

/// Every permission code some route names, sorted and without repeats.
#[cfg(test)]
pub(crate) fn all_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = DECLARED.iter().flat_map(|(_, _, n)| n.codes()).collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// The layer on every route (`Router::route_layer`): authenticates the caller and checks the
/// route's declared need before the handler runs. A method the route does not declare goes on
/// to the router, which answers 405 for a method it does not serve; a served method without a
/// declaration cannot pass the tests (see `table`), and at run time is refused (403) rather
/// than served unchecked.
pub(crate) async fn enforce(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let Some(path) = matched else {
        return next.run(req).await;
    };
    let need = match need_of(req.method(), path.as_str()) {
        Some(need) => need,
        None if served(req.method(), path.as_str()) => {
            return ApiError::PermissionDenied.into_response();
        }
        None => return next.run(req).await,
    };
    if let Need::Public | Need::Own(_) = need {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = need.check(&caller) {
        return e.into_response();
    }
    parts.extensions.insert(Authenticated(caller));
    next.run(Request::from_parts(parts, body)).await
}

/// The caller [`enforce`] authenticated, for the handler's [`Caller`] extractor to take.
#[derive(Clone)]
pub(crate) struct Authenticated(pub Caller);

/// Whether the router serves `method` on `path` (from the router's own route table).
fn served(method: &Method, path: &str) -> bool {
    static ROUTES: OnceLock<HashMap<String, Vec<Method>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        crate::openapi::registered(&crate::api_routes())
            .into_iter()
            .map(|r| (r.path, r.methods))
            .collect()
    });
    let method = if *method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    routes.get(path).is_some_and(|ms| ms.contains(method))
}

#[cfg(test)]
mod tests;
