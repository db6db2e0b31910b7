//! The tickets app (§4.19): the reviews that login, connection and command ACLs ask for
//! (§4.13, §5.2 item 4, §5.5 item 5, §5.7), listed and answered here while the session that
//! opened the ticket polls the store for the outcome.
//!
//! **Who sees a ticket.** Everyone sees the tickets they applied for or are a reviewer of, in
//! every org (JumpServer's "related tickets"; no permission is needed for one's own). Holders of
//! `tickets.view_ticket` in the current org — org admins there, system admins and the system
//! auditor everywhere (in the root view: every org), org auditors in their org — also see all of
//! that org's tickets, read-only. Anything else is a 404, so ids cannot be probed.
//!
//! **Who answers.** Only a reviewer of the ticket may approve or reject it, as in JumpServer
//! (assignees only): an administrator who is not a reviewer gets 403, because the ACL named
//! who is trusted to let this command or connection through, and a review is only worth what
//! its reviewer list is. Only the applicant may withdraw (close) a pending ticket. A ticket
//! that is no longer pending is answered 400 `{"detail", "code"}`.

use super::common::caller_name;
use crate::ctx::Caller;
use crate::error::ApiError;
use crate::fmt::{choice, datetime, stub};
use crate::list::ListQuery;
use crate::{AppState, Host};
use axum::Json;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use portcullis_store::tickets::{TicketKind, TicketQuery, TicketRecord, TicketState};
use serde_json::{Value, json};
use uuid::Uuid;

/// The codename of the org-wide (read-only) view of tickets.
const VIEW_ALL: &str = "tickets.view_ticket";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tickets/tickets/", get(list))
        .route("/api/v1/tickets/tickets/{id}/", get(detail))
        .route(
            "/api/v1/tickets/tickets/{id}/approve/",
            put(approve).patch(approve),
        )
        .route("/api/v1/tickets/tickets/{id}/reject/", put(reject))
        .route("/api/v1/tickets/tickets/{id}/close/", put(close))
}

// ---------------------------------------------------------------------------------------------
// Serialization
// ---------------------------------------------------------------------------------------------

fn kind_label(kind: TicketKind) -> &'static str {
    match kind {
        TicketKind::General => "General",
        TicketKind::ApplyAsset => "Apply for asset",
        TicketKind::LoginConfirm => "Login confirm",
        TicketKind::CommandConfirm => "Command confirm",
        TicketKind::LoginAssetConfirm => "Login asset confirm",
    }
}

/// JumpServer's labels: a pending ticket reads "Open", a withdrawn one "Cancel".
fn state_label(state: TicketState) -> &'static str {
    match state {
        TicketState::Pending => "Open",
        TicketState::Approved => "Approved",
        TicketState::Rejected => "Rejected",
        TicketState::Closed => "Cancel",
    }
}

/// A ticket in JumpServer's shape. There is one approval level, so `process_map` has one
/// step; its `processor` is the processor's display name (the record keeps no id for it).
/// `meta` is also given as `rel_snapshot`, JumpServer's name for what the reviewer is shown.
fn ticket_json(t: &TicketRecord) -> Value {
    let (status, status_label) = if t.status_open {
        ("open", "Open")
    } else {
        ("closed", "Finished")
    };
    let processor = if t.processor_display.is_empty() {
        Value::Null
    } else {
        Value::String(t.processor_display.clone())
    };
    let approval_date = if t.status_open {
        Value::Null
    } else {
        Value::String(datetime(t.date_updated))
    };
    json!({
        "id": t.id,
        "serial_num": t.serial_num,
        "title": t.title,
        "type": choice(t.kind.as_str(), kind_label(t.kind)),
        "state": choice(t.state.as_str(), state_label(t.state)),
        "status": choice(status, status_label),
        "approval_step": choice(1, "One level"),
        "applicant": t.applicant_display,
        "applicant_id": t.applicant_id,
        "assignees": t.reviewers.iter().map(|(id, name)| stub(*id, name)).collect::<Vec<_>>(),
        "process_map": [{
            "approval_level": 1,
            "state": t.state.as_str(),
            "assignees": t.reviewers.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            "assignees_display": t.reviewers.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>(),
            "processor": processor.clone(),
            "processor_display": processor,
            "approval_date": approval_date,
        }],
        "flow": Value::Null,
        "cc_users": [],
        "meta": t.meta,
        "rel_snapshot": t.meta,
        "org_id": t.org_id,
        "org_name": t.org_name,
        "comment": t.comment,
        "date_created": datetime(t.date_created),
        "date_updated": datetime(t.date_updated),
    })
}

