//! Containment of the page's network reach: the scanned page runs inside the monitor's network,
//! so a request from it to a link-local address (169.254.0.0/16, fe80::/10) or a cloud
//! metadata service (169.254.169.254, fd00:ec2::254, 100.100.100.200, `metadata.google.internal`
//! and friends) could read the host's cloud credentials and send them on. Such requests are
//! refused with `Network.setBlockedURLs` (the request is still reported, so the canary search
//! still sees its URL, and fails with `blockedReason: inspector`), and every refusal is recorded
//! for the report — unless the configured page itself lives on such an address.
//!
//! What is covered: IP literals in every spelling the URL parser canonicalises (decimal, hex,
//! IPv4-mapped IPv6) and the known metadata host names, in the page's own session (its frames
//! included). Not covered: a public name that resolves to a link-local address (DNS
//! rebinding), and requests of other targets (popups, workers).

use chromiumoxide::cdp::browser_protocol::network::BlockedReason;
use chromiumoxide::cdp::browser_protocol::network::{
    BlockPattern, EventLoadingFailed, EventRequestWillBeSent, SetBlockedUrLsParams,
};
use chromiumoxide::error::CdpError;
use chromiumoxide::Page;
use futures::StreamExt;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use tokio_util::task::AbortOnDropHandle;

/// At most this many refused requests are kept per scan (each cut to [`MAX_URL_CHARS`]).
const MAX_REFUSED: usize = 100;
const MAX_URL_CHARS: usize = 300;

/// Host names of cloud metadata services (lower case, without a trailing dot).
const METADATA_NAMES: [&str; 5] =
    ["metadata.google.internal", "metadata", "metadata.goog", "instance-data", "instance-data.ec2.internal"];

/// True for a link-local or cloud-metadata address (a bracketed IPv6 literal is accepted).
pub fn is_internal_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => is_internal_v4(ip),
        Ok(IpAddr::V6(ip)) => is_internal_v6(ip),
        Err(_) => METADATA_NAMES.contains(&bare),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    ip.is_link_local() || ip == Ipv4Addr::new(100, 100, 100, 200)
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
    let aws = ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    link_local || aws || ip.to_ipv4_mapped().is_some_and(is_internal_v4)
}

/// True when the configured page itself lives on a link-local or metadata address: then
/// nothing is refused (its operator asked for exactly that).
pub fn page_is_internal(page_url: &str) -> bool {
    url::Url::parse(page_url).ok().and_then(|u| u.host_str().map(is_internal_host)).unwrap_or(false)
}

/// URLPattern strings for [`is_internal_host`]'s addresses (matched against the canonical URL,
/// so `http://2852039166/` is `169.254.169.254`).
fn patterns() -> Vec<String> {
    // URLPattern hostnames (checked against Chromium's parser). A wildcard cannot follow the
    // digits of an IPv4 prefix (`169.254.*` is parsed as an address and matches nothing), and
    // regular-expression groups are refused by the protocol, so the /16 is in [`GLOBS`] and
    // only its metadata address is here. IPv6 colons are escaped.
    let mut hosts: Vec<String> = vec![
        "169.254.169.254".into(),
        "100.100.100.200".into(),
        "[fe8*]".into(),
        "[fe9*]".into(),
        "[fea*]".into(),
        "[feb*]".into(),
        "[fd00\\:ec2\\:\\:254]".into(),
        "[\\:\\:ffff\\:a9fe\\:*]".into(),
        "[\\:\\:ffff\\:6464\\:64c8]".into(),
    ];
    for name in METADATA_NAMES {
        hosts.push(name.to_string());
        hosts.push(format!("{name}."));
    }
    hosts.into_iter().map(|h| format!("*://{h}:*/*")).collect()
}

/// The link-local /16 as the protocol's older wildcard `urls` (matched against the whole URL
/// from its start, so the scheme anchors them).
const GLOBS: [&str; 4] = ["http://169.254.*", "https://169.254.*", "ws://169.254.*", "wss://169.254.*"];

/// `Network.setBlockedURLs` with both its parameters: chromiumoxide's generated type only has
/// `urlPatterns`, and the /16 needs the older `urls`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SetBlockedUrls {
    urls: Vec<String>,
    #[serde(rename = "urlPatterns")]
    url_patterns: Vec<BlockPattern>,
}

