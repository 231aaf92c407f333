//! CSP violation reports of real browsers, grouped: one row per page, directive, blocked
//! resource and source file, with a count and first/last time. The collector in
//! `watch::reports` writes them; the scan turns the recent ones into findings.

use super::{Store, StoreError};
use crate::model::{CspViolation, Timestamp};
use rusqlite::{params, OptionalExtension};

/// What happened to one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A group seen before: its count grew.
    Counted,
    /// A new group.
    New,
    /// A new group, but `max_groups` are stored already: dropped (and counted by the caller).
    Full,
}

impl Store {
    /// Adds one report to its group; a new group only while fewer than `max_groups` exist.
    pub fn record_violation(&self, v: &CspViolation, at: Timestamp, max_groups: u64) -> Result<Recorded, StoreError> {
        let at = at.to_string();
        let err = || self.sqlite_err(format!("recording a CSP violation report of page `{}`", v.page));
        let updated = self
            .conn
            .execute(
                "UPDATE csp_violations SET count = count + 1, last_seen = ?5
                  WHERE page = ?1 AND directive = ?2 AND blocked = ?3 AND source = ?4",
                params![v.page, v.directive, v.blocked, v.source, at],
            )
            .map_err(err())?;
        if updated > 0 {
            return Ok(Recorded::Counted);
        }
        let groups: i64 = self.conn.query_row("SELECT COUNT(*) FROM csp_violations", [], |r| r.get(0)).map_err(err())?;
        if groups as u64 >= max_groups {
            return Ok(Recorded::Full);
        }
        self.conn
            .execute(
                "INSERT INTO csp_violations (page, directive, blocked, source, sample, count, first_seen, last_seen, noise)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6, ?7)",
                params![v.page, v.directive, v.blocked, v.source, v.sample, at, v.noise],
            )
            .map_err(err())?;
        Ok(Recorded::New)
    }

    /// The groups of `page` last reported at or after `since`, most reported first.
    pub fn csp_violations(&self, page: &str, since: Timestamp) -> Result<Vec<CspViolation>, StoreError> {
        let err = || self.sqlite_err(format!("reading the CSP violation reports of page `{page}`"));
        let mut stmt = self
            .conn
            .prepare(
                "SELECT page, directive, blocked, source, sample, count, first_seen, last_seen, noise
                   FROM csp_violations WHERE page = ?1 AND last_seen >= ?2
                  ORDER BY count DESC, directive, blocked, source",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map(params![page, since.to_string()], |r| {
                Ok(CspViolation {
                    page: r.get(0)?,
                    directive: r.get(1)?,
                    blocked: r.get(2)?,
                    source: r.get(3)?,
                    sample: r.get(4)?,
                    count: r.get::<_, i64>(5)? as u64,
                    first_seen: r.get(6)?,
                    last_seen: r.get(7)?,
                    noise: r.get(8)?,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err())
    }

    /// How many reports one group has (tests, `status`).
    pub fn violation_count(&self, page: &str, directive: &str, blocked: &str) -> Result<Option<u64>, StoreError> {
        self.conn
            .query_row(
                "SELECT SUM(count) FROM csp_violations WHERE page = ?1 AND directive = ?2 AND blocked = ?3",
                params![page, directive, blocked],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()
            .map(|c| c.flatten().map(|c| c as u64))
            .map_err(self.sqlite_err(format!("counting CSP violation reports of page `{page}`")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_grouped_with_a_count_and_new_groups_are_bounded() {
        let store = Store::open_in_memory().unwrap();
        let v = CspViolation {
            page: "checkout".into(),
            directive: "script-src-elem".into(),
            blocked: "https://evil.example".into(),
            source: "https://shop.example/checkout".into(),
            ..CspViolation::default()
        };
        let t = Timestamp::parse("2026-12-07T08:00:00Z").unwrap();
        assert_eq!(store.record_violation(&v, t, 2).unwrap(), Recorded::New);
        for _ in 0..999 {
            assert_eq!(store.record_violation(&v, t + time::Duration::seconds(5), 2).unwrap(), Recorded::Counted);
        }
        let other = CspViolation { blocked: "inline".into(), ..v.clone() };
        assert_eq!(store.record_violation(&other, t, 2).unwrap(), Recorded::New);
        let third = CspViolation { blocked: "eval".into(), ..v.clone() };
        assert_eq!(store.record_violation(&third, t, 2).unwrap(), Recorded::Full);
        let all = store.csp_violations("checkout", t).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].count, all[0].first_seen.as_str(), all[0].last_seen.as_str()),
            (1000, "2026-12-07T08:00:00Z", "2026-12-07T08:00:05Z")
        );
        assert!(store.csp_violations("checkout", t + time::Duration::seconds(1)).unwrap().len() == 1, "by last_seen");
        assert_eq!(store.violation_count("checkout", "script-src-elem", "eval").unwrap(), None);
    }
}
