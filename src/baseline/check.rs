//! `skimwatch baseline check`: a lint for the pull request that changes baselines.
//!
//! It reads every file in the baselines folder, not only those of configured pages, and
//! reports problems with the file and line: a file that does not parse or names another page,
//! an entry without a justification (who approved it, when, and why: PCI DSS 6.4.3), a
//! malformed hash, a duplicate entry, and in `sources/` a file whose text does not hash to its
//! name (edited by hand) or that is not named `<sha256>.js`. Errors fail the check; warnings
//! (unknown keys, a missing approved source, an unreferenced source) are reported only.

use crate::baseline::{
    is_sha256_hex, is_valid_page_name, validate_approval, ApprovalProblem, BaselineDir, BaselineError,
};
use crate::inventory::sha256_hex_bytes;
use crate::model::{Approval, Baseline, SECURITY_HEADERS};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub level: Level,
    pub path: PathBuf,
    /// 1-based line, when the problem is in a baseline file.
    pub line: Option<usize>,
    pub message: String,
    /// A fix made on the command line, which the CLI words after `message` (the library
    /// names no commands or flags). Not part of the JSON report: the CLI folds it into
    /// `message` first.
    #[serde(skip)]
    pub remedy: Option<Remedy>,
}

/// Fixes that are given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// Approve with a reason.
    GiveReason,
    /// Approve naming the approver.
    GiveApprover,
    /// The first approval creates the baselines folder.
    Approve,
}

impl Remedy {
    /// The command-line fix for an invalid approval, if there is one.
    pub fn for_approval(problem: &ApprovalProblem) -> Option<Remedy> {
        match problem {
            ApprovalProblem::EmptyReason => Some(Remedy::GiveReason),
            ApprovalProblem::EmptyApprover => Some(Remedy::GiveApprover),
            ApprovalProblem::BadTimestamp { .. } => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckReport {
    /// Baseline files read.
    pub files: usize,
    /// Approved entries (scripts, headers, hosts) checked.
    pub entries: usize,
    /// Source files checked.
    pub sources: usize,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|p| p.level == Level::Error).count()
    }
}

const TOP_KEYS: &[&str] = &["page", "url", "script", "header", "host"];
const APPROVAL_KEYS: &[&str] = &["approved_by", "approved_at", "reason"];
const SCRIPT_KEYS: &[&str] = &["id", "kind", "url", "frame_url", "sha256", "sri", "bytes"];
const HEADER_KEYS: &[&str] = &["name", "value"];
const HOST_KEYS: &[&str] = &["host"];

/// Checks every file under `root`.
pub fn check_dir(root: &Path) -> CheckReport {
    let mut report = CheckReport::default();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) => {
            report.problems.push(Problem {
                level: Level::Error,
                path: root.to_path_buf(),
                line: None,
                message: format!("cannot read the baselines folder: {e}"),
                remedy: Some(Remedy::Approve),
            });
            return report;
        }
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let dir = BaselineDir::new(root);
    let mut referenced: HashSet<String> = HashSet::new();
    for path in &names {
        check_entry(&mut report, &dir, path, &mut referenced);
    }
    check_sources(&mut report, &root.join("sources"), &referenced);
    report
}

fn problem(report: &mut CheckReport, level: Level, path: &Path, line: Option<usize>, message: String) {
    report.problems.push(Problem { level, path: path.to_path_buf(), line, message, remedy: None })
}

/// One entry of the baselines folder: a `<page>.toml` file is loaded and checked.
fn check_entry(report: &mut CheckReport, dir: &BaselineDir, path: &Path, referenced: &mut HashSet<String>) {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if file_name.starts_with('.') {
        return;
    }
    if path.is_dir() {
        if file_name != "sources" {
            problem(
                report,
                Level::Warning,
                path,
                None,
                "unexpected folder in the baselines folder (only `sources/` is used)".into(),
            );
        }
        return;
    }
    let Some(page) = file_name.strip_suffix(".toml") else {
        problem(
            report,
            Level::Warning,
            path,
            None,
            "unexpected file in the baselines folder (baselines are `<page>.toml`)".into(),
        );
        return;
    };
    report.files += 1;
    if !is_valid_page_name(page) {
        problem(
            report,
            Level::Error,
            path,
            None,
            format!("`{page}` is not a valid page name (letters, digits, `-`, `_`, `.`)"),
        );
        return;
    }
    let baseline = match dir.load(page) {
        Ok(b) => b,
        Err(BaselineError::Parse { line, snippet, message, .. }) => {
            let near = super::near(&snippet);
            problem(report, Level::Error, path, Some(line), format!("malformed baseline{near}: {message}"));
            return;
        }
        Err(e) => {
            problem(report, Level::Error, path, None, e.to_string());
            return;
        }
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for (level, line, message, remedy) in check_baseline(&baseline, &text, dir) {
        report.problems.push(Problem { level, path: path.to_path_buf(), line, message, remedy });
    }
    report.entries += baseline.scripts.len() + baseline.headers.len() + baseline.hosts.len();
    referenced.extend(baseline.scripts.iter().map(|s| s.sha256.clone()));
}

/// `sources/`: every file is an approved source named by the SHA-256 of its bytes.
fn check_sources(report: &mut CheckReport, sources: &Path, referenced: &HashSet<String>) {
    let Ok(entries) = std::fs::read_dir(sources) else { return };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let Some(sha) = name.strip_suffix(".js").filter(|s| is_sha256_hex(s)) else {
            problem(
                report,
                Level::Error,
                &path,
                None,
                "unexpected file in sources/: approved sources are named `<sha256>.js`".into(),
            );
            continue;
        };
        report.sources += 1;
        match std::fs::read(&path) {
            Err(e) => problem(report, Level::Error, &path, None, format!("cannot read: {e}")),
            Ok(bytes) => {
                let actual = sha256_hex_bytes(&bytes);
                if actual != sha {
                    problem(report, Level::Error, &path, None, format!(
                        "the text does not match its name: it hashes to {actual}; an approved source must never be edited (restore it from version control, or delete it and approve again)"
                    ));
                } else if !referenced.contains(sha) {
                    problem(
                        report,
                        Level::Warning,
                        &path,
                        None,
                        "no baseline approves this source any more; it can be deleted".into(),
                    );
                }
            }
        }
    }
}

