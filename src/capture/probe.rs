//! The probe: after the page settled, [`probe_frames`] runs `js/probe.js` in each frame's main
//! world and collects what only the DOM knows — the text and id of inline script blocks, the
//! event-handler attributes, and the fields that look like payment fields — and counts the
//! matches of the configured payment-field selectors.

use super::events::Observed;
use super::shopper;
use super::stealth::Own;
use super::CaptureError;
use crate::model::PaymentField;
use chromiumoxide::cdp::js_protocol::runtime::{EvaluateParams, ExecutionContextId};
use chromiumoxide::Page;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Marker our own evaluated code carries, so it is never reported as a page script.
const PROBE_URL: &str = "__skimwatch_probe__.js";

/// Runs in each frame's main world after the page settled. Bounded: at most 20 000 elements.
/// Ends with `//# sourceURL=` [`PROBE_URL`], replaced by the scan's own marker.
const PROBE_JS: &str = include_str!("js/probe.js");

/// What the in-page probe reports for one frame.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FrameFacts {
    pub(super) url: String,
    pub(super) inline: Vec<InlineFact>,
    pub(super) handlers: Vec<HandlerFact>,
    pub(super) fields: Vec<FieldFact>,
}

#[derive(Debug, Deserialize)]
pub(super) struct InlineFact {
    pub(super) text: String,
    pub(super) id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct HandlerFact {
    pub(super) ctx: String,
    pub(super) value: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct FieldFact {
    pub(super) selector: String,
    pub(super) reason: String,
}

/// What the probe found in all frames.
#[derive(Debug, Default)]
pub(super) struct Probed {
    /// Frame id → the probe's report for it.
    pub(super) facts: HashMap<String, FrameFacts>,
    /// Configured selector → matches in all frames (-1: not a valid CSS selector).
    configured: BTreeMap<String, i64>,
    /// (frame id, selector) for each frame a configured selector matched in.
    configured_fields: Vec<(String, String)>,
}

/// Probes each `(execution context, frame id)`, the frames' main worlds.
pub(super) async fn probe_frames(
    page: &Page,
    url: &str,
    own: &Own,
    selectors: &[String],
    contexts: Vec<(i64, String)>,
) -> Result<Probed, CaptureError> {
    let mut probed = Probed { configured: selectors.iter().map(|s| (s.clone(), 0)).collect(), ..Probed::default() };
    let probe_js = own.remember(PROBE_JS.replace(PROBE_URL, &own.marker));
    for (ctx, frame) in contexts {
        // Configured payment-field selectors: count matches per frame.
        if !selectors.is_empty() {
            if let Some(ff) = shopper::frame_fields(page, own, ctx, selectors).await {
                probed.count_configured(&frame, ff.configured);
            }
        }
        if let Some(f) = run_probe(page, url, ctx, &probe_js).await? {
            probed.facts.insert(frame, f);
        }
    }
    Ok(probed)
}

/// The probe's report for one context, or `None` when the context is gone (the frame
/// navigated away) or answered nonsense.
async fn run_probe(page: &Page, url: &str, ctx: i64, probe_js: &str) -> Result<Option<FrameFacts>, CaptureError> {
    let params = EvaluateParams::builder()
        .expression(probe_js)
        .context_id(ExecutionContextId::new(ctx))
        .return_by_value(true)
        .build()
        .map_err(|e| CaptureError::Browser { url: url.to_string(), reason: e })?;
    let Ok(Ok(res)) = tokio::time::timeout(Duration::from_secs(5), page.execute(params)).await else {
        return Ok(None);
    };
    Ok(res
        .result
        .result
        .value
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(|text| crate::text::parse_page_json::<FrameFacts>(text).ok()))
}

impl Probed {
    /// Adds one frame's match counts of the configured selectors.
    fn count_configured(&mut self, frame: &str, counts: BTreeMap<String, i64>) {
        for (sel, n) in counts {
            if n > 0 {
                self.configured_fields.push((frame.to_string(), sel.clone()));
            }
            let total = self.configured.entry(sel).or_insert(0);
            if n < 0 {
                *total = (*total).min(-1);
            } else if *total >= 0 {
                *total += n;
            }
        }
    }

    /// The payment fields found, main frame first, then the configured selectors that
    /// matched (as `configured`) where the probe did not already list them.
    pub(super) fn payment_fields(&self, o: &Observed, main_frame: &str, final_url: &str) -> Vec<PaymentField> {
        let mut payment_fields = Vec::new();
        for id in
            std::iter::once(main_frame).chain(o.frame_order.iter().map(String::as_str).filter(|f| *f != main_frame))
        {
            if let Some(f) = self.facts.get(id) {
                for field in &f.fields {
                    payment_fields.push(PaymentField {
                        frame_url: f.url.clone(),
                        selector: field.selector.clone(),
                        reason: field.reason.clone(),
                    });
                }
            }
        }
        for (frame, sel) in &self.configured_fields {
            let frame_url = o.frames.get(frame).map(|(u, _)| u.clone()).unwrap_or_else(|| final_url.to_string());
            if !payment_fields.iter().any(|p: &PaymentField| p.frame_url == frame_url && p.selector == *sel) {
                payment_fields.push(PaymentField { frame_url, selector: sel.clone(), reason: "configured".into() });
            }
        }
        payment_fields
    }

    /// Configured selectors that matched nothing (or are not valid CSS), for the report.
    pub(super) fn unmatched_payment_fields(&self) -> Vec<String> {
        self.configured
            .iter()
            .filter(|(_, n)| **n <= 0)
            .map(|(sel, n)| if *n < 0 { format!("{sel} (not a valid CSS selector)") } else { sel.clone() })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_js_keeps_its_marker_placeholder() {
        assert!(PROBE_JS.starts_with("(() => {"));
        // The marker is the last thing in the file, so the replaced one is the sourceURL.
        assert!(PROBE_JS.ends_with("\n//# sourceURL=__skimwatch_probe__.js"));
        assert_eq!(PROBE_JS.matches(PROBE_URL).count(), 1);
    }

    #[test]
    fn configured_selectors_are_counted_over_frames() {
        let mut p = Probed { configured: [("#a".to_string(), 0), ("#b".to_string(), 0)].into(), ..Probed::default() };
        p.count_configured("f1", [("#a".to_string(), 2), ("#b".to_string(), 0)].into());
        p.count_configured("f2", [("#a".to_string(), 1), ("#b".to_string(), -1), ("#c".to_string(), 0)].into());
        assert_eq!(p.configured["#a"], 3);
        assert_eq!(p.configured["#b"], -1);
        assert_eq!(
            p.configured_fields,
            vec![("f1".to_string(), "#a".to_string()), ("f2".to_string(), "#a".to_string())]
        );
        assert_eq!(p.unmatched_payment_fields(), vec!["#b (not a valid CSS selector)".to_string(), "#c".to_string()]);
    }
}
