//! Known-bad recognition: the intelligence data a scan checks pages against, loaded once per
//! run (`scan`, `watch`) and shared by every page's comparison.
//!
//! Three kinds of data (docs/intel.md): indicator lists of skimmer domains ([`domains`]),
//! retire.js's repository of vulnerable JavaScript libraries ([`retire`]) and YARA rules over
//! script text (`yara`, with the cargo feature `yara`). skimwatch ships a copy of each
//! (`intel/` in the repository, built into the binary, so that the package works anywhere);
//! `intel update` ([`update`]) fetches newer copies into `[intel] cache_dir`, and those are used
//! instead when present. Users add their own lists (`[intel] lists`) and rules (`[intel]
//! rules`). Every source loaded is described by an [`IntelVersion`] (name, entries, SHA-256,
//! date), which goes into the scan report so that evidence shows what was checked.

pub mod domains;
pub mod retire;
pub mod update;
#[cfg(feature = "yara")]
pub mod yara;

use crate::config::{self, IntelKind};
use crate::model::{IntelVersion, Timestamp};
use domains::DomainList;
use std::path::{Path, PathBuf};

/// The copies shipped in the binary, with the upstream snapshot they are (intel/README.md).
pub mod shipped {
    pub const MALTRAIL: &str = include_str!("../../intel/maltrail-magentocore.txt");
    /// maltrail commit 8adace159e1e9418ca4dd1a4b07f84917c3b6155.
    pub const MALTRAIL_DATE: &str = "2026-08-23";
    pub const RETIREJS: &str = include_str!("../../intel/retirejs-jsrepository-v4.json");
    /// retire.js commit fd8df0d6f1da46d4bc0446321395fcf708619e07.
    pub const RETIREJS_DATE: &str = "2026-08-22";
    /// skimwatch's own rules for the documented skimmer families.
    pub const YARA_RULES: &str = include_str!("../../intel/yara/skimmers.yar");
    pub const YARA_NAME: &str = "skimwatch-yara";
    pub const YARA_DATE: &str = "2026-12-07";