/// Problems of one parsed baseline: (level, line, message, remedy).
fn check_baseline(b: &Baseline, text: &str, dir: &BaselineDir) -> Vec<(Level, Option<usize>, String, Option<Remedy>)> {
    let mut out = Vec::new();
    let lines = TableLines::new(text);
    // Unknown keys are ignored when loading, so a typo (`reasn = …`) would silently drop data.
    if let Ok(table) = text.parse::<toml::Table>() {
        for key in table.keys().filter(|k| !TOP_KEYS.contains(&k.as_str())) {
            out.push((Level::Warning, lines.key_line(key), format!("unknown key `{key}` is ignored"), None));
        }
        for (section, known) in [("script", SCRIPT_KEYS), ("header", HEADER_KEYS), ("host", HOST_KEYS)] {
            if let Some(toml::Value::Array(items)) = table.get(section) {
                for (i, item) in items.iter().enumerate() {
                    if let toml::Value::Table(t) = item {
                        for key in
                            t.keys().filter(|k| !known.contains(&k.as_str()) && !APPROVAL_KEYS.contains(&k.as_str()))
                        {
                            out.push((
                                Level::Warning,
                                lines.entry(section, i),
                                format!("[[{section}]] entry: unknown key `{key}` is ignored"),
                                None,
                            ));
                        }
                    }
                }
            }
        }
    }
    let approval_problem = |a: &Approval| {
        validate_approval(a).err().map(|e| match e {
            BaselineError::InvalidApproval { problem } => (problem.to_string(), Remedy::for_approval(&problem)),
            other => (other.to_string(), None),
        })
    };
    let mut seen = BTreeSet::new();
    for (i, s) in b.scripts.iter().enumerate() {
        let line = lines.entry("script", i);
        let what = format!("script `{}`", s.id);
        if let Some((p, remedy)) = approval_problem(&s.approval) {
            out.push((Level::Error, line, format!("{what} lacks a justification: {p}"), remedy));
        }
        if !is_sha256_hex(&s.sha256) {
            out.push((
                Level::Error,
                line,
                format!("{what}: sha256 `{}` is not 64 lower-case hex digits", s.sha256),
                None,
            ));
        } else if dir.source(&s.sha256).is_none() {
            out.push((Level::Warning, line, format!("{what}: its approved source sources/{}.js is missing or does not match, so an alteration cannot be shown as a diff", s.sha256), None));
        }
        if !s.sri.starts_with("sha384-") {
            out.push((Level::Error, line, format!("{what}: sri `{}` is not a sha384- integrity value", s.sri), None));
        }
        if s.id.trim().is_empty() {
            out.push((Level::Error, line, "a script entry has an empty id".into(), None));
        }
        if !seen.insert((s.id.clone(), s.sha256.clone())) {
            out.push((Level::Error, line, format!("{what} is approved twice with the same sha256"), None));
        }
    }
    let mut names = BTreeSet::new();
    for (i, h) in b.headers.iter().enumerate() {
        let line = lines.entry("header", i);
        if let Some((p, remedy)) = approval_problem(&h.approval) {
            out.push((Level::Error, line, format!("header `{}` lacks a justification: {p}", h.name), remedy));
        }
        if !SECURITY_HEADERS.contains(&h.name.as_str()) {
            out.push((
                Level::Warning,
                line,
                format!("header `{}` is not a monitored security header (names are lower case)", h.name),
                None,
            ));
        }
        if !names.insert(h.name.clone()) {
            out.push((Level::Error, line, format!("header `{}` is approved twice", h.name), None));
        }
    }
    let mut hosts = BTreeSet::new();
    for (i, h) in b.hosts.iter().enumerate() {
        let line = lines.entry("host", i);
        if let Some((p, remedy)) = approval_problem(&h.approval) {
            out.push((Level::Error, line, format!("host `{}` lacks a justification: {p}", h.host), remedy));
        }
        if !hosts.insert(h.host.clone()) {
            out.push((Level::Error, line, format!("host `{}` is approved twice", h.host), None));
        }
    }
    out
}

