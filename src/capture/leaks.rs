//! Leaks and accesses: after the capture, which outgoing request or WebSocket frame carried
//! the canary card number ([`find_leaks`]), and which script each card-field access the
//! prelude reported came from ([`resolve_accesses`], via [`script_at`]).

use super::canary::Canary;
use super::classify::strip_fragment;
use super::events::{host_with_port, Observed};
use super::limits::{Cap, MAX_BODY_FETCHES};
use super::stealth::StackLocation;
use crate::model::{CardLeak, Destination, FieldAccess, FieldAccessRef, FieldAction};
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
pub(super) fn find_leaks(
    o: &Observed,
    canary: &Canary,
    final_url: &str,
    index_of: &HashMap<String, usize>,
    allow: &[String],
) -> (Vec<CardLeak>, usize, usize) {
    let mut leaks = Vec::new();
    let (mut searched, mut skipped) = (0, 0);
    for out in &o.outgoing {
        let mut places: Vec<(String, &str)> = vec![("url".into(), out.url.as_str())];
        for (name, value) in &out.headers {
            // The page's own URL in Referer is the page, not a leak by the request.
            if name != "referer" {
                places.push((format!("header {name}"), value.as_str()));
            }
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
        let mut shown = canary.mask_in(&out.url);
        if shown.len() > 2000 {
            shown = format!("{}…", cut_bytes(&shown, 2000));
        }
        let mut script_url = out.sender.as_ref().map(|(_, u)| u.clone());
        let mut script_index = out.sender.as_ref().and_then(|(id, _)| index_of.get(id).copied());
        if out.sender.is_none() {
            // An image: the prelude noted which script pointed an image at this URL.
            let reported = o.image_senders.iter().rev().find(|(a, _)| {
                a.url.as_deref().is_some_and(|u| {
                    strip_fragment(u) == strip_fragment(&out.url) || (u.len() >= 8192 && out.url.starts_with(u))
                })
            });
            if let Some((a, ctx)) = reported {
                script_url = Some(a.s.u.clone());
                script_index = script_at(o, &a.s, *ctx, index_of);
            }
        }
        leaks.push(CardLeak {
            allowed: crate::config::hosts::host_allowed(&host, allow),
            destination: Destination {
                url: shown,
                host,
                channel: out.channel,
                method: Some(out.method.clone()),
                found_in: Some(found_in),
                encoding: Some(encoding),
            },
            frame_url,
            script: None,
            script_url,
            script_index,
        });
    }
    (leaks, searched, skipped)
}

/// The script at a reported stack location: the script with that URL whose source range holds
/// the line and column, preferring the frame the report came from, then the latest.
pub(super) fn script_at(
    o: &Observed,
    at: &StackLocation,
    ctx: i64,
    index_of: &HashMap<String, usize>,
) -> Option<usize> {
    let frame = o.contexts.get(&ctx).map(|(f, _)| f.clone()).unwrap_or_default();
    let (line, col) = (at.l - 1, at.c - 1);
    let mut best: Option<(&Arc<EventScriptParsed>, bool)> = None;
    for s in o.scripts.iter().filter(|s| {
        strip_fragment(&s.url) == strip_fragment(&at.u)
            && (s.start_line, s.start_column) <= (line, col)
            && (line, col) <= (s.end_line, s.end_column.max(col))
            && index_of.contains_key(s.script_id.inner())
    }) {
        let same_frame = o.contexts.get(s.execution_context_id.inner()).map(|(f, _)| f == &frame).unwrap_or(false);
        if best.map_or(true, |(_, sf)| same_frame || !sf) {
            best = Some((s, same_frame));
        }
    }
    best.and_then(|(s, _)| index_of.get(s.script_id.inner()).copied())
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
            script_url: Some(a.s.u.clone()),
            script_index: script_at(o, &a.s, *ctx, index_of),
            main_frame: frame == main_frame,
        });
    }
    out
}
