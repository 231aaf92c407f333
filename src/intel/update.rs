//! `intel update`: fetches every source's upstream copy into `[intel] cache_dir`.
//!
//! A fetched copy replaces the cached one only when it parses (a domain list with entries, a
//! retire.js repository with libraries); otherwise, and when the upstream cannot be reached,
//! the copy in use stays: the cached one, else the shipped one. Each copy is written beside a
//! small JSON file (`<name>.meta.json`: URL, fetch time, SHA-256) so that scans report which
//! copy they checked against. Downloads are bounded in size and time.

use super::{domains, retire, sha256_hex, IntelError};
use crate::config::{self, IntelKind, IntelSource};
use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Time one download may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// What is kept beside a cached copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheMeta {
    pub url: String,
    /// RFC 3339.
    pub fetched_at: String,
    pub sha256: String,
}

/// What `intel update` did with one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub name: String,
    pub url: String,
    /// `updated` or `kept`.
    pub result: String,
    /// Entries of the copy now in use (when updated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why it was kept, and which copy is in use (`the shipped copy of 2026-08-23`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn data_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.data"))
}

fn meta_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.meta.json"))
}

/// The cached copy of `name` and its meta data, when both are there and agree.
pub fn cached(dir: &Path, name: &str) -> Option<(String, CacheMeta)> {
    let meta: CacheMeta = serde_json::from_str(&std::fs::read_to_string(meta_path(dir, name)).ok()?).ok()?;
    let text = super::read_bounded(&data_path(dir, name)).ok()?;
    (sha256_hex(text.as_bytes()) == meta.sha256).then_some((text, meta))
}

/// Fetches every source (shipped ones at their configured URL) and reports each outcome.
/// Fails only when the cache folder cannot be written.
pub async fn update(cfg: &config::Intel) -> Result<Vec<Outcome>, IntelError> {
    std::fs::create_dir_all(&cfg.cache_dir)
        .map_err(|source| IntelError::Read { path: cfg.cache_dir.clone(), source })?;
    let client = client();
    let mut out = Vec::new();
    for source in cfg.update_sources() {
        let fetched = match &client {
            Ok(c) => fetch(c, &source.url).await,
            Err(e) => Err(format!("cannot make an HTTP client: {e}")),
        };
        let checked = fetched.and_then(|text| check(source.kind, &text).map(|entries| (text, entries)));
        out.push(match checked {
            Ok((text, entries)) => {
                store(&cfg.cache_dir, &source, &text)?;
                Outcome {
                    name: source.name.clone(),
                    url: source.url.clone(),
                    result: "updated".into(),
                    entries: Some(entries),
                    sha256: Some(sha256_hex(text.as_bytes())),
                    reason: None,
                }
            }
            Err(why) => Outcome {
                name: source.name.clone(),
                url: source.url.clone(),
                result: "kept".into(),
                entries: None,
                sha256: None,
                reason: Some(format!("{why}; using {}", in_use(&cfg.cache_dir, &source.name))),
            },
        });
    }
    Ok(out)
}

/// Which copy a scan uses now, in words.
fn in_use(dir: &Path, name: &str) -> String {
    match (cached(dir, name), super::shipped::data(name)) {
        (Some((_, meta)), _) => format!("the copy fetched {}", meta.fetched_at),
        (None, Some((_, date))) => format!("the shipped copy of {date}"),
        (None, None) => "nothing (no copy yet)".into(),
    }
}

/// The number of usable entries, or why the text is no copy of the source.
fn check(kind: IntelKind, text: &str) -> Result<u64, String> {
    match kind {
        IntelKind::Domains => {
            let list = domains::DomainList::parse("", text);
            if list.is_empty() {
                Err("the download has no domain entries".into())
            } else {
                Ok(list.len() as u64)
            }
        }
        IntelKind::RetireJs => retire::Repository::parse(text).map(|r| r.len() as u64),
    }
}

/// Writes the copy and its meta data (each through a temporary file, so that a scan never
/// reads half a file; the meta data's SHA-256 ties the two together).
fn store(dir: &Path, source: &IntelSource, text: &str) -> Result<(), IntelError> {
    let meta = CacheMeta {
        url: source.url.clone(),
        fetched_at: Timestamp::now().to_string(),
        sha256: sha256_hex(text.as_bytes()),
    };
    let meta_json = serde_json::to_string_pretty(&meta).unwrap_or_default();
    for (path, bytes) in
        [(data_path(dir, &source.name), text.as_bytes()), (meta_path(dir, &source.name), meta_json.as_bytes())]
    {
        let write = || -> std::io::Result<()> {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, bytes)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(|source| IntelError::Read { path: path.clone(), source })?;
    }
    Ok(())
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let shown = crate::text::one_line(url, 200);
    let mut response = tokio::time::timeout(FETCH_TIMEOUT, client.get(url).send())
        .await
        .map_err(|_| format!("{shown}: no answer within {} s", FETCH_TIMEOUT.as_secs()))?
        .map_err(|e| format!("{shown}: {}", crate::text::one_line(&e.to_string(), 300)))?;
    if !response.status().is_success() {
        return Err(format!("{shown}: HTTP {}", response.status().as_u16()));
    }
    let mut bytes = Vec::new();
    let body = async {
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("{shown}: {e}"))? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > domains::MAX_LIST_BYTES {
                return Err(format!("{shown}: larger than {} MiB", domains::MAX_LIST_BYTES >> 20));
            }
        }
        Ok(())
    };
    tokio::time::timeout(FETCH_TIMEOUT, body)
        .await
        .map_err(|_| format!("{shown}: download did not finish within {} s", FETCH_TIMEOUT.as_secs()))??;
    String::from_utf8(bytes).map_err(|_| format!("{shown}: the download is not UTF-8 text"))
}

fn client() -> Result<reqwest::Client, reqwest::Error> {
    crate::http::client_builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_copy_counts_only_with_matching_meta_data() {
        let dir = tempfile::tempdir().unwrap();
        let source = IntelSource { name: "x".into(), url: "http://127.0.0.1:1/x".into(), kind: IntelKind::Domains };
        store(dir.path(), &source, "evil.example\n").unwrap();
        let (text, meta) = cached(dir.path(), "x").unwrap();
        assert_eq!((text.as_str(), meta.url.as_str()), ("evil.example\n", "http://127.0.0.1:1/x"));
        std::fs::write(data_path(dir.path(), "x"), "other.example\n").unwrap();
        assert!(cached(dir.path(), "x").is_none(), "a copy edited behind the meta data is not used");
        assert!(check(IntelKind::Domains, "# only comments\n").is_err());
        assert!(check(IntelKind::RetireJs, "<html>").is_err());
    }
}
