//! Vulnerable JavaScript libraries by retire.js's repository format (`jsrepository-v4.json`).
//!
//! Per library the repository has extractors — regexes over the script's URL (`uri`), its file
//! name (`filename`) and its text (`filecontent`), each with a `§§version§§` placeholder that
//! captures the version — and vulnerabilities with a version range (`atOrAbove`, `below`),
//! a severity and identifiers (CVE, GHSA, summary). The `func`, `ast`, `filecontentreplace` and
//! `hashes` (SHA-1 of known files) extractors are not used: the first two need the code run or
//! parsed, the others are rare. Regexes the `regex` crate does not accept (backreferences,
//! look-around) are skipped and counted.
//!
//! Every regex is compiled once, when the repository is loaded, with a size limit; script text
//! is the page's, so only the first [`MAX_CONTENT_BYTES`] of it are searched.

use serde::Deserialize;
use std::collections::BTreeMap;

/// Bytes of a script's text the content extractors search (library banners are at the top).
pub const MAX_CONTENT_BYTES: usize = 64 << 10;
/// Compiled size limit of one extractor regex.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// What `§§version§§` stands for (retire.js's own pattern).
const VERSION_RE: &str = r"[0-9][0-9.a-z_\-]+";

#[derive(Debug, Deserialize)]
struct RawLibrary {
    #[serde(default)]
    extractors: RawExtractors,
    #[serde(default)]
    vulnerabilities: Vec<RawVulnerability>,
}

#[derive(Debug, Default, Deserialize)]
struct RawExtractors {
    #[serde(default)]
    uri: Vec<String>,
    #[serde(default)]
    filename: Vec<String>,
    #[serde(default)]
    filecontent: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct RawVulnerability {
    #[serde(default, rename = "atOrAbove")]
    at_or_above: Option<String>,
    #[serde(default)]
    below: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    identifiers: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    info: Vec<String>,
}

/// One advisory that applies to a detected version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    /// `low`, `medium`, `high` or `critical`, as the data says.
    pub severity: String,
    pub summary: Option<String>,
    /// CVE and GitHub advisory ids, and retire's `bug`/`issue` references.
    pub identifiers: Vec<String>,
    pub info: Vec<String>,
    /// The range, as retire writes it (`>=1.2.0 <3.5.0`).
    pub range: String,
}

/// A library version found in a script, with the advisories for it (none: not vulnerable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub library: String,
    pub version: String,
    /// The extractor that found it: `uri`, `filename` or `filecontent`.
    pub by: &'static str,
    pub advisories: Vec<Advisory>,
}

#[derive(Debug)]
struct Library {
    name: String,
    uri: Vec<regex::Regex>,
    filename: Vec<regex::Regex>,
    filecontent: Vec<regex::Regex>,
    vulnerabilities: Vec<RawVulnerability>,
}

/// A loaded repository.
#[derive(Debug, Default)]
pub struct Repository {
    libraries: Vec<Library>,
    /// Extractor regexes that could not be used.
    pub skipped: u64,
}

impl Repository {
    /// Parses and compiles a repository file.
    pub fn parse(text: &str) -> Result<Repository, String> {
        let raw: BTreeMap<String, RawLibrary> =
            serde_json::from_str(text).map_err(|e| format!("not a retire.js repository: {e}"))?;
        let mut repo = Repository::default();
        for (name, lib) in raw {
            if lib.vulnerabilities.is_empty() || name == "dont check" {
                continue;
            }
            let mut compile = |patterns: &[String]| -> Vec<regex::Regex> {
                patterns
                    .iter()
                    .filter_map(|p| {
                        let re = regex::RegexBuilder::new(&p.replace("§§version§§", VERSION_RE))
                            .size_limit(REGEX_SIZE_LIMIT)
                            .build()
                            .ok();
                        if re.is_none() {
                            repo.skipped += 1;
                        }
                        re
                    })
                    .collect()
            };
            let (uri, filename, filecontent) =
                (compile(&lib.extractors.uri), compile(&lib.extractors.filename), compile(&lib.extractors.filecontent));
            repo.libraries.push(Library { name, uri, filename, filecontent, vulnerabilities: lib.vulnerabilities });
        }
        if repo.libraries.is_empty() {
            return Err("the retire.js repository lists no library with vulnerabilities".into());
        }
        Ok(repo)
    }

    /// How many libraries the repository knows vulnerabilities of.
    pub fn len(&self) -> usize {
        self.libraries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.libraries.is_empty()
    }

    /// The vulnerable libraries in one external script (by URL, file name, then text), at most
    /// one detection per library.
    pub fn scan(&self, url: Option<&str>, source: &str) -> Vec<Detection> {
        let url = url.unwrap_or("");
        let path = url.split(['?', '#']).next().unwrap_or("");
        let filename = path.rsplit('/').next().unwrap_or("");
        let content = crate::text::cut_bytes(source, MAX_CONTENT_BYTES);
        let mut out = Vec::new();
        for lib in &self.libraries {
            let found = first_version(&lib.uri, path)
                .map(|v| (v, "uri"))
                .or_else(|| first_version(&lib.filename, filename).map(|v| (v, "filename")))
                .or_else(|| first_version(&lib.filecontent, content).map(|v| (v, "filecontent")));
            let Some((version, by)) = found else { continue };
            let advisories: Vec<Advisory> =
                lib.vulnerabilities.iter().filter(|v| applies(v, &version)).map(advisory).collect();
            if !advisories.is_empty() {
                out.push(Detection { library: lib.name.clone(), version, by, advisories });
            }
        }
        out
    }
}

