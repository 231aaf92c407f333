//! Journeys: the configured steps (`[[page.step]]`) that bring the browser from a page's `url`
//! to its payment form — add to cart, go to the checkout, give an e-mail, log in, continue to
//! the payment step — run after `load` and before the shopper, in the same tab and context.
//!
//! Each step is an action (goto, click, fill, select, check, press) with real input events,
//! then an optional wait (a visible element, a URL pattern, network idle), all within the
//! step's `timeout`; a step that fails makes the capture fail with an error naming the step
//! and its action, so a journey that no longer reaches the payment form is a scan error and
//! never a comparison of the wrong page. While the steps run, the known platforms' order
//! requests are blocked (the steps themselves must navigate and post).
//!
//! Which scripts are the page's: those of the document the journey ends on (the one holding
//! the payment form) and its frames. A step that navigates leaves a document behind; its
//! execution contexts are marked (`left_behind`) and its scripts are counted, not
//! inventoried. The network watch (canary, hosts, behaviour) covers the whole journey.

use super::shopper::{evaluate, key_of, pause, FrameCtx, Shopper};
use super::{Capture, CaptureError};
use crate::model::{JourneyStep, ShopperField, StepAction, StepRecord, StepValue, StepWait};
use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
use chromiumoxide::cdp::browser_protocol::page::{CaptureScreenshotFormat, NavigateParams};
use chromiumoxide::page::ScreenshotParams;
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The longest wait after an action for the page to go quiet before the step's own wait (a
/// click may start a navigation or a request a moment later).
const AFTER_ACTION_MAX: Duration = Duration::from_secs(3);
/// The network counts as idle after this long with nothing in flight.
const IDLE: Duration = Duration::from_millis(500);
/// Longest URL or reason kept in a step's record, in characters.
const MAX_RECORD_CHARS: usize = 500;
/// How often a wait looks at the page again.
const POLL: Duration = Duration::from_millis(100);

/// What a journey produced: how each step went, and the values of environment variables it
/// typed (secrets, masked in the snapshot afterwards).
#[derive(Debug, Default)]
pub(super) struct Walked {
    pub(super) steps: Vec<StepRecord>,
    pub(super) secrets: Vec<String>,
}

