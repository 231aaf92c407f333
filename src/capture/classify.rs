//! Classification: what one compiled script is — external file, module, inline block, handler
//! attribute, `eval`/`new Function` code, or a `data:`/`blob:` script — with its URL, its
//! context label and the script that brought it in. [`classify`] is pure: it takes the facts of
//! the `Debugger.scriptParsed` event ([`Compiled`]), the frame's URL and the probe's report
//! for the frame, and decides.
//!
//! Where code came from is the browser's fact, never the code's own claim. `//# sourceURL=`
//! lets any code name itself (as a trusted vendor's file, say); the event's `embedderName` is
//! the resource the browser really compiled it from: the fetched file, the document for inline
//! code, nothing for code compiled from a string by another script (eval, `new Function`,
//! string timers). So a script is external file X only when it was compiled from the response
//! for X (and X was requested); a `sourceURL` is kept as a label in the context at most.

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
    /// The resource the browser compiled the code from (`embedderName`); `None` when the
    /// browser did not say (then only a URL that is not a `sourceURL` claim counts).
    pub(super) embedder: Option<String>,
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
            embedder: ev.embedder_name.clone(),
            has_source_url: ev.has_source_url == Some(true),
            is_module: ev.is_module == Some(true),
            caller: top_stack_url(&ev.stack_trace),
            start: (ev.start_line.max(0) as u32, ev.start_column.max(0) as u32),
            requested: o.requested.contains(strip_fragment(super::leaks::resource_of(ev))),
            requested_by: o.initiators.get(super::leaks::resource_of(ev)).cloned(),
        }
    }

    /// The resource the code was compiled from: the browser's `embedderName`, or without it the
    /// URL when it is not a `sourceURL` claim; empty for code compiled from a string.
    pub(super) fn resource(&self) -> &str {
        match &self.embedder {
            Some(e) => e,
            None if self.has_source_url => "",
            None => &self.url,
        }
    }

    /// The `sourceURL` label the code gives itself, when it differs from its resource.
    fn label(&self) -> Option<String> {
        (self.has_source_url && !self.url.is_empty() && self.url != self.resource())
            .then(|| format!("sourceURL={}", crate::text::label(&self.url, 200)))
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
    let resource = c.resource();
    let same_doc = !resource.is_empty() && strip_fragment(resource) == strip_fragment(frame_url);
    let inline_block = || facts.and_then(|f| f.inline.iter().find(|i| i.text == source));
    let handler = || facts.and_then(|f| f.handlers.iter().find(|h| h.value == source));
    let label = c.label();
    let (kind, script_url, context, initiator) = if resource.starts_with("data:") || resource.starts_with("blob:") {
        (ScriptKind::Data, Some(resource.to_string()), label, caller.or_else(|| c.requested_by.clone()))
    } else if resource.is_empty() {
        // Compiled from a string: eval, new Function, string timers. A handler attribute
        // may also arrive without a URL; the DOM tells them apart.
        match (handler(), inline_block().filter(|_| c.embedder.is_none())) {
            (Some(h), _) => (ScriptKind::Handler, None, Some(h.ctx.clone()), None),
            // Without the browser's word, the DOM's: the text of an inline block.
            (None, Some(i)) => (ScriptKind::Inline, None, i.id.clone(), None),
            (None, None) => (ScriptKind::Eval, None, label, caller),
        }
    } else if same_doc {
        if let Some(h) = handler() {
            (ScriptKind::Handler, None, Some(h.ctx.clone()), None)
        } else {
            let id = inline_block().and_then(|i| i.id.clone());
            let kind = if c.is_module { ScriptKind::Module } else { ScriptKind::Inline };
            (kind, None, id, None)
        }
    } else if c.embedder.is_none() && !c.requested {
        // No browser fact and no request for the URL: not a file we saw fetched.
        (ScriptKind::Eval, None, label, caller)
    } else if c.is_module {
        (ScriptKind::Module, Some(resource.to_string()), label, c.requested_by.clone())
    } else {
        (ScriptKind::External, Some(resource.to_string()), label, c.requested_by.clone())
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
        // Requested once, but the browser does not say the code came from it: a claim only.
        let c = Compiled { has_source_url: true, requested: true, ..compiled(VENDOR) };
        assert_eq!((run(&c, "code").kind, run(&c, "code").url), (ScriptKind::Eval, None));
        // Compiled from the vendor's response: external, whatever label it carries.
        let c = Compiled { has_source_url: true, requested: true, embedder: Some(VENDOR.into()), ..compiled(VENDOR) };
        assert_eq!((run(&c, "code").kind, run(&c, "code").url.as_deref()), (ScriptKind::External, Some(VENDOR)));
    }

    const ATTACKER: &str = "https://evil.example/skim.js";

    /// Issue 10: code that claims the vendor's URL with `sourceURL` and fetches that URL once
    /// (so the URL *was* requested) is what the browser compiled it from, never the vendor.
    #[test]
    fn a_claimed_vendor_url_never_makes_a_vendor_script() {
        let claim = |embedder: &str| Compiled {
            has_source_url: true,
            requested: true,
            embedder: Some(embedder.into()),
            ..compiled(VENDOR)
        };
        // A parser-inserted inline block: inline, with its element id.
        let got = run(&claim(PAGE), "var a = 1;");
        assert_eq!((got.kind, got.url, got.context.as_deref()), (ScriptKind::Inline, None, Some("boot")));
        // Not found in the DOM any more: still inline (the document compiled it).
        assert_eq!(run(&claim(PAGE), "gone()").kind, ScriptKind::Inline);
        // A file on the attacker's host: that file, the claim kept as a label.
        let got = run(&claim(ATTACKER), "steal()");
        assert_eq!((got.kind, got.url.as_deref()), (ScriptKind::External, Some(ATTACKER)));
        assert_eq!(got.context, Some(format!("sourceURL={VENDOR}")));
        // A string timer (no resource, no stack): eval, no URL.
        let got = run(&claim(""), "steal()");
        assert_eq!((got.kind, got.url, got.initiator), (ScriptKind::Eval, None, None));
        assert_eq!(got.context, Some(format!("sourceURL={VENDOR}")));
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
