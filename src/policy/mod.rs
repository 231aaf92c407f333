//! The approved baseline as policies a browser enforces: a Content-Security-Policy ([`csp`])
//! and subresource-integrity attributes ([`sri`]).
//!
//! Pure logic over a page's [`Baseline`] and, when there is one, the inventory of its last
//! stored scan (for the CSP it sends now and the versions it serves now). Nothing here reads a
//! file, the database or the network: the command line loads both and prints the result.
//! Only what the top-level document runs is covered: a frame (the payment provider's hosted
//! fields) is governed by the policy its own server sends.

pub mod csp;
pub mod sri;

pub use csp::{generate_csp, CspOptions, CspPolicy};
pub use sri::{sri_entries, SriEntry};

/// True when an identity names code of the top-level document (see
/// [`crate::inventory::identity`]: scripts of other frames carry `<frame key>|`, and an
/// external script of the main frame has no `|` at all).
pub(crate) fn in_main_frame(id: &str) -> bool {
    !id.contains('|') || id.starts_with("main|")
}

/// `scheme://host[:port]` of `url`, the form a CSP host source takes to match exactly that
/// origin; `None` for URLs without a host.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str().filter(|h| !h.is_empty())?;
    Some(match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_frame_identities_and_origins() {
        assert!(in_main_frame("self:/static/app.js"));
        assert!(in_main_frame("https://cdn.example/lib.js"));
        assert!(in_main_frame("main|inline|#config"));
        assert!(!in_main_frame("https://pay.example/fields|inline|a1b2c3d4e5"));
        assert!(!in_main_frame("https://pay.example/fields|https://pay.example/f.js"));
        assert_eq!(origin_of("https://cdn.example/a.js?v=1").as_deref(), Some("https://cdn.example"));
        assert_eq!(origin_of("http://127.0.0.3:8080/gtm.js").as_deref(), Some("http://127.0.0.3:8080"));
        assert_eq!(origin_of("data:text/javascript,1"), None);
    }
}
