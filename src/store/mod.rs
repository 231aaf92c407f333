//! The scan history: every scan of every page, kept in one SQLite file. This folder is the only
//! place with SQL; the rest of skimwatch calls the typed methods of [`Store`] and, inside a
//! write transaction, of [`ScanTx`].
//!
//! The store is what lets `skimwatch` show what a page looked like last time, diff a script
//! against the version seen before, and list past scans for an auditor. It is synchronous
//! (rusqlite); async callers run it inside `spawn_blocking`. Script bodies are
//! content-addressed: a body is stored once per distinct SHA-256 in `script_bodies`, and each
//! scan only adds small rows that point at it, so an unchanged rescan costs a few hundred bytes
//! instead of megabytes of JavaScript.
//!
//! - [`schema`]: the versioned migrations and the connection settings.
//! - [`history`]: recording scans and reading them back.
//! - [`outbox`]: the watch daemon's alert outbox and alerting state.
//! - [`evidence`]: the queries behind the assessor's inventory, evidence and incident reports.
//! - [`chain`]: the tamper-evident seal on every scan.
//! - [`prune`]: pruning old script bodies, the database size budget, the storage facts.

pub mod chain;
pub mod evidence;
pub mod history;
pub mod intel;
pub mod outbox;
pub mod prune;
pub mod reports;
pub mod schema;

pub use history::FindingHistory;
pub use schema::MIGRATIONS;

use crate::model::{Finding, Inventory, PageStatus};
use rusqlite::{Connection, TransactionBehavior};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the folder {path} for the scan database: {source}; check that the parent folder exists and is writable, or choose another database path")]
    CreateDir { path: PathBuf, source: std::io::Error },

    #[error("cannot open the scan database {path}: {source}; check that the path is a writable SQLite file (or remove it to start a fresh history)")]
    Open { path: PathBuf, source: rusqlite::Error },

    #[error("the scan database {path} has schema version {found}, but this skimwatch only understands versions up to {supported}: it was written by a newer skimwatch. Upgrade skimwatch, or point it at another database file")]
    TooNew { path: PathBuf, found: i64, supported: usize },

    #[error("cannot migrate the scan database {path} to schema version {version}: {source}; the database was left at its previous version")]
    Migrate { path: PathBuf, version: usize, source: rusqlite::Error },

    #[error("scan database {path}: {action} failed: {source}{hint}", hint = hint(path, source))]
    Sqlite { path: PathBuf, action: String, source: rusqlite::Error },

    #[error("scan database {path}: {what} is unreadable ({detail}); the row was probably written by another tool or damaged")]
    Corrupt { path: PathBuf, what: String, detail: String },

    #[error("cannot serialise {what} of page `{page}` for the scan database: {source}")]
    Serialize { page: String, what: &'static str, source: serde_json::Error },
}

/// Adds the likely fix when SQLite gave up waiting for a lock, or the database is full.
fn hint(path: &Path, err: &rusqlite::Error) -> String {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
            "; another process kept the database locked: wait for the other skimwatch run to finish, or give this run its own database".to_string()
        }
        Some(rusqlite::ErrorCode::DiskFull) => format!(
            "; the database {} is full: free disk space or lower [storage] keep (older script bodies are then pruned), or raise [storage] max_database_size",
            path.display()
        ),
        _ => String::new(),
    }
}

/// A scan to record.
#[derive(Debug, Clone)]
pub struct NewScan<'a> {
    pub page: &'a str,
    /// URL that was requested (the page's configured URL).
    pub url: &'a str,
    /// RFC 3339 UTC, see [`now_rfc3339`].
    pub started_at: String,
    pub finished_at: String,
    pub outcome: ScanOutcome<'a>,
}

#[derive(Debug, Clone)]
pub enum ScanOutcome<'a> {
    /// `screenshot`: the payment page as the shopper saw it, (key, PNG), stored once per key
    /// (`inventory::picture`: what it shows).
    Ok {
        inventory: &'a Inventory,
        findings: &'a [Finding],
        elapsed_ms: u64,
        screenshot: Option<(&'a str, &'a [u8])>,
    },
    Error {
        message: String,
    },
}

/// A scan read back from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScan {
    pub id: i64,
    pub page: String,
    pub url: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: PageStatus,
    pub error: Option<String>,
    /// The inventory of an `ok` scan, scripts in their recorded order with `source` filled in
    /// from `script_bodies`. `Inventory.url` is the scan's requested `url`.
    pub inventory: Option<Inventory>,
    pub findings: Vec<Finding>,
    /// Wall-clock milliseconds of the capture (0 for error scans).
    pub elapsed_ms: u64,
    /// The key of the payment page's screenshot ([`Store::screenshot`]), if one was taken.
    pub screenshot: Option<String>,
}

/// One line of the scan history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    pub id: i64,
    pub page: String,
    pub url: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: PageStatus,
    pub error: Option<String>,
    pub findings: usize,
    pub scripts: usize,
}

pub struct Store {
    conn: Connection,
    /// For error messages only (`:memory:` for in-memory stores).
    path: PathBuf,
}

/// Current UTC time as RFC 3339 with seconds precision, e.g. `2025-03-01T12:00:00Z`.
pub fn now_rfc3339() -> String {
    crate::model::Timestamp::now().to_string()
}

impl Store {
    /// Opens (creating file and parent folders if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|source| StoreError::CreateDir { path: parent.to_path_buf(), source })?;
            }
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open { path: path.to_path_buf(), source })?;
        Store::setup(conn, path.to_path_buf())
    }

    /// A private database that disappears when the store is dropped (`--ephemeral`, tests).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open { path: path.clone(), source })?;
        Store::setup(conn, path)
    }

    /// Where the database lives (`:memory:` for in-memory stores), for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite_err(&self, action: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
        let action = action.into();
        move |source| StoreError::Sqlite { path: self.path.clone(), action, source }
    }

    /// Runs `f` in one write transaction (taken at once, so a concurrent writer waits rather
    /// than interleaves) and commits when it succeeds; errors name the database and `action`.
    pub fn write<T>(
        &mut self,
        action: &str,
        f: impl FnOnce(&ScanTx) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite { path: path.clone(), action: action.to_string(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let out = f(&ScanTx::new(&tx, &path, action))?;
        tx.commit().map_err(err)?;
        Ok(out)
    }
}

/// A write transaction in progress: what is written through it commits or rolls back together
/// with the rest of the transaction (for the watch daemon: its alerts with the scan that raised
/// them). Handed to [`Store::record_scan_with`] and [`Store::write`] callbacks; its methods are
/// in [`outbox`].
pub struct ScanTx<'a> {
    conn: &'a Connection,
    path: &'a Path,
    /// What the whole transaction does, for error messages.
    action: &'a str,
}

impl<'a> ScanTx<'a> {
    fn new(conn: &'a Connection, path: &'a Path, action: &'a str) -> ScanTx<'a> {
        ScanTx { conn, path, action }
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.to_path_buf(), action: self.action.to_string(), source }
    }
}

/// SQLite integers are signed 64-bit; no real size or duration comes near the limit.
fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_utc_seconds() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2025-01-01T00:00:00Z".len(), "{now}");
        assert!(now.ends_with('Z'), "{now}");
        time::OffsetDateTime::parse(&now, &time::format_description::well_known::Rfc3339).unwrap();
    }
}
