//! Tickets (`tickets`, `ticket_reviewers`): something held — a login, a connection to an
//! asset, a command — until one of the ticket's reviewers approves or rejects it, or the
//! applicant withdraws it.
//!
//! The session engine opens a ticket with [`Store::create_ticket`] and polls
//! [`Store::ticket_state`]; the API lists tickets and processes them. The database is the only
//! place both sides are sure to meet (the API and the waiting session may run in different
//! processes of a cluster), which is why there is no notification channel here.
//!
//! State moves once: `pending` → `approved` | `rejected` | `closed`. Every transition is a single
//! `UPDATE … WHERE state = 'pending'`, so two reviewers answering at the same moment cannot both
//! win, and the loser learns it from the `false` return.
//!
//! Who may see or close a ticket is the API's decision. Who may *process* one is checked twice:
//! the API refuses non-reviewers with 403, and [`Store::process_ticket`] only updates a ticket
//! whose reviewer list holds the processor, so a caller that forgot the check still cannot
//! approve someone else's review.

use crate::codec::{from_micros, like_escape, micros, now_micros, order_column, trusted, uuid};
use crate::{Store, StoreError};
use chrono::{DateTime, Local, Utc};
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use uuid::Uuid;

/// What a ticket asks for (JumpServer's ticket `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketKind {
    /// A free-form request.
    General,
    /// A request for an asset permission.
    ApplyAsset,
    /// A login to Portcullis held by a login ACL.
    LoginConfirm,
    /// A command held by a command-filter ACL.
    CommandConfirm,
    /// A connection to an asset held by a login-asset (connect) ACL.
    LoginAssetConfirm,
}

impl TicketKind {
    /// Every kind, in JumpServer's order.
    pub const ALL: [TicketKind; 5] = [
        TicketKind::General,
        TicketKind::ApplyAsset,
        TicketKind::LoginConfirm,
        TicketKind::CommandConfirm,
        TicketKind::LoginAssetConfirm,
    ];

    /// The stored and API value.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::General => "general",
            TicketKind::ApplyAsset => "apply_asset",
            TicketKind::LoginConfirm => "login_confirm",
            TicketKind::CommandConfirm => "command_confirm",
            TicketKind::LoginAssetConfirm => "login_asset_confirm",
        }
    }

    /// The kind for a stored or API value.
    pub fn parse(text: &str) -> Option<TicketKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketState {
    /// Waiting for a reviewer.
    Pending,
    /// A reviewer approved it.
    Approved,
    /// A reviewer rejected it.
    Rejected,
    /// The applicant (or the system) withdrew it.
    Closed,
}

impl TicketState {
    /// Every state.
    pub const ALL: [TicketState; 4] = [
        TicketState::Pending,
        TicketState::Approved,
        TicketState::Rejected,
        TicketState::Closed,
    ];

    /// The stored and API value.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::Pending => "pending",
            TicketState::Approved => "approved",
            TicketState::Rejected => "rejected",
            TicketState::Closed => "closed",
        }
    }

    /// The state for a stored or API value.
    pub fn parse(text: &str) -> Option<TicketState> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A ticket to open.
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// The org the held object belongs to (the asset's org; Default for a login).
    pub org: Uuid,
    /// What is asked for.
    pub kind: TicketKind,
    /// One line for the reviewer's list (must not be empty).
    pub title: String,
    /// Who asks.
    pub applicant_id: Uuid,
    /// `Name(username)` of who asks; filled from the user row when empty.
    pub applicant_display: String,
    /// Who may answer (at least one; duplicates are ignored).
    pub reviewers: Vec<Uuid>,
    /// What the reviewer is shown: a JSON object (`null` is stored as `{}`).
    pub meta: Value,
}

/// A ticket as stored, with the names of what it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRecord {
    /// Id.
    pub id: Uuid,
    /// `YYYYMMDD` + a per-day counter of at least four digits, unique.
    pub serial_num: String,
    /// Org.
    pub org_id: Uuid,
    /// Its name.
    pub org_name: String,
    /// What is asked for.
    pub kind: TicketKind,
    /// One line.
    pub title: String,
    /// Where it is.
    pub state: TicketState,
    /// JumpServer's `status`: open iff pending.
    pub status_open: bool,
    /// Who asked.
    pub applicant_id: Uuid,
    /// `Name(username)` of who asked, as it was when the ticket was opened.
    pub applicant_display: String,
    /// Who may answer: (id, `Name(username)`), by name.
    pub reviewers: Vec<(Uuid, String)>,
    /// What the reviewer is shown.
    pub meta: Value,
    /// `Name(username)` of who approved, rejected or closed it; empty while pending.
    pub processor_display: String,
    /// Free text.
    pub comment: String,
    /// Opened.
    pub date_created: DateTime<Utc>,
    /// Last changed (processed or closed).
    pub date_updated: DateTime<Utc>,
}

