//! Shortening and flattening text for display. Much of what skimwatch shows comes from the
//! scanned page (script URLs, element ids, header values) and is attacker input, so these are
//! the only ways text is cut: always on character boundaries, never by a byte offset that
//! could fall inside a character.

/// `s` cut to at most `max` bytes, on a character boundary (nothing appended).
pub fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// At most `max` characters of `s`; `…` is appended when something was cut.
pub fn cut_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// `s` with every control character (line breaks included) replaced by a space.
pub fn flatten(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// One line for a title or a table cell: control characters become spaces, and at most
/// `max` characters are kept, with `…` appended when something was cut.
pub fn one_line(s: &str, max: usize) -> String {
    cut_chars(&flatten(s), max)
}

/// A page-chosen string as a short label inside an identity or context: control characters
/// are dropped (not replaced, so the label is stable), at most `max` characters, nothing
/// appended.
pub fn label(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// Quotes an argument for a POSIX shell when it needs it (a command printed for a person to
/// copy, such as the approve command of an alert).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// True for characters that reorder or hide text without showing themselves: the bidirectional
/// embeddings, overrides, isolates and marks, and the zero-width ones. A page uses them to make
/// `evil.js` read as `sj.live` or to hide a host inside an innocent one.
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Page text for a terminal, JUnit or SARIF: always one line. Control characters (C0 and C1,
/// line breaks, tabs, ESC), line and paragraph separators, bidirectional and zero-width
/// characters, and the XML-invalid U+FFFE/U+FFFF are written as escapes (`\u{202e}`), so the
/// reader sees that they were there and nothing can move the cursor, reorder text or break the
/// report's syntax. A backslash is doubled so an escape cannot be forged by the page.
pub fn display_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || is_invisible_or_bidi(c)
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{FFFE}' | '\u{FFFF}') =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Separators a card number may carry between its digits and still be read as one by mail
/// DLP: spaces, dashes, dots (a host `4111.1111.1111.1111.evil.example`), slashes and
/// underscores (a path).
fn is_card_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '/' | '_')
}

/// True when `digits` (ASCII digits only) passes the Luhn check: the one implementation, also
/// used by the canary card number.
pub fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.iter().rev().enumerate() {
        let mut v = u32::from(b.wrapping_sub(b'0'));
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// True when some 13–19 digit window of `digits` passes the Luhn check.
fn holds_card_number(digits: &[u8]) -> bool {
    (13..=19.min(digits.len())).any(|len| digits.windows(len).any(luhn_valid))
}

/// `s` with every card-like digit run masked: a run of 13 or more digits (single separators
/// allowed between them, see above) that is, or contains, a Luhn-valid 13–19 digit number keeps
/// its first 6 and last 4 digits, the others become `*` (`411111******1111`). Alert mail
/// carries page-chosen text (exfiltration URLs made of the canary card), and a mail gateway's
/// DLP would otherwise quarantine the very alert about the skimmer. Linear in the length (the
/// window check is bounded by 7 lengths × 19 digits per position).
pub fn mask_card_numbers(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, with single separators between digits.
        let start = i;
        let mut end = i;
        let mut j = i;
        while j < chars.len() {
            if chars[j].is_ascii_digit() {
                end = j + 1;
                j += 1;
            } else if is_card_separator(chars[j]) && chars.get(j + 1).is_some_and(|c| c.is_ascii_digit()) {
                j += 1;
            } else {
                break;
            }
        }
        let run = &chars[start..end];
        let digits: Vec<u8> = run.iter().filter(|c| c.is_ascii_digit()).map(|&c| c as u8).collect();
        if digits.len() >= 13 && holds_card_number(&digits) {
            let mut seen = 0;
            for c in run {
                if c.is_ascii_digit() {
                    let keep = seen < 6 || seen >= digits.len() - 4;
                    out.push(if keep { *c } else { '*' });
                    seen += 1;
                } else {
                    out.push(*c);
                }
            }
        } else {
            out.extend(run);
        }
        i = end;
    }
    out
}

/// Parses JSON text the page's realm produced (the monitor's own scripts return their results
/// and reports as `JSON.stringify` text). Strings a script builds may hold lone UTF-16
/// surrogates, which `JSON.stringify` writes as `\ud800` escapes and serde_json refuses, so
/// one such character in a field's id or label would lose the whole listing: each lone
/// surrogate escape becomes U+FFFD first.
pub fn parse_page_json<T: serde::de::DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    serde_json::from_str(&well_formed_json(text))
}

