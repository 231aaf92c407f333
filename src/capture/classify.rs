//! Classification: what one compiled script is — external file, module, inline block, handler
//! attribute, `eval`/`new Function` code, or a `data:`/`blob:` script — with its URL, its
//! context label and the script that brought it in. [`classify`] is pure: it takes the facts of
//! the `Debugger.scriptParsed` event ([`Compiled`]), the frame's URL and the probe's report
//! for the frame, and decides.
//!
//! `//# sourceURL=` lets code name itself: eval'd code could pose as any external file (even a
//! trusted vendor's URL). A claimed URL therefore counts only for code that was really fetched
//! from it and not compiled from a string by another script; otherwise the code is `eval`
//! (context `sourceURL=<label>`) or, when the DOM holds it as a script block, `inline`.

use super::events::{top_stack_url, Observed};
use super::probe::FrameFacts;
use crate::model::ScriptKind;
use chromiumoxide::cdp::js_protocol::debugger::EventScriptParsed;

/// The facts of one compiled script that classification needs, copied from its
/// `Debugger.scriptParsed` event and from the network record.
#[derive(Debug, Clone, Default)]
pub(super) struct Compiled {
    /// The URL V8 reports: the file's, the document's for inline code, empty for code compiled
    /// from a string, or whatever `//# sourceURL=` claims.
    pub(super) url: String,
    /// The URL comes from a `//# sourceURL=` comment.
    pub(super) has_source_url: bool,
    pub(super) is_module: bool,
    /// URL of the page script on top of the stack that compiled this one (eval, new Function,
    /// string timers); `None` for code the browser loaded itself.
    pub(super) caller: Option<String>,
    /// Start line and column in its resource.
    pub(super) start: (u32, u32),
    /// The URL (without fragment) was really requested over the network.
    pub(super) requested: bool,
    /// The script that caused the request for `url`, from the network's initiator stack.
    pub(super) requested_by: Option<String>,
}

impl Compiled {
    pub(super) fn from_event(ev: &EventScriptParsed, o: &Observed) -> Compiled {
        Compiled {
            url: ev.url.clone(),
            has_source_url: ev.has_source_url == Some(true),
            is_module: ev.is_module == Some(true),
            caller: top_stack_url(&ev.stack_trace),
            start: (ev.start_line.max(0) as u32, ev.start_column.max(0) as u32),
            requested: o.requested.contains(strip_fragment(&ev.url)),
            requested_by: o.initiators.get(&ev.url).cloned(),
        }
    }
}

/// What a compiled script is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Classified {
    pub(super) kind: ScriptKind,
    /// The script's own URL (external files, external modules, `data:`/`blob:`).
    pub(super) url: Option<String>,
    /// Element id of an inline block, `tag#id@onclick` of a handler, `sourceURL=…` of eval'd
    /// code claiming a URL.
    pub(super) context: Option<String>,
    /// The script that inserted or compiled it; `inline:<frame URL>` for the frame's own
    /// inline code.
    pub(super) initiator: Option<String>,
    /// Line and column in the document, for code that lives in it (inline, handler, module).
    pub(super) position: Option<(u32, u32)>,
}

