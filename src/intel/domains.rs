//! Indicator lists of known-bad domains: one entry a line, `#` starts a comment (maltrail's
//! trail format, which users' own lists share).
//!
//! An entry `evil.example` matches that host and every subdomain of it (`cdn.evil.example`),
//! never a host that only ends in the same letters (`notevil.example`). Entries that are not
//! plain domains in maltrail's trails are read as far as they name a whole host: `http://IP`
//! is that address; an entry with a path (`shop.example/js/form.js`, `/errors/gate.php`) names
//! one file on a site that was compromised, not a host to distrust entirely, and is skipped
//! (counted, so the report says how many lines were not used).

use std::collections::HashMap;

/// Longest list read (bytes); a list is trusted data, but a cache could be filled by a bad
/// upstream, so it is bounded too.
pub const MAX_LIST_BYTES: usize = 16 << 20;

/// One domain list, ready to match.
#[derive(Debug, Clone, Default)]
pub struct DomainList {
    /// The list's name, as findings and the report name it.
    pub name: String,
    /// Entry → the line as written (for the finding's `entry`).
    entries: HashMap<String, String>,
    /// Lines that named no usable host.
    pub skipped: u64,
}

impl DomainList {
    /// Reads the text of a list. Never fails: unusable lines are counted in `skipped`.
    pub fn parse(name: &str, text: &str) -> DomainList {
        let mut list = DomainList { name: name.to_string(), ..DomainList::default() };
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            match entry_host(line) {
                Some(host) => {
                    list.entries.entry(host).or_insert_with(|| line.to_string());
                }
                None => list.skipped += 1,
            }
        }
        list
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry `host` falls under (the host itself or a parent domain), if any.
    pub fn lookup(&self, host: &str) -> Option<&str> {
        let host = normalize_host(host)?;
        let mut rest = host.as_str();
        loop {
            if let Some(entry) = self.entries.get(rest) {
                return Some(entry.as_str());
            }
            match rest.find('.') {
                // Never match on a bare top-level domain (`com`).
                Some(i) if rest[i + 1..].contains('.') => rest = &rest[i + 1..],
                _ => return None,
            }
        }
    }
}

/// The host of a list line: a bare domain, or the host of `http://host/path` / `host/path`.
fn entry_host(line: &str) -> Option<String> {
    let rest = line.strip_prefix("http://").or_else(|| line.strip_prefix("https://")).unwrap_or(line);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?']) {
        return None;
    }
    let host = normalize_host(rest)?;
    // A single label (`localhost`) is no indicator; an entry needs a dot.
    host.contains('.').then_some(host)
}

/// Lower case, without port, brackets or trailing dot; `None` when it is no host name.
pub fn normalize_host(host: &str) -> Option<String> {
    let host = host.trim();
    let host = if let Some(inner) = host.strip_prefix('[') {
        inner.split(']').next().unwrap_or("")
    } else {
        // `host:port` (an IPv6 address without brackets has several colons: keep it whole).
        match host.rsplit_once(':') {
            Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'));
    ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_the_host_and_its_subdomains_only() {
        let list = DomainList::parse("t", "# c\n\nevil.example  # note\nhttp://93.187.129.249\nhttp://93.187.129.248/gate.php\n/errors/x.php\nlocalhost\nbad.example/wp/x.php\n");
        assert_eq!((list.len(), list.skipped), (2, 4));
        assert_eq!(list.lookup("evil.example"), Some("evil.example"));
        assert_eq!(list.lookup("CDN.Evil.Example.:8443"), Some("evil.example"));
        assert_eq!(list.lookup("a.b.evil.example"), Some("evil.example"));
        assert_eq!(list.lookup("notevil.example"), None);
        assert_eq!(list.lookup("evil.example.com"), None);
        assert_eq!(list.lookup("example"), None);
        assert_eq!(list.lookup("93.187.129.249:80"), Some("http://93.187.129.249"));
        assert_eq!(list.lookup("bad.example"), None, "an entry with a path names one file");
        assert_eq!(list.lookup("self"), None);
        assert_eq!(list.lookup(""), None);
    }

    #[test]
    fn the_shipped_trail_reads_with_few_skipped_lines() {
        let list = DomainList::parse("maltrail", crate::intel::shipped::MALTRAIL);
        assert!(list.len() > 10_000, "{}", list.len());
        assert!(list.skipped < 500, "{}", list.skipped);
        assert_eq!(list.lookup("www.magentocore.net"), Some("magentocore.net"));
    }
}