/// Which tickets [`Store::list_tickets`] returns. Every filter that is set must match.
#[derive(Debug, Clone, Default)]
pub struct TicketQuery {
    /// Only this org (`None` = every org).
    pub org: Option<Uuid>,
    /// Only tickets this user applied for or is a reviewer of (JumpServer's "related
    /// tickets", what a user without the org-wide view sees).
    pub related_to: Option<Uuid>,
    /// Only this kind.
    pub kind: Option<TicketKind>,
    /// Only this state.
    pub state: Option<TicketState>,
    /// Only open (pending) tickets, or only closed (processed or withdrawn) ones.
    pub status_open: Option<bool>,
    /// Only tickets of this applicant.
    pub applicant: Option<Uuid>,
    /// Only tickets this user is a reviewer (assignee) of.
    pub reviewer: Option<Uuid>,
    /// Only this ticket.
    pub id: Option<Uuid>,
    /// Only tickets opened at or after this moment (the audit lists' `date_from`).
    pub date_from: Option<DateTime<Utc>>,
    /// Only tickets opened at or before this moment (`date_to`).
    pub date_to: Option<DateTime<Utc>>,
    /// Space-separated terms, each matched (case-insensitively) against the title, the serial
    /// number or the applicant.
    pub search: Option<String>,
    /// `field` or `-field`, one of `date_created` (the default is `-date_created`),
    /// `date_updated`, `title`, `serial_num`, `type`, `state`.
    pub order: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Page start.
    pub offset: i64,
}

/// Fields a ticket list may be ordered by: (API field, column).
const TICKET_ORDER: &[(&str, &str)] = &[
    ("date_created", "t.date_created"),
    ("date_updated", "t.date_updated"),
    ("title", "t.title"),
    ("serial_num", "t.serial_num"),
    ("type", "t.type"),
    ("state", "t.state"),
];

const TICKET_SELECT: &str = "SELECT t.id, t.serial_num, t.org_id, o.name AS org_name, t.type,
        t.title, t.state, t.applicant_id, t.applicant_display, t.meta, t.processor_display,
        t.comment, t.date_created, t.date_updated
    FROM tickets t
    JOIN orgs o ON o.id = t.org_id";

/// How often [`Store::create_ticket`] tries again when another writer took the serial number
/// it computed. Collisions need two tickets opened in the same instant; twenty in a row would
/// mean something other than a race is wrong.
const SERIAL_ATTEMPTS: usize = 20;

fn ticket_from_row(r: &AnyRow) -> Result<TicketRecord, StoreError> {
    let id: String = r.try_get("id")?;
    let kind: String = r.try_get("type")?;
    let state: String = r.try_get("state")?;
    let meta: String = r.try_get("meta")?;
    let state = TicketState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("tickets.state:{id}")))?;
    Ok(TicketRecord {
        id: uuid(&id, "tickets.id")?,
        serial_num: r.try_get("serial_num")?,
        org_id: uuid(&r.try_get::<String, _>("org_id")?, "tickets.org_id")?,
        org_name: r.try_get("org_name")?,
        kind: TicketKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("tickets.type:{id}")))?,
        title: r.try_get("title")?,
        state,
        status_open: state == TicketState::Pending,
        applicant_id: uuid(
            &r.try_get::<String, _>("applicant_id")?,
            "tickets.applicant_id",
        )?,
        applicant_display: r.try_get("applicant_display")?,
        reviewers: Vec::new(),
        meta: serde_json::from_str(&meta)
            .map_err(|_| StoreError::Corrupt(format!("tickets.meta:{id}")))?,
        processor_display: r.try_get("processor_display")?,
        comment: r.try_get("comment")?,
        date_created: from_micros(r.try_get("date_created")?),
        date_updated: from_micros(r.try_get("date_updated")?),
    })
}

