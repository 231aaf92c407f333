//! The CSP report collector: real shoppers' browsers post violation reports of the generated
//! policy (`skimwatch policy csp`) to `POST /csp/<page>` on `[reports] listen`.
//!
//! It is on its own listener because it faces the internet while `/metrics` is internal, and
//! every byte of it is attacker input: the body is bounded (`max_body`, else 413), each source
//! IP has a token bucket (`per_source_per_minute`, else 429), the page is only ever looked up
//! among the configured ones (else 404), a body holds at most [`MAX_REPORTS_PER_BODY`] reports,
//! strings are cut at character boundaries, and the store keeps at most `max_violations`
//! groups. Both formats are read: the legacy `report-uri` body (`{"csp-report": {…}}`,
//! `application/csp-report`) and the Reporting API's `application/reports+json` (an array of
//! `{type: "csp-violation", body: {…}}`). Every outcome is counted in `skimwatch_csp_reports`.
//!
//! A new group of `script-src` violations (not an extension's) brings the page's next scan
//! forward ([`super::schedule`]): that scan raises the `csp_violation`, so the alert leaves
//! minutes after the first shopper's browser reported it, not an interval later.

use crate::model::{CspViolation, Timestamp};
use crate::store::reports::Recorded;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Reports read from one body; the rest are ignored (and counted `invalid`).
pub const MAX_REPORTS_PER_BODY: usize = 100;
/// Source IPs the rate limiter remembers; beyond, buckets that are full again are forgotten.
const MAX_SOURCES: usize = 65_536;
const MAX_FIELD_CHARS: usize = 300;
/// How long reading one body may take.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const MAX_SAMPLE_CHARS: usize = 200;
/// Schemes of browser extensions: their code is the shopper's, not the page's.
const EXTENSION_SCHEMES: &[&str] = &["chrome-extension", "moz-extension", "safari-web-extension", "safari-extension"];

/// A per-source token bucket: `per_minute` tokens, refilled continuously.
pub struct RateLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter { per_minute: f64::from(per_minute.max(1)), buckets: Mutex::default() }
    }

    /// Takes a token for `ip` at `now`; false when its bucket is empty.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut buckets = crate::model::lock_or_recover(&self.buckets);
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&ip) {
            let full = self.per_minute;
            let rate = self.per_minute / 60.0;
            buckets.retain(|_, (t, at)| *t + now.duration_since(*at).as_secs_f64() * rate < full);
            if buckets.len() >= MAX_SOURCES {
                return false;
            }
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.per_minute, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_minute / 60.0).min(self.per_minute);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The blocked resource as stored: an origin, `inline`, `eval`, `data`, `blob`, an extension's
/// scheme, or `other`. Noise when it is a browser extension.
pub fn normalise_blocked(blocked: &str) -> (String, bool) {
    let b = blocked.trim();
    match b {
        "inline" => return ("inline".into(), false),
        "eval" | "wasm-eval" | "trusted-types-sink" => return ("eval".into(), false),
        "" => return ("other".into(), false),
        _ => {}
    }
    let scheme = b.split(':').next().unwrap_or_default().to_ascii_lowercase();
    if EXTENSION_SCHEMES.contains(&scheme.as_str()) {
        return (scheme, true);
    }
    if matches!(scheme.as_str(), "data" | "blob") {
        return (scheme, false);
    }
    match url::Url::parse(b) {
        Ok(u) if matches!(u.scheme(), "http" | "https" | "ws" | "wss") => (u.origin().ascii_serialization(), false),
        _ => ("other".into(), false),
    }
}

/// An http(s) URL without query and fragment, cut to a bounded length; empty for anything
/// else (the report is the browser's word, but anyone can post one: no free text is kept).
fn without_query(s: &str) -> String {
    match url::Url::parse(s.trim()) {
        Ok(mut u) if matches!(u.scheme(), "http" | "https") => {
            u.set_query(None);
            u.set_fragment(None);
            crate::text::cut_chars(&crate::text::one_line(u.as_str(), MAX_FIELD_CHARS), MAX_FIELD_CHARS)
        }
        _ => String::new(),
    }
}

fn field<'a>(v: &'a Value, names: &[&str]) -> &'a str {
    names.iter().find_map(|n| v.get(*n).and_then(Value::as_str)).unwrap_or_default()
}

