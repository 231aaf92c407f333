//! The shopper: after load it fills the form field by field in visual order — a mouse click
//! to focus, for card fields one `keyDown`/`keyUp` pair per character at human-like intervals
//! (other fields are filled in one go, like autofill), `Tab` to leave (which blurs) — typing
//! the scan's canary card number into the card number field; in `type-and-submit` mode it then
//! clicks the pay button while requests that would place the order are stopped in the
//! browser (a top-frame navigation answered `204`, a call failed). Skimmers wait for exactly
//! that: keystrokes in the card field, a blur, a click on "Place order". In `complete` mode (the default) it completes the checkout: every
//! field the page offers (selects, the card payment method, the terms box too), then each
//! step's continue button and finally the pay button, pass after pass, with requests that
//! would place the order failed and a short allow-list of step requests
//! ([`STEP_REQUESTS`]) let through so that step-by-step checkouts advance. The browser's
//! disguise and the card-field instrumentation set up before navigation are
//! [`crate::capture::stealth`]'s.

use super::recorder::Recorder;
use super::stealth::{Own, CARD_FIELD_JS};
use crate::capture::canary::Canary;
use crate::capture::persona::Persona;
use crate::model::TypedField;
pub use crate::model::{InteractMode, Profile};
use chromiumoxide::cdp::browser_protocol::dom::{FocusParams, GetBoxModelParams, GetFrameOwnerParams};
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, DisableParams as FetchDisable, EnableParams as FetchEnable, EventRequestPaused,
    FailRequestParams, FulfillRequestParams, RequestPattern, RequestStage,
};
use chromiumoxide::cdp::browser_protocol::input::{
    DispatchKeyEventParams, DispatchKeyEventType, DispatchMouseEventParams, DispatchMouseEventType, InsertTextParams,
    MouseButton,
};
use chromiumoxide::cdp::browser_protocol::network::{ErrorReason, ResourceType};
use chromiumoxide::cdp::browser_protocol::page::FrameId;
use chromiumoxide::cdp::js_protocol::runtime::{EvaluateParams, ExecutionContextId};
use chromiumoxide::Page;
use futures::StreamExt;
use rand::Rng;
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::task::AbortOnDropHandle;

/// `complete`: passes over the page at most (fill, press one button, wait).
const MAX_PASSES: u64 = 8;
/// `complete`: listings of a frame's fields per pass at most (filling can reveal fields, e.g.
/// the card fields of the payment method just chosen).
const MAX_LISTINGS: usize = 3;
/// `complete`: the passes stop starting after this long (the whole interaction is bounded by
/// capture's budget too).
const COMPLETE_BUDGET: Duration = Duration::from_secs(30);
/// After a button press: wait until the page is quiet, at least this long …
const STEP_MIN_WAIT: Duration = Duration::from_millis(300);
/// … and at most this long.
const STEP_MAX_WAIT: Duration = Duration::from_secs(4);
/// Buttons reported at most, problems kept at most.
const MAX_BUTTONS: usize = 20;
const MAX_PROBLEMS: usize = 50;

/// Requests of a step-by-step checkout that save a step without placing the order; in
/// `complete` mode they are let through (a same-origin non-GET request otherwise fails) so the
/// next step opens. Each is the end of the URL's path, or `?key=value` of its query: Magento 1
/// one-page checkout (`saveOrder` stays blocked), WooCommerce (`?wc-ajax=checkout` stays
/// blocked), Magento 2 (`payment-information` stays blocked).
pub const STEP_REQUESTS: [&str; 9] = [
    "/checkout/onepage/saveBilling",
    "/checkout/onepage/saveShipping",
    "/checkout/onepage/saveShippingMethod",
    "/checkout/onepage/savePayment",
    "/checkout/onepage/progress",
    "?wc-ajax=update_order_review",
    "?wc-ajax=update_shipping_method",
    "/estimate-shipping-methods",
    "/shipping-information",
];

/// The platforms' own requests that place the order (always blocked), written like
/// [`STEP_REQUESTS`]: Magento 1 and OneStepCheckout, WooCommerce, Magento 2.
pub const ORDER_REQUESTS: [&str; 5] = [
    "/checkout/onepage/saveOrder",
    "/onestepcheckout/index/saveOrder",
    "?wc-ajax=checkout",
    "/payment-information",
    "/set-payment-information",
];

/// Whether `url` is one of the [`STEP_REQUESTS`].
pub fn is_step_request(url: &str) -> bool {
    matches_any(url, &STEP_REQUESTS)
}

/// Whether `url` is one of the [`STEP_REQUESTS`] or [`ORDER_REQUESTS`]: a request by which a
/// checkout platform sends the card to its own server.
pub fn is_platform_request(url: &str) -> bool {
    matches_any(url, &STEP_REQUESTS) || matches_any(url, &ORDER_REQUESTS)
}

fn matches_any(url: &str, list: &[&str]) -> bool {
    let Ok(u) = url::Url::parse(url) else { return false };
    let path = u.path().trim_end_matches('/');
    list.iter().any(|s| match s.strip_prefix('?') {
        Some(pair) => u.query_pairs().any(|(k, v)| pair.split_once('=') == Some((k.as_ref(), v.as_ref()))),
        None => path.ends_with(s),
    })
}

