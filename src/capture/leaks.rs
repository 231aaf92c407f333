//! Leaks and accesses: after the capture, which outgoing request or WebSocket frame carried
//! the canary card number ([`find_leaks`]), and which script each card-field access the
//! prelude reported came from ([`resolve_accesses`], via [`script_at`]). A stack location names
//! the resource V8 compiled the code from, so code cannot point at another script by claiming
//! its URL; where no single script fits, the sender is unknown (and the access still reported).

use super::canary::Canary;
use super::classify::strip_fragment;
use super::events::{host_with_port, Observed};
use super::limits::{Cap, MAX_BODY_FETCHES};
use super::stealth::StackLocation;
use crate::model::{CardLeak, Channel, Destination, FieldAccess, FieldAccessRef, FieldAction};
use crate::text::cut_bytes;
use chromiumoxide::cdp::browser_protocol::network::{GetRequestPostDataParams, RequestId};
use chromiumoxide::cdp::js_protocol::debugger::EventScriptParsed;
use chromiumoxide::Page;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Fetches the bodies the request events did not carry, so they can be searched too: all of
/// them up to [`MAX_BODY_FETCHES`], else the first and the most recent ones.
pub(super) async fn fetch_bodies(page: &Page, observed: &mut Observed) {
    let wanted: Vec<usize> = (0..observed.outgoing.len()).filter(|&i| observed.outgoing[i].needs_body).collect();
    let chosen: Vec<usize> = if wanted.len() <= MAX_BODY_FETCHES {
        wanted.clone()
    } else {
        let head = MAX_BODY_FETCHES / 2;
        let tail = MAX_BODY_FETCHES - head;
        wanted[..head].iter().chain(&wanted[wanted.len() - tail..]).copied().collect()
    };
    observed.counts.add(Cap::BodyFetches, wanted.len(), chosen.len());
    for i in chosen {
        let params = GetRequestPostDataParams::new(RequestId::new(observed.outgoing[i].request_id.clone()));
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(2), page.execute(params)).await {
            observed.keep_body(i, &r.result.post_data);
        }
    }
}