/// `text` with every `\uXXXX` escape of a lone surrogate replaced by `\ufffd` (linear; text
/// outside escapes is untouched; borrowed when there is nothing to replace).
pub fn well_formed_json(text: &str) -> std::borrow::Cow<'_, str> {
    let b = text.as_bytes();
    let surrogate = |at: usize| -> Option<u16> {
        let hex = text.get(at + 2..at + 6)?;
        let v = u16::from_str_radix(hex, 16).ok()?;
        (b.get(at + 1) == Some(&b'u') && (0xd800..=0xdfff).contains(&v)).then_some(v)
    };
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        match surrogate(i) {
            // A high surrogate followed by a low one: a pair, kept.
            Some(high) if high < 0xdc00 && surrogate(i + 6).is_some_and(|low| low >= 0xdc00) => i += 12,
            Some(_) => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                o.push_str(&text[copied..i]);
                o.push_str("\\ufffd");
                i += 6;
                copied = i;
            }
            // Any other escape (`\\`, `\"`, `\n`, `\u0041`): skip its backslash and next byte.
            None => i += 2,
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied.min(text.len())..]);
            std::borrow::Cow::Owned(o)
        }
        None => std::borrow::Cow::Borrowed(text),
    }
}

/// Time limit for the unit tests that run hostile inputs through a bounded step. Generous on
/// purpose: it catches a quadratic or exponential path (minutes on these inputs), not a slow or
/// loaded machine; the real figures are printed by `benches/diff.rs`. 30 s was exceeded once by
/// a linear input in a debug build while three other builds loaded the 2 cores: 120 s still
/// fails a quadratic path long before it ends.
#[cfg(test)]
pub(crate) const TEST_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogate_escapes_become_replacement_characters() {
        assert_eq!(well_formed_json(r#"{"a":"x\ud800y"}"#), r#"{"a":"x\ufffdy"}"#);
        assert_eq!(well_formed_json(r#"["\udc00","\ud83d"]"#), r#"["\ufffd","\ufffd"]"#);
        // A pair, other escapes and an escaped backslash before "ud800" stay as they are.
        let kept = r#"{"a":"\ud83d\ude00 \\ud800 \" \u0041 é"}"#;
        assert!(matches!(well_formed_json(kept), std::borrow::Cow::Borrowed(_)));
        let v: serde_json::Value = parse_page_json(r#"{"id":"cc\ud800","l":"\ud83d\ude00\ud83d"}"#).unwrap();
        assert_eq!(v["id"], "cc\u{fffd}");
        assert_eq!(v["l"], "😀\u{fffd}");
        assert!(serde_json::from_str::<serde_json::Value>(r#""\ud800""#).is_err(), "serde_json refuses them");
        // Truncated escapes at the end cannot panic.
        for t in ["\\", "\\u", "\\ud8", "\"\\ud800\\u", "\"\\ud800\\udc"] {
            let _ = well_formed_json(t);
        }
    }

    #[test]
    fn cuts_never_split_a_character() {
        let s = "ééééé";
        assert_eq!(cut_bytes(s, 3), "é");
        assert_eq!(cut_bytes(s, 100), s);
        assert_eq!(cut_chars(s, 2), "éé…");
        assert_eq!(cut_chars(s, 5), s);
        assert_eq!(one_line("a\nb\u{1b}c", 10), "a b c");
        assert_eq!(one_line("日本語のテキスト", 3), "日本語…");
        assert_eq!(label("x\ny\u{7}z", 2), "xy");
    }

    #[test]
    fn display_safe_escapes_controls_bidi_and_zero_width() {
        let s = "a\u{202e}b\x1b[2J\nc\r\td\x01e\u{200b}f\u{feff}g\u{2066}\u{ffff}\u{85}\\";
        let safe = display_safe(s);
        assert_eq!(safe, "a\\u{202e}b\\u{1b}[2J\\nc\\r\\td\\u{1}e\\u{200b}f\\u{feff}g\\u{2066}\\u{ffff}\\u{85}\\\\");
        assert!(safe.chars().all(|c| !c.is_control() && !is_invisible_or_bidi(c)));
        assert_eq!(display_safe("https://shop.example/é.js"), "https://shop.example/é.js");
    }

    #[test]
    fn card_numbers_are_masked_wherever_they_hide() {
        assert_eq!(mask_card_numbers("4111111111111111"), "411111******1111");
        assert_eq!(mask_card_numbers("card 4111 1111 1111 1111."), "card 4111 11** **** 1111.");
        assert_eq!(
            mask_card_numbers("https://4111111111111111.attacker.example/x"),
            "https://411111******1111.attacker.example/x"
        );
        assert_eq!(mask_card_numbers("//e.example/4111/1111/1111/1111?q"), "//e.example/4111/11**/****/1111?q");
        assert_eq!(mask_card_numbers("5555-5555-5555-4444"), "5555-55**-****-4444");
        // Inside a longer digit run.
        assert_eq!(mask_card_numbers("x004111111111111111x"), "x004111********1111x");
        // Not Luhn-valid, too short, or ordinary numbers: unchanged. (Any Luhn-valid window of
        // a longer run counts, as a DLP scanner without word boundaries would see it.)
        assert_eq!(mask_card_numbers("1234567890123"), "1234567890123");
        assert_eq!(mask_card_numbers("411111111111"), "411111111111");
        assert_eq!(
            mask_card_numbers("http://127.0.0.1:41234/a 2025-01-01T00:00:00Z"),
            "http://127.0.0.1:41234/a 2025-01-01T00:00:00Z"
        );
        assert_eq!(mask_card_numbers("é4111111111111111é"), "é411111******1111é");
    }
}