/// The serial number after `last` (the day's highest so far, if any) for the day `prefix`.
fn next_serial(prefix: &str, last: Option<&str>) -> String {
    let n = last
        .and_then(|s| s.strip_prefix(prefix))
        .and_then(|tail| tail.parse::<u64>().ok())
        .unwrap_or(0);
    format!("{prefix}{:04}", n + 1)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

impl Store {
    /// Opens a pending ticket and returns its id. The org, the applicant and every reviewer
    /// must exist ([`StoreError::NotFound`] otherwise); a ticket needs a title and at least one
    /// reviewer ([`StoreError::Invalid`]) — a review nobody may answer would hold its session
    /// forever.
    ///
    /// The serial number is the local date (`YYYYMMDD`) and the day's next counter. Two tickets
    /// opened at once may compute the same one; the UNIQUE column refuses the second, which
    /// computes again.
    pub async fn create_ticket(&self, t: &NewTicket) -> Result<Uuid, StoreError> {
        let title = t.title.trim();
        if title.is_empty() {
            return Err(StoreError::Invalid("a ticket needs a title".into()));
        }
        let mut reviewers: Vec<Uuid> = Vec::with_capacity(t.reviewers.len());
        for r in &t.reviewers {
            if !reviewers.contains(r) {
                reviewers.push(*r);
            }
        }
        if reviewers.is_empty() {
            return Err(StoreError::Invalid(
                "a ticket needs at least one reviewer".into(),
            ));
        }
        let meta = match &t.meta {
            Value::Null => "{}".to_owned(),
            Value::Object(_) => t.meta.to_string(),
            _ => {
                return Err(StoreError::Invalid(
                    "a ticket's meta must be a JSON object".into(),
                ));
            }
        };
        let applicant_display = if t.applicant_display.trim().is_empty() {
            let row = sqlx::query("SELECT name, username FROM users WHERE id = $1")
                .bind(t.applicant_id.to_string())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("user {}", t.applicant_id)))?;
            let name: String = row.try_get("name")?;
            let username: String = row.try_get("username")?;
            format!("{name}({username})")
        } else {
            t.applicant_display.clone()
        };
        let id = Uuid::new_v4();
        for _ in 0..SERIAL_ATTEMPTS {
            let now = now_micros();
            let prefix = Local::now().format("%Y%m%d").to_string();
            // Read outside the transaction: on SQLite a transaction that reads first and writes
            // later cannot wait for the write lock (it would fail with "database is locked"),
            // while one whose first statement writes simply waits its turn.
            let last: Option<String> = sqlx::query_scalar(
                "SELECT serial_num FROM tickets WHERE serial_num LIKE $1
                 ORDER BY LENGTH(serial_num) DESC, serial_num DESC LIMIT 1",
            )
            .bind(format!("{prefix}%"))
            .fetch_optional(&self.pool)
            .await?;
            let serial = next_serial(&prefix, last.as_deref());
            let mut tx = self.begin_write().await?;
            let inserted = sqlx::query(
                "INSERT INTO tickets (id, serial_num, org_id, type, title, state, applicant_id,
                    applicant_display, meta, processor_display, comment, date_created, date_updated)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, '', '', $9, $9)",
            )
            .bind(id.to_string())
            .bind(&serial)
            .bind(t.org.to_string())
            .bind(t.kind.as_str())
            .bind(title)
            .bind(t.applicant_id.to_string())
            .bind(&applicant_display)
            .bind(&meta)
            .bind(now)
            .execute(&mut *tx)
            .await;
            match inserted {
                Ok(_) => {}
                // Another ticket took this number: the transaction is dropped (rolled back) and
                // the number computed again.
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::NotFound("the ticket's org or applicant".into()));
                }
                Err(e) => return Err(e.into()),
            }
            for r in &reviewers {
                sqlx::query("INSERT INTO ticket_reviewers (ticket_id, user_id) VALUES ($1, $2)")
                    .bind(id.to_string())
                    .bind(r.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        if is_foreign_key_violation(&e) {
                            StoreError::NotFound(format!("reviewer {r}"))
                        } else {
                            StoreError::Sql(e)
                        }
                    })?;
            }
            tx.commit().await?;
            return Ok(id);
        }
        // Displayed as "… already exists": every number tried was taken by another writer.
        Err(StoreError::Conflict("the ticket serial number".into()))
    }

    /// One ticket with its reviewers, whatever its org (callers decide who may see it).
    pub async fn ticket(&self, id: Uuid) -> Result<Option<TicketRecord>, StoreError> {
        let row = sqlx::query(trusted(format!("{TICKET_SELECT} WHERE t.id = $1")))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut tickets = vec![ticket_from_row(&row)?];
        self.attach_ticket_reviewers(&mut tickets).await?;
        Ok(tickets.pop())
    }

    /// The cheap poll of a waiting session: the state and `Name(username)` of who processed
    /// (or closed) the ticket, empty while pending. `None` when the ticket does not exist (it
    /// went with its org or applicant).
    pub async fn ticket_state(
        &self,
        id: Uuid,
    ) -> Result<Option<(TicketState, String)>, StoreError> {
        let row = sqlx::query("SELECT state, processor_display FROM tickets WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let state: String = row.try_get("state")?;
        let state = TicketState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("tickets.state:{id}")))?;
        Ok(Some((state, row.try_get("processor_display")?)))
    }

    /// Approves (`approve`) or rejects a pending ticket on behalf of `processor_id`, who must
    /// be one of its reviewers: the check is part of the `UPDATE`, so it holds even if the
    /// caller forgot it, and a processor who is not a reviewer gets [`StoreError::Invalid`].
    /// Returns false when the ticket does not exist or is no longer pending (another reviewer
    /// was first, or the applicant withdrew it).
    pub async fn process_ticket(
        &self,
        id: Uuid,
        approve: bool,
        processor_id: Uuid,
        processor_display: &str,
    ) -> Result<bool, StoreError> {
        let state = if approve {
            TicketState::Approved
        } else {
            TicketState::Rejected
        };
        let done = sqlx::query(
            "UPDATE tickets SET state = $1, processor_id = $2, processor_display = $3,
                 date_updated = $4
             WHERE id = $5 AND state = 'pending'
               AND EXISTS (SELECT 1 FROM ticket_reviewers r
                           WHERE r.ticket_id = tickets.id AND r.user_id = $2)",
        )
        .bind(state.as_str())
        .bind(processor_id.to_string())
        .bind(processor_display)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        let is_reviewer: Option<String> = sqlx::query_scalar(
            "SELECT ticket_id FROM ticket_reviewers WHERE ticket_id = $1 AND user_id = $2",
        )
        .bind(id.to_string())
        .bind(processor_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let exists = self.ticket_state(id).await?.is_some();
        if exists && is_reviewer.is_none() {
            return Err(StoreError::Invalid(
                "only a reviewer of the ticket may approve or reject it".into(),
            ));
        }
        Ok(false)
    }

    /// Withdraws a pending ticket (state `closed`), recording `by_display` as who closed it.
    /// Whether the caller may (the applicant, or the system when the waiting session ends) is
    /// the caller's decision. Returns false when the ticket does not exist or is no longer
    /// pending.
    pub async fn close_ticket(&self, id: Uuid, by_display: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE tickets SET state = 'closed', processor_display = $1, date_updated = $2
             WHERE id = $3 AND state = 'pending'",
        )
        .bind(by_display)
        .bind(now_micros())
        .bind(id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The total and one page of tickets under `q`, newest first unless `q.order` says
    /// otherwise.
    pub async fn list_tickets(
        &self,
        q: &TicketQuery,
    ) -> Result<(i64, Vec<TicketRecord>), StoreError> {
        let (order_col, dir) =
            order_column(q.order.as_deref(), "-date_created", TICKET_ORDER, "tickets")?;
        let mut clauses: Vec<String> = Vec::new();
        // Every bound value is text; the SQL only ever holds their `$n` placeholders.
        let mut args: Vec<String> = Vec::new();
        let arg = |v: String, args: &mut Vec<String>| {
            args.push(v);
            format!("${}", args.len())
        };
        if let Some(org) = q.org {
            let p = arg(org.to_string(), &mut args);
            clauses.push(format!("t.org_id = {p}"));
        }
        if let Some(user) = q.related_to {
            let p = arg(user.to_string(), &mut args);
            clauses.push(format!(
                "(t.applicant_id = {p} OR EXISTS (SELECT 1 FROM ticket_reviewers r
                     WHERE r.ticket_id = t.id AND r.user_id = {p}))"
            ));
        }
        if let Some(kind) = q.kind {
            let p = arg(kind.as_str().to_owned(), &mut args);
            clauses.push(format!("t.type = {p}"));
        }
        if let Some(state) = q.state {
            let p = arg(state.as_str().to_owned(), &mut args);
            clauses.push(format!("t.state = {p}"));
        }
        match q.status_open {
            Some(true) => clauses.push("t.state = 'pending'".into()),
            Some(false) => clauses.push("t.state <> 'pending'".into()),
            None => {}
        }
        if let Some(applicant) = q.applicant {
            let p = arg(applicant.to_string(), &mut args);
            clauses.push(format!("t.applicant_id = {p}"));
        }
        if let Some(reviewer) = q.reviewer {
            let p = arg(reviewer.to_string(), &mut args);
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM ticket_reviewers r WHERE r.ticket_id = t.id AND r.user_id = {p})"
            ));
        }
        if let Some(id) = q.id {
            let p = arg(id.to_string(), &mut args);
            clauses.push(format!("t.id = {p}"));
        }
        // Integers the server computed, written into the SQL (the text-bound arguments would
        // not compare with PostgreSQL's bigint column).
        if let Some(from) = q.date_from {
            clauses.push(format!("t.date_created >= {}", micros(from)));
        }
        if let Some(to) = q.date_to {
            clauses.push(format!("t.date_created <= {}", micros(to)));
        }
        if let Some(search) = &q.search {
            for term in search.split_whitespace() {
                let p = arg(
                    format!("%{}%", like_escape(&term.to_lowercase())),
                    &mut args,
                );
                clauses.push(format!(
                    "(LOWER(t.title) LIKE {p} ESCAPE '\\' OR LOWER(t.serial_num) LIKE {p} ESCAPE '\\'
                      OR LOWER(t.applicant_display) LIKE {p} ESCAPE '\\')"
                ));
            }
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let mut count = sqlx::query_scalar(trusted(format!(
            "SELECT COUNT(*) FROM tickets t {filter_sql}"
        )));
        for a in &args {
            count = count.bind(a.clone());
        }
        let count: i64 = count.fetch_one(&self.pool).await?;
        let mut page = sqlx::query(trusted(format!(
            "{TICKET_SELECT} {filter_sql}
             ORDER BY {order_col} {dir}, t.id {dir} LIMIT {} OFFSET {}",
            q.limit.max(0),
            q.offset.max(0)
        )));
        for a in &args {
            page = page.bind(a.clone());
        }
        let rows = page.fetch_all(&self.pool).await?;
        let mut tickets = rows
            .iter()
            .map(ticket_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        self.attach_ticket_reviewers(&mut tickets).await?;
        Ok((count, tickets))
    }

    /// Fills `reviewers` of `tickets` with one query.
    async fn attach_ticket_reviewers(
        &self,
        tickets: &mut [TicketRecord],
    ) -> Result<(), StoreError> {
        if tickets.is_empty() {
            return Ok(());
        }
        let list = (1..=tickets.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut query = sqlx::query(trusted(format!(
            "SELECT r.ticket_id, u.id, u.name, u.username FROM ticket_reviewers r
             JOIN users u ON u.id = r.user_id
             WHERE r.ticket_id IN ({list}) ORDER BY u.name, u.id"
        )));
        for t in tickets.iter() {
            query = query.bind(t.id.to_string());
        }
        let mut by_ticket: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
        for row in query.fetch_all(&self.pool).await? {
            let ticket = uuid(
                &row.try_get::<String, _>("ticket_id")?,
                "ticket_reviewers.ticket_id",
            )?;
            let user = uuid(&row.try_get::<String, _>("id")?, "ticket_reviewers.user_id")?;
            let name: String = row.try_get("name")?;
            let username: String = row.try_get("username")?;
            by_ticket
                .entry(ticket)
                .or_default()
                .push((user, format!("{name}({username})")));
        }
        for t in tickets.iter_mut() {
            t.reviewers = by_ticket.remove(&t.id).unwrap_or_default();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_count_up_per_day_past_four_digits() {
        assert_eq!(next_serial("20250131", None), "202501310001");
        assert_eq!(
            next_serial("20250131", Some("202501310041")),
            "202501310042"
        );
        assert_eq!(
            next_serial("20250131", Some("202501319999")),
            "2025013110000"
        );
        // A number of another day, or one that is not ours, starts the day again.
        assert_eq!(
            next_serial("20250131", Some("202501300007")),
            "202501310001"
        );
    }

    #[test]
    fn kinds_and_states_round_trip_through_their_values() {
        for k in TicketKind::ALL {
            assert_eq!(TicketKind::parse(k.as_str()), Some(k));
        }
        for s in TicketState::ALL {
            assert_eq!(TicketState::parse(s.as_str()), Some(s));
        }
        assert_eq!(TicketKind::parse("open"), None);
        assert_eq!(TicketState::parse("open"), None);
    }
}