/// Every outgoing request or frame that carries the canary, and how many pieces (URLs,
/// headers, bodies) were searched and how many of them a search budget left partly unsearched.
/// With `steps` (`complete` mode), the card in a checkout platform's own request to the page's
/// own origin ([`super::shopper::STEP_REQUESTS`], let through so the checkout advances, and
/// [`super::shopper::ORDER_REQUESTS`], blocked) is allowed: it is the platform carrying the
/// card to its own server (Magento 1 `ccsave` posts it with `savePayment` and `saveOrder`), not
/// a third party; so is the page's own form submitted to the own origin by the pay button (a
/// form post of a same-origin document, answered in the browser and never sent). Any other
/// request to the own origin with the card is still a leak (skimmers stash cards in files on
/// the breached shop).
pub(super) fn find_leaks(
    o: &Observed,
    canary: &Canary,
    final_url: &str,
    index_of: &HashMap<String, usize>,
    allow: &[String],
    steps: bool,
) -> (Vec<CardLeak>, usize, usize) {
    let own_step = |url: &str, method: &str, channel: Channel, frame_url: &str| {
        steps
            && same_origin(url, final_url)
            && ((method != "GET" && super::shopper::is_platform_request(url))
                || (channel == Channel::Form && same_origin(frame_url, final_url)))
    };
    let mut leaks = Vec::new();
    let (mut searched, mut skipped) = (0, 0);
    for out in &o.outgoing {
        let mut places: Vec<(String, &str)> = vec![("url".into(), out.url.as_str())];
        // The headers the event listed, then those really sent (with `Cookie` and `Referer`:
        // a page that puts the number in its own URL or in a cookie sends it with every request).
        let sent = o.sent_headers.get(&out.request_id).into_iter().flatten().flatten();
        for (name, value) in out.headers.iter().chain(sent) {
            places.push((format!("header {name}"), value.as_str()));
        }
        if let Some(body) = &out.body {
            places.push((if out.method == "SEND" { "frame".into() } else { "body".into() }, body.as_str()));
        }
        let mut found = None;
        for (place, text) in places {
            let (hit, dropped) = canary.find_counting(text);
            searched += 1;
            if dropped {
                skipped += 1;
            }
            if let Some(e) = hit {
                found = Some((place, e));
                break;
            }
        }
        let Some((found_in, encoding)) = found else { continue };
        let host =
            host_with_port(&out.url).unwrap_or_else(|| out.url.split(['/', '?']).next().unwrap_or("").to_string());
        let frame_url = out
            .frame_id
            .as_ref()
            .and_then(|f| o.frames.get(f))
            .map(|(u, _)| u.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| final_url.to_string());
        // A popup's or worker's request: the document behind it is the tab's (the opener or
        // the worker's owner), the destination says which target sent it.
        let frame_url = if out.source.is_some() { final_url.to_string() } else { frame_url };
        let mut shown = canary.mask_in(&out.url);
        if shown.len() > 2000 {
            shown = format!("{}…", cut_bytes(&shown, 2000));
        }
        let (script_url, script_index) = sender_of_request(o, out, index_of);
        let cross_origin_frame = !same_origin(&frame_url, final_url);
        leaks.push(CardLeak {
            allowed: crate::config::hosts::host_allowed(&host, allow)
                || own_step(&out.url, &out.method, out.channel, &frame_url),
            destination: Destination {
                url: shown,
                host,
                channel: out.channel,
                method: Some(out.method.clone()),
                found_in: Some(found_in),
                encoding: Some(encoding),
                target: out.source.as_ref().map(|s| s.kind.to_string()),
                own_origin: same_origin(&out.url, &frame_url),
            },
            frame_url,
            script: None,
            script_url,
            script_index,
            cross_origin_frame,
        });
    }
    (leaks, searched, skipped)
}

/// The script behind an outgoing request (URL to show, index in the snapshot): its initiator
/// stack, or for an image the script the prelude saw pointing an image at that URL.
fn sender_of_request(
    o: &Observed,
    out: &super::events::Outgoing,
    index_of: &HashMap<String, usize>,
) -> (Option<String>, Option<usize>) {
    let mut script_url = out.sender.as_ref().map(|(_, u)| u.clone());
    let mut script_index = out.sender.as_ref().and_then(|(id, _)| index_of.get(id).copied());
    if out.sender.is_none() {
        // An image: the prelude noted which script pointed an image at this URL.
        let reported = o.image_senders.iter().rev().find(|(a, _)| {
            a.url.as_deref().is_some_and(|u| {
                strip_fragment(u) == strip_fragment(&out.url) || (u.len() >= 8192 && out.url.starts_with(u))
            })
        });
        if let Some((url, index)) = reported.and_then(|(a, ctx)| sender_of(o, a.s.as_ref(), *ctx, index_of)) {
            (script_url, script_index) = (url, index);
        }
    }
    (script_url, script_index)
}

