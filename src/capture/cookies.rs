//! Cookies: every cookie the scan's browser context ended up with, read from the browser
//! (`Storage.getCookies`: every document and frame, `HttpOnly` ones too — not
//! `document.cookie`), with who set it.
//!
//! The setter is the response whose `Set-Cookie` header (from
//! `Network.responseReceivedExtraInfo`, the headers as received) named it, else the script
//! that wrote it to `document.cookie` (the prelude's setter hook, attributed like field
//! accesses: by the stack V8 reports, never by a label the code gives itself), else unknown.
//! Values are never kept: only their SHA-256 leaves this module, and the inventory turns that
//! into a keyed hash before anything is stored. Names, domains and paths are page text: cut
//! to [`MAX_COOKIE_TEXT`] bytes, and at most [`MAX_COOKIES`] cookies are kept (the rest is a
//! truncation, like every capture limit).

use super::events::{host_with_port, Observed};
use super::leaks::sender_of;
use super::limits::{Cap, MAX_COOKIES, MAX_COOKIE_TEXT};
use crate::model::{Cookie, CookieSource};
use crate::text::cut_bytes;
use chromiumoxide::cdp::browser_protocol::network::CookieSameSite;
use chromiumoxide::cdp::browser_protocol::network::GetCookiesParams;
use chromiumoxide::Page;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::Duration;

/// URLs the cookies are asked for at most (distinct request URLs without query).
const MAX_COOKIE_URLS: usize = 2_000;

/// The cookies of the tab's browser context now, with their setters. `own` names the cookies
/// the page's `cookies` setting put there (the monitor's, and secrets: left out).
pub(super) async fn collect(
    page: &Page,
    o: &mut Observed,
    final_url: &str,
    index_of: &HashMap<String, usize>,
    own: &[String],
) -> Vec<Cookie> {
    // `Network.getCookies` for every URL the page requested (the jar's cookies that apply to
    // them: the documents', the frames', third parties' — `HttpOnly` ones too). On a page
    // session, `Storage.getCookies` answers for the browser's default context, not the scan's.
    let mut urls: Vec<String> = std::iter::once(final_url.to_string())
        .chain(o.request_urls.values().cloned())
        .filter(|u| u.starts_with("http:") || u.starts_with("https:"))
        .map(|u| u.split(['?', '#']).next().unwrap_or_default().to_string())
        .collect();
    urls.sort();
    urls.dedup();
    urls.truncate(MAX_COOKIE_URLS);
    let params = GetCookiesParams { urls: Some(urls) };
    let answer = tokio::time::timeout(Duration::from_secs(3), page.execute(params)).await;
    let answer = match answer {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            tracing::debug!(url = %final_url, "could not read the cookies: {e}");
            return Vec::new();
        }
        Err(_) => {
            tracing::debug!(url = %final_url, "could not read the cookies: timed out");
            return Vec::new();
        }
    };
    let page_host = host_with_port(final_url).unwrap_or_default();
    let page_name = page_host.rsplit_once(':').map_or(page_host.as_str(), |(h, _)| h).to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let mut out = Vec::new();
    let all = &answer.result.cookies;
    for c in all {
        if own.iter().any(|n| n == &c.name) && crate::config::hosts::same_site(&c.domain, &page_name) {
            continue;
        }
        if out.len() >= MAX_COOKIES {
            continue;
        }
        let name = cut_bytes(&c.name, MAX_COOKIE_TEXT).to_string();
        let domain = cut_bytes(&c.domain, MAX_COOKIE_TEXT).to_ascii_lowercase();
        let path = cut_bytes(&c.path, MAX_COOKIE_TEXT).to_string();
        let (source, set_by, script_index) = setter(o, &c.name, &c.domain, index_of);
        out.push(Cookie {
            id: String::new(),
            third_party: !crate::config::hosts::same_site(&domain, &page_name),
            lifetime_days: (!c.session).then(|| lifetime_days(c.expires, now)),
            secure: c.secure,
            http_only: c.http_only,
            same_site: c.same_site.as_ref().map(|s| {
                match s {
                    CookieSameSite::Strict => "Strict",
                    CookieSameSite::Lax => "Lax",
                    CookieSameSite::None => "None",
                }
                .to_string()
            }),
            size: c.size.max(0) as u64,
            value_hash: String::new(),
            source,
            set_by,
            blocked: None,
            value_sha256: Some(Sha256::digest(c.value.as_bytes()).into()),
            script_index,
            name,
            domain,
            path,
        });
    }
    // What the browser refused to keep: the page still tried to set it.
    let mut refused = 0;
    for (request, b) in &o.blocked_cookies {
        let kept = out.iter().any(|c| c.name == b.name && c.domain == b.domain && c.path == b.path);
        if kept || b.name.is_empty() {
            continue;
        }
        refused += 1;
        if out.len() >= MAX_COOKIES {
            continue;
        }
        out.push(Cookie {
            name: b.name.clone(),
            domain: b.domain.clone(),
            path: b.path.clone(),
            third_party: !crate::config::hosts::same_site(&b.domain, &page_name),
            lifetime_days: b.expires.map(|e| lifetime_days(e, now)),
            secure: b.secure,
            http_only: b.http_only,
            same_site: b.same_site.clone(),
            size: b.size,
            source: CookieSource::Response,
            set_by: o.request_urls.get(request).map(|u| shown_url(u)),
            blocked: Some(b.reasons.clone()),
            value_sha256: Some(b.value_sha256),
            ..Cookie::default()
        });
    }
    let seen = all.iter().filter(|c| !own.iter().any(|n| n == &c.name)).count() + refused;
    o.counts.add(Cap::Cookies, seen.max(out.len()), out.len());
    out.sort_by(|a, b| (&a.domain, &a.name, &a.path).cmp(&(&b.domain, &b.name, &b.path)));
    out
}

