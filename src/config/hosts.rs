//! Host allow-lists as written in the config (`card_data_hosts`): exact `host` or `host:port`,
//! `*.domain` for any subdomain, `host:*` for any port, `*` for anything.

/// `true` when `host` (`host` or `host:port`) matches an allow-list entry: exact, `*.domain`
/// (any subdomain), `host:*` (any port), or `*`.
pub fn host_allowed(host: &str, allow: &[String]) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (n, Some(p)),
        _ => (host, None),
    };
    allow.iter().any(|entry| {
        let entry = entry.trim().to_ascii_lowercase();
        if entry == "*" {
            return true;
        }
        let (e_name, e_port) = match entry.rsplit_once(':') {
            Some((n, p)) if p == "*" || p.bytes().all(|b| b.is_ascii_digit()) => (n.to_string(), Some(p.to_string())),
            _ => (entry.clone(), None),
        };
        let port_ok = match (&e_port, port) {
            (Some(p), _) if p == "*" => true,
            (Some(p), Some(q)) => p == q,
            (Some(_), None) => false,
            (None, q) => q.is_none(),
        };
        let name = name.to_ascii_lowercase();
        let name_ok = match e_name.strip_prefix("*.") {
            Some(domain) => name.ends_with(&format!(".{domain}")),
            None => name == e_name,
        };
        port_ok && name_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_patterns() {
        let allow =
            |list: &[&str], host: &str| host_allowed(host, &list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(allow(&["pay.example"], "pay.example"));
        assert!(allow(&["PAY.example"], "pay.example"));
        assert!(!allow(&["pay.example"], "pay.example:8443"));
        assert!(allow(&["pay.example:8443"], "pay.example:8443"));
        assert!(allow(&["127.0.0.2:*"], "127.0.0.2:41234"));
        assert!(!allow(&["127.0.0.2:*"], "127.0.0.3:41234"));
        assert!(allow(&["*.stripe.com"], "api.stripe.com"));
        assert!(!allow(&["*.stripe.com"], "stripe.com.evil.example"));
        assert!(!allow(&["*.stripe.com"], "evilstripe.com"));
        assert!(allow(&["*"], "anything:1"));
        assert!(!allow(&[], "pay.example"));
    }
}