/// Every destination host that received the shopper's personal data, per sending script:
/// which fields, how encoded, by which channels. Searched in the same places as the card
/// (URL, headers the event listed — not the `Cookie` and `Referer` really sent, which carry
/// back what the page already has — and body). Allowed: a host of the page's own site, one in
/// `allow` (`personal_data_hosts` and `card_data_hosts`: a payment provider processes the
/// cardholder's name and address), and a cross-origin frame sending to its own origin (a
/// provider's hosted fields receive what the shopper types into them).
pub(super) fn find_personal_data(
    o: &Observed,
    needles: &super::personal::PersonalNeedles,
    final_url: &str,
    index_of: &HashMap<String, usize>,
    allow: &[String],
) -> Vec<crate::model::PersonalDataFlow> {
    use crate::config::hosts::{host_allowed, same_site};
    use std::collections::BTreeMap;
    let page_host = host_with_port(final_url).unwrap_or_default();
    // (host, sender) → flow
    let mut flows: BTreeMap<(String, Option<String>, Option<usize>), crate::model::PersonalDataFlow> = BTreeMap::new();
    for out in &o.outgoing {
        let mut places: Vec<&str> = vec![out.url.as_str()];
        places.extend(out.headers.iter().filter(|(n, _)| n != "referer" && n != "cookie").map(|(_, v)| v.as_str()));
        if let Some(body) = &out.body {
            places.push(body.as_str());
        }
        let mut hits: Vec<super::personal::Hit> = Vec::new();
        for text in places {
            for hit in needles.find(text) {
                if !hits.iter().any(|(f, _)| *f == hit.0) {
                    hits.push(hit);
                }
            }
        }
        if hits.is_empty() {
            continue;
        }
        let Some(host) = host_with_port(&out.url) else { continue };
        let (script_url, script_index) = sender_of_request(o, out, index_of);
        let first_party = same_site(&host, &page_host);
        let frame_url = out
            .frame_id
            .as_ref()
            .and_then(|f| o.frames.get(f))
            .map(|(u, _)| u.as_str())
            .filter(|u| !u.is_empty() && out.source.is_none())
            .unwrap_or(final_url);
        let own_frame = !same_origin(frame_url, final_url) && same_origin(&out.url, frame_url);
        let flow = flows.entry((host.clone(), script_url.clone(), script_index)).or_insert_with(|| {
            let mut shown = needles.mask_in(&out.url);
            if shown.len() > 500 {
                shown = format!("{}…", cut_bytes(&shown, 500));
            }
            crate::model::PersonalDataFlow {
                allowed: first_party || own_frame || host_allowed(&host, allow),
                first_party,
                host: host.clone(),
                example_url: shown,
                script_index,
                script_url: script_url.clone(),
                ..Default::default()
            }
        });
        flow.requests += 1;
        if !flow.channels.contains(&out.channel) {
            flow.channels.push(out.channel);
            flow.channels.sort();
        }
        for (field, encoding) in hits {
            if !flow.fields.iter().any(|f| f == field) {
                flow.fields.push(field.to_string());
                flow.fields.sort();
            }
            let e = format!("{field}:{encoding}");
            if !flow.encodings.contains(&e) && flow.encodings.len() < 20 {
                flow.encodings.push(e);
                flow.encodings.sort();
            }
        }
    }
    flows.into_values().collect()
}

/// Whether two URLs share scheme, host and port (opaque origins never do).
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin().is_tuple() && a.origin() == b.origin(),
        _ => false,
    }
}

/// Who a reported stack location names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sender {
    /// The script at this index of the snapshot.
    Script(usize),
    /// The monitor's own code (by the exact source it injected).
    Own,
    /// No script, or several different ones, could be there: the sender is unknown.
    Unknown,
}

/// The resource a script was compiled from, as the browser says (`embedderName`): the file's
/// URL, the document's for inline code, empty for code compiled from a string. Never the URL a
/// script claims with `//# sourceURL=` (that is `url` when `hasSourceURL`).
pub(super) fn resource_of(s: &EventScriptParsed) -> &str {
    match &s.embedder_name {
        Some(e) => e,
        None if s.has_source_url == Some(true) => "",
        None => &s.url,
    }
}

