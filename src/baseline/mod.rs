//! The approved state of each page, kept as reviewable files in the baselines folder.
//!
//! A baseline is what a page is allowed to look like: its approved scripts (by identity and
//! hash), security headers and hosts, each with who approved it, when and why (PCI DSS 6.4.3).
//! It lives in ONE TOML file per page, `<folder>/<page>.toml`, written with a stable ordering
//! (scripts by id, headers by name, hosts by host) so that an approval shows up as a small,
//! readable diff in a pull request, and saving an unchanged baseline changes no byte.
//!
//! Approved script sources are kept content-addressed beside the files, in
//! `<folder>/sources/<sha256>.js`, so that a pipeline starting from an empty database and a
//! checked-in baselines folder can still diff an altered script against its approved version.
//! The SHA-256 that names such a file comes from page data, so it is validated as 64 lower-case
//! hex digits before it is joined to any path.
//!
//! [`apply_approval`] turns accepted findings of a scan into baseline entries; it is pure, so
//! the CLI decides when to save.

pub mod approve;
pub mod check;
pub mod plan;

use crate::inventory::picture::picture_key;
use crate::inventory::sha256_hex;
use crate::model::{
    Approval, ApprovedHeader, ApprovedHost, ApprovedScript, Baseline, Finding, FindingKind, Inventory, Script,
    SECURITY_HEADERS,
};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("page name `{page}` cannot name a baseline file: use only letters, digits, `-`, `_` and `.`, not starting with `.` (at most 128 characters); rename the page in the configuration")]
    BadPageName { page: String },

    #[error("cannot read baseline file {path}: {source}; check the file's permissions")]
    Read { path: PathBuf, source: std::io::Error },

    #[error("baseline file {path} is malformed at line {line}{near}: {message}; fix the file by hand (compare with `git diff`) or restore it from version control", near = near(.snippet))]
    Parse { path: PathBuf, line: usize, snippet: String, message: String },

    #[error("baseline file {path} is for page `{found}`, but its name says page `{expected}`; set `page = \"{expected}\"` in the file, or rename it to {found}.toml")]
    PageMismatch { path: PathBuf, expected: String, found: String },

    #[error("cannot serialise the baseline of page `{page}` as TOML: {source}")]
    Serialize { page: String, source: toml::ser::Error },

    #[error("cannot write {path}: {source}; {fix}", fix = write_fix(source))]
    Write { path: PathBuf, source: std::io::Error },

    #[error("`{sha256}` is not a SHA-256 (64 lower-case hex digits), so it cannot name a script source file")]
    BadSha256 { sha256: String },

    #[error("script source does not match its SHA-256: expected {expected}, but the text hashes to {actual}; this is a bug in the caller, the source file was not written")]
    SourceMismatch { expected: String, actual: String },

    #[error("screenshot does not match its key: expected {expected}, but the picture's key is `{actual}`; this is a bug in the caller, the screenshot was not written")]
    PictureMismatch { expected: String, actual: String },

    #[error("invalid approval: {problem}")]
    InvalidApproval { problem: ApprovalProblem },
}

/// What to do about a failed write: a full disk is said as such.
fn write_fix(source: &std::io::Error) -> &'static str {
    if is_disk_full(source) {
        "the disk is full: free disk space on the baselines folder's disk"
    } else {
        "check that the baselines folder exists and is writable"
    }
}

/// ENOSPC or EDQUOT, by number: `ErrorKind::StorageFull` is newer than the supported Rust.
fn is_disk_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = if cfg!(target_os = "linux") { 122 } else { 69 };
    matches!(e.raw_os_error(), Some(ENOSPC) | Some(EDQUOT))
}

impl BaselineError {
    /// A write failed because the disk (or the user's quota) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, BaselineError::Write { source, .. } if is_disk_full(source))
    }
}

/// Why an approval is not a PCI DSS 6.4.3 justification. The messages name the facts; the
/// command line adds how to give the missing value there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalProblem {
    #[error("the reason is empty; say why the change is legitimate")]
    EmptyReason,
    #[error("the approver is empty; name who approved the change")]
    EmptyApprover,
    #[error("approved_at `{approved_at}` is not an RFC 3339 timestamp such as 2025-03-01T12:00:00Z")]
    BadTimestamp { approved_at: String },
}

fn near(snippet: &str) -> String {
    if snippet.is_empty() {
        String::new()
    } else {
        format!(" (`{snippet}`)")
    }
}

/// Checks that an approval says who, when (RFC 3339) and why; the CLI calls this before
/// [`apply_approval`], because an approval without a reason fails a PCI DSS review.
pub fn validate_approval(approval: &Approval) -> Result<(), BaselineError> {
    let problem = if approval.reason.trim().is_empty() {
        ApprovalProblem::EmptyReason
    } else if approval.approved_by.trim().is_empty() {
        ApprovalProblem::EmptyApprover
    } else if time::OffsetDateTime::parse(&approval.approved_at, &time::format_description::well_known::Rfc3339)
        .is_err()
    {
        ApprovalProblem::BadTimestamp { approved_at: approval.approved_at.clone() }
    } else {
        return Ok(());
    };
    Err(BaselineError::InvalidApproval { problem })
}