impl Capture<'_> {
    /// Runs the page's journey, step by step; the first failing step ends it with
    /// [`CaptureError::Step`].
    pub(super) async fn walk(&self, shopper: &Shopper<'_>, walked: &mut Walked) -> Result<(), CaptureError> {
        let steps = &self.opts.steps;
        if steps.is_empty() {
            return Ok(());
        }
        let blocked = shopper.block_orders_on_journey(Default::default()).await;
        let result = self.walk_steps(shopper, steps, walked).await;
        if blocked.is_ok() {
            shopper.stop_blocking().await;
        }
        drop(blocked);
        result
    }

    async fn walk_steps(
        &self,
        shopper: &Shopper<'_>,
        steps: &[JourneyStep],
        walked: &mut Walked,
    ) -> Result<(), CaptureError> {
        for (i, step) in steps.iter().enumerate() {
            let number = i + 1;
            let action = describe(step);
            let started = Instant::now();
            let outcome = self.run_step(shopper, step, &mut walked.secrets).await;
            // The URL and the reason carry page text (a page can push a 2 MB URL): masked
            // first, so that a cut never leaves part of a secret, then cut to one short line.
            let mut url = self.current_url();
            mask(&mut url, &walked.secrets);
            let url = crate::text::one_line(&url, MAX_RECORD_CHARS);
            let ms = started.elapsed().as_millis() as u64;
            let outcome = outcome.map_err(|mut reason| {
                mask(&mut reason, &walked.secrets);
                crate::text::one_line(&reason, MAX_RECORD_CHARS)
            });
            tracing::info!(page = %self.url, step = number, %action, %url, ms, ok = outcome.is_ok(), "journey step");
            let record =
                |outcome: String| StepRecord { step: number, action: action.clone(), url: url.clone(), ms, outcome };
            if let Some(dir) = &self.opts.step_screenshots {
                self.screenshot(&dir.join(format!("step-{number:02}.png"))).await;
            }
            match outcome {
                Ok(()) => walked.steps.push(record("ok".into())),
                Err(reason) => {
                    walked.steps.push(record(reason.clone()));
                    let done = std::mem::take(&mut walked.steps);
                    return Err(CaptureError::Step { url: self.url.to_string(), step: number, action, reason, done });
                }
            }
        }
        Ok(())
    }

    /// Writes what the tab shows to `path` (PNG); a failure is logged, not the step's.
    async fn screenshot(&self, path: &std::path::Path) {
        let params = ScreenshotParams::builder().format(CaptureScreenshotFormat::Png).build();
        match self.page.screenshot(params).await {
            Ok(png) => {
                if let Err(e) = std::fs::write(path, png) {
                    tracing::warn!(path = %path.display(), "could not write the step's screenshot: {e}");
                }
            }
            Err(e) => tracing::warn!(path = %path.display(), "could not take the step's screenshot: {e}"),
        }
    }

    /// The top document's URL as the recorder last saw it.
    fn current_url(&self) -> String {
        let o = self.recorder.lock();
        o.main_frame.as_ref().and_then(|m| o.frames.get(m)).map(|(u, _)| u.clone()).unwrap_or_default()
    }

    /// One step: its action, then (if the action led to another document) that document's
    /// load, then its wait; all before the step's deadline.
    async fn run_step(
        &self,
        shopper: &Shopper<'_>,
        step: &JourneyStep,
        secrets: &mut Vec<String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + step.timeout;
        let secs = step.timeout.as_secs_f64();
        let (docs_before, contexts_before, document_before) = {
            let mut o = self.recorder.lock();
            // Cleared so that the next top document's response is recorded as the page's.
            let document = o.main_document.take();
            o.load_fired = false;
            (o.main_doc_requests, o.contexts.keys().copied().collect::<HashSet<i64>>(), document)
        };
        // The action's own waits end at the deadline with their own message; this bound is for
        // a browser that stops answering.
        let bound = deadline + Duration::from_secs(2);
        let acted = tokio::time::timeout_at(bound.into(), self.act(shopper, step, deadline, secrets)).await;
        let acted = acted.unwrap_or_else(|_| Err(format!("not done within {secs:.0} s")));
        // A click or a key may start a navigation or a request a moment later.
        if acted.is_ok() && !matches!(step.action, StepAction::Wait | StepAction::Goto(_)) {
            let now = Instant::now();
            let until = (now + AFTER_ACTION_MAX).min(deadline);
            self.recorder.settle(self.url, now, now + Duration::from_millis(300), until).await;
        }
        let navigated = self.recorder.lock().main_doc_requests != docs_before;
        let loaded = if navigated && acted.is_ok() { self.wait_for_new_document(deadline, secs).await } else { Ok(()) };
        {
            let mut o = self.recorder.lock();
            if navigated {
                // The documents the step left: their contexts (with every frame's) are gone.
                o.left_behind.extend(contexts_before);
            } else {
                o.load_fired = true;
            }
            if o.main_document.is_none() {
                o.main_document = document_before;
            }
        }
        acted?;
        loaded?;
        match &step.wait {
            Some(wait) => self.wait(shopper, wait, deadline, secs).await,
            None => Ok(()),
        }
    }

    /// After a navigating step: the new top document must load and answer below 400.
    async fn wait_for_new_document(&self, deadline: Instant, secs: f64) -> Result<(), String> {
        loop {
            let notified = self.recorder.activity().notified();
            {
                let o = self.recorder.lock();
                if let Some((status, _, url)) = &o.main_document {
                    if *status >= 400 {
                        return Err(format!("{url} answered HTTP {status}"));
                    }
                    if o.load_fired {
                        return Ok(());
                    }
                }
            }
            if tokio::time::timeout_at(deadline.into(), notified).await.is_err() {
                return Err(format!("the page it led to did not load within {secs:.0} s"));
            }
        }
    }

    async fn act(
        &self,
        shopper: &Shopper<'_>,
        step: &JourneyStep,
        deadline: Instant,
        secrets: &mut Vec<String>,
    ) -> Result<(), String> {
        match &step.action {
            StepAction::Wait => Ok(()),
            StepAction::Goto(target) => self.goto(target).await,
            StepAction::Click(sel) => {
                let frame = self.visible(shopper, sel, deadline).await?;
                shopper.click_element(&frame, &element(sel)).await.map_err(|e| format!("{sel}: {e}"))
            }
            StepAction::Fill(pairs) => {
                for (sel, value) in pairs {
                    let value = self.value_of(value, secrets)?;
                    let frame = self.visible(shopper, sel, deadline).await?;
                    self.type_into(shopper, &frame, sel, &value).await.map_err(|e| format!("{sel}: {e}"))?;
                }
                Ok(())
            }
            StepAction::Select(pairs) => {
                for (sel, value) in pairs {
                    let value = self.value_of(value, secrets)?;
                    let frame = self.visible(shopper, sel, deadline).await?;
                    self.choose(shopper, &frame, sel, &value).await?;
                }
                Ok(())
            }
            StepAction::Check(sel) => {
                let frame = self.visible(shopper, sel, deadline).await?;
                self.check(shopper, &frame, sel).await
            }
            StepAction::Press(key) => shopper.press_key(key).await.map_err(|e| format!("key {key}: {e}")),
        }
    }

    /// `goto`: a URL or a path relative to the current document; http(s) only.
    async fn goto(&self, target: &str) -> Result<(), String> {
        let base = self.current_url();
        let base = url::Url::parse(&base).or_else(|_| url::Url::parse(self.url)).map_err(|e| e.to_string())?;
        let url = base.join(target).map_err(|e| format!("{target:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{url} is not an http(s) URL"));
        }
        let nav = self.page.execute(NavigateParams::new(url.as_str())).await;
        match nav {
            Ok(nav) => match nav.result.error_text.as_deref().filter(|e| !e.is_empty()) {
                Some(err) => Err(format!("{url} did not load: {err}")),
                None => Ok(()),
            },
            // chromiumoxide answers only once every frame has loaded: the new document's load
            // is awaited by the step either way.
            Err(chromiumoxide::error::CdpError::Timeout) => Ok(()),
            Err(e) => Err(format!("{url}: {e}")),
        }
    }

    /// The text a step types: literal, the shopper's, or an environment variable's (kept in
    /// `secrets`, to be masked).
    pub(super) fn value_of(&self, value: &StepValue, secrets: &mut Vec<String>) -> Result<String, String> {
        let p = &self.persona;
        Ok(match value {
            StepValue::Text(t) => t.clone(),
            StepValue::Shopper(field) => match field {
                ShopperField::Email => p.email.clone(),
                ShopperField::GivenName => p.given.clone(),
                ShopperField::FamilyName => p.family.clone(),
                ShopperField::Name => format!("{} {}", p.given, p.family),
                ShopperField::Street => p.street.clone(),
                ShopperField::City => p.city.clone(),
                ShopperField::Postcode => p.postal.clone(),
                ShopperField::Phone => p.tel.clone(),
                ShopperField::Country => super::persona::COUNTRY[0].to_string(),
            },
            StepValue::Env(name) => {
                let v = std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))?;
                if !v.is_empty() && !secrets.contains(&v) {
                    secrets.push(v.clone());
                }
                v
            }
        })
    }

    /// The top document's main world, as it is now (a navigation makes a new one).
    fn main_world(&self, shopper: &Shopper<'_>) -> Option<FrameCtx> {
        shopper.frames().into_iter().find(|f| f.is_main)
    }

    /// Waits until an element matching `sel` is in the top document and visible; returns the
    /// frame to act in.
    async fn visible(&self, shopper: &Shopper<'_>, sel: &str, deadline: Instant) -> Result<FrameCtx, String> {
        let mut last = "absent";
        loop {
            if let Some(frame) = self.main_world(shopper) {
                match self.eval_str(&frame, &format!("{}", Probe::Visible(sel))).await.as_deref() {
                    Some("visible") => return Ok(frame),
                    Some("invalid") => return Err(format!("{sel:?} is not a valid CSS selector")),
                    Some("hidden") => last = "hidden",
                    _ => {}
                }
            }
            if Instant::now() + POLL >= deadline {
                let why = if last == "hidden" { "is on the page but never became visible" } else { "never appeared" };
                return Err(format!("{sel:?} {why}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn eval_str(&self, frame: &FrameCtx, code: &str) -> Option<String> {
        let v = evaluate(self.page, frame.context, &self.own.mark(code)).await?;
        v.as_str().map(str::to_string)
    }

    /// Clicks into the field, empties it and types `value` key by key (characters without a
    /// key of their own are inserted as text, like an IME).
    async fn type_into(&self, shopper: &Shopper<'_>, frame: &FrameCtx, sel: &str, value: &str) -> Result<(), String> {
        let el = element(sel);
        shopper.click_element(frame, &el).await?;
        pause(30, 80).await;
        let focused = format!("(() => {{ const el = {el}; if (!el) return 'gone'; if (document.activeElement !== el) return 'blurred'; if (el.value) {{ el.value = ''; el.dispatchEvent(new Event('input', {{ bubbles: true }})); }} return 'ok'; }})()");
        if self.eval_str(frame, &focused).await.as_deref() != Some("ok") {
            shopper.focus_by_dom(frame, &el).await?;
            self.eval_str(frame, &focused).await;
        }
        for c in value.chars() {
            if key_of(c).1.is_empty() {
                self.page.execute(InsertTextParams::new(c.to_string())).await.map_err(|e| format!("typing: {e}"))?;
            } else {
                shopper.key(c).await.map_err(|e| format!("typing: {e}"))?;
            }
        }
        Ok(())
    }

    /// Chooses the option whose value or visible text is `value`, with `input` and `change`.
    async fn choose(&self, shopper: &Shopper<'_>, frame: &FrameCtx, sel: &str, value: &str) -> Result<(), String> {
        let el = element(sel);
        shopper.focus_by_dom(frame, &el).await.map_err(|e| format!("{sel}: {e}"))?;
        let wanted = serde_json::to_string(value).unwrap_or_default();
        let code = format!(
            "(() => {{ const el = {el}; if (!el || !el.options) return 'not a select'; const want = {wanted}; \
             const i = Array.from(el.options).findIndex(o => o.value === want || o.text.trim() === want); \
             if (i < 0) return 'no option'; el.selectedIndex = i; \
             el.dispatchEvent(new Event('input', {{ bubbles: true }})); el.dispatchEvent(new Event('change', {{ bubbles: true }})); return 'ok'; }})()"
        );
        match self.eval_str(frame, &code).await.as_deref() {
            Some("ok") => Ok(()),
            Some("no option") => Err(format!("{sel:?} has no option {value:?} (by value or text)")),
            Some(other) => Err(format!("{sel:?}: {other}")),
            None => Err(format!("{sel:?}: the page did not answer")),
        }
    }

    /// Checks a checkbox or radio with a click on it (or its label when it is hidden).
    async fn check(&self, shopper: &Shopper<'_>, frame: &FrameCtx, sel: &str) -> Result<(), String> {
        let el = element(sel);
        let checked = format!("(() => {{ const el = {el}; return el && el.checked ? 'yes' : 'no'; }})()");
        if self.eval_str(frame, &checked).await.as_deref() == Some("yes") {
            return Ok(());
        }
        let target = format!(
            "(() => {{ const el = {el}; if (!el) return null; const r = el.getBoundingClientRect(); return r.width >= 2 && r.height >= 2 ? el : (el.labels && el.labels[0]) || el; }})()"
        );
        let clicked = shopper.click_element(frame, &target).await;
        pause(30, 80).await;
        if self.eval_str(frame, &checked).await.as_deref() == Some("yes") {
            return Ok(());
        }
        Err(format!("{sel:?} could not be checked{}", clicked.err().map(|e| format!(" ({e})")).unwrap_or_default()))
    }

    /// The step's wait, until `deadline`.
    async fn wait(&self, shopper: &Shopper<'_>, wait: &StepWait, deadline: Instant, secs: f64) -> Result<(), String> {
        match wait {
            StepWait::Selector(sel) => {
                self.visible(shopper, sel, deadline).await.map(|_| ()).map_err(|e| format!("{e} within {secs:.0} s"))
            }
            StepWait::Url(pattern) => {
                let mut last = String::new();
                loop {
                    if let Some(frame) = self.main_world(shopper) {
                        if let Some(href) = self.eval_str(&frame, "location.href").await {
                            if url_matches(pattern, &href) {
                                return Ok(());
                            }
                            last = href;
                        }
                    }
                    if Instant::now() + POLL >= deadline {
                        return Err(format!("the URL never matched {pattern:?} within {secs:.0} s (last: {last})"));
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
            StepWait::NetworkIdle => {
                let now = Instant::now();
                self.recorder.settle(self.url, now, now, deadline).await;
                loop {
                    let (quiet_since, idle) = self.recorder.quiet_since(now);
                    let now = Instant::now();
                    if idle && now >= quiet_since + IDLE {
                        return Ok(());
                    }
                    if now + POLL >= deadline {
                        return Err(format!("the network never went idle within {secs:.0} s"));
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }
}

/// `document.querySelector("sel")` as a JavaScript expression (the selector JSON-quoted).
fn element(sel: &str) -> String {
    format!("document.querySelector({})", serde_json::to_string(sel).unwrap_or_else(|_| "''".into()))
}

/// JavaScript probes a wait evaluates in the top document.
enum Probe<'a> {
    /// `visible`, `hidden`, `absent` or `invalid` (not a CSS selector).
    Visible(&'a str),
}

impl std::fmt::Display for Probe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Visible(sel) => {
                let q = serde_json::to_string(sel).unwrap_or_else(|_| "''".into());
                write!(
                    f,
                    "(() => {{ let el; try {{ el = document.querySelector({q}); }} catch (e) {{ return 'invalid'; }} if (!el) return 'absent'; const r = el.getBoundingClientRect(); return el.getClientRects().length && r.width > 0 && r.height > 0 ? 'visible' : 'hidden'; }})()"
                )
            }
        }
    }
}

/// The step as configured, for records and messages: `click "x"; wait_for "y"`.
pub(super) fn describe(step: &JourneyStep) -> String {
    match (&step.action, &step.wait) {
        (StepAction::Wait, Some(w)) => w.to_string(),
        (a, Some(w)) => format!("{a}; {w}"),
        (a, None) => a.to_string(),
    }
}

/// Whether `url` matches a `wait_for_url` pattern: `*` is any run of characters; a pattern
/// starting with `/` is matched against the path and query only.
pub fn url_matches(pattern: &str, url: &str) -> bool {
    let subject = if pattern.starts_with('/') {
        match url::Url::parse(url) {
            Ok(u) => {
                let mut s = u.path().to_string();
                if let Some(q) = u.query() {
                    s.push('?');
                    s.push_str(q);
                }
                s
            }
            Err(_) => return false,
        }
    } else {
        url.to_string()
    };
    crate::config::wildcard_match(pattern, &subject)
}

/// Replaces every occurrence of each secret (as typed, and percent- or form-encoded) in `text`.
pub(super) fn mask(text: &mut String, secrets: &[String]) {
    for secret in secrets {
        let encoded = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string();
        let form = encoded.replace("%20", "+");
        for form in [secret.as_str(), encoded.as_str(), form.as_str()] {
            if !form.is_empty() && text.contains(form) {
                *text = text.replace(form, "[secret]");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_patterns() {
        assert!(url_matches("/checkout/*", "https://s.example/checkout/#payment"));
        assert!(url_matches("*/checkout/", "https://s.example/checkout/"));
        assert!(!url_matches("/checkout/", "https://s.example/checkout/cart/"));
        assert!(url_matches("https://s.example/*/success*", "https://s.example/m2/success?x=1"));
        assert!(!url_matches("https://other.example/*", "https://s.example/a"));
        assert!(url_matches("*", "anything"));
        let long = format!("https://s.example/{}", "a*".repeat(10_000));
        assert!(!url_matches("*b*c*d*e*f*", &long));
    }

    #[test]
    fn secrets_are_masked_plain_and_encoded() {
        let secrets = vec!["p@ss word&1".to_string()];
        let mut t = "a=p@ss word&1 b=p%40ss%20word%261 c=p%40ss+word%261".to_string();
        mask(&mut t, &secrets);
        assert_eq!(t, "a=[secret] b=[secret] c=[secret]");
    }

    #[test]
    fn steps_are_described_as_configured() {
        let step = JourneyStep {
            action: StepAction::Fill(vec![("#pass".into(), StepValue::Env("SHOP_PASSWORD".into()))]),
            wait: Some(StepWait::Selector("#ok".into())),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(describe(&step), "fill { \"#pass\" = {env.SHOP_PASSWORD} }; wait_for \"#ok\"");
    }
}