/// Lists fillable fields and the pay button of one frame. Runs in the frame's main world;
/// `__CONFIG__` is replaced by the selectors (JSON), `__CARD_FIELD_JS__` by [`CARD_FIELD_JS`].
const FIELDS_JS: &str = include_str!("js/fields.js");

#[derive(Debug, Clone, Deserialize)]
pub struct FrameFields {
    pub url: String,
    pub fields: Vec<FieldInfo>,
    #[serde(default)]
    pub configured: std::collections::BTreeMap<String, i64>,
    pub submit: Option<ButtonInfo>,
    /// `complete`: the step and pay buttons, in document order.
    #[serde(default)]
    pub buttons: Vec<StepButton>,
}

/// A button of a checkout step (`kind` `step`) or the pay button (`pay`).
#[derive(Debug, Clone, Deserialize)]
pub struct StepButton {
    pub index: usize,
    pub selector: String,
    pub label: String,
    pub kind: String,
    pub y: f64,
    pub x: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldInfo {
    pub index: usize,
    pub selector: String,
    pub kind: String,
    pub card: bool,
    pub empty: bool,
    pub max: i64,
    pub y: f64,
    pub x: f64,
    /// `select`: the option to choose (index).
    #[serde(default)]
    pub option: Option<usize>,
    /// `select`: why no option is chosen.
    #[serde(default)]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ButtonInfo {
    pub index: usize,
    pub selector: String,
}

/// A frame the shopper can act in: its main-world execution context.
#[derive(Debug, Clone)]
pub struct FrameCtx {
    pub context: i64,
    pub frame_id: String,
    pub is_main: bool,
}

/// What the shopper needs.
pub struct Shopper<'a> {
    pub page: &'a Page,
    pub own: &'a Own,
    pub canary: &'a Canary,
    /// The shopper's name, email and address (per scan, like the canary).
    pub persona: &'a Persona,
    pub mode: InteractMode,
    pub selectors: &'a [String],
    /// The page's origin (`http://host:port`): non-GET requests to it are blocked on submit.
    pub page_origin: String,
    /// The record of the capture: which frames exist now, and when the page is quiet.
    pub(super) recorder: &'a Recorder,
    pub(super) main_frame_id: &'a str,
}

/// The outcome of the interaction.
#[derive(Debug, Default)]
pub struct Acted {
    pub fields_typed: Vec<TypedField>,
    /// `complete`: every field set (typed, selected, checked).
    pub fields_filled: Vec<TypedField>,
    /// `complete`: `selector "label"` of each button pressed.
    pub buttons_pressed: Vec<String>,
    pub passes: u64,
    pub submitted: bool,
    pub problems: Vec<String>,
    /// Requests failed so that no order is placed (filled in while the page lives on).
    pub blocked: Arc<Mutex<Vec<String>>>,
    /// Answers paused requests until dropped.
    pub blocker: Option<AbortOnDropHandle<()>>,
    /// Times the card fields were typed again for late code.
    pub retyped: u64,
}

/// Lists the fields of one frame (also used after the scan to check configured selectors).
pub async fn frame_fields(page: &Page, own: &Own, context: i64, selectors: &[String]) -> Option<FrameFields> {
    list_fields(page, own, context, serde_json::json!({ "selectors": selectors })).await
}

async fn list_fields(page: &Page, own: &Own, context: i64, config: serde_json::Value) -> Option<FrameFields> {
    let code =
        own.mark(&FIELDS_JS.replace("__CARD_FIELD_JS__", CARD_FIELD_JS).replace("__CONFIG__", &config.to_string()));
    let text = evaluate(page, context, &code).await?;
    crate::text::parse_page_json(text.as_str()?).ok()
}

pub(super) async fn evaluate(page: &Page, context: i64, code: &str) -> Option<serde_json::Value> {
    let params = EvaluateParams::builder()
        .expression(code)
        .context_id(ExecutionContextId::new(context))
        .return_by_value(true)
        .await_promise(true)
        .build()
        .ok()?;
    let res = tokio::time::timeout(Duration::from_secs(5), page.execute(params)).await.ok()?.ok()?;
    if res.result.exception_details.is_some() {
        return None;
    }
    res.result.result.value.clone()
}

/// A field to fill: its place on the page (y, x), its frame, the field, the frame's URL.
type Planned = (f64, f64, FrameCtx, FieldInfo, String);

/// The card brand of a number, as card type `select`s name it (by issuer prefix).
fn brand_of(digits: &str) -> &'static str {
    let two: u32 = digits.get(..2).and_then(|d| d.parse().ok()).unwrap_or(0);
    let four: u32 = digits.get(..4).and_then(|d| d.parse().ok()).unwrap_or(0);
    match two {
        _ if digits.starts_with('4') => "visa",
        34 | 37 => "amex",
        35 => "jcb",
        51..=55 | 22..=27 => "mastercard",
        _ if four == 6011 || two == 65 || (644..=649).contains(&(four / 10)) => "discover",
        _ => "visa",
    }
}