/// True for a lower-case hex SHA-256 (exactly 64 of `0-9a-f`): the only form allowed to name
/// a file, so `../x`, `/etc/passwd` or an empty string can never reach the filesystem.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// True for a page name that is safe as a file name on every platform.
pub fn is_valid_page_name(page: &str) -> bool {
    !page.is_empty()
        && page.len() <= 128
        && !page.starts_with('.')
        && page.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The baselines folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineDir {
    root: PathBuf,
    /// Set for runs that must keep nothing (`scan --ephemeral`): the baselines are read, and
    /// nothing that would update them (trusted-vendor policies) writes.
    read_only: bool,
}

impl BaselineDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        BaselineDir { root: root.into(), read_only: false }
    }

    /// The folder for a scanning run: read-only when this process cannot write to it (a
    /// baselines checkout mounted read-only in a container), so that a trusted vendor's update
    /// is reported (`info`) but not followed, instead of failing every scan of the page.
    pub fn for_scanning(root: impl Into<PathBuf>) -> Self {
        let dir = BaselineDir::new(root);
        let writable = || tempfile::Builder::new().prefix(".skimwatch-write-check").tempfile_in(&dir.root).is_ok();
        if dir.root.is_dir() && !writable() {
            tracing::warn!(
                folder = %dir.root.display(),
                "the baselines folder is read-only: trusted vendors' updates are reported but the baseline does not follow them"
            );
            return dir.read_only();
        }
        dir
    }

    /// The same folder, for a run that must not change it.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<folder>/<page>.toml`. Only [`load`](Self::load) and [`save`](Self::save) check the
    /// page name, so use them to touch the file.
    pub fn path_for(&self, page: &str) -> PathBuf {
        self.root.join(format!("{page}.toml"))
    }

    fn checked_path_for(&self, page: &str) -> Result<PathBuf, BaselineError> {
        if !is_valid_page_name(page) {
            return Err(BaselineError::BadPageName { page: page.to_string() });
        }
        Ok(self.path_for(page))
    }

    fn source_path(&self, sha256: &str) -> Result<PathBuf, BaselineError> {
        if !is_sha256_hex(sha256) {
            return Err(BaselineError::BadSha256 { sha256: sha256.to_string() });
        }
        Ok(self.root.join("sources").join(format!("{sha256}.js")))
    }

    fn picture_path(&self, key: &str) -> Result<PathBuf, BaselineError> {
        if !is_sha256_hex(key) {
            return Err(BaselineError::BadSha256 { sha256: key.to_string() });
        }
        Ok(self.root.join("screenshots").join(format!("{key}.png")))
    }

    /// The approved screenshot with this key, when the folder holds it and it still shows
    /// what its key says (a replaced file is treated as absent).
    pub fn picture(&self, key: &str) -> Option<Vec<u8>> {
        let path = self.picture_path(key).ok()?;
        let png = std::fs::read(&path).ok()?;
        if picture_key(&png).as_deref() != Some(key) {
            tracing::warn!(path = %path.display(), "approved screenshot does not match its key; ignoring it");
            return None;
        }
        Some(png)
    }

    /// Stores the screenshot of an approved scan as `<folder>/screenshots/<key>.png` (kept as
    /// is when already there), after checking that it shows what `key` says.
    pub fn save_picture(&self, key: &str, png: &[u8]) -> Result<(), BaselineError> {
        let path = self.picture_path(key)?;
        let actual = picture_key(png).unwrap_or_default();
        if actual != key {
            return Err(BaselineError::PictureMismatch { expected: key.to_string(), actual });
        }
        if self.picture(key).is_some() {
            return Ok(());
        }
        write_atomically(&self.root.join("screenshots"), &path, png)
    }

    /// The baseline of `page`; a page that was never approved has no file and gets an empty
    /// baseline (`Baseline { page, ..Default::default() }`).
    pub fn load(&self, page: &str) -> Result<Baseline, BaselineError> {
        let path = self.checked_path_for(page)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Baseline { page: page.to_string(), ..Default::default() })
            }
            Err(source) => return Err(BaselineError::Read { path, source }),
        };
        let baseline: Baseline = toml::from_str(&text).map_err(|e| parse_error(&path, &text, &e))?;
        // A copied file that still names another page would silently approve the wrong page.
        if baseline.page != page {
            return Err(BaselineError::PageMismatch { path, expected: page.to_string(), found: baseline.page });
        }
        Ok(baseline)
    }

    /// Writes the baseline to `<folder>/<baseline.page>.toml` in canonical order, atomically
    /// (a temporary file in the same folder, then a rename), creating the folder if needed.
    /// An unchanged file is left untouched.
    pub fn save(&self, baseline: &Baseline) -> Result<(), BaselineError> {
        let path = self.checked_path_for(&baseline.page)?;
        let text = render(baseline)?;
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            return Ok(());
        }
        write_atomically(&self.root, &path, &text)
    }

    /// The approved source with this SHA-256, when the folder holds it. A file whose content
    /// does not hash to its name (edited by hand, truncated) is treated as absent, because a
    /// diff against it would mislead the reviewer.
    pub fn source(&self, sha256: &str) -> Option<String> {
        let path = self.source_path(sha256).ok()?;
        let text = std::fs::read_to_string(&path).ok()?;
        if sha256_hex(&text) != sha256 {
            tracing::warn!(path = %path.display(), "approved script source does not match its SHA-256; ignoring it");
            return None;
        }
        Some(text)
    }

    /// Stores an approved script source as `<folder>/sources/<sha256>.js`, after checking that
    /// `source` really hashes to `sha256`. A correct file already there is kept as is.
    pub fn save_source(&self, sha256: &str, source: &str) -> Result<(), BaselineError> {
        let path = self.source_path(sha256)?;
        let actual = sha256_hex(source);
        if actual != sha256 {
            return Err(BaselineError::SourceMismatch { expected: sha256.to_string(), actual });
        }
        if self.source(sha256).is_some() {
            return Ok(());
        }
        write_atomically(&self.root.join("sources"), &path, source)
    }

    /// Saves the source of every approved script of `baseline` that `scan` carries, so the
    /// baselines folder alone can show diffs later. Returns how many scripts it covered.
    pub fn save_approved_sources(&self, baseline: &Baseline, scan: &Inventory) -> Result<usize, BaselineError> {
        let mut saved = 0;
        for approved in &baseline.scripts {
            if let Some(script) = find_script(scan, &approved.id, &approved.sha256) {
                self.save_source(&script.sha256, &script.source)?;
                saved += 1;
            }
        }
        Ok(saved)
    }
}

