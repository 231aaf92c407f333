//! Limits: every cap on what one capture records, in one place, and the count of what each
//! cap dropped.
//!
//! A hostile page can compile scripts, send requests, open WebSocket frames and touch card
//! fields without end, and serve scripts of any size, so each list and each byte count of a
//! capture is bounded. A bound that drops data must never become a blind spot: every cap
//! counts what the page produced and what was kept ([`Counts`]), and each cap that was hit
//! becomes one [`Truncation`] in the snapshot, which compare turns into a `capture_truncated`
//! finding (high). Where keeping everything is impossible, the caps keep what matters most to
//! the canary search: the first *and the most recent* requests (a flood is sent *before* the
//! card), and the head *and the tail* of a large body (the card is appended at the end).

use crate::model::Truncation;
use std::collections::BTreeMap;

/// Compiled scripts recorded (`Debugger.scriptParsed`, every world and frame).
pub(super) const MAX_SCRIPTS: usize = 5_000;
/// Outgoing requests and WebSocket frames kept for the canary search: the first half and the
/// most recent half.
pub(super) const MAX_OUTGOING: usize = 10_000;
/// Bytes of request bodies and WebSocket frames kept in memory per capture.
pub(super) const MAX_OUTGOING_BYTES: usize = 64 * 1024 * 1024;
/// Distinct card-field accesses recorded from the prelude's reports.
pub(super) const MAX_ACCESSES: usize = 5_000;
/// Image URLs set by scripts recorded (to name the sender of an image request).
pub(super) const MAX_IMAGE_SENDERS: usize = 5_000;
/// Request bodies fetched after the fact (`Network.getRequestPostData`): the first half and
/// the most recent half of those the events did not carry.
pub(super) const MAX_BODY_FETCHES: usize = 300;
/// Largest script source kept (bytes); larger sources are recorded cut at this size.
pub(super) const MAX_SOURCE_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of script source fetched and kept per capture (and so stored per scan); scripts past
/// it are still listed, with their source cut (or empty when not fetched).
pub(super) const MAX_SCRIPT_BYTES: usize = 16 * 1024 * 1024;
/// Accesses the prelude reports per frame before it stops (it then reports how many it
/// dropped); the number is written in `js/prelude.js`.
pub(super) const PRELUDE_MAX_REPORTS: usize = 2_000;
/// Other targets (popups, workers) attached at most per capture (a page can spawn workers
/// without end).
pub(super) const MAX_TARGETS: usize = 50;
/// Popups watched and listed at most.
pub(super) const MAX_POPUPS: usize = 20;
/// Scripts of workers kept at most.
pub(super) const MAX_WORKER_SCRIPTS: usize = 500;
/// Cookies of the scan's browser context recorded at most.
pub(super) const MAX_COOKIES: usize = 300;
/// `Set-Cookie` header lines recorded at most (to name the response that set a cookie).
pub(super) const MAX_SET_COOKIES: usize = 2_000;
/// `document.cookie` writes the prelude reported, recorded at most.
pub(super) const MAX_COOKIE_WRITES: usize = 2_000;
/// Longest cookie name, domain or path kept (bytes); longer ones are cut.
pub(super) const MAX_COOKIE_TEXT: usize = 256;
pub(super) use super::canary::{MAX_CANDIDATES, MAX_HAYSTACK};

/// One capture limit: its stable name (part of the finding id), what it counts, its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Cap {
    Scripts,
    Requests,
    RequestBytes,
    Accesses,
    ImageSenders,
    BodyFetches,
    SourceBytes,
    ScriptBytes,
    Haystack,
    PreludeAccesses,
    PreludeImages,
    Candidates,
    Targets,
    Popups,
    WorkerScripts,
    Cookies,
    SetCookies,
    CookieWrites,
}

impl Cap {
    fn describe(self) -> (&'static str, &'static str, usize) {
        match self {
            Cap::Scripts => ("max_scripts", "scripts", MAX_SCRIPTS),
            Cap::Requests => ("max_requests", "requests and WebSocket frames", MAX_OUTGOING),
            Cap::RequestBytes => ("max_request_bytes", "bytes of request bodies and frames", MAX_OUTGOING_BYTES),
            Cap::Accesses => ("max_field_accesses", "card-field accesses", MAX_ACCESSES),
            Cap::ImageSenders => ("max_image_senders", "image URLs set by scripts", MAX_IMAGE_SENDERS),
            Cap::BodyFetches => ("max_body_fetches", "request bodies fetched", MAX_BODY_FETCHES),
            Cap::SourceBytes => ("max_source_bytes", "bytes of one script's source", MAX_SOURCE_BYTES),
            Cap::ScriptBytes => ("max_script_bytes", "bytes of script source", MAX_SCRIPT_BYTES),
            Cap::Haystack => ("max_haystack", "bytes of outgoing data searched for the card number", MAX_HAYSTACK),
            Cap::PreludeAccesses => ("max_reported_accesses", "card-field accesses reported", PRELUDE_MAX_REPORTS),
            Cap::PreludeImages => ("max_reported_images", "image URLs reported", PRELUDE_MAX_REPORTS),
            Cap::Candidates => ("max_base64_runs", "pieces of outgoing data searched whole", MAX_CANDIDATES),
            Cap::Targets => ("max_targets", "popups and workers watched", MAX_TARGETS),
            Cap::Popups => ("max_popups", "popups watched", MAX_POPUPS),
            Cap::WorkerScripts => ("max_worker_scripts", "worker scripts", MAX_WORKER_SCRIPTS),
            Cap::Cookies => ("max_cookies", "cookies", MAX_COOKIES),
            Cap::SetCookies => ("max_set_cookies", "Set-Cookie headers", MAX_SET_COOKIES),
            Cap::CookieWrites => ("max_cookie_writes", "document.cookie writes", MAX_COOKIE_WRITES),
        }
    }

