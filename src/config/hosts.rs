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

/// The site of a host (`host` or `host:port`, or a cookie domain such as `.shop.example`):
/// its registrable domain by the public suffix list (`shop.example.co.uk` for
/// `www.shop.example.co.uk`), or the address itself for an IP address (each IP address is its
/// own site, as browsers treat it). Lower case, without port or leading dot.
pub fn site_of(host: &str) -> String {
    let host = host.trim().trim_start_matches('.').to_ascii_lowercase();
    let name = match host.rsplit_once(':') {
        Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !n.contains(':') => n.to_string(),
        _ => host.clone(),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']').to_string();
    if name.parse::<std::net::IpAddr>().is_ok() {
        return name;
    }
    match psl::domain(name.as_bytes()) {
        Some(d) => String::from_utf8_lossy(d.as_bytes()).into_owned(),
        None => name,
    }
}

/// Whether two hosts (or cookie domains) are the same site ([`site_of`]).
pub fn same_site(a: &str, b: &str) -> bool {
    site_of(a) == site_of(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_registrable_domains_or_addresses() {
        assert_eq!(site_of("www.shop.example.co.uk"), "example.co.uk");
        assert_eq!(site_of(".shop.example.com"), "example.com");
        assert_eq!(site_of("api.stripe.com:443"), "stripe.com");
        assert_eq!(site_of("127.0.0.3:41234"), "127.0.0.3");
        assert!(same_site("shop.example.com", ".example.com"));
        assert!(same_site("127.0.0.1:8080", "127.0.0.1"));
        assert!(!same_site("127.0.0.1", "127.0.0.3"));
        assert!(!same_site("shop.example.com", "tracker.example.net"));
        // Two customers of one hosting suffix are different sites.
        assert!(!same_site("a.github.io", "b.github.io"));
    }

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