// ---------------------------------------------------------------------------------------------
// Visibility
// ---------------------------------------------------------------------------------------------

fn is_related(caller: &Caller, t: &TicketRecord) -> bool {
    t.applicant_id == caller.user_id || is_reviewer(caller, t)
}

fn is_reviewer(caller: &Caller, t: &TicketRecord) -> bool {
    t.reviewers.iter().any(|(id, _)| *id == caller.user_id)
}

/// Whether the caller sees every ticket of the current org (every org in the root view).
fn sees_org(caller: &Caller) -> bool {
    caller.roles.grants(caller.org, VIEW_ALL)
}

fn visible(caller: &Caller, t: &TicketRecord) -> bool {
    is_related(caller, t) || (sees_org(caller) && caller.org.is_none_or(|o| o == t.org_id))
}

/// The ticket if the caller may see it; 404 otherwise (also for an id that is not a UUID).
async fn visible_ticket(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<TicketRecord, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Ticket"))?;
    state
        .store()
        .ticket(id)
        .await?
        .filter(|t| visible(caller, t))
        .ok_or(ApiError::NotFound("Ticket"))
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

fn uuid_filter(q: &ListQuery, names: &[&str], caller: &Caller) -> Result<Option<Uuid>, ApiError> {
    for name in names {
        let Some(v) = q
            .filters
            .get(*name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        if v == "self" || v == "me" {
            return Ok(Some(caller.user_id));
        }
        return Uuid::parse_str(v)
            .map(Some)
            .map_err(|_| ApiError::field(name, "Must be a valid UUID."));
    }
    Ok(None)
}

/// A `date_from` / `date_to` parameter, parsed as in the audit lists; garbage is a 400 naming
/// the parameter, not an ignored filter.
fn date_filter(q: &ListQuery, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match q.filters.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => crate::fmt::parse_datetime(v).map(Some).ok_or_else(|| {
            ApiError::field(
                name,
                "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DD HH:MM:SS +ZZZZ, YYYY/MM/DD HH:MM:SS +ZZZZ, ISO 8601.",
            )
        }),
    }
}

fn choice_filter<T>(
    q: &ListQuery,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match q
        .filters
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(v) => parse(v).map(Some).ok_or_else(|| {
            ApiError::field(
                name,
                format!("Select a valid choice. {v} is not one of the available choices."),
            )
        }),
    }
}

/// `GET /tickets/tickets/`: filters `type`, `state`, `status` (open/closed), `applicant` (or
/// `applicant_id`), `assignee` (or `assignees__id`; `self` for the caller), `id`, `date_from` /
/// `date_to` (when it was opened; as in the audit lists, a malformed date is a 400), search over
/// title, serial number and applicant, `order`.
async fn list(
    caller: Caller,
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Host(host): Host,
) -> Result<Json<Value>, ApiError> {
    let q = ListQuery::parse(&uri)?;
    let (limit, offset) = q.window();
    let status_open = choice_filter(&q, "status", |v| match v {
        "open" => Some(true),
        "closed" => Some(false),
        _ => None,
    })?;
    let (org, related_to) = if sees_org(&caller) {
        (caller.org, None)
    } else {
        (None, Some(caller.user_id))
    };
    let query = TicketQuery {
        org,
        related_to,
        kind: choice_filter(&q, "type", TicketKind::parse)?,
        state: choice_filter(&q, "state", TicketState::parse)?,
        status_open,
        applicant: uuid_filter(&q, &["applicant", "applicant_id"], &caller)?,
        reviewer: uuid_filter(&q, &["assignee", "assignees__id", "assignees"], &caller)?,
        id: uuid_filter(&q, &["id"], &caller)?,
        date_from: date_filter(&q, "date_from")?,
        date_to: date_filter(&q, "date_to")?,
        search: q.search.clone(),
        order: q.order.clone(),
        limit,
        offset,
    };
    let (count, tickets) = state.store().list_tickets(&query).await?;
    let rows = tickets.iter().map(ticket_json).collect();
    Ok(Json(q.respond(&uri, &host, count, rows)))
}