/// Builds the parse error with the line and the offending line's text, which names the key.
fn parse_error(path: &Path, text: &str, err: &toml::de::Error) -> BaselineError {
    let (line, snippet) = match err.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let line = text[..start].matches('\n').count() + 1;
            (line, text[line_start..line_end].trim().to_string())
        }
        None => (1, String::new()),
    };
    BaselineError::Parse { path: path.to_path_buf(), line, snippet, message: err.message().trim().to_string() }
}

/// Sorts the entries into the canonical file order.
pub fn sort_baseline(baseline: &mut Baseline) {
    baseline.scripts.sort_by(|a, b| (&a.id, &a.sha256).cmp(&(&b.id, &b.sha256)));
    baseline.headers.sort_by(|a, b| a.name.cmp(&b.name));
    baseline.hosts.sort_by(|a, b| a.host.cmp(&b.host));
    baseline.field_access.sort_by(|x, y| {
        (&x.script, &x.frame, &x.field, &x.action, &x.event).cmp(&(&y.script, &y.frame, &y.field, &y.action, &y.event))
    });
    baseline.card_destinations.sort_by(|x, y| (&x.script, &x.url).cmp(&(&y.script, &y.url)));
    baseline.cookies.sort_by(|a, b| a.id.cmp(&b.id));
}

/// The serialised form of [`Baseline`]: the same keys, but empty sections are left out instead
/// of appearing as `host = []` (loading fills them back in with `serde(default)`).
#[derive(serde::Serialize)]
struct BaselineFile<'a> {
    page: &'a str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    screenshot: Option<&'a str>,
    #[serde(rename = "script", skip_serializing_if = "<[_]>::is_empty")]
    scripts: &'a [ApprovedScript],
    #[serde(rename = "header", skip_serializing_if = "<[_]>::is_empty")]
    headers: &'a [ApprovedHeader],
    #[serde(rename = "host", skip_serializing_if = "<[_]>::is_empty")]
    hosts: &'a [ApprovedHost],
    #[serde(rename = "audit", skip_serializing_if = "<[_]>::is_empty")]
    audit: &'a [crate::model::AuditEntry],
    #[serde(rename = "field_access", skip_serializing_if = "<[_]>::is_empty")]
    field_access: &'a [crate::model::ApprovedFieldAccess],
    #[serde(rename = "card_destination", skip_serializing_if = "<[_]>::is_empty")]
    card_destinations: &'a [crate::model::ApprovedCardDestination],
    #[serde(rename = "cookie", skip_serializing_if = "<[_]>::is_empty")]
    cookies: &'a [crate::model::ApprovedCookie],
}

/// The file text: an explanatory comment, then the baseline in canonical order (what
/// [`BaselineDir::save`] writes; `baseline diff` compares it with the file on disk).
pub fn render(baseline: &Baseline) -> Result<String, BaselineError> {
    let mut sorted = baseline.clone();
    sort_baseline(&mut sorted);
    let file = BaselineFile {
        page: &sorted.page,
        url: &sorted.url,
        screenshot: sorted.screenshot.as_deref(),
        scripts: &sorted.scripts,
        headers: &sorted.headers,
        hosts: &sorted.hosts,
        audit: &sorted.audit,
        field_access: &sorted.field_access,
        card_destinations: &sorted.card_destinations,
        cookies: &sorted.cookies,
    };
    let body =
        toml::to_string(&file).map_err(|source| BaselineError::Serialize { page: baseline.page.clone(), source })?;
    Ok(format!(
        "# skimwatch baseline for page \"{page}\": the scripts, security headers and hosts\n\
         # approved for this page, with who approved each, when and why.\n\
         # Written by skimwatch when changes are approved, and reviewed in pull requests like\n\
         # code; approved script sources are kept in sources/<sha256>.js beside this file.\n\
         {masking}\
         {picture}\
         {cookies}\
         \n\
         {body}",
        page = baseline.page,
        picture = if sorted.screenshot.is_some() {
            "# `screenshot`: the payment page as approved, in screenshots/<screenshot>.png beside this file.\n"
        } else {
            ""
        },
        cookies = if sorted.cookies.is_empty() {
            ""
        } else {
            "# `[[cookie]]`: approved cookies by `name@domain/path` (never a value), with the attributes\n\
             # they had when approved; set `purpose` to necessary, analytics or marketing.\n"
        },
        masking = if sorted.scripts.iter().any(|s| s.normalized_sha256.is_some()) {
            "# Inline scripts with `normalized_sha256` also match a version that differs only in data\n\
             # literals (nonces, tokens, timestamps, cart): `masked` says what is masked; code, URLs and\n\
             # hosts never are.\n"
        } else {
            ""
        }
    ))
}