/// The violations in a report body for `page` (both formats; at most
/// [`MAX_REPORTS_PER_BODY`]); `Err` when the body is no report at all.
pub fn parse_reports(page: &str, body: &[u8]) -> Result<Vec<CspViolation>, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let bodies: Vec<&Value> = match &json {
        Value::Object(o) if o.contains_key("csp-report") => vec![&json["csp-report"]],
        Value::Array(items) => items
            .iter()
            .filter(|r| r.get("type").and_then(Value::as_str) == Some("csp-violation"))
            .filter_map(|r| r.get("body"))
            .collect(),
        _ => return Err("neither a csp-report nor a Reporting API array".into()),
    };
    let mut out = Vec::new();
    for b in bodies.into_iter().take(MAX_REPORTS_PER_BODY) {
        let directive = field(b, &["effective-directive", "effectiveDirective", "violated-directive"]);
        let directive = directive.split_ascii_whitespace().next().unwrap_or_default().to_ascii_lowercase();
        if directive.is_empty()
            || directive.len() > 40
            || !directive.bytes().all(|c| c.is_ascii_lowercase() || c == b'-')
        {
            continue;
        }
        let (blocked, mut noise) = normalise_blocked(field(b, &["blocked-uri", "blockedURL"]));
        let source_file = field(b, &["source-file", "sourceFile"]);
        if EXTENSION_SCHEMES.iter().any(|s| source_file.starts_with(&format!("{s}:"))) {
            noise = true;
        }
        let source = if source_file.is_empty() { field(b, &["document-uri", "documentURL"]) } else { source_file };
        let sample = field(b, &["script-sample", "sample"]);
        out.push(CspViolation {
            page: page.to_string(),
            directive,
            blocked,
            source: without_query(source),
            sample: (!sample.is_empty())
                .then(|| crate::text::cut_chars(&crate::text::one_line(sample, MAX_SAMPLE_CHARS), MAX_SAMPLE_CHARS)),
            count: 1,
            noise,
            ..CspViolation::default()
        });
    }
    Ok(out)
}

/// `X-Forwarded-For` addresses looked at, from the nearest hop on; a longer chain is cut there.
const MAX_FORWARDED_HOPS: usize = 16;

/// The client a request counts for: the TCP peer, unless it is a trusted proxy; then the
/// nearest address in `X-Forwarded-For` (read from the right, as each proxy appends the
/// address it got the request from) that is not itself a trusted proxy. Everything left of
/// that is what the client claims and is not believed. A malformed entry ends the walk at the
/// last trusted hop.
/// IPv4 peers of a dual-stack listener (`[::]:…`) arrive as `::ffff:a.b.c.d`: they are
/// compared, and counted, as `a.b.c.d`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Several headers count as one list, in order; walked from the end without copying it.
    let hops = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    for hop in hops.rev().take(MAX_FORWARDED_HOPS) {
        let Ok(ip) = hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

struct Collector {
    daemon: Arc<super::Daemon>,
    pages: BTreeSet<String>,
    limiter: RateLimiter,
    max_body: usize,
    max_violations: u64,
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// Serves `POST /csp/<page>` on `listener` until `shutdown`.
pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    daemon: Arc<super::Daemon>,
    pages: Vec<String>,
    shutdown: CancellationToken,
) {
    let r = &daemon.config.reports;
    let collector = Arc::new(Collector {
        limiter: RateLimiter::new(r.per_source_per_minute),
        max_body: r.max_body as usize,
        max_violations: r.max_violations,
        trusted_proxies: r.trusted_proxies.clone(),
        pages: pages.into_iter().collect(),
        daemon: daemon.clone(),
    });
    let app = Router::new().route("/csp/{page}", post(receive)).with_state(collector);
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service).with_graceful_shutdown(shutdown.cancelled_owned()).await {
        tracing::error!("the CSP report endpoint stopped: {e}");
    }
}

