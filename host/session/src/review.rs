//! Reviews: something held (a command, a connection) until one of its reviewers approves or
//! rejects it through the API (`/api/v1/tickets/tickets/<id>/approve|reject/`).
//!
//! A review is a ticket in the store; the waiting side polls its state every
//! [`POLL_INTERVAL`] — tickets may be processed by another process of the cluster, so the
//! database is the only place the answer is sure to reach.

use portcullis_store::tickets::{NewTicket, TicketKind, TicketState};
use portcullis_store::{Store, StoreError};
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// How often a waiting session asks for the answer.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// An open review.
#[derive(Debug, Clone)]
pub struct OpenReview {
    /// The ticket.
    pub ticket_id: Uuid,
    /// Reviewers' display names, for the waiting user.
    pub reviewers: Vec<String>,
}

/// How a review ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// Approved by this reviewer.
    Approved(String),
    /// Rejected by this reviewer.
    Rejected(String),
    /// Withdrawn (by the user, or closed by the system).
    Closed,
}

/// What to ask for.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    /// Org of the asset.
    pub org: Uuid,
    /// Command or connection review.
    pub kind: TicketKind,
    /// One line for the reviewer's list.
    pub title: String,
    /// Who asks.
    pub applicant_id: Uuid,
    /// `Name(username)` of who asks.
    pub applicant_display: String,
    /// Who may answer.
    pub reviewers: Vec<Uuid>,
    /// What the reviewer sees (command, session, asset, account …).
    pub meta: Value,
}

/// Opens the ticket.
pub async fn open(store: &Store, req: &ReviewRequest) -> Result<OpenReview, StoreError> {
    let ticket_id = store
        .create_ticket(&NewTicket {
            org: req.org,
            kind: req.kind,
            title: req.title.clone(),
            applicant_id: req.applicant_id,
            applicant_display: req.applicant_display.clone(),
            reviewers: req.reviewers.clone(),
            meta: req.meta.clone(),
        })
        .await?;
    let reviewers = store
        .user_stubs(&req.reviewers)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    Ok(OpenReview {
        ticket_id,
        reviewers,
    })
}

/// The answer, if there is one yet.
pub async fn poll(store: &Store, ticket: Uuid) -> Result<Option<ReviewOutcome>, StoreError> {
    Ok(match store.ticket_state(ticket).await? {
        None => Some(ReviewOutcome::Closed),
        Some((TicketState::Pending, _)) => None,
        Some((TicketState::Approved, by)) => Some(ReviewOutcome::Approved(by)),
        Some((TicketState::Rejected, by)) => Some(ReviewOutcome::Rejected(by)),
        Some((TicketState::Closed, _)) => Some(ReviewOutcome::Closed),
    })
}

/// Withdraws a pending review (the user cancelled, the session ended).
pub async fn cancel(store: &Store, ticket: Uuid, by: &str) {
    if let Err(e) = store.close_ticket(ticket, by).await {
        tracing::warn!(%ticket, error = %e, "could not close a review ticket");
    }
}