/// Line numbers of `[[section]]` headers and top-level keys, for messages.
struct TableLines<'a> {
    text: &'a str,
}

impl<'a> TableLines<'a> {
    fn new(text: &'a str) -> Self {
        TableLines { text }
    }

    /// Line of the `index`-th `[[section]]` header.
    fn entry(&self, section: &str, index: usize) -> Option<usize> {
        let header = format!("[[{section}]]");
        self.text.lines().enumerate().filter(|(_, l)| l.trim() == header).nth(index).map(|(n, _)| n + 1)
    }

    fn key_line(&self, key: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| l.trim_start().strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('=')))
            .map(|n| n + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"page = "checkout"
url = "https://shop.example/checkout"

[[script]]
id = "self:/app.js"
kind = "external"
url = "https://shop.example/app.js"
frame_url = "https://shop.example/checkout"
sha256 = "SHA"
sri = "sha384-abc"
bytes = 8
approved_by = "alice"
approved_at = "2025-03-01T12:00:00Z"
reason = "checkout app"

[[host]]
host = "self"
approved_by = "alice"
approved_at = "2025-03-01T12:00:00Z"
reason = "the shop itself"
"#;

    fn folder(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let source = "app();\n";
        let sha = crate::inventory::sha256_hex(source);
        std::fs::create_dir_all(dir.path().join("sources")).unwrap();
        std::fs::write(dir.path().join("sources").join(format!("{sha}.js")), source).unwrap();
        std::fs::write(dir.path().join("checkout.toml"), text.replace("SHA", &sha)).unwrap();
        (dir, sha)
    }

    #[test]
    fn clean_folder_passes() {
        let (dir, _) = folder(GOOD);
        let r = check_dir(dir.path());
        assert_eq!(r.problems, vec![]);
        assert_eq!((r.files, r.entries, r.sources), (1, 2, 1));
    }

    #[test]
    fn entry_without_justification_fails_with_its_line() {
        let (dir, _) = folder(&GOOD.replace("reason = \"checkout app\"", "reason = \"  \""));
        let r = check_dir(dir.path());
        assert_eq!(r.errors(), 1, "{:?}", r.problems);
        let p = &r.problems[0];
        assert_eq!(p.line, Some(4));
        assert!(p.message.contains("script `self:/app.js` lacks a justification"), "{}", p.message);
        // A missing reason key is a parse error naming the line.
        let (dir, _) = folder(&GOOD.replace("reason = \"the shop itself\"\n", ""));
        let r = check_dir(dir.path());
        assert_eq!(r.errors(), 1, "{:?}", r.problems);
        assert!(r.problems[0].message.contains("reason"), "{}", r.problems[0].message);
    }

    #[test]
    fn malformed_file_and_tampered_source_fail() {
        let (dir, sha) = folder(GOOD);
        std::fs::write(dir.path().join("cart.toml"), "page = \"cart\"\nurl = [\n").unwrap();
        std::fs::write(dir.path().join("sources").join(format!("{sha}.js")), "app(); steal();\n").unwrap();
        std::fs::write(dir.path().join("sources").join("notes.txt"), "x").unwrap();
        let r = check_dir(dir.path());
        let errors: Vec<_> = r.problems.iter().filter(|p| p.level == Level::Error).collect();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors.iter().any(|p| p.path.ends_with("cart.toml") && p.line.is_some()));
        assert!(errors.iter().any(|p| p.message.contains("does not match its name")));
        assert!(errors.iter().any(|p| p.path.ends_with("notes.txt")));
    }

    #[test]
    fn unknown_keys_and_wrong_page_are_reported() {
        let (dir, _) =
            folder(&GOOD.replace("reason = \"checkout app\"", "reason = \"checkout app\"\nreasn = \"typo\""));
        let r = check_dir(dir.path());
        assert_eq!(r.errors(), 0);
        assert!(r.problems.iter().any(|p| p.level == Level::Warning && p.message.contains("`reasn`")));
        std::fs::rename(dir.path().join("checkout.toml"), dir.path().join("cart.toml")).unwrap();
        let r = check_dir(dir.path());
        assert_eq!(r.errors(), 1);
        assert!(r.problems[0].message.contains("is for page `checkout`"), "{}", r.problems[0].message);
    }
}