fn first_version(res: &[regex::Regex], text: &str) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    res.iter().find_map(|re| re.captures(text).and_then(|c| c.get(1)).map(|m| clean_version(m.as_str())))
}

/// The version pattern also takes the `.min` of `jquery-1.8.1.min.js` (the `(\.min)?` after
/// it is optional, so the greedy version wins): cut such suffixes off.
fn clean_version(v: &str) -> String {
    let mut v = v;
    loop {
        let cut = [".min", "-min", ".js", ".", "-", "_"].iter().find_map(|s| v.strip_suffix(s));
        match cut {
            Some(rest) if !rest.is_empty() => v = rest,
            _ => return v.to_string(),
        }
    }
}

fn applies(v: &RawVulnerability, version: &str) -> bool {
    let above = v.at_or_above.as_deref().map_or(true, |low| at_or_above(version, low));
    let below = v.below.as_deref().map_or(true, |high| !at_or_above(version, high));
    above && below && (v.at_or_above.is_some() || v.below.is_some())
}

fn advisory(v: &RawVulnerability) -> Advisory {
    let mut identifiers = Vec::new();
    let mut summary = None;
    for (key, value) in &v.identifiers {
        match (key.as_str(), value) {
            ("summary", serde_json::Value::String(s)) => summary = Some(crate::text::one_line(s, 200)),
            (_, serde_json::Value::String(s)) => identifiers.push(crate::text::one_line(s, 100)),
            (_, serde_json::Value::Array(items)) => {
                identifiers.extend(items.iter().filter_map(|i| i.as_str()).map(|s| crate::text::one_line(s, 100)))
            }
            _ => {}
        }
    }
    let range = match (&v.at_or_above, &v.below) {
        (Some(a), Some(b)) => format!(">={a} <{b}"),
        (Some(a), None) => format!(">={a}"),
        (None, Some(b)) => format!("<{b}"),
        (None, None) => String::new(),
    };
    Advisory {
        severity: v.severity.clone().unwrap_or_else(|| "medium".into()),
        summary,
        identifiers,
        info: v.info.iter().take(5).cloned().collect(),
        range,
    }
}

/// retire.js's `isAtOrAbove`: versions split at `.` and `-`; parts compare as numbers when
/// both are digits, as text when both are not, and a number is above text (`1.9.0` is above
/// `1.9.0b1`); a missing part is 0.
pub fn at_or_above(v1: &str, v2: &str) -> bool {
    #[derive(PartialEq, PartialOrd)]
    enum Part<'a> {
        Text(&'a str),
        Number(u64),
    }
    fn part(s: Option<&str>) -> Part<'_> {
        match s {
            None | Some("") => Part::Number(0),
            Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => Part::Number(s.parse().unwrap_or(u64::MAX)),
            Some(s) => Part::Text(s),
        }
    }
    let a: Vec<&str> = v1.split(['.', '-']).collect();
    let b: Vec<&str> = v2.split(['.', '-']).collect();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (part(a.get(i).copied()), part(b.get(i).copied()));
        match x.partial_cmp(&y) {
            Some(std::cmp::Ordering::Greater) => return true,
            Some(std::cmp::Ordering::Less) => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_retire_compares_them() {
        assert!(at_or_above("1.8.1", "1.8.1"));
        assert!(at_or_above("1.10.0", "1.9.0"));
        assert!(!at_or_above("1.8.1", "1.9.0b1"));
        assert!(at_or_above("1.9.0", "1.9.0b1"), "a release is above its beta");
        assert!(!at_or_above("3.4.1", "3.5.0"));
        assert!(at_or_above("3.5", "3.5.0"));
        assert!(!at_or_above("2.0.0-rc1", "2.0.0"));
    }

    fn shipped() -> Repository {
        Repository::parse(crate::intel::shipped::RETIREJS).unwrap()
    }

    #[test]
    fn an_old_jquery_is_found_by_filename_and_banner_and_a_current_one_is_not() {
        let repo = shipped();
        assert!(repo.len() > 50, "{}", repo.len());
        let by_name = repo.scan(Some("https://shop.example/js/jquery-1.8.1.min.js?v=3"), "x");
        assert_eq!(by_name.len(), 1, "{by_name:?}");
        assert_eq!(
            (by_name[0].library.as_str(), by_name[0].version.as_str(), by_name[0].by),
            ("jquery", "1.8.1", "filename")
        );
        assert!(by_name[0].advisories.iter().any(|a| a.identifiers.iter().any(|i| i == "CVE-2012-6708")));
        let by_banner =
            repo.scan(Some("https://shop.example/js/lib.js"), "/*! jQuery v1.8.1 jquery.com | jquery.org/license */\n");
        assert_eq!(by_banner.first().map(|d| (d.version.as_str(), d.by)), Some(("1.8.1", "filecontent")));
        assert!(repo.scan(Some("https://shop.example/js/jquery-3.7.1.min.js"), "/*! jQuery v3.7.1 */").is_empty());
        assert!(repo.scan(Some("https://shop.example/js/app.js"), "var jq = 1;").is_empty());
    }

    #[test]
    fn content_is_searched_only_at_its_start() {
        let repo = shipped();
        let late = format!("{}\n/*! jQuery v1.8.1 */", " ".repeat(MAX_CONTENT_BYTES + 10));
        assert!(repo.scan(None, &late).is_empty());
    }

    #[test]
    fn bad_repositories_are_refused() {
        assert!(Repository::parse("[]").is_err());
        assert!(Repository::parse("{}").is_err());
    }
}