/// Classifies `source`, compiled in the frame at `frame_url` whose probe reported `facts`.
pub(super) fn classify(c: &Compiled, source: &str, frame_url: &str, facts: Option<&FrameFacts>) -> Classified {
    let caller = c.caller.clone();
    let same_doc = !c.url.is_empty() && strip_fragment(&c.url) == strip_fragment(frame_url);
    // A claimed URL counts only for code that was really fetched from it and not compiled from
    // a string by another script.
    let claimed_url = c.has_source_url && !c.url.is_empty() && !same_doc_url(&c.url, frame_url);
    let spoofable = claimed_url && (caller.is_some() || !c.requested);
    let inline_block = || facts.and_then(|f| f.inline.iter().find(|i| i.text == source));
    let handler = || facts.and_then(|f| f.handlers.iter().find(|h| h.value == source));
    let (kind, script_url, context, initiator) = if spoofable {
        match inline_block() {
            Some(i) => (ScriptKind::Inline, None, i.id.clone(), None),
            None => (ScriptKind::Eval, None, Some(format!("sourceURL={}", crate::text::label(&c.url, 200))), caller),
        }
    } else if c.url.starts_with("data:") || c.url.starts_with("blob:") {
        (ScriptKind::Data, Some(c.url.clone()), None, caller.or_else(|| c.requested_by.clone()))
    } else if c.url.is_empty() {
        // Compiled from a string: eval, new Function, string timers. A handler attribute
        // may also arrive without a URL; the DOM tells them apart.
        match handler() {
            Some(h) => (ScriptKind::Handler, None, Some(h.ctx.clone()), None),
            None => (ScriptKind::Eval, None, None, caller),
        }
    } else if same_doc {
        if let Some(h) = handler() {
            (ScriptKind::Handler, None, Some(h.ctx.clone()), None)
        } else {
            let id = inline_block().and_then(|i| i.id.clone());
            let kind = if c.is_module { ScriptKind::Module } else { ScriptKind::Inline };
            (kind, None, id, None)
        }
    } else if c.is_module {
        (ScriptKind::Module, Some(c.url.clone()), None, c.requested_by.clone())
    } else {
        (ScriptKind::External, Some(c.url.clone()), None, c.requested_by.clone())
    };
    let initiator = initiator.map(|i| {
        if strip_fragment(&i) == strip_fragment(frame_url) {
            format!("inline:{}", strip_fragment(frame_url))
        } else {
            i
        }
    });
    let in_document = matches!(kind, ScriptKind::Inline | ScriptKind::Handler | ScriptKind::Module);
    Classified { kind, url: script_url, context, initiator, position: in_document.then_some(c.start) }
}

pub(super) fn same_doc_url(a: &str, b: &str) -> bool {
    strip_fragment(a) == strip_fragment(b)
}

