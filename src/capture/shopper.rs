//! The shopper: after load it fills the form field by field in visual order — a mouse click
//! to focus, for card fields one `keyDown`/`keyUp` pair per character at human-like intervals
//! (other fields are filled in one go, like autofill), `Tab` to leave (which blurs) — typing
//! the scan's canary card number into the card number field; in `type-and-submit` mode it then
//! clicks the pay button while requests that would place the order are failed with
//! `Fetch.failRequest`. Skimmers wait for exactly that: keystrokes in the card field, a blur,
//! a click on "Place order". The browser's disguise and the card-field instrumentation set up
//! before navigation are [`crate::capture::stealth`]'s.

use super::stealth::{Own, CARD_FIELD_JS};
use crate::capture::canary::Canary;
use crate::capture::persona::Persona;
use crate::model::TypedField;
pub use crate::model::{InteractMode, Profile};
use chromiumoxide::cdp::browser_protocol::dom::{FocusParams, GetBoxModelParams, GetFrameOwnerParams};
use chromiumoxide::cdp::browser_protocol::fetch::{
    ContinueRequestParams, EnableParams as FetchEnable, EventRequestPaused, FailRequestParams, RequestPattern,
    RequestStage,
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
use std::time::Duration;
use tokio_util::task::AbortOnDropHandle;

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
}

/// The outcome of the interaction.
#[derive(Debug, Default)]
pub struct Acted {
    pub fields_typed: Vec<TypedField>,
    pub submitted: bool,
    pub problems: Vec<String>,
    /// Requests failed so that no order is placed (filled in while the page lives on).
    pub blocked: Arc<Mutex<Vec<String>>>,
    /// Answers paused requests until dropped.
    pub blocker: Option<AbortOnDropHandle<()>>,
}

/// Lists the fields of one frame (also used after the scan to check configured selectors).
pub async fn frame_fields(page: &Page, own: &Own, context: i64, selectors: &[String]) -> Option<FrameFields> {
    let config = serde_json::json!({ "selectors": selectors });
    let code =
        own.mark(&FIELDS_JS.replace("__CARD_FIELD_JS__", CARD_FIELD_JS).replace("__CONFIG__", &config.to_string()));
    let text = evaluate(page, context, &code).await?;
    serde_json::from_str(text.as_str()?).ok()
}

