//! Intermittent scripts: an A/B-test variant or a tag on a timer runs on some loads and not on
//! others. Reporting `removed_script` whenever it is missing would make it flap (removed, back,
//! removed …), so absence is judged against the page's scan history in the store:
//!
//! - an approved script is reported removed only once it has been missing from
//!   `removed_after` consecutive scans (this one included; default 3);
//! - a script the history shows coming back after being missing is intermittent: it must be
//!   missing for more than twice its longest earlier absence before it is reported;
//! - when the history holds no scan that saw the script (a fresh or `--ephemeral` database),
//!   absence is reported at once, as before: the baseline files alone decide.
//!
//! Scripts whose identities collided (`x`, `x#2`) count as present when any of them is.

use crate::model::{Finding, FindingKind};
use std::collections::BTreeSet;

/// How many earlier scans the presence history looks at.
pub const HISTORY_SCANS: usize = 50;

/// Drops `removed_script` findings for scripts that are only briefly or intermittently
/// missing. `history` lists the script identities of earlier successful scans, newest first.
pub fn hold_back_removals(findings: &mut Vec<Finding>, history: &[BTreeSet<String>], removed_after: u32) {
    findings.retain(|f| {
        if f.kind != FindingKind::RemovedScript {
            return true;
        }
        let Some(script) = &f.script else { return true };
        report_removal(&script.id, history, removed_after)
    });
}

/// True when an approved script missing from the current scan should be reported removed.
pub fn report_removal(id: &str, history: &[BTreeSet<String>], removed_after: u32) -> bool {
    let base = collision_base(id);
    let seen: Vec<bool> = history.iter().map(|scan| scan.iter().any(|s| collision_base(s) == base)).collect();
    if !seen.contains(&true) {
        return true;
    }
    // Missing now, plus the newest earlier scans that missed it too.
    let absent_now = 1 + seen.iter().take_while(|s| !**s).count();
    // Longest run of misses that ended with the script coming back (older scans are later).
    let mut longest_gap = 0;
    let mut run = 0;
    for present in seen.iter().rev() {
        if *present {
            longest_gap = longest_gap.max(run);
            run = 0;
        } else {
            run += 1;
        }
    }
    absent_now >= (removed_after as usize).max(2 * longest_gap + 1)
}

fn collision_base(id: &str) -> &str {
    match id.rfind('#') {
        Some(i) if i + 1 < id.len() && id[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &id[..i],
        _ => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(pattern: &str) -> Vec<BTreeSet<String>> {
        // Newest first; `x` = the script was there, `.` = it was not.
        pattern
            .chars()
            .map(|c| {
                if c == 'x' {
                    BTreeSet::from(["ab.js".to_string(), "other".to_string()])
                } else {
                    BTreeSet::from(["other".to_string()])
                }
            })
            .collect()
    }

    #[test]
    fn steady_script_is_removed_after_k_misses() {
        assert!(!report_removal("ab.js", &hist("xxxxx"), 3));
        assert!(!report_removal("ab.js", &hist(".xxxx"), 3));
        assert!(report_removal("ab.js", &hist("..xxx"), 3));
        assert!(report_removal("ab.js", &hist("x"), 1));
    }

    #[test]
    fn intermittent_script_needs_a_longer_absence() {
        // Came back after 2 misses before: needs 5 misses in a row now.
        assert!(!report_removal("ab.js", &hist("..x..x"), 3));
        assert!(!report_removal("ab.js", &hist("...x..x"), 3));
        assert!(report_removal("ab.js", &hist("....x..x"), 3));
    }

    #[test]
    fn no_history_of_the_script_reports_at_once() {
        assert!(report_removal("ab.js", &[], 3));
        assert!(report_removal("ab.js", &hist("..."), 3));
    }

    #[test]
    fn collided_identities_count_as_one() {
        let h = vec![BTreeSet::from(["ab.js#2".to_string()])];
        assert!(!report_removal("ab.js", &h, 3));
    }
}
