//! Whole answers of the big asset lists, kept per data generation.
//!
//! `GET /api/v1/assets/<kind>/` and `GET /api/v1/perms/users/<user>/assets/` are what the
//! console and the web terminal open with, and on 100,000 assets building one 100-row page
//! (queries through sqlx's `Any` driver, `serde_json::Value` trees, serialization) cost a few
//! milliseconds of CPU — mostly allocation — which capped both lists at a few hundred requests
//! a second on two cores. The same page asked again is the same bytes until a row it draws
//! from changes, so the serialized answer is kept and served again.
//!
//! **Staleness.** Every table those answers draw from (assets, their nodes and node paths,
//! protocols, platforms, zones, orgs, labels, the account count, and through `perm_generation`
//! the permission tables and group memberships) bumps the database's `page_generation`
//! counter by trigger (migration 0007). The counter is read from the database on every
//! request, so several servers sharing one PostgreSQL see each other's writes at once; a newer
//! value empties the cache. The permitted list also depends on time (a permission starts or
//! expires), so its entries carry the instant the user's grant stops holding and are not
//! served from then on.
//!
//! **Authorization** is not cached: handlers check the caller's permission before asking the
//! cache, and the key holds everything the answer depends on besides the data — the route and
//! its full query string, the caller's org, the subject user, and the `Host` the `next` and
//! `previous` links are spelled with.
//!
//! **Memory** is bounded by a byte budget (`page_cache_mib`, 0 disables the cache) and an
//! entry count; past either, the least recently used answers go first.

use crate::AppState;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use uuid::Uuid;

/// Default budget: about 800 pages of 100 wide assets.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Entries kept at most whatever their size, so that evicting (a scan for the least recently
/// used) stays cheap even when every answer is tiny.
const MAX_ENTRIES: usize = 4096;

/// Bytes an entry costs besides its body and key text (map slot, key, bookkeeping).
const ENTRY_OVERHEAD: usize = 128;

/// What an answer depends on besides the data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The route's path and query string exactly as requested.
    pub uri: String,
    /// The `Host` header (absolute `next`/`previous` links).
    pub host: String,
    /// The caller's org (`None`: the root view).
    pub org: Option<Uuid>,
    /// The user whose assets are listed (permitted lists), `None` otherwise.
    pub subject: Option<Uuid>,
}

impl PageKey {
    fn cost(&self, body: &Bytes) -> usize {
        body.len() + self.uri.len() + self.host.len() + ENTRY_OVERHEAD
    }
}

struct Entry {
    body: Bytes,
    /// The answer holds until this instant (`None`: until the data changes).
    valid_until: Option<DateTime<Utc>>,
    /// Recency, for eviction.
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    generation: i64,
    entries: HashMap<PageKey, Entry>,
    bytes: usize,
    tick: u64,
}

impl Inner {
    /// Whether entries of `generation` may be read or added: a newer generation empties the
    /// cache and takes it over; an older one (a request that read the counter just before a
    /// write) bypasses it.
    fn usable(&mut self, generation: i64) -> bool {
        if generation > self.generation {
            self.generation = generation;
            self.entries.clear();
            self.bytes = 0;
        }
        generation == self.generation
    }

    fn remove(&mut self, key: &PageKey) {
        if let Some(e) = self.entries.remove(key) {
            self.bytes = self.bytes.saturating_sub(key.cost(&e.body));
        }
    }

    /// Drops the least recently used entry; false when there was none.
    fn evict_one(&mut self) -> bool {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                self.remove(&k);
                true
            }
            None => false,
        }
    }
}