/// A setter's URL as reported: without query and fragment (a pixel's query carries what it
/// was sent, personal data among it), cut to 500 bytes.
fn shown_url(url: &str) -> String {
    cut_bytes(url.split(['?', '#']).next().unwrap_or_default(), 500).to_string()
}

/// Whole days from `now` to `expires` (seconds since the epoch), rounded up; 0 when past.
pub(super) fn lifetime_days(expires: f64, now: f64) -> u64 {
    if !expires.is_finite() || expires <= now {
        return 0;
    }
    ((expires - now) / 86_400.0).ceil().min(1e6) as u64
}

/// The name a `Set-Cookie` line or a `document.cookie` write sets, and its `Domain`
/// attribute (lower case, without the leading dot) if any.
pub(super) fn parse_set_cookie(line: &str) -> (String, Option<String>) {
    let mut parts = line.split(';');
    let first = parts.next().unwrap_or_default();
    let name = first.split_once('=').map_or("", |(n, _)| n).trim().to_string();
    let domain = parts.filter_map(|p| p.split_once('=')).find_map(|(k, v)| {
        k.trim().eq_ignore_ascii_case("domain").then(|| v.trim().trim_start_matches('.').to_ascii_lowercase())
    });
    (name, domain)
}

/// Whether a cookie kept under `cookie_domain` (`.example.com` or `shop.example.com`) can be
/// the one a `Set-Cookie` with `domain` (its attribute, if any) sent by `host` set.
fn domain_fits(cookie_domain: &str, domain: Option<&str>, host: &str) -> bool {
    let kept = cookie_domain.trim_start_matches('.').to_ascii_lowercase();
    match domain {
        Some(d) => d == kept,
        None => host.eq_ignore_ascii_case(&kept),
    }
}

/// Who set the cookie `name` kept under `domain`: the last response that sent it, else the
/// last script that wrote it, else unknown.
fn setter(
    o: &Observed,
    name: &str,
    domain: &str,
    index_of: &HashMap<String, usize>,
) -> (CookieSource, Option<String>, Option<usize>) {
    for (request, line) in o.set_cookies.iter().rev() {
        let (n, d) = parse_set_cookie(line);
        if n != name {
            continue;
        }
        let Some(url) = o.request_urls.get(request) else { continue };
        let host = url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
        if domain_fits(domain, d.as_deref(), &host) {
            return (CookieSource::Response, Some(shown_url(url)), None);
        }
    }
    for (a, ctx) in o.cookie_writes.iter().rev() {
        if a.e.as_deref() != Some(name) {
            continue;
        }
        match sender_of(o, a.s.as_ref(), *ctx, index_of) {
            // The monitor's own code does not write cookies; a report that names it is not one.
            None => continue,
            Some((url, index)) => return (CookieSource::Script, url, index),
        }
    }
    (CookieSource::Unknown, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_lines_name_the_cookie_and_its_domain() {
        assert_eq!(parse_set_cookie("sid=abc; Path=/; HttpOnly"), ("sid".into(), None));
        assert_eq!(
            parse_set_cookie("tw_uid=1.2; Max-Age=63072000; Domain=.Tagwell.example; SameSite=None; Secure"),
            ("tw_uid".into(), Some("tagwell.example".into()))
        );
        assert_eq!(parse_set_cookie("garbage"), (String::new(), None));
        assert!(domain_fits(".tagwell.example", Some("tagwell.example"), "px.tagwell.example"));
        assert!(domain_fits("127.0.0.3", None, "127.0.0.3"));
        assert!(!domain_fits("127.0.0.3", None, "127.0.0.1"));
    }

    #[test]
    fn lifetimes_in_days() {
        let now = 1_700_000_000.0;
        assert_eq!(lifetime_days(now + 86_400.0 * 730.0, now), 730);
        assert_eq!(lifetime_days(now + 10.0, now), 1);
        assert_eq!(lifetime_days(now - 10.0, now), 0);
        assert_eq!(lifetime_days(f64::INFINITY, now), 0);
    }
}