impl chromiumoxide::types::Method for SetBlockedUrls {
    fn identifier(&self) -> chromiumoxide::types::MethodId {
        SetBlockedUrLsParams::IDENTIFIER.into()
    }
}

impl chromiumoxide::types::Command for SetBlockedUrls {
    type Response = chromiumoxide::cdp::browser_protocol::network::SetBlockedUrLsReturns;
}

/// The requests refused so far, and the task recording them (stops when dropped).
pub struct Refusals {
    pub refused: Arc<Mutex<Vec<String>>>,
    _recorder: AbortOnDropHandle<()>,
}

impl Refusals {
    /// The refused requests (`URL`), in the order they were refused.
    pub fn take(&self) -> Vec<String> {
        self.refused.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default()
    }
}

/// Refuses the page's requests to link-local and metadata addresses, unless `page_url` is on
/// one; returns the record of refusals. Needs the network domain enabled.
pub async fn refuse_internal_requests(page: &Page, page_url: &str) -> Result<Option<Refusals>, CdpError> {
    if page_is_internal(page_url) {
        return Ok(None);
    }
    let mut sent = page.event_listener::<EventRequestWillBeSent>().await?;
    let mut failed = page.event_listener::<EventLoadingFailed>().await?;
    let params = SetBlockedUrls {
        urls: GLOBS.iter().map(|g| g.to_string()).collect(),
        url_patterns: patterns().into_iter().map(|p| BlockPattern::new(p, true)).collect(),
    };
    page.execute(params).await?;
    let refused = Arc::new(Mutex::new(Vec::new()));
    let out = refused.clone();
    let task = tokio::spawn(async move {
        // The two events come on separate streams, in either order: whichever of a request's
        // URL and its refusal is seen second records it.
        let mut urls: HashMap<String, String> = HashMap::new();
        let mut refused_ids: std::collections::HashSet<String> = Default::default();
        let record = |url: String| {
            if let Ok(mut r) = out.lock() {
                if r.len() < MAX_REFUSED {
                    r.push(url);
                }
            }
        };
        loop {
            tokio::select! {
                Some(ev) = sent.next() => {
                    let internal = url::Url::parse(&ev.request.url)
                        .ok()
                        .and_then(|u| u.host_str().map(is_internal_host))
                        .unwrap_or(false);
                    if internal {
                        let url = crate::text::cut_chars(&ev.request.url, MAX_URL_CHARS);
                        let id = ev.request_id.inner();
                        if refused_ids.remove(id) {
                            record(url);
                        } else if urls.len() < MAX_REFUSED {
                            urls.insert(id.clone(), url);
                        }
                    }
                }
                Some(ev) = failed.next() => {
                    if ev.blocked_reason == Some(BlockedReason::Inspector) {
                        let id = ev.request_id.inner();
                        match urls.remove(id) {
                            Some(url) => record(url),
                            None if refused_ids.len() < MAX_REFUSED => {
                                refused_ids.insert(id.clone());
                            }
                            None => {}
                        }
                    }
                }
                else => break,
            }
        }
    });
    Ok(Some(Refusals { refused, _recorder: AbortOnDropHandle::new(task) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_and_metadata_hosts_are_internal() {
        for h in [
            "169.254.169.254",
            "169.254.0.1",
            "100.100.100.200",
            "[fe80::1]",
            "[febf::1]",
            "[fd00:ec2::254]",
            "[::ffff:a9fe:a9fe]",
            "metadata.google.internal",
            "METADATA.google.internal.",
        ] {
            assert!(is_internal_host(h), "{h}");
        }
        for h in ["127.0.0.1", "10.0.0.1", "169.255.0.1", "[fec0::1]", "[::1]", "shop.example", "metadata.example"] {
            assert!(!is_internal_host(h), "{h}");
        }
        assert!(page_is_internal("http://169.254.169.254/latest/"));
        assert!(!page_is_internal("https://shop.example/checkout"));
        assert!(patterns().iter().all(|p| p.starts_with("*://") && p.ends_with(":*/*")));
    }
}