async fn evaluate(page: &Page, context: i64, code: &str) -> Option<serde_json::Value> {
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

impl Shopper<'_> {
    /// Fills the form (and submits it in `type-and-submit` mode).
    pub async fn run(&self, frames: &[FrameCtx]) -> Acted {
        let mut acted = Acted::default();
        if self.mode == InteractMode::None {
            return acted;
        }
        let (plan, submit) = self.plan(frames).await;
        let cvc: String = {
            let mut rng = rand::rng();
            (0..3).map(|_| char::from(b'0' + rng.random_range(1..10u8))).collect()
        };
        for (_, _, frame, field, frame_url) in &plan {
            let value = self.value_for(field, &cvc);
            if let Err(problem) = self.fill(frame, field, &value).await {
                let place = if frame.is_main { "main" } else { frame_url.split(['?', '#']).next().unwrap_or_default() };
                acted.problems.push(format!("{}|{}: {problem}", crate::text::label(place, 200), field.selector));
                continue;
            }
            // The inventory names it `frame key|selector`, as in field-access findings.
            acted.fields_typed.push(TypedField {
                frame_url: frame_url.clone(),
                main_frame: frame.is_main,
                selector: field.selector.clone(),
            });
        }
        if self.mode == InteractMode::TypeAndSubmit {
            self.submit(&mut acted, submit).await;
        }
        acted
    }

    /// The empty fields of every frame, placed on the page: a shopper works top to bottom.
    /// Also the main frame's pay button.
    async fn plan(&self, frames: &[FrameCtx]) -> (Vec<Planned>, Option<(FrameCtx, ButtonInfo)>) {
        let mut plan: Vec<Planned> = Vec::new();
        let mut submit: Option<(FrameCtx, ButtonInfo)> = None;
        for frame in frames {
            let Some(ff) = frame_fields(self.page, self.own, frame.context, self.selectors).await else { continue };
            let (ox, oy) =
                if frame.is_main { (0.0, 0.0) } else { self.frame_offset(&frame.frame_id).await.unwrap_or((0.0, 1e6)) };
            for f in ff.fields {
                if f.empty {
                    plan.push((oy + f.y, ox + f.x, frame.clone(), f, ff.url.clone()));
                }
            }
            if frame.is_main {
                submit = ff.submit.map(|b| (frame.clone(), b));
            }
        }
        plan.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        (plan, submit)
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
        let year = time::OffsetDateTime::now_utc().year() + 3;
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
            "family" => self.persona.family.clone(),
            "email" => self.persona.email.clone(),
            "street" => self.persona.street.clone(),
            "postal" => self.persona.postal.clone(),
            "city" => self.persona.city.clone(),
            "tel" => self.persona.tel.clone(),
            _ => String::new(),
        }
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

    async fn click_element(&self, frame: &FrameCtx, el: &str) -> Result<(), String> {
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
    async fn focus_by_dom(&self, frame: &FrameCtx, el: &str) -> Result<(), String> {
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

    async fn key(&self, c: char) -> chromiumoxide::Result<()> {
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
        let mut down = DispatchKeyEventParams::new(DispatchKeyEventType::RawKeyDown);
        down.key = Some("Tab".into());
        down.code = Some("Tab".into());
        down.windows_virtual_key_code = Some(9);
        down.native_virtual_key_code = Some(9);
        self.page.execute(down).await?;
        pause(20, 50).await;
        let mut up = DispatchKeyEventParams::new(DispatchKeyEventType::KeyUp);
        up.key = Some("Tab".into());
        up.code = Some("Tab".into());
        up.windows_virtual_key_code = Some(9);
        up.native_virtual_key_code = Some(9);
        self.page.execute(up).await?;
        Ok(())
    }

    /// Intercepts main-frame navigations and XHR/fetch to the page's own origin; fails the
    /// ones that could place the order (a top-level navigation or form post, a non-GET call
    /// to the shop's own API) and lets everything else through untouched. Patterns are narrow
    /// because every intercepted request waits for our answer.
    async fn block_order_requests(&self, blocked: Arc<Mutex<Vec<String>>>) -> Result<AbortOnDropHandle<()>, String> {
        let mut paused = self.page.event_listener::<EventRequestPaused>().await.map_err(|e| e.to_string())?;
        let pattern = |url: String, kind: ResourceType| RequestPattern {
            url_pattern: Some(url),
            resource_type: Some(kind),
            request_stage: Some(RequestStage::Request),
        };
        let own = format!("{}/*", self.page_origin);
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
            while let Some(ev) = paused.next().await {
                let is_document = ev.resource_type == ResourceType::Document;
                let top = Some(&ev.frame_id) == main_frame.as_ref();
                let block = if is_document { top } else { ev.request.method != "GET" && ev.request.method != "HEAD" };
                if block {
                    if let Ok(mut b) = blocked.lock() {
                        if b.len() < 100 {
                            b.push(format!("{} {}", ev.request.method, ev.request.url));
                        }
                    }
                    let _ =
                        page.execute(FailRequestParams::new(ev.request_id.clone(), ErrorReason::BlockedByClient)).await;
                } else {
                    let _ = page.execute(ContinueRequestParams::new(ev.request_id.clone())).await;
                }
            }
        });
        Ok(AbortOnDropHandle::new(task))
    }
}

/// Key, code, Windows virtual key code and whether Shift is held, for a US keyboard.
fn key_of(c: char) -> (String, String, i64, bool) {
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
async fn pause(min: u64, max: u64) {
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
    fn keys() {
        assert_eq!(key_of('4'), ("4".into(), "Digit4".into(), 52, false));
        assert_eq!(key_of('J').2, 74);
        assert!(key_of('J').3);
        assert_eq!(key_of('@').1, "Digit2");
    }
}
