//! The canary card number: a Luhn-valid number in a published test range, unique to each scan, typed into the card
//! field like a shopper would, and then looked for in everything the page sends.
//!
//! A skimmer rarely sends the number as typed. Published samples send it inside JSON, then
//! `btoa`, then `encodeURIComponent`; some reverse it, hex-encode it or split it with spaces.
//! [`Canary::find`] undoes those layers (URL-decoding, JSON `\uXXXX` escapes, base64 and
//! base64url of any string containing the number, hex) up to a small depth, and looks for
//! the digits plain, separated by spaces/dashes/dots, and reversed. Inputs are hostile and can
//! be large, so the work is bounded: of a haystack longer than [`MAX_HAYSTACK`] bytes the head
//! and the tail are searched (a card appended to a huge body is still found; capture reports
//! the cut as a truncation), and at most [`MAX_CANDIDATES`] base64 runs are decoded per layer.

use base64::Engine;
use rand::Rng;

/// Largest piece of outgoing data searched (bytes); of longer ones the head and the tail are.
pub const MAX_HAYSTACK: usize = 2 * 1024 * 1024;
/// Base64 runs decoded per layer at most.
pub(super) const MAX_CANDIDATES: usize = 64;
/// Prefixes (`key=`) tried per base64 run at most.
const MAX_PREFIX_ATTEMPTS: usize = 8;
/// Shortest base64 run worth decoding: 16 digits need at least 22 base64 characters.
const MIN_BASE64_RUN: usize = 20;
/// Layers of encoding undone (base64 of URL-encoded base64 of JSON …).
const MAX_DEPTH: usize = 3;

/// The test card number of one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    digits: String,
}

/// Issuer prefixes (and lengths) of the card numbers that card networks and payment providers
/// publish for testing (Visa 4111 1111 1111 1111, 4242 4242 4242 4242, 4000 0000 0000 0002,
/// 4012 8888 8888 1881; Mastercard 5555 5555 5555 4444, 5105 1051 0510 5100, 2223 0031 2200 3222,
/// 5200 8282 8282 8210; Amex 3782 822463 10005, 3714 496353 98431; Discover 6011 1111 1111 1117;
/// JCB 3566 0020 2036 0505). Each scan picks one and fills the rest at random, so a skimmer can
/// blocklist neither one number nor one issuer prefix.
pub const TEST_PREFIXES: [(&str, usize); 12] = [
    ("411111", 16),
    ("424242", 16),
    ("400000", 16),
    ("401288", 16),
    ("555555", 16),
    ("510510", 16),
    ("222300", 16),
    ("520082", 16),
    ("378282", 15),
    ("371449", 15),
    ("601111", 16),
    ("356600", 16),
];

impl Canary {
    /// A fresh random canary: one of the [`TEST_PREFIXES`], random digits and a Luhn check digit.
    pub fn generate() -> Canary {
        let mut rng = rand::rng();
        let (prefix, len) = TEST_PREFIXES[rng.random_range(0..TEST_PREFIXES.len())];
        let mut digits = String::from(prefix);
        while digits.len() < len - 1 {
            digits.push(char::from(b'0' + rng.random_range(0..10u8)));
        }
        digits.push(luhn_check_digit(&digits));
        Canary { digits }
    }

    /// A canary with given digits (tests). Panics unless `digits` is 12–19 ASCII digits.
    pub fn from_digits(digits: &str) -> Canary {
        assert!((12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()));
        Canary { digits: digits.to_string() }
    }

    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The number as a shopper types it, in groups of four: `4000 0012 3456 7899`.
    pub fn grouped(&self) -> String {
        self.digits.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
    }

    /// The number with all but the issuer prefix and the last four masked, for reports and logs
    /// (a report must not look like it carries card numbers to a DLP scanner).
    pub fn masked(&self) -> String {
        let n = self.digits.len();
        format!("{}{}{}", &self.digits[..6], "*".repeat(n - 10), &self.digits[n - 4..])
    }