/// Writes via a temporary file in `dir` renamed over `path`, so a crash or a full disk never
/// leaves a half-written baseline for the next scan to misread.
fn write_atomically(dir: &Path, path: &Path, contents: impl AsRef<[u8]>) -> Result<(), BaselineError> {
    let write_err = |source| BaselineError::Write { path: path.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".skimwatch-").suffix(".tmp");
    // tempfile creates 0600 files; baselines are shared, checked-in files, so ask for the usual
    // 0644 (still narrowed by the umask).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(write_err)?;
    tmp.write_all(contents.as_ref()).map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    Ok(())
}

/// Which pending findings an approval accepts.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    All,
    Findings(&'a [String]),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalOutcome {
    /// Ids of the findings applied to the baseline.
    pub accepted: Vec<String>,
    /// Requested ids that are not among the pending findings (typo, or already approved).
    pub unknown: Vec<String>,
    /// Selected findings that could not be applied because the scan lacks what they refer to
    /// (e.g. a script finding whose script is not in the inventory); they stay pending.
    pub skipped: Vec<String>,
}

fn find_script<'a>(scan: &'a Inventory, id: &str, sha256: &str) -> Option<&'a Script> {
    scan.scripts.iter().find(|s| s.id == id && s.sha256 == sha256)
}

fn in_scan(scan: &Inventory, id: &str, sha256: &str) -> bool {
    find_script(scan, id, sha256).is_some()
}

/// Applies accepted findings of the latest scan to the baseline: new and altered scripts
/// become approved (with `approval`), removed ones leave, a header change sets the approved
/// header value (or its approved absence), a new host is added.
///
/// `scan` is the inventory of that scan and `findings` its findings. When a page without a
/// baseline is first approved with [`Selection::All`], every security header the page sent
/// and every host it contacted are recorded too, so the baseline is complete from the start.
/// The result is sorted in canonical order.
pub fn apply_approval(
    baseline: &mut Baseline,
    scan: &Inventory,
    findings: &[Finding],
    selection: &Selection,
    approval: &Approval,
) -> ApprovalOutcome {
    let first_full_approval = baseline.is_empty() && matches!(selection, Selection::All);
    let mut outcome = ApprovalOutcome::default();

    let selected: Vec<&Finding> = match selection {
        Selection::All => findings.iter().collect(),
        Selection::Findings(ids) => {
            for id in ids.iter() {
                if !findings.iter().any(|f| &f.id == id) && !outcome.unknown.contains(id) {
                    outcome.unknown.push(id.clone());
                }
            }
            findings.iter().filter(|f| ids.contains(&f.id)).collect()
        }
    };

    for finding in selected {
        if outcome.accepted.contains(&finding.id) || outcome.skipped.contains(&finding.id) {
            continue; // the same finding listed twice
        }
        let applied = match finding.kind {
            FindingKind::NewScript => approve_script(baseline, scan, finding, approval, false),
            FindingKind::AlteredScript => approve_script(baseline, scan, finding, approval, true),
            FindingKind::RemovedScript => remove_script(baseline, scan, finding),
            FindingKind::HeaderChange => approve_header(baseline, finding, approval),
            FindingKind::NewHost => approve_host(baseline, finding, approval),
            FindingKind::PaymentFieldAccess => {
                crate::compare::behaviour::approve_field_access(baseline, finding, approval)
            }
            // Only card data sent to the sender's own origin is approvable; any other host
            // must be in the page's `card_data_hosts`.
            FindingKind::CardExfiltration => {
                crate::compare::behaviour::approve_card_destination(baseline, finding, approval)
            }
            // Not approvable: a missing field is fixed in the config (`payment_fields`), and a
            // truncated capture is raised again by every scan that hits a limit; a CSP
            // violation real browsers report ends when they stop reporting it (fix the page,
            // or approve the script so that the generated policy allows it). A known-bad host
            // or a vulnerable library is fixed on the page (remove or upgrade it).
            FindingKind::PaymentFieldMissing
            | FindingKind::CaptureTruncated
            | FindingKind::CspViolation
            | FindingKind::KnownBadHost
            | FindingKind::VulnerableLibrary => false,
            FindingKind::CookieChange => match &finding.cookie {
                Some(c) => {
                    crate::compare::privacy::approve_cookie(baseline, c, approval);
                    true
                }
                None => false,
            },
            // Not approvable: a recipient of personal data is allowed in the page's
            // `personal_data_hosts` (a reviewed config change), like card data.
            FindingKind::PersonalDataFlow => false,
        };
        if applied {
            outcome.accepted.push(finding.id.clone());
        } else {
            outcome.skipped.push(finding.id.clone());
        }
    }

    if matches!(selection, Selection::All) {
        // The whole cookie audit as it is now: first-party cookies too, which raise no finding.
        for c in &scan.cookies {
            if !baseline.cookies.iter().any(|a| a.id == c.id) {
                crate::compare::privacy::approve_cookie(baseline, c, approval);
            }
        }
    }
    if first_full_approval {
        for name in SECURITY_HEADERS {
            if let Some(value) = scan.headers.get(name) {
                if !baseline.headers.iter().any(|h| h.name == name) {
                    baseline.headers.push(ApprovedHeader {
                        name: name.to_string(),
                        value: Some(value.clone()),
                        approval: approval.clone(),
                    });
                }
            }
        }
        for host in &scan.hosts {
            if !baseline.hosts.iter().any(|h| &h.host == host) {
                baseline.hosts.push(ApprovedHost { host: host.clone(), approval: approval.clone() });
            }
        }
    }
    if baseline.url.is_empty() {
        baseline.url = scan.url.clone();
    }
    sort_baseline(baseline);
    outcome
}

