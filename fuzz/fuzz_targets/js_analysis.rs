//! Every step that analyses page JavaScript, on arbitrary text: nesting scan, normalized hash,
//! masked text, hints, pretty-printing, diff and anchor. None may crash, hang or overflow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skimwatch::compare::{diff, hints};
use skimwatch::inventory::{budget, identity, normalize};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first NUL splits the input into an "approved" and a "current" version.
    let (old, new) = text.split_once('\0').unwrap_or(("", &text));
    let _ = budget::nesting(new, budget::MAX_NESTING);
    let admitted = budget::admit(new).is_ok();
    let normalized = normalize::normalize_checked(new);
    if !admitted {
        assert!(normalized.is_err(), "refused code must not get a normalized hash");
    }
    let _ = normalize::masked_text(new);
    let analysis = hints::analyze(Some(old), new);
    if !admitted {
        assert!(analysis.hints.iter().any(|h| h.contains("compared byte for byte")), "{:?}", analysis.hints);
    }
    let _ = hints::analyze(None, new);
    let _ = diff::pretty_js(new);
    let d = diff::diff_scripts(old, new, "approved", "current");
    assert!(d.len() <= diff::DIFF_MAX_BYTES + 64);
    assert_eq!(identity::anchor(new).len(), 10);
});