/// The cache (see the module documentation). Shared by every request of one server.
pub struct PageCache {
    max_bytes: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

impl PageCache {
    /// A cache holding at most `max_bytes` of answers; 0 disables it.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            inner: Mutex::default(),
        }
    }

    /// Whether answers are kept at all.
    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The lock. A panic while it was held left at worst a missing entry (entries are inserted
    /// whole), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer kept for `key` under `generation`, if it still holds at `now`.
    pub fn get(&self, generation: i64, key: &PageKey, now: DateTime<Utc>) -> Option<Bytes> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.lock();
        if !inner.usable(generation) {
            return None;
        }
        inner.tick += 1;
        let tick = inner.tick;
        let expired = match inner.entries.get_mut(key) {
            None => return None,
            Some(e) if e.valid_until.is_none_or(|v| now < v) => {
                e.last_used = tick;
                return Some(e.body.clone());
            }
            Some(_) => true,
        };
        if expired {
            inner.remove(key);
        }
        None
    }

    /// Keeps `body` for `key`, built from data at least as new as `generation` (read before
    /// the data), holding until `valid_until`. Answers larger than the whole budget are not kept.
    pub fn put(
        &self,
        generation: i64,
        key: PageKey,
        body: Bytes,
        valid_until: Option<DateTime<Utc>>,
    ) {
        let cost = key.cost(&body);
        if !self.enabled() || cost > self.max_bytes {
            return;
        }
        let mut inner = self.lock();
        if !inner.usable(generation) {
            return;
        }
        inner.remove(&key);
        while (inner.bytes + cost > self.max_bytes || inner.entries.len() >= MAX_ENTRIES)
            && inner.evict_one()
        {}
        inner.tick += 1;
        let last_used = inner.tick;
        inner.bytes += cost;
        inner.entries.insert(
            key,
            Entry {
                body,
                valid_until,
                last_used,
            },
        );
    }
}

/// The answer for `key`: from the cache when it holds one for the current data generation,
/// otherwise `build` (the page and until when it holds), serialized and kept. The caller has
/// already checked that the requester may see it.
pub(crate) async fn answer<F>(
    state: &AppState,
    key: PageKey,
    build: F,
) -> Result<Response, ApiError>
where
    F: Future<Output = Result<(Value, Option<DateTime<Utc>>), ApiError>>,
{
    let cache = state.page_cache();
    if !cache.enabled() {
        return Ok(axum::Json(build.await?.0).into_response());
    }
    // Read before the data the answer is built from (see the module documentation).
    let generation = state.store().page_generation().await?;
    if let Some(body) = cache.get(generation, &key, Utc::now()) {
        return Ok(json_response(body));
    }
    let (page, valid_until) = build.await?;
    let body = Bytes::from(
        serde_json::to_vec(&page)
            .map_err(|e| ApiError::Internal(format!("serializing a list page: {e}")))?,
    );
    cache.put(generation, key, body.clone(), valid_until);
    Ok(json_response(body))
}

/// A JSON answer from serialized bytes, with the headers `axum::Json` gives.
fn json_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(uri: &str) -> PageKey {
        PageKey {
            uri: uri.into(),
            host: "h".into(),
            org: None,
            subject: None,
        }
    }

    #[test]
    fn serves_only_the_generation_it_was_built_for() {
        let c = PageCache::new(1 << 20);
        let now = Utc::now();
        c.put(5, key("/a"), Bytes::from_static(b"x"), None);
        assert_eq!(c.get(5, &key("/a"), now).as_deref(), Some(&b"x"[..]));
        assert!(c.get(5, &key("/b"), now).is_none());
        // An older reader bypasses; a newer one empties the cache.
        assert!(c.get(4, &key("/a"), now).is_none());
        assert!(c.get(6, &key("/a"), now).is_none());
        assert!(c.get(5, &key("/a"), now).is_none());
        // A late writer of an old generation adds nothing.
        c.put(5, key("/a"), Bytes::from_static(b"old"), None);
        assert!(c.get(6, &key("/a"), now).is_none());
    }

    #[test]
    fn time_bound_answers_expire() {
        let c = PageCache::new(1 << 20);
        let now = Utc::now();
        let until = now + chrono::Duration::seconds(10);
        c.put(1, key("/a"), Bytes::from_static(b"x"), Some(until));
        assert!(c.get(1, &key("/a"), now).is_some());
        assert!(c.get(1, &key("/a"), until).is_none());
    }

    #[test]
    fn stays_within_budget_dropping_the_least_recently_used() {
        let body = Bytes::from(vec![b'x'; 1000]);
        let per = key("/0").cost(&body);
        let c = PageCache::new(per * 3);
        let now = Utc::now();
        for i in 0..3 {
            c.put(1, key(&format!("/{i}")), body.clone(), None);
        }
        assert!(c.get(1, &key("/0"), now).is_some()); // /1 is now the oldest
        c.put(1, key("/3"), body.clone(), None);
        assert!(c.get(1, &key("/1"), now).is_none());
        for k in ["/0", "/2", "/3"] {
            assert!(c.get(1, &key(k), now).is_some(), "{k}");
        }
        assert!(c.lock().bytes <= per * 3);
        let off = PageCache::new(0);
        off.put(1, key("/0"), body, None);
        assert!(off.get(1, &key("/0"), now).is_none());
    }
}
