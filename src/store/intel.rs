//! Which intelligence data the scans checked against, for the evidence (issue 14: "evidence
//! shows what was checked"): one row per data version (source name and SHA-256 of the data),
//! with when it was first and last used and by how many page scans.

use super::{Store, StoreError};
use crate::model::{IntelVersion, Timestamp};
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// One version of one intelligence source and the period the scans used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntelUse {
    #[serde(flatten)]
    pub version: IntelVersion,
    /// First and last scan (its evaluation) that checked against this version.
    pub first_used: String,
    pub last_used: String,
    /// Page scans that checked against it.
    pub scans: u64,
}

impl Store {
    /// Notes that a page scan checked against `versions` at `at`.
    pub fn record_intel_use(&self, versions: &[IntelVersion], at: Timestamp) -> Result<(), StoreError> {
        let at = at.to_string();
        for v in versions {
            self.conn
                .execute(
                    "INSERT INTO intel_versions
                        (name, sha256, kind, origin, location, entries, skipped, date, first_used, last_used, scans)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, 1)
                     ON CONFLICT (name, sha256) DO UPDATE SET last_used = excluded.last_used, scans = scans + 1",
                    params![v.name, v.sha256, v.kind, v.origin, v.location, v.entries, v.skipped, v.date, at],
                )
                .map_err(self.sqlite_err(format!("recording the use of the intelligence data `{}`", v.name)))?;
        }
        Ok(())
    }

    /// The versions used at or after `since`, by source name, oldest first.
    pub fn intel_used_since(&self, since: Timestamp) -> Result<Vec<IntelUse>, StoreError> {
        let err = || self.sqlite_err("reading which intelligence data the scans used");
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, sha256, kind, origin, location, entries, skipped, date, first_used, last_used, scans
                   FROM intel_versions WHERE last_used >= ?1 ORDER BY name, first_used",
            )
            .map_err(err())?;
        let rows = stmt
            .query_map([since.to_string()], |r| {
                Ok(IntelUse {
                    version: IntelVersion {
                        name: r.get(0)?,
                        sha256: r.get(1)?,
                        kind: r.get(2)?,
                        origin: r.get(3)?,
                        location: r.get(4)?,
                        entries: r.get::<_, i64>(5)?.max(0) as u64,
                        skipped: r.get::<_, i64>(6)?.max(0) as u64,
                        date: r.get(7)?,
                    },
                    first_used: r.get(8)?,
                    last_used: r.get(9)?,
                    scans: r.get::<_, i64>(10)?.max(0) as u64,
                })
            })
            .map_err(err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_version_is_one_row_with_its_period_and_count() {
        let store = Store::open_in_memory().unwrap();
        let v = |sha: &str| IntelVersion {
            name: "maltrail-magentocore".into(),
            kind: "domains".into(),
            origin: "shipped".into(),
            entries: 3,
            sha256: sha.into(),
            date: "2026-11-30".into(),
            ..Default::default()
        };
        let t = |s: &str| Timestamp::parse(s).unwrap();
        store.record_intel_use(&[v("aa")], t("2026-12-01T00:00:00Z")).unwrap();
        store.record_intel_use(&[v("aa")], t("2026-12-02T00:00:00Z")).unwrap();
        store.record_intel_use(&[v("bb")], t("2026-12-03T00:00:00Z")).unwrap();
        let used = store.intel_used_since(t("2026-12-01T12:00:00Z")).unwrap();
        assert_eq!(used.len(), 2, "{used:?}");
        assert_eq!((used[0].version.sha256.as_str(), used[0].scans), ("aa", 2));
        assert_eq!(
            (used[0].first_used.as_str(), used[0].last_used.as_str()),
            ("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z")
        );
        assert_eq!(used[0].version, v("aa"));
        assert_eq!((used[1].version.sha256.as_str(), used[1].scans), ("bb", 1));
        assert!(store.intel_used_since(t("2026-12-04T00:00:00Z")).unwrap().is_empty());
    }
}