/// The expiry typed and chosen everywhere: December, three years ahead.
fn expiry_year() -> i32 {
    time::OffsetDateTime::now_utc().year() + 3
}

impl Shopper<'_> {
    /// Fills the form (and submits it in `type-and-submit` mode, completes the checkout in
    /// `complete` mode) into `acted`, so what was done is kept when the budget runs out.
    pub async fn run(&self, acted: &mut Acted) {
        if self.mode == InteractMode::None {
            return;
        }
        let cvc = self.new_cvc();
        if self.mode == InteractMode::Complete {
            return self.complete(acted, &cvc).await;
        }
        let frames = self.frames();
        let (plan, submit, _) = self.plan(&frames).await;
        for planned in &plan {
            self.fill_planned(acted, planned, &cvc).await;
        }
        if self.mode == InteractMode::TypeAndSubmit {
            self.submit(acted, submit).await;
        }
    }

    /// A security code for the canary card (American Express has four digits).
    fn new_cvc(&self) -> String {
        let len = if brand_of(self.canary.digits()) == "amex" { 4 } else { 3 };
        let mut rng = rand::rng();
        (0..len).map(|_| char::from(b'0' + rng.random_range(1..10u8))).collect()
    }

    /// For code that arrived after the typing (a delayed tag, a late frame): types every card
    /// field again, emptied first, so that a skimmer listening for input from now on hears
    /// it. Returns how many fields were typed.
    pub(super) async fn retype_card_fields(&self, acted: &mut Acted) -> usize {
        let cvc = self.new_cvc();
        let frames = self.frames();
        let (plan, _, _) = self.plan_where(&frames, |f| f.card && f.kind != "select").await;
        let mut typed = 0;
        for planned in &plan {
            let (_, _, frame, field, _) = planned;
            let el = format!("document.querySelectorAll('input, select, textarea')[{}]", field.index);
            let empty = self.own.mark(&format!(
                "(() => {{ const el = {el}; if (el && el.value) {{ el.value = ''; el.dispatchEvent(new Event('input', {{ bubbles: true }})); }} return !!el; }})()"
            ));
            if evaluate(self.page, frame.context, &empty).await.and_then(|v| v.as_bool()) != Some(true) {
                continue;
            }
            let mut field = field.clone();
            field.empty = true;
            let planned = (planned.0, planned.1, frame.clone(), field, planned.4.clone());
            let before = acted.fields_typed.len();
            if self.fill_planned(acted, &planned, &cvc).await {
                typed += 1;
                // Named once in the report: the field was typed before.
                acted.fields_typed.truncate(before);
                if self.mode == InteractMode::Complete {
                    acted.fields_filled.pop();
                }
            }
        }
        typed
    }

    /// The frames the shopper can act in, as they are now.
    pub(super) fn frames(&self) -> Vec<FrameCtx> {
        super::shopper_frames(&self.recorder.lock(), self.main_frame_id)
    }

    /// `complete`: pass after pass, fill what is empty (until filling reveals nothing new),
    /// then press the first step button not pressed yet, else the pay button, and wait for
    /// the page to go quiet. Stops after the pay button, when there is nothing to press, after
    /// [`MAX_PASSES`] or [`COMPLETE_BUDGET`].
    async fn complete(&self, acted: &mut Acted, cvc: &str) {
        let deadline = Instant::now() + COMPLETE_BUDGET;
        // Fields that could not be filled are not tried again (frame, selector, index).
        let mut failed: std::collections::BTreeSet<(String, String, usize)> = Default::default();
        let mut pressed: Vec<String> = Vec::new();
        // The last step button pressed, to tell whether it advanced.
        let mut last_step: Option<String> = None;
        for pass in 1..=MAX_PASSES {
            acted.passes = pass;
            let mut buttons = Vec::new();
            let mut frames = Vec::new();
            let mut filled_any = false;
            for _ in 0..MAX_LISTINGS {
                frames = self.frames();
                let (plan, _, found) = self.plan(&frames).await;
                buttons = found;
                let plan: Vec<Planned> = plan
                    .into_iter()
                    .filter(|p| !failed.contains(&(p.2.frame_id.clone(), p.3.selector.clone(), p.3.index)))
                    .collect();
                if plan.is_empty() {
                    break;
                }
                for planned in &plan {
                    if !self.fill_planned(acted, planned, cvc).await {
                        failed.insert((planned.2.frame_id.clone(), planned.3.selector.clone(), planned.3.index));
                    } else {
                        filled_any = true;
                    }
                }
            }
            // Selector and label are page text (an id may be megabytes): both cut, char-safely.
            let key = |b: &StepButton| {
                format!("{} \"{}\"", crate::text::label(&b.selector, 200), crate::text::label(&b.label, 60))
            };
            if let Some(step) = last_step.take() {
                if !filled_any && buttons.iter().any(|b| key(b) == step) {
                    self.problem(acted, format!("step button {step} did not advance"));
                }
            }
            if Instant::now() >= deadline {
                self.problem(acted, format!("checkout not completed within {} s", COMPLETE_BUDGET.as_secs()));
                break;
            }
            let next = buttons
                .iter()
                .find(|b| b.kind == "step" && !pressed.contains(&key(b)))
                .or_else(|| buttons.iter().find(|b| b.kind == "pay" && !pressed.contains(&key(b))));
            let Some(button) = next.cloned() else {
                if pressed.is_empty() {
                    self.problem(acted, "no step or pay button found".into());
                }
                break;
            };
            if acted.blocker.is_none() {
                // Without the block a press could place a real order: do not press.
                self.problem(acted, format!("not pressed: {}: order requests are not blocked", key(&button)));
                break;
            }
            let Some(main) = frames.iter().find(|f| f.is_main) else { break };
            let el = format!("document.querySelectorAll('*')[{}]", button.index);
            if let Err(p) = self.click_element(main, &el).await {
                self.problem(acted, format!("button {}: {p}", key(&button)));
                pressed.push(key(&button));
                continue;
            }
            pressed.push(key(&button));
            if acted.buttons_pressed.len() < MAX_BUTTONS {
                acted.buttons_pressed.push(key(&button));
            }
            // The page answers a press with requests, scripts, a new section: wait for quiet.
            let now = Instant::now();
            self.recorder.settle(&self.page_origin, now, now + STEP_MIN_WAIT, now + STEP_MAX_WAIT).await;
            if button.kind == "pay" {
                acted.submitted = true;
                break;
            }
            last_step = Some(key(&button));
        }
    }

    fn problem(&self, acted: &mut Acted, problem: String) {
        if acted.problems.len() < MAX_PROBLEMS {
            acted.problems.push(problem);
        }
    }

    /// Fills one planned field and notes it; false (and a problem) when it could not be.
    async fn fill_planned(&self, acted: &mut Acted, planned: &Planned, cvc: &str) -> bool {
        let (_, _, frame, field, frame_url) = planned;
        let done = match field.kind.as_str() {
            "select" => self.choose(frame, field).await,
            "check" => self.check(frame, field).await,
            _ => self.fill(frame, field, &self.value_for(field, cvc)).await,
        };
        if let Err(problem) = done {
            let place = if frame.is_main { "main" } else { frame_url.split(['?', '#']).next().unwrap_or_default() };
            self.problem(acted, format!("{}|{}: {problem}", crate::text::label(place, 200), field.selector));
            return false;
        }
        // The inventory names it `frame key|selector`, as in field-access findings.
        let named =
            TypedField { frame_url: frame_url.clone(), main_frame: frame.is_main, selector: field.selector.clone() };
        if self.mode == InteractMode::Complete {
            acted.fields_filled.push(named.clone());
        }
        if field.kind != "select" && field.kind != "check" {
            acted.fields_typed.push(named);
        }
        true
    }

    /// The empty fields of every frame, placed on the page: a shopper works top to bottom.
    /// Also the main frame's pay button and (`complete`) its step and pay buttons.
    async fn plan(&self, frames: &[FrameCtx]) -> (Vec<Planned>, Option<(FrameCtx, ButtonInfo)>, Vec<StepButton>) {
        self.plan_where(frames, |f| f.empty).await
    }

    /// [`Shopper::plan`] with the fields chosen by `wanted`.
    async fn plan_where(
        &self,
        frames: &[FrameCtx],
        wanted: impl Fn(&FieldInfo) -> bool,
    ) -> (Vec<Planned>, Option<(FrameCtx, ButtonInfo)>, Vec<StepButton>) {
        let mut plan: Vec<Planned> = Vec::new();
        let mut submit: Option<(FrameCtx, ButtonInfo)> = None;
        let mut buttons = Vec::new();
        let config = serde_json::json!({
            "selectors": self.selectors,
            "complete": self.mode == InteractMode::Complete,
            "brand": brand_of(self.canary.digits()),
            "year": expiry_year(),
            "country": super::persona::COUNTRY,
        });
        for frame in frames {
            let Some(ff) = list_fields(self.page, self.own, frame.context, config.clone()).await else { continue };
            let (ox, oy) =
                if frame.is_main { (0.0, 0.0) } else { self.frame_offset(&frame.frame_id).await.unwrap_or((0.0, 1e6)) };
            for f in ff.fields {
                if wanted(&f) {
                    plan.push((oy + f.y, ox + f.x, frame.clone(), f, ff.url.clone()));
                }
            }
            if frame.is_main {
                submit = ff.submit.map(|b| (frame.clone(), b));
                buttons = ff.buttons;
            }
        }
        plan.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        buttons.sort_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)));
        (plan, submit, buttons)
    }

    /// Clicks the pay button, with order-placing requests blocked first.
    async fn submit(&self, acted: &mut Acted, submit: Option<(FrameCtx, ButtonInfo)>) {
        match submit {
            Some((frame, button)) => {
                match self.block_order_requests(acted.blocked.clone()).await {
                    Ok(task) => acted.blocker = Some(task),
                    Err(e) => {
                        // Without the block the click could place a real order: do not click.
                        acted.problems.push(format!("not submitted: could not block order requests: {e}"));
                        return;
                    }
                }
                match self.click_element(&frame, &format!("document.querySelectorAll('*')[{}]", button.index)).await {
                    Ok(()) => acted.submitted = true,
                    Err(p) => acted.problems.push(format!("pay button {}: {p}", button.selector)),
                }
            }
            None => acted.problems.push("not submitted: no pay button found".into()),
        }
    }

    fn value_for(&self, field: &FieldInfo, cvc: &str) -> String {
        let year = expiry_year();
        match field.kind.as_str() {
            "number" => self.canary.digits().to_string(),
            "exp" => {
                if (1..=4).contains(&field.max) {
                    format!("12{:02}", year % 100)
                } else {
                    format!("12/{:02}", year % 100)
                }
            }
            "exp-month" => "12".into(),
            "exp-year" => {
                if field.max == 2 {
                    format!("{:02}", year % 100)
                } else {
                    year.to_string()
                }
            }
            "cvc" => cvc.into(),
            "name" => self.persona.name(),
            "given" => self.persona.given.clone(),
            "family" | "text" => self.persona.family.clone(),
            "email" => self.persona.email.clone(),
            "street" => self.persona.street.clone(),
            "postal" => self.persona.postal.clone(),
            "city" | "region" => self.persona.city.clone(),
            "tel" => self.persona.tel.clone(),
            "country" => super::persona::COUNTRY[2].into(),
            "company" => format!("{} Ltd", self.persona.family),
            "card-type" => brand_of(self.canary.digits()).into(),
            "note" => "Please leave at the door".into(),
            "count" => "1".into(),
            _ => String::new(),
        }
    }

    /// Chooses a `select`'s option like a person with the keyboard: focus, arrow keys to
    /// it (close ones), Tab. When the keys did not get there (far options, a page that
    /// swallows keys) the option is set by script with `input` and `change` dispatched.
    async fn choose(&self, frame: &FrameCtx, field: &FieldInfo) -> Result<(), String> {
        let Some(option) = field.option else {
            return Err(field.problem.clone().unwrap_or_else(|| "no plausible option".into()));
        };
        let el = format!("document.querySelectorAll('input, select, textarea')[{}]", field.index);
        self.focus_by_dom(frame, &el).await?;
        let index = |code: &str| {
            let code =
                self.own.mark(&format!("(() => {{ const el = {el}; {code}; return el ? el.selectedIndex : -2; }})()"));
            async move { evaluate(self.page, frame.context, &code).await.and_then(|v| v.as_i64()).unwrap_or(-2) }
        };
        let now = index("").await;
        if now == -2 {
            return Err("field gone".into());
        }
        let delta = option as i64 - now;
        if delta.abs() <= 15 {
            let key = if delta > 0 { ("ArrowDown", 40) } else { ("ArrowUp", 38) };
            for _ in 0..delta.abs() {
                self.special_key(key.0, key.1).await.map_err(|e| format!("typing: {e}"))?;
                pause(20, 50).await;
            }
        }
        if index("").await != option as i64 {
            let set = format!(
                "if (el) {{ el.selectedIndex = {option}; el.dispatchEvent(new Event('input', {{ bubbles: true }})); el.dispatchEvent(new Event('change', {{ bubbles: true }})); }}"
            );
            if index(&set).await != option as i64 {
                return Err("option could not be chosen".into());
            }
        }
        pause(30, 80).await;
        self.press_tab().await.map_err(|e| format!("tab: {e}"))?;
        pause(30, 80).await;
        Ok(())
    }

    /// Checks a radio button or checkbox with a mouse click on it, or on its label when the
    /// input itself is hidden (styled radios); a script `click()` if neither took.
    async fn check(&self, frame: &FrameCtx, field: &FieldInfo) -> Result<(), String> {
        let el = format!("document.querySelectorAll('input, select, textarea')[{}]", field.index);
        let target = format!(
            "(() => {{ const el = {el}; if (!el) return null; const r = el.getBoundingClientRect(); return r.width >= 2 && r.height >= 2 ? el : (el.labels && el.labels[0]) || el; }})()"
        );
        let checked = |code: &'static str| {
            let code = self.own.mark(&format!("(() => {{ const el = {el}; {code}; return !!el && el.checked; }})()"));
            async move { evaluate(self.page, frame.context, &code).await.and_then(|v| v.as_bool()).unwrap_or(false) }
        };
        let clicked = self.click_element(frame, &target).await;
        pause(30, 80).await;
        if !checked("").await && !checked("if (el) el.click()").await {
            return Err(clicked.err().unwrap_or_else(|| "could not be checked".into()));
        }
        Ok(())
    }

    /// Where a child frame's viewport sits in the page (its owner element's content box).
    async fn frame_offset(&self, frame_id: &str) -> Option<(f64, f64)> {
        let owner = self.page.execute(GetFrameOwnerParams::new(FrameId::new(frame_id))).await.ok()?;
        let params = GetBoxModelParams { backend_node_id: Some(owner.result.backend_node_id), ..Default::default() };
        let model = self.page.execute(params).await.ok()?;
        let quad = model.result.model.content.inner();
        Some((*quad.first()?, *quad.get(1)?))
    }

    /// Focuses the field with a click, types `value` key by key, then leaves with Tab.
    async fn fill(&self, frame: &FrameCtx, field: &FieldInfo, value: &str) -> Result<(), String> {
        let el = format!("document.querySelectorAll('input, select, textarea')[{}]", field.index);
        let focused = evaluate(
            self.page,
            frame.context,
            &self.own.mark(&format!(
                "(() => {{ const el = {el}; return !!el && document.hasFocus() && document.activeElement === el; }})()"
            )),
        )
        .await
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
        if !focused {
            self.click_element(frame, &el).await?;
            pause(30, 80).await;
            let ok = evaluate(
                self.page,
                frame.context,
                &self
                    .own
                    .mark(&format!("(() => {{ const el = {el}; return !!el && document.activeElement === el; }})()")),
            )
            .await
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
            if !ok {
                self.focus_by_dom(frame, &el).await?;
            }
        }
        if field.card {
            // Card data key by key at a person's pace: keydown, keypress, input, keyup each.
            for c in value.chars() {
                self.key(c).await.map_err(|e| format!("typing: {e}"))?;
                pause(30, 80).await;
            }
        } else {
            // The address is "autofilled" in one go (an `input` event), which keeps scans short;
            // leaving the field still gives blur and change.
            self.page.execute(InsertTextParams::new(value)).await.map_err(|e| format!("typing: {e}"))?;
        }
        pause(50, 120).await;
        self.press_tab().await.map_err(|e| format!("tab: {e}"))?;
        pause(40, 90).await;
        Ok(())
    }

    pub(super) async fn click_element(&self, frame: &FrameCtx, el: &str) -> Result<(), String> {
        let code = self.own.mark(&format!(
            "(() => {{ const el = {el}; if (!el) return null; el.scrollIntoView({{ block: 'center', inline: 'nearest' }}); const r = el.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; }})()"
        ));
        let rect = evaluate(self.page, frame.context, &code).await.ok_or("element gone")?;
        let r: Vec<f64> = serde_json::from_value(rect).map_err(|_| "element gone")?;
        if r.len() != 4 || r[2] < 1.0 || r[3] < 1.0 {
            return Err("element not visible".into());
        }
        let (ox, oy) = if frame.is_main {
            (0.0, 0.0)
        } else {
            self.frame_offset(&frame.frame_id).await.ok_or("frame not on the page")?
        };
        let (x, y) = (ox + r[0], oy + r[1]);
        let mouse = |kind: DispatchMouseEventType| {
            let mut p = DispatchMouseEventParams::new(kind, x, y);
            p.button = Some(MouseButton::Left);
            p.click_count = Some(1);
            p
        };
        let moved = DispatchMouseEventParams::new(DispatchMouseEventType::MouseMoved, x, y);
        self.page.execute(moved).await.map_err(|e| e.to_string())?;
        pause(30, 80).await;
        self.page.execute(mouse(DispatchMouseEventType::MousePressed)).await.map_err(|e| e.to_string())?;
        pause(40, 90).await;
        self.page.execute(mouse(DispatchMouseEventType::MouseReleased)).await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Fallback when a click did not focus the field (covered by an overlay, zero-size …).
    pub(super) async fn focus_by_dom(&self, frame: &FrameCtx, el: &str) -> Result<(), String> {
        let params = EvaluateParams::builder()
            .expression(self.own.mark(el))
            .context_id(ExecutionContextId::new(frame.context))
            .build()
            .map_err(|e| e.to_string())?;
        let res = self.page.execute(params).await.map_err(|e| e.to_string())?;
        let object = res.result.result.object_id.clone().ok_or("field gone")?;
        let focus = FocusParams { object_id: Some(object), ..Default::default() };
        self.page.execute(focus).await.map_err(|e| format!("cannot focus: {e}"))?;
        Ok(())
    }

    pub(super) async fn key(&self, c: char) -> chromiumoxide::Result<()> {
        let (key, code, vk, shift) = key_of(c);
        let text = c.to_string();
        let mut down = DispatchKeyEventParams::new(DispatchKeyEventType::KeyDown);
        down.key = Some(key.clone());
        down.code = Some(code.clone());
        down.text = Some(text.clone());
        down.unmodified_text = Some(text);
        down.windows_virtual_key_code = Some(vk);
        down.native_virtual_key_code = Some(vk);
        down.modifiers = shift.then_some(8);
        self.page.execute(down).await?;
        pause(10, 30).await;
        let mut up = DispatchKeyEventParams::new(DispatchKeyEventType::KeyUp);
        up.key = Some(key);
        up.code = Some(code);
        up.windows_virtual_key_code = Some(vk);
        up.native_virtual_key_code = Some(vk);
        up.modifiers = shift.then_some(8);
        self.page.execute(up).await?;
        Ok(())
    }

    async fn press_tab(&self) -> chromiumoxide::Result<()> {
        self.special_key("Tab", 9).await
    }

    /// A named key (`Enter`, `Tab`, `Escape`, `Space`, `ArrowDown`, `ArrowUp`, `Backspace`):
    /// Enter and Space with their text, so that they submit a form or toggle a checkbox.
    pub(super) async fn press_key(&self, name: &str) -> chromiumoxide::Result<()> {
        let (vk, text) = match name {
            "Enter" => (13, Some("\r")),
            "Space" => return self.key(' ').await,
            "Tab" => (9, None),
            "Escape" => (27, None),
            "ArrowDown" => (40, None),
            "ArrowUp" => (38, None),
            _ => (8, None),
        };
        let Some(text) = text else { return self.special_key(name, vk).await };
        let mut down = DispatchKeyEventParams::new(DispatchKeyEventType::KeyDown);
        down.key = Some(name.into());
        down.code = Some(name.into());
        down.text = Some(text.into());
        down.unmodified_text = Some(text.into());
        down.windows_virtual_key_code = Some(vk);
        down.native_virtual_key_code = Some(vk);
        self.page.execute(down).await?;
        pause(20, 50).await;
        let mut up = DispatchKeyEventParams::new(DispatchKeyEventType::KeyUp);
        up.key = Some(name.into());
        up.code = Some(name.into());
        up.windows_virtual_key_code = Some(vk);
        up.native_virtual_key_code = Some(vk);
        self.page.execute(up).await?;
        Ok(())
    }

    /// A key without text (Tab, arrows): raw key down, key up.
    async fn special_key(&self, key: &str, vk: i64) -> chromiumoxide::Result<()> {
        let mut down = DispatchKeyEventParams::new(DispatchKeyEventType::RawKeyDown);
        down.key = Some(key.into());
        down.code = Some(key.into());
        down.windows_virtual_key_code = Some(vk);
        down.native_virtual_key_code = Some(vk);
        self.page.execute(down).await?;
        pause(20, 50).await;
        let mut up = DispatchKeyEventParams::new(DispatchKeyEventType::KeyUp);
        up.key = Some(key.into());
        up.code = Some(key.into());
        up.windows_virtual_key_code = Some(vk);
        up.native_virtual_key_code = Some(vk);
        self.page.execute(up).await?;
        Ok(())
    }

    /// Intercepts main-frame navigations and XHR/fetch to the page's own origin; fails the
    /// ones that could place the order (a top-level navigation or form post, a non-GET call
    /// to the shop's own API) and lets everything else through untouched. Patterns are narrow
    /// because every intercepted request waits for our answer.
    /// In `complete` mode the [`STEP_REQUESTS`] go through.
    pub(super) async fn block_order_requests(
        &self,
        blocked: Arc<Mutex<Vec<String>>>,
    ) -> Result<AbortOnDropHandle<()>, String> {
        self.block(blocked, Blocking::Shopper).await
    }

    /// During a journey: the configured steps navigate and post (add to cart, log in), so only
    /// the platforms' own order requests ([`ORDER_REQUESTS`], any origin) are blocked. Ends
    /// with [`Shopper::stop_blocking`].
    pub(super) async fn block_orders_on_journey(
        &self,
        blocked: Arc<Mutex<Vec<String>>>,
    ) -> Result<AbortOnDropHandle<()>, String> {
        self.block(blocked, Blocking::Journey).await
    }

    /// Lets every request through again (paused ones included): Chromium would otherwise
    /// hold each request matching the patterns for an answer that no one gives.
    pub(super) async fn stop_blocking(&self) {
        let _ = self.page.execute(FetchDisable::default()).await;
    }

    async fn block(
        &self,
        blocked: Arc<Mutex<Vec<String>>>,
        blocking: Blocking,
    ) -> Result<AbortOnDropHandle<()>, String> {
        let journey = blocking == Blocking::Journey;
        let steps_allowed = self.mode == InteractMode::Complete;
        let paused = self.page.event_listener::<EventRequestPaused>().await.map_err(|e| e.to_string())?;
        let pattern = |url: String, kind: ResourceType| RequestPattern {
            url_pattern: Some(url),
            resource_type: Some(kind),
            request_stage: Some(RequestStage::Request),
        };
        let own = if journey { "*".to_string() } else { format!("{}/*", self.page_origin) };
        let enable = FetchEnable {
            patterns: Some(vec![
                pattern("*".into(), ResourceType::Document),
                pattern(own.clone(), ResourceType::Xhr),
                pattern(own, ResourceType::Fetch),
            ]),
            ..Default::default()
        };
        let page = self.page.clone();
        let main_frame = page.mainframe().await.ok().flatten();
        page.execute(enable).await.map_err(|e| e.to_string())?;
        let task = tokio::spawn(async move {
            // Answered concurrently: every paused request waits for our answer, so a page that
            // floods its own origin with calls must not queue them behind one round trip each.
            paused
                .for_each_concurrent(PAUSED_IN_FLIGHT, |ev| {
                    let (page, blocked, main_frame) = (page.clone(), blocked.clone(), main_frame.clone());
                    async move {
                        let is_document = ev.resource_type == ResourceType::Document;
                        let top = Some(&ev.frame_id) == main_frame.as_ref();
                        let block = if journey {
                            ev.request.method != "GET"
                                && ev.request.method != "HEAD"
                                && matches_any(&ev.request.url, &ORDER_REQUESTS)
                        } else if is_document {
                            top
                        } else {
                            ev.request.method != "GET"
                                && ev.request.method != "HEAD"
                                && !(steps_allowed && is_step_request(&ev.request.url))
                        };
                        if !block {
                            let _ = page.execute(ContinueRequestParams::new(ev.request_id.clone())).await;
                            return;
                        }
                        if let Ok(mut b) = blocked.lock() {
                            if b.len() < 100 {
                                b.push(format!("{} {}", ev.request.method, ev.request.url));
                            }
                        }
                        // A top-frame navigation is answered `204 No Content` in the browser: the
                        // browser then stays on the page, as when a server declines to navigate,
                        // so the checkout stays alive and watched (failing it would replace the
                        // page with an error page). Calls get a network error.
                        let answered = is_document
                            && top
                            && page.execute(FulfillRequestParams::new(ev.request_id.clone(), 204)).await.is_ok();
                        if !answered {
                            let reason = ErrorReason::BlockedByClient;
                            let _ = page.execute(FailRequestParams::new(ev.request_id.clone(), reason)).await;
                        }
                    }
                })
                .await;
        });
        Ok(AbortOnDropHandle::new(task))
    }
}