/// Approves the current version of a new or altered script. For an altered script the
/// approved versions of that id that the page no longer serves are replaced; versions still
/// served (the same id can run twice with different code) stay approved.
fn approve_script(
    baseline: &mut Baseline,
    scan: &Inventory,
    finding: &Finding,
    approval: &Approval,
    replace: bool,
) -> bool {
    let Some(script_ref) = &finding.script else { return false };
    let Some(script) = find_script(scan, &script_ref.id, &script_ref.sha256) else { return false };
    baseline.scripts.retain(|a| {
        let same_version = a.id == script.id && a.sha256 == script.sha256;
        let replaced = replace && a.id == script.id && !in_scan(scan, &a.id, &a.sha256);
        !(same_version || replaced)
    });
    let normalized = crate::inventory::normalize::normalize_inline(script.kind, script.url.as_deref(), &script.source);
    baseline.scripts.push(ApprovedScript {
        id: script.id.clone(),
        kind: script.kind,
        url: script.url.clone(),
        frame_url: script.frame_url.clone(),
        sha256: script.sha256.clone(),
        sri: script.sri.clone(),
        bytes: script.bytes,
        approval: approval.clone(),
        normalized_sha256: normalized.as_ref().map(|n| n.sha256.clone()),
        masked: normalized.as_ref().map(|n| n.summary()),
    });
    true
}

/// Accepts that a script is gone: drops the approved version the finding names, and any other
/// approved version of that id the page no longer serves.
fn remove_script(baseline: &mut Baseline, scan: &Inventory, finding: &Finding) -> bool {
    let Some(script_ref) = &finding.script else { return false };
    let named = |sha: &str| sha == script_ref.sha256 || finding.approved_sha256.as_deref() == Some(sha);
    baseline.scripts.retain(|a| !(a.id == script_ref.id && (named(&a.sha256) || !in_scan(scan, &a.id, &a.sha256))));
    true
}

fn approve_header(baseline: &mut Baseline, finding: &Finding, approval: &Approval) -> bool {
    let Some(change) = &finding.header else { return false };
    baseline.headers.retain(|h| h.name != change.name);
    baseline.headers.push(ApprovedHeader {
        name: change.name.clone(),
        value: change.current.clone(),
        approval: approval.clone(),
    });
    true
}