    /// Replaces plain occurrences of the number in `text` with its masked form.
    pub fn mask_in(&self, text: &str) -> String {
        text.replace(&self.digits, &self.masked())
    }

    /// Looks for the number in `data`; returns how it was encoded (`plain`, `url+base64`, …).
    pub fn find(&self, data: &str) -> Option<String> {
        self.find_counting(data).0
    }

    /// Like [`Canary::find`], and whether base64 runs past [`MAX_CANDIDATES`] in one layer were
    /// left undecoded (capture counts the haystack cut where it keeps the data).
    pub fn find_counting(&self, data: &str) -> (Option<String>, bool) {
        let cut = super::limits::head_and_tail(data, MAX_HAYSTACK);
        let needles = Needles::new(&self.digits);
        let mut dropped = false;
        let found = search(&cut, &needles, MAX_DEPTH, &mut Vec::new(), &mut dropped);
        (found, dropped)
    }

    /// Looks for the number in binary data (a WebSocket binary frame, a request body blob).
    pub fn find_bytes(&self, data: &[u8]) -> Option<String> {
        self.find(&String::from_utf8_lossy(data))
    }
}

/// True when `digits` (ASCII digits only) passes the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    crate::text::luhn_valid(digits.as_bytes())
}

/// The digit that makes `payload` + digit Luhn-valid.
pub fn luhn_check_digit(payload: &str) -> char {
    (0..10u8).map(|d| char::from(b'0' + d)).find(|d| luhn_valid(&format!("{payload}{d}"))).unwrap()
}

struct Needles {
    plain: String,
    reversed: String,
    hex_lower: String,
    hex_reversed: String,
}

impl Needles {
    fn new(digits: &str) -> Needles {
        let reversed: String = digits.chars().rev().collect();
        Needles {
            plain: digits.to_string(),
            hex_lower: hex::encode(digits),
            hex_reversed: hex::encode(&reversed),
            reversed,
        }
    }
}

/// Looks for the needles in `text` and in what it decodes to. `layers` names the decodings
/// applied so far (for the report).
fn search(text: &str, n: &Needles, depth: usize, layers: &mut Vec<&'static str>, dropped: &mut bool) -> Option<String> {
    let describe = |layers: &Vec<&'static str>, last: &'static str| {
        let mut all = layers.clone();
        if last != "plain" || all.is_empty() {
            all.push(last);
        }
        all.join("+")
    };
    // The text itself, then with separators between digits removed.
    for (variant, separated) in [(text.to_string(), false), (strip_separators(text), true)] {
        if variant.contains(&n.plain) {
            return Some(describe(layers, if separated { "separated" } else { "plain" }));
        }
        if variant.contains(&n.reversed) {
            return Some(describe(layers, "reversed"));
        }
        let lower = variant.to_ascii_lowercase();
        if lower.contains(&n.hex_lower) || lower.contains(&n.hex_reversed) {
            return Some(describe(layers, "hex"));
        }
    }
    if depth == 0 {
        return None;
    }
    // URL encoding (also `+` for space) and JSON/JS escapes.
    if text.contains('%') || text.contains('+') {
        let decoded = percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned();
        if decoded != text {
            layers.push("url");
            if let Some(found) = search(&decoded, n, depth - 1, layers, dropped) {
                return Some(found);
            }
            layers.pop();
        }
    }
    if text.contains("\\u") || text.contains("\\x") {
        let decoded = unescape_js(text);
        if decoded != text {
            layers.push("json");
            if let Some(found) = search(&decoded, n, depth - 1, layers, dropped) {
                return Some(found);
            }
            layers.pop();
        }
    }
    // Past the budget, the first and the last runs are decoded (data appended at the end too).
    let mut runs = base64_runs(text);
    if runs.len() > MAX_CANDIDATES {
        *dropped = true;
        runs.drain(MAX_CANDIDATES / 2..runs.len() - MAX_CANDIDATES / 2);
    }
    for run in runs {
        if let Some(decoded) = decode_base64(run) {
            layers.push("base64");
            if let Some(found) = search(&decoded, n, depth - 1, layers, dropped) {
                return Some(found);
            }
            layers.pop();
        }
    }
    None
}