/// `GET /tickets/tickets/<id>/`.
async fn detail(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    Ok(Json(ticket_json(&ticket)))
}

// ---------------------------------------------------------------------------------------------
// Answering
// ---------------------------------------------------------------------------------------------

/// 400 for an action on a ticket that is no longer pending.
fn not_pending(t: &TicketRecord) -> ApiError {
    ApiError::Invalid(json!({
        "detail": format!("The ticket has already been {}.", t.state.as_str()),
        "code": "ticket_processed",
    }))
}

/// The answer after a transition: the ticket as it is now, and the operation log entry in the
/// ticket's org (the org of what was held, which is where its auditors look).
async fn after_transition(
    state: &AppState,
    caller: &Caller,
    before: &TicketRecord,
    action: &str,
    by: &str,
) -> Result<Json<Value>, ApiError> {
    let after = state
        .store()
        .ticket(before.id)
        .await?
        .ok_or(ApiError::NotFound("Ticket"))?;
    let diff = json!({
        "state": [before.state.as_str(), after.state.as_str()],
        "processor": [before.processor_display, after.processor_display],
    });
    if let Err(e) = state
        .store()
        .operate_log(
            after.org_id,
            by,
            action,
            "Ticket",
            &format!("{}({})", after.title, after.applicant_display),
            &after.id.to_string(),
            &caller.ip.to_string(),
            &diff,
        )
        .await
    {
        tracing::error!(error = %e, "could not write the operation log");
    }
    Ok(Json(ticket_json(&after)))
}

async fn process(
    state: AppState,
    caller: Caller,
    id: String,
    approve: bool,
) -> Result<Json<Value>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    if !is_reviewer(&caller, &ticket) {
        return Err(ApiError::PermissionDenied);
    }
    if ticket.state != TicketState::Pending {
        return Err(not_pending(&ticket));
    }
    let by = caller_name(&state, &caller).await;
    if !state
        .store()
        .process_ticket(ticket.id, approve, caller.user_id, &by)
        .await?
    {
        // Another reviewer (or the applicant) was first.
        let now = state
            .store()
            .ticket(ticket.id)
            .await?
            .ok_or(ApiError::NotFound("Ticket"))?;
        return Err(not_pending(&now));
    }
    let action = if approve { "approve" } else { "reject" };
    after_transition(&state, &caller, &ticket, action, &by).await
}

/// `PUT|PATCH /tickets/tickets/<id>/approve/`: a reviewer lets the held login, connection or
/// command through. The body, if any, is ignored (there is nothing to amend in a review).
async fn approve(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    process(state, caller, id, true).await
}

/// `PUT /tickets/tickets/<id>/reject/`.
async fn reject(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    process(state, caller, id, false).await
}

/// `PUT /tickets/tickets/<id>/close/`: the applicant withdraws a pending ticket.
async fn close(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ticket = visible_ticket(&state, &caller, &id).await?;
    if ticket.applicant_id != caller.user_id {
        return Err(ApiError::PermissionDenied);
    }
    if ticket.state != TicketState::Pending {
        return Err(not_pending(&ticket));
    }
    let by = caller_name(&state, &caller).await;
    if !state.store().close_ticket(ticket.id, &by).await? {
        let now = state
            .store()
            .ticket(ticket.id)
            .await?
            .ok_or(ApiError::NotFound("Ticket"))?;
        return Err(not_pending(&now));
    }
    after_transition(&state, &caller, &ticket, "close", &by).await
}