fn approve_host(baseline: &mut Baseline, finding: &Finding, approval: &Approval) -> bool {
    let Some(host) = &finding.host else { return false };
    baseline.hosts.retain(|h| &h.host != host);
    baseline.hosts.push(ApprovedHost { host: host.clone(), approval: approval.clone() });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HeaderChange, ScriptKind, ScriptRef, Severity};
    use std::collections::BTreeMap;

    fn approval(reason: &str) -> Approval {
        Approval {
            approved_by: "alice@example.com".to_string(),
            approved_at: "2025-03-01T12:00:00Z".to_string(),
            reason: reason.to_string(),
        }
    }

    fn script(id: &str, source: &str) -> Script {
        Script {
            id: id.to_string(),
            kind: ScriptKind::External,
            url: Some(format!("https://shop.example/{id}")),
            frame_url: "https://shop.example/checkout".to_string(),
            sha256: sha256_hex(source),
            sri: format!("sha384-{id}"),
            bytes: source.len() as u64,
            initiator: None,
            source: source.to_string(),
        }
    }

    fn approved(s: &Script, reason: &str) -> ApprovedScript {
        ApprovedScript {
            id: s.id.clone(),
            kind: s.kind,
            url: s.url.clone(),
            frame_url: s.frame_url.clone(),
            sha256: s.sha256.clone(),
            sri: s.sri.clone(),
            bytes: s.bytes,
            approval: approval(reason),
            ..Default::default()
        }
    }

    fn inventory(scripts: Vec<Script>, headers: &[(&str, &str)], hosts: &[&str]) -> Inventory {
        Inventory {
            cookies: Default::default(),
            url: "https://shop.example/checkout".to_string(),
            final_url: "https://shop.example/checkout".to_string(),
            status: 200,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            scripts,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            payment_fields: vec![],
        }
    }

    fn finding(id: &str, kind: FindingKind) -> Finding {
        Finding {
            id: id.to_string(),
            kind,
            severity: Severity::High,
            title: id.to_string(),
            script: None,
            diff: None,
            header: None,
            host: None,
            approved_sha256: None,
            initiator: None,
            ..Default::default()
        }
    }

    fn script_finding(id: &str, kind: FindingKind, s: &Script) -> Finding {
        Finding {
            script: Some(ScriptRef { id: s.id.clone(), kind: s.kind, url: s.url.clone(), sha256: s.sha256.clone() }),
            ..finding(id, kind)
        }
    }

    fn sample_baseline() -> Baseline {
        Baseline {
            page: "checkout".to_string(),
            url: "https://shop.example/checkout".to_string(),
            scripts: vec![
                approved(&script("self:/b.js", "b"), "multi\nline \"quoted\" reason"),
                ApprovedScript {
                    url: None,
                    kind: ScriptKind::Inline,
                    ..approved(&script("main|inline|a1", "a"), "inline")
                },
            ],
            headers: vec![
                ApprovedHeader { name: "x-frame-options".into(), value: Some("DENY".into()), approval: approval("h") },
                ApprovedHeader { name: "content-security-policy".into(), value: None, approval: approval("absent") },
            ],
            hosts: vec![
                ApprovedHost { host: "shop.example".into(), approval: approval("own") },
                ApprovedHost { host: "cdn.example:8443".into(), approval: approval("cdn") },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path().join("baselines"));
        let mut baseline = sample_baseline();
        baselines.save(&baseline).unwrap();
        let loaded = baselines.load("checkout").unwrap();
        sort_baseline(&mut baseline);
        assert_eq!(loaded, baseline);
        let text = std::fs::read_to_string(baselines.path_for("checkout")).unwrap();
        assert!(text.starts_with("# skimwatch baseline for page \"checkout\""), "{text}");
        assert!(text.contains("reviewed in pull requests"), "{text}");
        assert!(text.contains("[[script]]") && text.contains("[[header]]") && text.contains("[[host]]"), "{text}");
    }

    #[test]
    fn empty_sections_are_left_out_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path());
        let baseline = Baseline { page: "cart".into(), url: "https://shop.example/cart".into(), ..Default::default() };
        baselines.save(&baseline).unwrap();
        let text = std::fs::read_to_string(baselines.path_for("cart")).unwrap();
        assert!(!text.contains("[]"), "{text}");
        assert_eq!(baselines.load("cart").unwrap(), baseline);
    }

    #[test]
    fn saving_twice_and_in_any_order_gives_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path());
        let baseline = sample_baseline();
        baselines.save(&baseline).unwrap();
        let first = std::fs::read(baselines.path_for("checkout")).unwrap();
        baselines.save(&baselines.load("checkout").unwrap()).unwrap();
        assert_eq!(std::fs::read(baselines.path_for("checkout")).unwrap(), first);

        let mut reversed = baseline.clone();
        reversed.scripts.reverse();
        reversed.headers.reverse();
        reversed.hosts.reverse();
        baselines.save(&reversed).unwrap();
        assert_eq!(std::fs::read(baselines.path_for("checkout")).unwrap(), first);

        let text = String::from_utf8(first).unwrap();
        let pos = |needle: &str| text.find(needle).unwrap_or_else(|| panic!("{needle} missing in\n{text}"));
        assert!(pos("main|inline|a1") < pos("self:/b.js"));
        assert!(pos("content-security-policy") < pos("x-frame-options"));
        assert!(pos("cdn.example:8443") < pos("\"shop.example\""));
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("checkout.toml")]);
    }

    #[test]
    fn missing_file_is_an_empty_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path().join("not-yet-created"));
        let baseline = baselines.load("checkout").unwrap();
        assert_eq!(baseline, Baseline { page: "checkout".to_string(), ..Default::default() });
        assert!(baseline.is_empty());
    }

    #[test]
    fn malformed_file_error_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path());
        baselines.save(&sample_baseline()).unwrap();
        let path = baselines.path_for("checkout");
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text.lines().position(|l| l.starts_with("bytes = ")).unwrap() + 1;
        let broken = text.replacen("bytes = 1", "bytes = \"one\"", 1);
        std::fs::write(&path, broken).unwrap();

        let err = baselines.load("checkout").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, BaselineError::Parse { line: l, .. } if l == line), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("line {line}")), "{msg}");
        assert!(msg.contains("bytes"), "{msg}");

        std::fs::write(&path, "page = \"checkout\"\nurl = \n").unwrap();
        let msg = baselines.load("checkout").unwrap_err().to_string();
        assert!(msg.contains("line 2") && msg.contains("url"), "{msg}");
    }

    #[test]
    fn file_for_another_page_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path());
        baselines.save(&sample_baseline()).unwrap();
        std::fs::copy(baselines.path_for("checkout"), baselines.path_for("cart")).unwrap();
        let err = baselines.load("cart").unwrap_err();
        assert!(matches!(err, BaselineError::PageMismatch { .. }), "{err}");
    }

    #[test]
    fn unsafe_page_names_and_hashes_never_reach_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path().join("b"));
        for page in ["../evil", "", ".hidden", "a/b", "a\\b"] {
            assert!(matches!(baselines.load(page), Err(BaselineError::BadPageName { .. })), "{page:?}");
        }
        let source = "alert(1)";
        for sha in ["../x", "", &"A".repeat(64), &format!("{}/", "a".repeat(63)), &"a".repeat(65)] {
            assert!(matches!(baselines.save_source(sha, source), Err(BaselineError::BadSha256 { .. })), "{sha:?}");
            assert_eq!(baselines.source(sha), None);
        }
        assert!(!dir.path().join("b").exists(), "nothing may be created for rejected input");
        assert!(!dir.path().join("x").exists());
    }

    #[test]
    fn sources_are_content_addressed_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path());
        let source = "console.log('approved');\n";
        let sha = sha256_hex(source);
        assert_eq!(baselines.source(&sha), None);
        baselines.save_source(&sha, source).unwrap();
        assert_eq!(baselines.source(&sha).as_deref(), Some(source));
        assert!(dir.path().join("sources").join(format!("{sha}.js")).is_file());
        baselines.save_source(&sha, source).unwrap(); // already there: fine

        let err = baselines.save_source(&sha, "something else").unwrap_err();
        assert!(matches!(err, BaselineError::SourceMismatch { .. }), "{err}");

        // A hand-edited file is not trusted for diffs, and the next save repairs it.
        std::fs::write(dir.path().join("sources").join(format!("{sha}.js")), "tampered").unwrap();
        assert_eq!(baselines.source(&sha), None);
        baselines.save_source(&sha, source).unwrap();
        assert_eq!(baselines.source(&sha).as_deref(), Some(source));
    }

    #[test]
    fn approved_screenshots_are_kept_by_their_key_and_verified() {
        let png = |rgb: [u8; 3]| {
            let mut out = Vec::new();
            let mut enc = png::Encoder::new(&mut out, 64, 32);
            enc.set_color(png::ColorType::Rgb);
            let mut writer = enc.write_header().unwrap();
            writer.write_image_data(&rgb.repeat(64 * 32)).unwrap();
            writer.finish().unwrap();
            out
        };
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path());
        let (white, red) = (png([255, 255, 255]), png([200, 0, 0]));
        let key = picture_key(&white).unwrap();
        assert_eq!(baselines.picture(&key), None);
        baselines.save_picture(&key, &white).unwrap();
        assert_eq!(baselines.picture(&key), Some(white.clone()));
        assert!(dir.path().join("screenshots").join(format!("{key}.png")).is_file());
        let err = baselines.save_picture(&key, &red).unwrap_err();
        assert!(matches!(err, BaselineError::PictureMismatch { .. }), "{err}");
        assert!(matches!(baselines.save_picture("../x", &white), Err(BaselineError::BadSha256 { .. })));
        // A replaced picture is not shown as the approved one.
        std::fs::write(dir.path().join("screenshots").join(format!("{key}.png")), &red).unwrap();
        assert_eq!(baselines.picture(&key), None);
    }

    #[test]
    fn save_approved_sources_covers_approved_scripts_in_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let baselines = BaselineDir::new(dir.path());
        let a = script("self:/a.js", "a()");
        let b = script("self:/b.js", "b()");
        let baseline = Baseline { page: "checkout".into(), scripts: vec![approved(&a, "ok")], ..Default::default() };
        let saved =
            baselines.save_approved_sources(&baseline, &inventory(vec![a.clone(), b.clone()], &[], &[])).unwrap();
        assert_eq!(saved, 1);
        assert_eq!(baselines.source(&a.sha256).as_deref(), Some("a()"));
        assert_eq!(baselines.source(&b.sha256), None);
    }

    #[test]
    fn approval_must_say_who_when_and_why() {
        validate_approval(&approval("release 4.2")).unwrap();
        let err = validate_approval(&approval("  ")).unwrap_err();
        assert!(err.to_string().contains("reason"), "{err}");
        assert!(validate_approval(&Approval { approved_by: "".into(), ..approval("r") }).is_err());
        assert!(validate_approval(&Approval { approved_at: "yesterday".into(), ..approval("r") }).is_err());
    }

    #[test]
    fn approving_new_script_adds_it() {
        let s = script("self:/new.js", "new()");
        let scan = inventory(vec![s.clone()], &[], &[]);
        let mut baseline = Baseline {
            page: "checkout".into(),
            hosts: vec![ApprovedHost { host: "x".into(), approval: approval("x") }],
            ..Default::default()
        };
        let findings = vec![script_finding("f1", FindingKind::NewScript, &s)];
        let outcome = apply_approval(&mut baseline, &scan, &findings, &Selection::All, &approval("new widget"));
        assert_eq!(outcome.accepted, vec!["f1"]);
        assert_eq!(baseline.scripts, vec![approved(&s, "new widget")]);
        assert_eq!(baseline.url, scan.url);
    }

    #[test]
    fn approving_altered_script_replaces_the_old_version() {
        let old = script("self:/app.js", "v1");
        let new = script("self:/app.js", "v2");
        let other = script("self:/other.js", "o");
        let scan = inventory(vec![new.clone(), other.clone()], &[], &[]);
        let mut baseline = Baseline {
            page: "checkout".into(),
            scripts: vec![approved(&old, "v1"), approved(&other, "o")],
            ..Default::default()
        };
        let f = Finding {
            approved_sha256: Some(old.sha256.clone()),
            ..script_finding("f1", FindingKind::AlteredScript, &new)
        };
        let outcome = apply_approval(&mut baseline, &scan, &[f], &Selection::All, &approval("release 2"));
        assert_eq!(outcome.accepted, vec!["f1"]);
        assert_eq!(baseline.scripts, vec![approved(&new, "release 2"), approved(&other, "o")]);
    }

    #[test]
    fn approving_altered_script_keeps_versions_still_served() {
        // The same id runs twice with different code; only the unserved version is replaced.
        let v1 = script("main|inline|x", "v1");
        let v2 = script("main|inline|x", "v2");
        let v3 = script("main|inline|x", "v3");
        let scan = inventory(vec![v1.clone(), v3.clone()], &[], &[]);
        let mut baseline = Baseline {
            page: "checkout".into(),
            scripts: vec![approved(&v1, "a"), approved(&v2, "b")],
            ..Default::default()
        };
        let f = script_finding("f1", FindingKind::AlteredScript, &v3);
        apply_approval(&mut baseline, &scan, &[f], &Selection::All, &approval("c"));
        let mut shas: Vec<_> = baseline.scripts.iter().map(|s| s.sha256.clone()).collect();
        shas.sort();
        let mut expected = vec![v1.sha256, v3.sha256];
        expected.sort();
        assert_eq!(shas, expected);
    }

    #[test]
    fn approving_removed_script_drops_it() {
        let gone = script("self:/gone.js", "g");
        let kept = script("self:/kept.js", "k");
        let scan = inventory(vec![kept.clone()], &[], &[]);
        let mut baseline = Baseline {
            page: "checkout".into(),
            scripts: vec![approved(&gone, "g"), approved(&kept, "k")],
            ..Default::default()
        };
        let f = script_finding("f1", FindingKind::RemovedScript, &gone);
        let outcome = apply_approval(&mut baseline, &scan, &[f], &Selection::All, &approval("cleanup"));
        assert_eq!(outcome.accepted, vec!["f1"]);
        assert_eq!(baseline.scripts, vec![approved(&kept, "k")]);
    }

    #[test]
    fn approving_header_changes_sets_value_or_absence() {
        let scan = inventory(vec![], &[("content-security-policy", "script-src 'self' cdn")], &[]);
        let mut baseline = Baseline {
            page: "checkout".into(),
            headers: vec![
                ApprovedHeader {
                    name: "content-security-policy".into(),
                    value: Some("script-src 'self'".into()),
                    approval: approval("old"),
                },
                ApprovedHeader {
                    name: "x-frame-options".into(),
                    value: Some("DENY".into()),
                    approval: approval("old"),
                },
            ],
            ..Default::default()
        };
        let changed = Finding {
            header: Some(HeaderChange {
                name: "content-security-policy".into(),
                approved: Some("script-src 'self'".into()),
                current: Some("script-src 'self' cdn".into()),
            }),
            ..finding("h1", FindingKind::HeaderChange)
        };
        let dropped = Finding {
            header: Some(HeaderChange { name: "x-frame-options".into(), approved: Some("DENY".into()), current: None }),
            ..finding("h2", FindingKind::HeaderChange)
        };
        let outcome = apply_approval(&mut baseline, &scan, &[changed, dropped], &Selection::All, &approval("new cdn"));
        assert_eq!(outcome.accepted, vec!["h1", "h2"]);
        assert_eq!(
            baseline.headers,
            vec![
                ApprovedHeader {
                    name: "content-security-policy".into(),
                    value: Some("script-src 'self' cdn".into()),
                    approval: approval("new cdn")
                },
                ApprovedHeader { name: "x-frame-options".into(), value: None, approval: approval("new cdn") },
            ]
        );
    }

    #[test]
    fn approving_new_host_adds_it_once() {
        let scan = inventory(vec![], &[], &["pay.example"]);
        let mut baseline = Baseline {
            page: "checkout".into(),
            hosts: vec![ApprovedHost { host: "shop.example".into(), approval: approval("own") }],
            ..Default::default()
        };
        let f = Finding { host: Some("pay.example".into()), ..finding("n1", FindingKind::NewHost) };
        apply_approval(&mut baseline, &scan, &[f.clone(), f], &Selection::All, &approval("psp"));
        assert_eq!(
            baseline.hosts,
            vec![
                ApprovedHost { host: "pay.example".into(), approval: approval("psp") },
                ApprovedHost { host: "shop.example".into(), approval: approval("own") },
            ]
        );
    }

    #[test]
    fn first_full_approval_records_security_headers_and_hosts() {
        let s = script("self:/app.js", "app");
        let scan = inventory(
            vec![s.clone()],
            &[
                ("strict-transport-security", "max-age=63072000"),
                ("x-powered-by", "php"),
                ("referrer-policy", "no-referrer"),
            ],
            &["shop.example", "cdn.example"],
        );
        let mut baseline = Baseline { page: "checkout".into(), ..Default::default() };
        let findings = vec![script_finding("f1", FindingKind::NewScript, &s)];
        let outcome = apply_approval(&mut baseline, &scan, &findings, &Selection::All, &approval("initial"));
        assert_eq!(outcome.accepted, vec!["f1"]);
        assert_eq!(baseline.scripts.len(), 1);
        let headers: Vec<_> = baseline.headers.iter().map(|h| (h.name.as_str(), h.value.as_deref())).collect();
        assert_eq!(
            headers,
            vec![("referrer-policy", Some("no-referrer")), ("strict-transport-security", Some("max-age=63072000"))]
        );
        let hosts: Vec<_> = baseline.hosts.iter().map(|h| h.host.as_str()).collect();
        assert_eq!(hosts, vec!["cdn.example", "shop.example"]);

        // A partial first approval records only what was selected.
        let mut partial = Baseline { page: "checkout".into(), ..Default::default() };
        let ids = vec!["f1".to_string()];
        apply_approval(&mut partial, &scan, &findings, &Selection::Findings(&ids), &approval("initial"));
        assert!(partial.headers.is_empty() && partial.hosts.is_empty());
    }

    #[test]
    fn selection_by_id_reports_unknown_ids() {
        let a = script("self:/a.js", "a");
        let b = script("self:/b.js", "b");
        let scan = inventory(vec![a.clone(), b.clone()], &[], &[]);
        let findings = vec![
            script_finding("fa", FindingKind::NewScript, &a),
            script_finding("fb", FindingKind::NewScript, &b),
            // Refers to a script the scan does not have: cannot be applied.
            script_finding("fc", FindingKind::NewScript, &script("self:/c.js", "c")),
        ];
        let mut baseline = Baseline { page: "checkout".into(), ..Default::default() };
        let ids = vec!["fb".to_string(), "nope".to_string(), "fc".to_string(), "nope".to_string()];
        let outcome = apply_approval(&mut baseline, &scan, &findings, &Selection::Findings(&ids), &approval("b only"));
        assert_eq!(outcome.accepted, vec!["fb"]);
        assert_eq!(outcome.unknown, vec!["nope"]);
        assert_eq!(outcome.skipped, vec!["fc"]);
        assert_eq!(baseline.scripts, vec![approved(&b, "b only")]);
    }
}