/// Removes spaces, dashes, dots, slashes and similar between digits, so `4000 0012-3456.7899`
/// reads as one number.
fn strip_separators(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '/' | '_' | '\t' | '\n' | '\r' | ',' | '|')).collect()
}

/// Decodes `\uXXXX` and `\xXX` escapes (JSON and JavaScript string escapes); other text stays.
pub(super) fn unescape_js(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            let rest = &text[i + 1..];
            let (len, digits) = if rest.starts_with('u') {
                (4, rest.get(1..5))
            } else if rest.starts_with('x') {
                (2, rest.get(1..3))
            } else {
                (0, None)
            };
            if let Some(code) =
                digits.filter(|d| d.len() == len).and_then(|d| u32::from_str_radix(d, 16).ok()).and_then(char::from_u32)
            {
                out.push(code);
                for _ in 0..=len {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Maximal runs of base64 / base64url characters long enough to hold a card number.
pub(super) fn base64_runs(text: &str) -> Vec<&str> {
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_' | b'=');
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &b) in bytes.iter().enumerate().chain(std::iter::once((bytes.len(), &b' '))) {
        match (is_b64(b) && i < bytes.len(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= MIN_BASE64_RUN {
                    runs.push(&text[s..i]);
                }
                start = None;
            }
            _ => {}
        }
    }
    runs
}

/// Decodes standard or URL-safe base64, padded or not. A run may carry a prefix that is not
/// part of the encoding (`v=eyJ…` joined with its key by `=`), so also try after each `=`.
pub(super) fn decode_base64(run: &str) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let mut attempts: Vec<&str> = vec![run];
    // Only the first few `=`: each attempt reads the rest of the run, so trying after every `=`
    // of a long run (a URL of `A=A=A=…`) would be quadratic.
    attempts.extend(
        run.match_indices('=')
            .take(MAX_PREFIX_ATTEMPTS)
            .map(|(i, _)| &run[i + 1..])
            .filter(|s| s.len() >= MIN_BASE64_RUN),
    );
    for a in attempts {
        let trimmed = a.trim_end_matches('=');
        let engine_result = if trimmed.contains('-') || trimmed.contains('_') {
            URL_SAFE_NO_PAD.decode(trimmed)
        } else {
            STANDARD_NO_PAD.decode(trimmed)
        };
        // A run whose length is not a valid base64 length still holds a decodable prefix.
        let bytes = engine_result.ok().or_else(|| {
            let usable = trimmed.len() / 4 * 4;
            let part = &trimmed[..usable];
            if part.contains('-') || part.contains('_') {
                URL_SAFE_NO_PAD.decode(part).ok()
            } else {
                STANDARD_NO_PAD.decode(part).ok()
            }
        });
        if let Some(bytes) = bytes {
            return Some(String::from_utf8_lossy(&bytes).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

    const N: &str = "4000001234567899";

    fn canary() -> Canary {
        Canary::from_digits(N)
    }

    #[test]
    fn generated_canaries_are_luhn_valid_test_numbers_and_differ() {
        let a = Canary::generate();
        let b = Canary::generate();
        assert!(luhn_valid(a.digits()) && luhn_valid(b.digits()));
        assert_ne!(a, b);
        let mut prefixes = std::collections::BTreeSet::new();
        for _ in 0..500 {
            let c = Canary::generate();
            let (prefix, len) = TEST_PREFIXES.iter().find(|(p, _)| c.digits().starts_with(p)).expect("a test prefix");
            assert_eq!(c.digits().len(), *len);
            assert!(luhn_valid(c.digits()), "{}", c.digits());
            assert!(!["4111111111111111", "4242424242424242"].contains(&c.digits()));
            prefixes.insert(*prefix);
        }
        assert!(prefixes.len() > 6, "several issuers: {prefixes:?}");
        assert!(luhn_valid(N));
        assert!(!luhn_valid("4000001234567890"));
    }

    #[test]
    fn grouped_and_masked() {
        assert_eq!(canary().grouped(), "4000 0012 3456 7899");
        assert_eq!(canary().masked(), "400000******7899");
        assert_eq!(canary().mask_in("n=4000001234567899&x"), "n=400000******7899&x");
    }

    #[test]
    fn finds_every_common_encoding() {
        let c = canary();
        let json = format!(r#"{{"number":"{N}","exp":"12/29","cvc":"123"}}"#);
        let b64 = STANDARD.encode(&json);
        let cases: Vec<(String, &str)> = vec![
            (format!("https://evil.example/c?n={N}"), "plain"),
            ("cc=4000 0012 3456 7899".into(), "separated"),
            ("cc=4000-0012-3456-7899".into(), "separated"),
            (format!("d={}", urlencode(&format!("n={}", c.grouped()))), "url+separated"),
            (b64.clone(), "base64"),
            (format!("v={}", urlencode(&b64)), "url+base64"),
            (format!("https://x.example/i.gif?v={}", URL_SAFE_NO_PAD.encode(&json)), "base64"),
            (format!("h={}", hex::encode(&json)), "hex"),
            (format!("h={}", hex::encode(&json).to_uppercase()), "hex"),
            (format!("r={}", N.chars().rev().collect::<String>()), "reversed"),
            (r#"{"n":"\u0034\u0030\u0030\u0030\u0030\u0030\u0031\u0032\u0033\u0034\u0035\u0036\u0037\u0038\u0039\u0039"}"#.into(), "json"),
            // btoa of JSON of btoa: two layers.
            (STANDARD.encode(format!(r#"{{"p":"{}"}}"#, STANDARD.encode(&json))), "base64+base64"),
        ];
        for (data, want) in cases {
            assert_eq!(c.find(&data).as_deref(), Some(want), "{data}");
        }
    }

    #[test]
    fn unrelated_data_is_not_a_leak() {
        let c = canary();
        for data in [
            "https://shop.example/api/shipping-methods?country=IE&cart=c7Q2M9XK4PZ",
            r#"{"session":"cs_live_4eC39HqLyjWDarjtT1zdp7dc","number":"4000001234567890"}"#,
            "4000 0012 3456",
            "",
        ] {
            assert_eq!(c.find(data), None, "{data}");
        }
        // Base64 of other text.
        assert_eq!(c.find(&STANDARD.encode("the quick brown fox jumps over the lazy dog 0123456789")), None);
    }

    #[test]
    fn the_tail_of_a_huge_body_is_searched() {
        let body = format!("{}&card={N}", "x=1&".repeat(MAX_HAYSTACK));
        assert_eq!(canary().find(&body).as_deref(), Some("plain"));
        let head = format!("card={N}&{}", "x=1&".repeat(MAX_HAYSTACK));
        assert_eq!(canary().find(&head).as_deref(), Some("plain"));
    }

    #[test]
    fn base64_decoys_do_not_hide_the_card_at_the_end() {
        let decoy = STANDARD.encode("nothing to see here, move along please");
        let card = STANDARD.encode(format!(r#"{{"n":"{N}"}}"#));
        let body = format!("{}{card}", format!("{decoy} ").repeat(200));
        assert_eq!(canary().find_counting(&body), (Some("base64".into()), true));
        assert_eq!(canary().find_counting(&card), (Some("base64".into()), false));
    }

    #[test]
    fn huge_and_hostile_input_is_bounded() {
        let c = canary();
        let big = "QUFB".repeat(1_000_000);
        let t = std::time::Instant::now();
        assert_eq!(c.find(&big), None);
        assert!(t.elapsed() < crate::text::TEST_TIME_LIMIT);
        assert_eq!(c.find("\\u12\\x4"), None);
        assert_eq!(c.find("%%%+++==="), None);
    }

    fn urlencode(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }
}
