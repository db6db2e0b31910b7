//! Process-wide SQLite settings that have to be made before the library initializes.
//!
//! SQLite keeps memory-usage statistics by default (`SQLITE_DEFAULT_MEMSTATUS=1`), and to keep
//! them it takes one global mutex around every `sqlite3_malloc` and `sqlite3_free` of every
//! connection. sqlx copies each column of each row it reads (`sqlite3_value_dup`) on the
//! connection's worker thread and frees the copies on the thread that drops the row, so under
//! concurrent list requests all of the pool's connections and the runtime's threads queue on
//! that one mutex: profiling the 100-row asset list under load put a fifth of the server's CPU
//! in futex waits and wake-ups issued from SQLite's allocator. The statistics are read by
//! nothing here (`sqlite3_memory_used`, soft heap limits), so they are turned off.
//!
//! `sqlite3_config` is only valid before `sqlite3_initialize`, which the first
//! `sqlite3_open_v2` performs; it is called once, before the first SQLite connection of the
//! process. Called later (SQLite already initialized by some other code), SQLite refuses it
//! with `SQLITE_MISUSE` and changes nothing, which is only slower, never wrong.

// The configuration call is C's variadic `sqlite3_config`, reachable only through FFI.
#![allow(unsafe_code)]

use std::sync::OnceLock;

static TAKEN: OnceLock<bool> = OnceLock::new();

/// Turns off SQLite's memory statistics (and with them its global allocator mutex), once per
/// process, before any SQLite connection is opened. Returns whether SQLite took the setting
/// (it is refused once SQLite has been initialized).
pub(crate) fn disable_memstatus() -> bool {
    *TAKEN.get_or_init(|| {
        // SAFETY: `SQLITE_CONFIG_MEMSTATUS` takes one `int` argument; SQLite checks that it is
        // not yet initialized and otherwise returns `SQLITE_MISUSE` without effect. The
        // `OnceLock` keeps this process's own calls from racing each other, and every SQLite
        // connection of the store is opened after it returns.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        rc == libsqlite3_sys::SQLITE_OK
    })
}

#[cfg(test)]
mod tests {
    /// Statistics off means SQLite no longer counts what it allocates: a connection opened
    /// after the call leaves `sqlite3_memory_used` at zero (it is only ever counted with
    /// statistics on, and any open connection allocates).
    #[tokio::test]
    async fn memory_statistics_are_off_for_store_connections() {
        let dir = std::env::temp_dir().join(format!("pc-memstat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/t.db", dir.display());
        let store = crate::Store::connect(&url).await.unwrap();
        store.ping().await.unwrap();
        assert!(super::disable_memstatus(), "SQLite refused the setting");
        // SAFETY: a plain read of SQLite's counter.
        #[allow(unsafe_code)]
        let used = unsafe { libsqlite3_sys::sqlite3_memory_used() };
        assert_eq!(used, 0);
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