pub(super) fn strip_fragment(u: &str) -> &str {
    u.split('#').next().unwrap_or(u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::probe::{HandlerFact, InlineFact};

    const PAGE: &str = "https://shop.example/checkout";
    const VENDOR: &str = "https://cdn.vendor.example/pay.js";

    fn facts() -> FrameFacts {
        FrameFacts {
            url: PAGE.into(),
            inline: vec![
                InlineFact { text: "var a = 1;".into(), id: Some("boot".into()) },
                InlineFact { text: "var b = 2;".into(), id: None },
            ],
            handlers: vec![HandlerFact { ctx: "button#pay@onclick".into(), value: "pay()".into() }],
            fields: Vec::new(),
        }
    }

    fn compiled(url: &str) -> Compiled {
        Compiled { url: url.into(), start: (7, 3), ..Compiled::default() }
    }

    fn run(c: &Compiled, source: &str) -> Classified {
        classify(c, source, PAGE, Some(&facts()))
    }

    #[test]
    fn external_file_keeps_its_url_and_network_initiator() {
        let c =
            Compiled { requested: true, requested_by: Some("https://tags.example/gtm.js".into()), ..compiled(VENDOR) };
        let got = run(&c, "code");
        assert_eq!(got.kind, ScriptKind::External);
        assert_eq!(got.url.as_deref(), Some(VENDOR));
        assert_eq!(got.initiator.as_deref(), Some("https://tags.example/gtm.js"));
        assert_eq!((got.context, got.position), (None, None));
    }

    #[test]
    fn external_and_inline_modules() {
        let c = Compiled { is_module: true, requested: true, ..compiled(VENDOR) };
        let got = run(&c, "export {}");
        // Modules keep their position, external ones too (as before the split).
        assert_eq!((got.kind, got.url.as_deref(), got.position), (ScriptKind::Module, Some(VENDOR), Some((7, 3))));

        let c = Compiled { is_module: true, ..compiled(&format!("{PAGE}#x")) };
        let got = run(&c, "var a = 1;");
        assert_eq!(got.kind, ScriptKind::Module);
        assert_eq!((got.url, got.context.as_deref(), got.position), (None, Some("boot"), Some((7, 3))));
    }

    #[test]
    fn inline_blocks_with_and_without_id() {
        let got = run(&compiled(PAGE), "var a = 1;");
        assert_eq!((got.kind, got.context.as_deref(), got.position), (ScriptKind::Inline, Some("boot"), Some((7, 3))));
        let got = run(&compiled(PAGE), "var b = 2;");
        assert_eq!((got.kind, got.context, got.url, got.initiator), (ScriptKind::Inline, None, None, None));
        // Not in the DOM any more (removed after it ran): still inline, without an id.
        let got = classify(&compiled(PAGE), "gone()", PAGE, None);
        assert_eq!((got.kind, got.context), (ScriptKind::Inline, None));
    }

    #[test]
    fn handler_attributes_with_and_without_url() {
        for url in [PAGE, ""] {
            let c = Compiled { caller: Some(VENDOR.into()), ..compiled(url) };
            let got = run(&c, "pay()");
            assert_eq!(got.kind, ScriptKind::Handler, "{url:?}");
            assert_eq!(
                (got.context.as_deref(), got.initiator, got.position),
                (Some("button#pay@onclick"), None, Some((7, 3)))
            );
        }
    }

    #[test]
    fn eval_and_new_function_name_their_caller() {
        let c = Compiled { caller: Some(VENDOR.into()), ..compiled("") };
        let got = run(&c, "steal()");
        assert_eq!(got.kind, ScriptKind::Eval);
        assert_eq!((got.url, got.context, got.initiator.as_deref(), got.position), (None, None, Some(VENDOR), None));
    }

    #[test]
    fn data_and_blob_scripts() {
        let c = Compiled { requested_by: Some(VENDOR.into()), ..compiled("data:text/javascript,alert(1)") };
        let got = run(&c, "alert(1)");
        assert_eq!((got.kind, got.url.as_deref()), (ScriptKind::Data, Some("data:text/javascript,alert(1)")));
        assert_eq!(got.initiator.as_deref(), Some(VENDOR));
        // A stack beats the network record.
        let c = Compiled {
            caller: Some("https://x.example/a.js".into()),
            requested_by: Some(VENDOR.into()),
            ..compiled("blob:https://shop.example/1")
        };
        let got = run(&c, "x");
        assert_eq!((got.kind, got.initiator.as_deref()), (ScriptKind::Data, Some("https://x.example/a.js")));
    }

    #[test]
    fn eval_claiming_a_vendor_url_is_eval() {
        // Never requested: the name is a claim only.
        let c = Compiled { has_source_url: true, caller: Some("https://evil.example/l.js".into()), ..compiled(VENDOR) };
        let got = run(&c, "steal()");
        assert_eq!(got.kind, ScriptKind::Eval);
        assert_eq!(got.url, None);
        assert_eq!(got.context, Some(format!("sourceURL={VENDOR}")));
        assert_eq!(got.initiator.as_deref(), Some("https://evil.example/l.js"));
        // The label is bounded and has no control characters.
        let long = format!("https://x.example/\n{}", "a".repeat(500));
        let c = Compiled { has_source_url: true, ..compiled(&long) };
        let label = run(&c, "y").context.unwrap();
        assert_eq!(label.chars().count(), "sourceURL=".len() + 200);
        assert!(!label.contains('\n'));
    }

    #[test]
    fn inline_block_claiming_a_url_is_inline() {
        let c = Compiled { has_source_url: true, ..compiled(VENDOR) };
        let got = run(&c, "var a = 1;");
        assert_eq!(
            (got.kind, got.url, got.context.as_deref(), got.initiator),
            (ScriptKind::Inline, None, Some("boot"), None)
        );
        assert_eq!(got.position, Some((7, 3)));
    }

    #[test]
    fn claimed_url_really_requested_but_compiled_by_another_script_is_eval() {
        let c = Compiled {
            has_source_url: true,
            requested: true,
            caller: Some("https://evil.example/l.js".into()),
            ..compiled(VENDOR)
        };
        let got = run(&c, "steal()");
        assert_eq!((got.kind, got.url), (ScriptKind::Eval, None));
        assert_eq!(got.context, Some(format!("sourceURL={VENDOR}")));
        // Really fetched from it and compiled by the browser: the claim holds.
        let c = Compiled { has_source_url: true, requested: true, ..compiled(VENDOR) };
        assert_eq!(run(&c, "code").kind, ScriptKind::External);
    }

    #[test]
    fn the_frames_own_inline_code_is_named_inline_frame() {
        let c = Compiled { caller: Some(format!("{PAGE}#top")), ..compiled("") };
        let got = run(&c, "later()");
        assert_eq!(
            (got.kind, got.initiator.as_deref()),
            (ScriptKind::Eval, Some("inline:https://shop.example/checkout"))
        );
        let c = Compiled { requested: true, requested_by: Some(PAGE.into()), ..compiled(VENDOR) };
        assert_eq!(run(&c, "code").initiator.as_deref(), Some("inline:https://shop.example/checkout"));
    }
}