    /// The shipped text of the source named `name`, and its date.
    pub fn data(name: &str) -> Option<(&'static str, &'static str)> {
        match name {
            "maltrail-magentocore" => Some((MALTRAIL, MALTRAIL_DATE)),
            "retirejs" => Some((RETIREJS, RETIREJS_DATE)),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    #[error("{}: cannot read intelligence file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: intelligence file is larger than {} MiB", path.display(), domains::MAX_LIST_BYTES >> 20)]
    TooLarge { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

/// Everything a scan checks against, compiled.
#[derive(Debug, Default)]
pub struct Intel {
    pub domains: Vec<DomainList>,
    pub libraries: Vec<(String, retire::Repository)>,
    #[cfg(feature = "yara")]
    pub yara: Option<yara::Rules>,
    /// What was loaded, for the report.
    pub versions: Vec<IntelVersion>,
}

/// A known-bad host's match: the list and its entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHost<'a> {
    pub list: &'a str,
    pub entry: &'a str,
}

impl Intel {
    /// Nothing to check against (unit tests, and pages compared without intel).
    pub fn empty() -> Intel {
        Intel::default()
    }

    /// The shipped data (or the `intel update` copies in `cache_dir`), then the user's lists
    /// and rules. A user file that cannot be read is an error (it was configured); a cached
    /// copy that does not parse is skipped with a warning and the shipped copy used.
    pub fn load(cfg: &config::Intel) -> Result<Intel, IntelError> {
        let mut intel = Intel::default();
        for source in cfg.update_sources() {
            let cached = update::cached(&cfg.cache_dir, &source.name);
            let (text, version) = match cached {
                Some((text, meta)) => {
                    let v = IntelVersion {
                        name: source.name.clone(),
                        kind: source.kind.as_str().into(),
                        origin: "updated".into(),
                        location: Some(meta.url),
                        date: meta.fetched_at,
                        ..IntelVersion::default()
                    };
                    (std::borrow::Cow::Owned(text), v)
                }
                None => match shipped::data(&source.name) {
                    Some((text, date)) => (
                        std::borrow::Cow::Borrowed(text),
                        IntelVersion {
                            name: source.name.clone(),
                            kind: source.kind.as_str().into(),
                            origin: "shipped".into(),
                            date: date.into(),
                            ..IntelVersion::default()
                        },
                    ),
                    None => {
                        tracing::warn!(source = %source.name, "intelligence source not fetched yet: run `intel update`");
                        continue;
                    }
                },
            };
            let path = cfg.cache_dir.join(&source.name);
            intel.add(source.kind, &text, version, &path)?;
        }
        for path in &cfg.lists {
            let text = read_bounded(path)?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let version = file_version(&name, IntelKind::Domains.as_str(), path);
            intel.add(IntelKind::Domains, &text, version, path)?;
        }
        intel.load_rules(cfg.rules.as_deref())?;
        Ok(intel)
    }

    fn add(&mut self, kind: IntelKind, text: &str, mut version: IntelVersion, path: &Path) -> Result<(), IntelError> {
        let _timing = Timing(std::time::Instant::now(), version.name.clone());
        version.sha256 = sha256_hex(text.as_bytes());
        match kind {
            IntelKind::Domains => {
                let list = DomainList::parse(&version.name, text);
                (version.entries, version.skipped) = (list.len() as u64, list.skipped);
                self.domains.push(list);
            }
            IntelKind::RetireJs => {
                let repo = match retire::Repository::parse(text) {
                    Ok(r) => r,
                    // A shipped copy always parses (a unit test says so); a cached one may not.
                    Err(message) if version.origin == "updated" => {
                        tracing::warn!(path = %path.display(), "{message}: using the shipped copy");
                        let (text, date) =
                            shipped::data(&version.name).unwrap_or((shipped::RETIREJS, shipped::RETIREJS_DATE));
                        let v = IntelVersion { origin: "shipped".into(), location: None, date: date.into(), ..version };
                        return self.add(kind, text, v, path);
                    }
                    Err(message) => return Err(IntelError::Invalid { path: path.to_path_buf(), message }),
                };
                (version.entries, version.skipped) = (repo.len() as u64, repo.skipped);
                self.libraries.push((version.name.clone(), repo));
            }
        }
        self.versions.push(version);
        Ok(())
    }

    #[cfg(feature = "yara")]
    fn load_rules(&mut self, folder: Option<&Path>) -> Result<(), IntelError> {
        let _timing = Timing(std::time::Instant::now(), shipped::YARA_NAME.into());
        let (rules, versions) = yara::Rules::load(folder)?;
        self.yara = Some(rules);
        self.versions.extend(versions);
        Ok(())
    }

    #[cfg(not(feature = "yara"))]
    fn load_rules(&mut self, folder: Option<&Path>) -> Result<(), IntelError> {
        if let Some(folder) = folder {
            tracing::warn!(folder = %folder.display(), "[intel] rules is set but this skimwatch is built without the `yara` feature: the rules are not used");
        }
        Ok(())
    }

    /// Reads the user's lists and compiles the user's rules (with the `yara` feature), without
    /// the shipped data: what `config check` checks. The error names the file; `Err` carries
    /// whether it was a rule (`true`) or a list.
    pub fn check_user_files(cfg: &config::Intel) -> Result<(), (bool, IntelError)> {
        for path in &cfg.lists {
            read_bounded(path).map_err(|e| (false, e))?;
        }
        #[cfg(feature = "yara")]
        yara::Rules::load(cfg.rules.as_deref()).map_err(|e| (true, e))?;
        Ok(())
    }

    /// The first list naming `host` (or a parent domain of it).
    pub fn bad_host(&self, host: &str) -> Option<BadHost<'_>> {
        self.domains.iter().find_map(|l| l.lookup(host).map(|entry| BadHost { list: &l.name, entry }))
    }

    /// Vulnerable libraries in an external script, with the data's name.
    pub fn vulnerable(&self, url: Option<&str>, source: &str) -> Vec<(&str, retire::Detection)> {
        let mut out: Vec<(&str, retire::Detection)> = Vec::new();
        for (name, repo) in &self.libraries {
            for d in repo.scan(url, source) {
                if !out.iter().any(|(_, o)| o.library == d.library) {
                    out.push((name, d));
                }
            }
        }
        out
    }

    /// Names of the YARA rules matching `source` (`set:rule`), empty without the feature.
    pub fn rule_matches(&self, source: &str) -> Vec<String> {
        #[cfg(feature = "yara")]
        if let Some(rules) = &self.yara {
            return rules.matches(source);
        }
        let _ = source;
        Vec::new()
    }
}

/// Logs how long loading one source took (on drop), at debug level.
struct Timing(std::time::Instant, String);

impl Drop for Timing {
    fn drop(&mut self) {
        tracing::debug!(source = %self.1, ms = self.0.elapsed().as_millis() as u64, "intelligence source loaded");
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// A user file's text, at most [`domains::MAX_LIST_BYTES`].
pub(crate) fn read_bounded(path: &Path) -> Result<String, IntelError> {
    let meta = std::fs::metadata(path).map_err(|source| IntelError::Read { path: path.to_path_buf(), source })?;
    if meta.len() > domains::MAX_LIST_BYTES as u64 {
        return Err(IntelError::TooLarge { path: path.to_path_buf() });
    }
    let bytes = std::fs::read(path).map_err(|source| IntelError::Read { path: path.to_path_buf(), source })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A user file's version: its path, and its modification time as the date.
pub(crate) fn file_version(name: &str, kind: &str, path: &Path) -> IntelVersion {
    let date = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| Timestamp::from(time::OffsetDateTime::from(t)).to_string())
        .unwrap_or_default();
    IntelVersion {
        name: name.to_string(),
        kind: kind.to_string(),
        origin: "file".into(),
        location: Some(path.display().to_string()),
        date,
        ..IntelVersion::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_data_loads_and_is_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("mine.txt");
        std::fs::write(&list, "# mine\nskim.example\n").unwrap();
        let cfg = config::Intel { lists: vec![list], cache_dir: dir.path().join("cache"), ..Default::default() };
        let intel = Intel::load(&cfg).unwrap();
        let names: Vec<(&str, &str)> = intel.versions.iter().map(|v| (v.name.as_str(), v.origin.as_str())).collect();
        assert_eq!(&names[..3], [("maltrail-magentocore", "shipped"), ("retirejs", "shipped"), ("mine.txt", "file")]);
        assert_eq!(intel.versions[0].date, shipped::MALTRAIL_DATE);
        assert_eq!(intel.versions[0].sha256.len(), 64);
        assert_eq!(intel.bad_host("cdn.skim.example:443"), Some(BadHost { list: "mine.txt", entry: "skim.example" }));
        assert_eq!(intel.bad_host("magentocore.net").map(|b| b.list), Some("maltrail-magentocore"));
        let missing = config::Intel { lists: vec![dir.path().join("nope.txt")], ..cfg };
        assert!(Intel::load(&missing).unwrap_err().to_string().contains("nope.txt"));
    }
}