/// The script at a reported stack location: the script compiled from that resource whose source
/// range holds the line and column (for code without a resource, the one with that label),
/// preferring the frame the report came from. Several different scripts that could be there make
/// the sender unknown, never a guess.
pub(super) fn script_at(o: &Observed, at: &StackLocation, ctx: i64, index_of: &HashMap<String, usize>) -> Sender {
    let frame = o.contexts.get(&ctx).map(|(f, _)| f.clone()).unwrap_or_default();
    let (line, col) = (at.l - 1, at.c - 1);
    let named = |s: &EventScriptParsed| {
        if at.ev {
            // V8 names an eval's caller by its URL as the debugger reports it.
            strip_fragment(&s.url) == strip_fragment(&at.u)
        } else if !at.u.is_empty() {
            strip_fragment(resource_of(s)) == strip_fragment(&at.u)
        } else {
            resource_of(s).is_empty() && s.url == at.n
        }
    };
    let candidates: Vec<&Arc<EventScriptParsed>> = o
        .scripts
        .iter()
        .filter(|s| {
            named(s)
                && (s.start_line, s.start_column) <= (line, col)
                && (line, col) <= (s.end_line, s.end_column.max(col))
                && (index_of.contains_key(s.script_id.inner()) || o.own_scripts.contains(s.script_id.inner()))
        })
        .collect();
    let in_frame = |s: &&Arc<EventScriptParsed>| {
        o.contexts.get(s.execution_context_id.inner()).map(|(f, _)| f == &frame).unwrap_or(false)
    };
    let candidates: Vec<&Arc<EventScriptParsed>> =
        if candidates.iter().any(in_frame) { candidates.into_iter().filter(in_frame).collect() } else { candidates };
    if !candidates.is_empty() && candidates.iter().all(|s| o.own_scripts.contains(s.script_id.inner())) {
        return Sender::Own;
    }
    let page: Vec<&Arc<EventScriptParsed>> =
        candidates.into_iter().filter(|s| index_of.contains_key(s.script_id.inner())).collect();
    let Some(last) = page.last() else { return Sender::Unknown };
    if page.iter().any(|s| s.hash != last.hash) {
        return Sender::Unknown;
    }
    index_of.get(last.script_id.inner()).map_or(Sender::Unknown, |i| Sender::Script(*i))
}

/// The sender of a report: its script (index and the URL to show), or `None` for our own code.
/// An unknown sender has no index, and a URL only when the browser named the resource (never a
/// label the code gave itself), so it can never pass for an approved script.
pub(super) fn sender_of(
    o: &Observed,
    at: Option<&StackLocation>,
    ctx: i64,
    index_of: &HashMap<String, usize>,
) -> Option<(Option<String>, Option<usize>)> {
    let Some(at) = at else { return Some((None, None)) };
    let shown = if !at.u.is_empty() { at.u.clone() } else { at.n.clone() };
    match script_at(o, at, ctx, index_of) {
        Sender::Own => None,
        Sender::Script(i) => Some((Some(shown).filter(|u| !u.is_empty()), Some(i))),
        Sender::Unknown => Some((Some(at.u.clone()).filter(|u| !u.is_empty() && !at.ev), None)),
    }
}

/// Names the script behind each reported field access.
pub(super) fn resolve_accesses(o: &Observed, main_frame: &str, index_of: &HashMap<String, usize>) -> Vec<FieldAccess> {
    let mut out = Vec::new();
    for (a, ctx) in &o.accesses {
        let frame = o.contexts.get(ctx).map(|(f, _)| f.clone()).unwrap_or_default();
        let frame_url =
            o.frames.get(&frame).map(|(u, _)| u.clone()).filter(|u| !u.is_empty()).unwrap_or_else(|| a.u.clone());
        // `parse_access` lets only `listen`, `read` and `send` through, and `send` goes elsewhere.
        let Some(action) = FieldAction::parse(&a.a) else { continue };
        // The monitor's own code touching a field is not the page's doing.
        let Some((script_url, script_index)) = sender_of(o, a.s.as_ref(), *ctx, index_of) else { continue };
        out.push(FieldAccess {
            access: FieldAccessRef {
                // Named by the inventory, which owns frame keys.
                frame: String::new(),
                field: a.f.clone(),
                action,
                event: a.e.clone(),
            },
            frame_url,
            script: None,
            script_url,
            script_index,
            main_frame: frame == main_frame,
        });
    }
    out
}