/// What [`Shopper::block`] lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocking {
    /// The shopper's acts: top-frame navigations, non-GET calls to the page's own origin
    /// (but the checkout steps' own in `complete`).
    Shopper,
    /// A journey's steps: only order requests.
    Journey,
}

/// Paused requests answered at once while order requests are blocked.
const PAUSED_IN_FLIGHT: usize = 64;

/// Key, code, Windows virtual key code and whether Shift is held, for a US keyboard.
pub(super) fn key_of(c: char) -> (String, String, i64, bool) {
    let (code, vk, shift): (String, i64, bool) = match c {
        '0'..='9' => (format!("Digit{c}"), c as i64, false),
        'a'..='z' => (format!("Key{}", c.to_ascii_uppercase()), c.to_ascii_uppercase() as i64, false),
        'A'..='Z' => (format!("Key{c}"), c as i64, true),
        ' ' => ("Space".into(), 32, false),
        '.' => ("Period".into(), 190, false),
        ',' => ("Comma".into(), 188, false),
        '-' => ("Minus".into(), 189, false),
        '/' => ("Slash".into(), 191, false),
        '@' => ("Digit2".into(), 50, true),
        '+' => ("Equal".into(), 187, true),
        _ => (String::new(), 0, false),
    };
    (c.to_string(), code, vk, shift)
}