    /// The default note: what was done instead of keeping everything.
    fn note(self) -> Option<&'static str> {
        match self {
            Cap::Requests => Some("the first and the most recent were searched, the middle was not"),
            Cap::BodyFetches => Some("the first and the most recent were fetched, the middle was not"),
            Cap::Haystack | Cap::RequestBytes => {
                Some("the head and the tail of each large body were searched, the middle was not")
            }
            Cap::SourceBytes | Cap::ScriptBytes => Some("scripts past it are listed with their source cut"),
            Cap::Candidates => Some("past the limit per layer, the first and the last base64 runs were decoded"),
            _ => None,
        }
    }
}

/// What each cap saw and kept during one capture.
#[derive(Debug, Default)]
pub(super) struct Counts {
    counts: BTreeMap<Cap, Count>,
}

#[derive(Debug, Default)]
struct Count {
    seen: u64,
    kept: u64,
    /// The first few affected URLs, for the finding's note.
    examples: Vec<String>,
}

/// Affected URLs named in a finding at most.
const EXAMPLES: usize = 3;

impl Counts {
    /// `seen` more items (or bytes) arrived for `cap`, `kept` of them were kept.
    pub(super) fn add(&mut self, cap: Cap, seen: usize, kept: usize) {
        let c = self.counts.entry(cap).or_default();
        c.seen = c.seen.saturating_add(seen as u64);
        c.kept = c.kept.saturating_add(kept.min(seen) as u64);
    }

    /// Adds what another record counted (the targets beside the tab).
    pub(super) fn merge(&mut self, other: Counts) {
        for (cap, o) in other.counts {
            let c = self.counts.entry(cap).or_default();
            c.seen = c.seen.saturating_add(o.seen);
            c.kept = c.kept.saturating_add(o.kept);
            let room = EXAMPLES.saturating_sub(c.examples.len());
            c.examples.extend(o.examples.into_iter().take(room));
        }
    }

    /// Like [`Counts::add`], and names the affected URL when something was dropped.
    pub(super) fn add_at(&mut self, cap: Cap, seen: usize, kept: usize, url: &str) {
        self.add(cap, seen, kept);
        let c = self.counts.entry(cap).or_default();
        if kept < seen && c.examples.len() < EXAMPLES && !url.is_empty() {
            c.examples.push(crate::text::one_line(url, 120));
        }
    }

    /// A count the page reports itself (the prelude's dropped reports): at least `dropped`
    /// past the limit.
    pub(super) fn at_least_dropped(&mut self, cap: Cap, dropped: u64) {
        let c = self.counts.entry(cap).or_default();
        let max = cap.describe().2 as u64;
        c.kept = c.kept.max(max);
        c.seen = c.seen.max(max.saturating_add(dropped));
    }

    /// One truncation per cap that dropped something.
    pub(super) fn truncations(&self) -> Vec<Truncation> {
        self.counts
            .iter()
            .filter(|(_, c)| c.seen > c.kept)
            .map(|(cap, c)| {
                let (limit, what, max) = cap.describe();
                let mut note: Vec<String> = cap.note().map(String::from).into_iter().collect();
                if !c.examples.is_empty() {
                    note.push(format!("e.g. {}", c.examples.join(", ")));
                }
                Truncation {
                    limit: limit.to_string(),
                    what: what.to_string(),
                    max: max as u64,
                    kept: c.kept,
                    seen: c.seen,
                    note: (!note.is_empty()).then(|| note.join("; ")),
                }
            })
            .collect()
    }
}

/// `s` if it fits in `max` bytes, else its head and its tail (about `max / 2` bytes each, cut
/// on character boundaries) joined by `…`, at most `max` bytes in all, so that data appended at
/// the end is still searched.
pub(super) fn head_and_tail(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    // Both halves and the `\n…\n` between them (5 bytes) fit in `max`.
    let half = max.saturating_sub(5) / 2;
    let head = crate::text::cut_bytes(s, half);
    let mut start = s.len() - half;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    std::borrow::Cow::Owned(format!("{head}\n…\n{}", &s[start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_caps_that_dropped_something_are_reported() {
        let mut c = Counts::default();
        c.add(Cap::Scripts, 1, 1);
        c.add(Cap::Requests, 12_000, 10_000);
        c.add_at(Cap::ScriptBytes, 100, 40, "https://shop.example/big.js");
        c.at_least_dropped(Cap::PreludeAccesses, 7);
        let t = c.truncations();
        let names: Vec<_> = t.iter().map(|t| (t.limit.as_str(), t.kept, t.seen)).collect();
        assert_eq!(
            names,
            [("max_requests", 10_000, 12_000), ("max_script_bytes", 40, 100), ("max_reported_accesses", 2_000, 2_007)]
        );
        assert!(t[1].note.as_deref().unwrap().contains("https://shop.example/big.js"));
    }

    #[test]
    fn head_and_tail_keeps_both_ends_on_char_boundaries() {
        assert_eq!(head_and_tail("short", 10), "short");
        let s = format!("{}{}", "é".repeat(100), "4000001234567899");
        let cut = head_and_tail(&s, 41);
        assert!(cut.ends_with("4000001234567899"), "{cut}");
        assert!(cut.starts_with("éééé"));
        assert!(cut.len() <= 41);
        assert_eq!(head_and_tail(&cut, 41), cut, "cutting again changes nothing");
    }
}