async fn receive(
    State(c): State<Arc<Collector>>,
    ConnectInfo(from): ConnectInfo<SocketAddr>,
    Path(page): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let metrics = &c.daemon.metrics;
    let client = client_ip(from.ip(), &headers, &c.trusted_proxies);
    if !c.limiter.allow(client, Instant::now()) {
        metrics.csp_report("rate_limited", 1);
        return StatusCode::TOO_MANY_REQUESTS;
    }
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > c.max_body as u64) {
        metrics.csp_report("too_large", 1);
        return StatusCode::PAYLOAD_TOO_LARGE;
    }
    // A body trickled in slowly holds a connection: it gets a few seconds in all.
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, c.max_body)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            metrics.csp_report("too_large", 1);
            return StatusCode::PAYLOAD_TOO_LARGE;
        }
        Err(_) => {
            metrics.csp_report("invalid", 1);
            return StatusCode::REQUEST_TIMEOUT;
        }
    };
    if !c.pages.contains(&page) {
        metrics.csp_report("unknown_page", 1);
        return StatusCode::NOT_FOUND;
    }
    let violations = match parse_reports(&page, &bytes) {
        Ok(v) => v,
        Err(_) => {
            metrics.csp_report("invalid", 1);
            return StatusCode::BAD_REQUEST;
        }
    };
    let max = c.max_violations;
    let stored = c
        .daemon
        .with_store("recording CSP violation reports", move |s| {
            let now = Timestamp::now();
            violations
                .iter()
                .map(|v| s.record_violation(v, now, max).map(|r| (r, v.noise, v.directive.starts_with("script-src"))))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
    match stored {
        Ok(outcomes) => {
            let mut new_script_violation = false;
            for (r, noise, script) in outcomes {
                let outcome = match (r, noise) {
                    (Recorded::Full, _) => "dropped",
                    (_, true) => "noise",
                    _ => "accepted",
                };
                new_script_violation |= r == Recorded::New && !noise && script;
                metrics.csp_report(outcome, 1);
            }
            // What can become a `csp_violation` is judged by the page's next scan: it comes now.
            if new_script_violation {
                c.daemon.violation_reported(&page);
            }
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            tracing::warn!("cannot store CSP violation reports: {e}");
            metrics.csp_report("dropped", 1);
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_report_formats_are_read_and_normalised() {
        let legacy = br#"{"csp-report":{"document-uri":"https://shop.example/checkout?cart=1","effective-directive":"script-src-elem","violated-directive":"script-src-elem","blocked-uri":"https://evil.example/js/x.js?v=2","script-sample":""}}"#;
        let v = parse_reports("checkout", legacy).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].directive.as_str(), v[0].blocked.as_str()), ("script-src-elem", "https://evil.example"));
        assert_eq!(v[0].source, "https://shop.example/checkout");
        let api = br#"[{"type":"csp-violation","age":1,"url":"https://shop.example/checkout","body":{"documentURL":"https://shop.example/checkout","effectiveDirective":"script-src-elem","blockedURL":"inline","sample":"var x = document.querySelector('#cc')","sourceFile":"https://shop.example/checkout"}},
            {"type":"csp-violation","body":{"effectiveDirective":"script-src-elem","blockedURL":"chrome-extension://abc/inject.js"}},
            {"type":"deprecation","body":{}}]"#;
        let v = parse_reports("checkout", api).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].blocked, "inline");
        assert!(v[0].sample.as_deref().unwrap().contains("#cc"));
        assert!(v[1].noise && v[1].blocked == "chrome-extension");
        assert!(parse_reports("checkout", b"{\"x\":1}").is_err());
        assert!(parse_reports("checkout", b"\xff").is_err());
        assert_eq!(without_query("javascript:alert(1)//\u{202e}"), "");
        assert_eq!(without_query("https://shop.example/a.js?x=1#f"), "https://shop.example/a.js");
        assert_eq!(normalise_blocked("eval"), ("eval".into(), false));
        assert_eq!(normalise_blocked("data"), ("data".into(), false));
        assert_eq!(normalise_blocked("moz-extension://x/y.js"), ("moz-extension".into(), true));
        assert_eq!(normalise_blocked("javascript:alert(1)"), ("other".into(), false));
        // A hostile directive name is dropped rather than stored.
        let bad = br#"{"csp-report":{"effective-directive":"script-src'; DROP","blocked-uri":"inline"}}"#;
        assert!(parse_reports("checkout", bad).unwrap().is_empty());
    }

    #[test]
    fn the_client_behind_a_trusted_proxy_is_the_nearest_untrusted_forwarded_address() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            h
        };
        // Not from a proxy: the header is whatever the sender wrote.
        assert_eq!(client_ip(ip("203.0.113.9"), &with(&["198.51.100.1"]), &trusted), ip("203.0.113.9"));
        // From the proxy: the address it appended, not what the client claimed before it.
        let h = with(&["1.2.3.4, 198.51.100.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.7"));
        // Two proxies, two headers: still the nearest untrusted one.
        let h = with(&["1.2.3.4", "198.51.100.7, 10.0.0.5"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.7"));
        // No header, or garbage: the last trusted hop.
        assert_eq!(client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), &with(&["nonsense, 10.0.0.5"]), &trusted), ip("10.0.0.5"));
        // A dual-stack listener's IPv4 peer is the IPv4 address.
        assert_eq!(client_ip(ip("::ffff:10.0.0.2"), &with(&["198.51.100.7"]), &trusted), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("::ffff:203.0.113.9"), &HeaderMap::new(), &trusted), ip("203.0.113.9"));
        // No trusted proxy configured: always the peer.
        assert_eq!(client_ip(ip("10.0.0.2"), &with(&["198.51.100.7"]), &[]), ip("10.0.0.2"));
    }

    #[test]
    fn each_source_has_its_own_bucket() {
        let l = RateLimiter::new(3);
        let t = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| l.allow(a, t)));
        assert!(!l.allow(a, t));
        assert!(l.allow(b, t));
        assert!(l.allow(a, t + std::time::Duration::from_secs(20)), "one token back after 20 s at 3/min");
    }
}