/// A human-like pause of `min`..`max` ms: pacing of the shopper's input, not synchronisation.
pub(super) async fn pause(min: u64, max: u64) {
    let ms = rand::rng().random_range(min..=max);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_js_keeps_its_placeholders() {
        assert!(FIELDS_JS.starts_with("(() => {") && FIELDS_JS.ends_with("})()"));
        assert_eq!(FIELDS_JS.matches("__CONFIG__").count(), 1);
        assert_eq!(FIELDS_JS.matches("__CARD_FIELD_JS__").count(), 1);
    }

    #[test]
    fn step_requests_are_the_listed_ones_only() {
        for ok in [
            "https://s.example/checkout/onepage/saveBilling/",
            "https://s.example/index.php/checkout/onepage/saveShippingMethod",
            "https://s.example/checkout/onepage/progress/?toStep=payment",
            "https://s.example/?wc-ajax=update_order_review",
            "https://s.example/shop/?wc-ajax=update_shipping_method&x=1",
            "https://s.example/rest/default/V1/guest-carts/abc/estimate-shipping-methods",
            "https://s.example/rest/default/V1/guest-carts/abc/shipping-information",
        ] {
            assert!(is_step_request(ok), "{ok}");
        }
        for blocked in [
            "https://s.example/checkout/onepage/saveOrder/",
            "https://s.example/?wc-ajax=checkout",
            "https://s.example/?x=wc-ajax=update_order_review",
            "https://s.example/rest/default/V1/guest-carts/abc/payment-information",
            "https://s.example/checkout/onepage/saveBilling/then/saveOrder",
            "not a url",
        ] {
            assert!(!is_step_request(blocked), "{blocked}");
        }
        assert!(is_platform_request("https://s.example/checkout/onepage/saveOrder/"));
        assert!(is_platform_request("https://s.example/?wc-ajax=checkout"));
        assert!(!is_platform_request("https://s.example/media/catalog/cache.php"));
    }

    #[test]
    fn brands_by_issuer_prefix() {
        for (digits, brand) in [
            ("4111111111111111", "visa"),
            ("5555555555554444", "mastercard"),
            ("2223003122003222", "mastercard"),
            ("378282246310005", "amex"),
            ("6011111111111117", "discover"),
            ("3566002020360505", "jcb"),
        ] {
            assert_eq!(brand_of(digits), brand, "{digits}");
        }
        for (prefix, _) in crate::capture::canary::TEST_PREFIXES {
            assert_ne!(brand_of(prefix), "", "{prefix}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(key_of('4'), ("4".into(), "Digit4".into(), 52, false));
        assert_eq!(key_of('J').2, 74);
        assert!(key_of('J').3);
        assert_eq!(key_of('@').1, "Digit2");
    }
}
