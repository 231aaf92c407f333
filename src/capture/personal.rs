//! Personal data: the scan's shopper identity ([`super::persona::Persona`]) looked for in
//! everything the page sends, like the canary card number.
//!
//! Ad tech rarely sends an e-mail address as typed: "enhanced conversions" and "advanced
//! matching" send the SHA-256 (sometimes MD5 or SHA-1) of the trimmed, lower-case address, and
//! of the phone number in E.164 form (`+35315550123`, or its digits). So besides the values
//! themselves — plain, URL-encoded, JSON-escaped, base64 — the search looks for those digests
//! in hex. The decoding layers are the canary's ([`super::canary`]), with the same bounds: at
//! most [`MAX_DEPTH`] layers and [`super::canary::MAX_CANDIDATES`] base64 runs per layer, on a
//! haystack capture already cut to its head and tail.

use super::canary::{base64_runs, decode_base64, unescape_js, MAX_CANDIDATES};
use super::persona::Persona;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// Layers of encoding undone (base64 of URL-encoded JSON …).
const MAX_DEPTH: usize = 2;

/// One thing to look for: which field it stands for and how it is encoded when found as is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Needle {
    field: &'static str,
    encoding: &'static str,
    /// Lower case: haystacks are compared in lower case (hex digests and e-mail addresses
    /// are case-insensitive, and a name typed `Jane Doe` may be sent `JANE DOE`).
    text: String,
}

/// The shopper identity of one scan, ready to be searched for.
#[derive(Debug, Clone)]
pub struct PersonalNeedles {
    needles: Vec<Needle>,
    /// The values as typed, to mask them in URLs shown in reports.
    typed: Vec<String>,
}

/// One sighting: the field and how it was encoded (`sha256`, `url+plain`, `base64` …).
pub type Hit = (&'static str, String);

/// The E.164 form of a phone number as typed (`+353 1 555 0123` → `+35315550123`).
pub fn e164(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    format!("+{digits}")
}

/// The form ad tech hashes an e-mail address in: trimmed and lower case.
pub fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl PersonalNeedles {
    pub fn new(p: &Persona) -> PersonalNeedles {
        let email = normalized_email(&p.email);
        let phone = e164(&p.tel);
        let phone_digits = phone.trim_start_matches('+').to_string();
        let mut needles = vec![
            Needle { field: "email", encoding: "plain", text: email.clone() },
            Needle { field: "phone", encoding: "plain", text: p.tel.to_lowercase() },
            Needle { field: "phone", encoding: "e164", text: phone.clone() },
            Needle { field: "name", encoding: "plain", text: p.name().to_lowercase() },
            Needle { field: "street", encoding: "plain", text: p.street.to_lowercase() },
            Needle { field: "postcode", encoding: "plain", text: p.postal.to_lowercase() },
        ];
        for (field, value) in [("email", &email), ("phone", &phone), ("phone", &phone_digits)] {
            needles.push(Needle { field, encoding: "sha256", text: hex::encode(Sha256::digest(value.as_bytes())) });
            needles.push(Needle { field, encoding: "md5", text: hex::encode(Md5::digest(value.as_bytes())) });
            needles.push(Needle { field, encoding: "sha1", text: hex::encode(Sha1::digest(value.as_bytes())) });
        }
        let typed = vec![p.email.clone(), p.tel.clone(), p.name(), p.street.clone(), p.postal.clone(), phone];
        PersonalNeedles { needles, typed }
    }

    /// Every field found in `text`, each once, with how it was encoded.
    pub fn find(&self, text: &str) -> Vec<Hit> {
        let mut found: Vec<Hit> = Vec::new();
        let mut layers = Vec::new();
        self.search(text, MAX_DEPTH, &mut layers, &mut found);
        found
    }

    fn search(&self, text: &str, depth: usize, layers: &mut Vec<&'static str>, found: &mut Vec<Hit>) {
        let lower = text.to_lowercase();
        for n in &self.needles {
            if found.iter().any(|(f, _)| *f == n.field) {
                continue;
            }
            // A phone's digits alone are a digest input only: as a plain needle they would
            // match any long number.
            if lower.contains(&n.text) {
                let mut all = layers.clone();
                all.push(n.encoding);
                found.push((n.field, all.join("+")));
            }
        }
        if depth == 0 || found.len() == 5 {
            return;
        }
        if text.contains('%') || text.contains('+') {
            let decoded =
                percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned();
            if decoded != text {
                layers.push("url");
                self.search(&decoded, depth - 1, layers, found);
                layers.pop();
            }
        }
        if text.contains("\\u") || text.contains("\\x") {
            let decoded = unescape_js(text);
            if decoded != text {
                layers.push("json");
                self.search(&decoded, depth - 1, layers, found);
                layers.pop();
            }
        }
        let mut runs = base64_runs(text);
        if runs.len() > MAX_CANDIDATES {
            runs.drain(MAX_CANDIDATES / 2..runs.len() - MAX_CANDIDATES / 2);
        }
        for run in runs {
            // A hex digest is itself a base64 run: decoding it finds nothing.
            if run.len() % 2 == 0 && run.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            if let Some(decoded) = decode_base64(run) {
                layers.push("base64");
                self.search(&decoded, depth - 1, layers, found);
                layers.pop();
            }
        }
    }

    /// `text` URL-decoded, with every typed value and every digest searched for replaced by
    /// `***` (a hashed e-mail address is still personal data).
    pub fn mask_in(&self, text: &str) -> String {
        let mut out = percent_encoding::percent_decode_str(&text.replace('+', " ")).decode_utf8_lossy().into_owned();
        let mut forms: Vec<&str> = self.typed.iter().map(|v| v.trim()).collect();
        forms.extend(self.needles.iter().map(|n| n.text.as_str()));
        // Longest first, so that a value inside another is not masked half.
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        for form in forms {
            out = replace_ignore_case(&out, form, "***");
        }
        out
    }
}

/// Replaces every case-insensitive occurrence of `needle` (ASCII case folding, so byte
/// offsets stay on character boundaries).
fn replace_ignore_case(text: &str, needle: &str, with: &str) -> String {
    if needle.is_empty() {
        return text.to_string();
    }
    let (lower, n) = (text.to_ascii_lowercase(), needle.to_ascii_lowercase());
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in lower.match_indices(&n) {
        if i < last {
            continue;
        }
        out.push_str(&text[last..i]);
        out.push_str(with);
        last = i + n.len();
    }
    out.push_str(&text[last..]);
    out
}

/// The fields of `hits`, sorted and unique.
pub fn fields_of(hits: &[Hit]) -> BTreeSet<&'static str> {
    hits.iter().map(|(f, _)| *f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn persona() -> Persona {
        Persona {
            given: "Aoife".into(),
            family: "O'Brien".into(),
            email: "Aoife.OBrien42@Gmail.com ".into(),
            street: "12 Harbour Road".into(),
            postal: "D02 XY45".into(),
            city: "Dublin".into(),
            tel: "+353 1 555 0123".into(),
        }
    }

    #[test]
    fn e164_and_email_normal_forms() {
        assert_eq!(e164("+353 1 555 0123"), "+35315550123");
        assert_eq!(normalized_email("  Jane.Doe@Example.COM "), "jane.doe@example.com");
    }

    #[test]
    fn finds_values_in_every_encoding_and_the_ad_tech_hashes() {
        let n = PersonalNeedles::new(&persona());
        let email = "aoife.obrien42@gmail.com";
        let sha256 = hex::encode(Sha256::digest(email));
        let md5 = hex::encode(Md5::digest(email));
        let sha1 = hex::encode(Sha1::digest("+35315550123"));
        let phone_digits_sha = hex::encode(Sha256::digest("35315550123"));
        let b64 = base64::engine::general_purpose::STANDARD.encode(r#"{"tel":"+353 1 555 0123"}"#);
        let cases: Vec<(String, &str, &str)> = vec![
            (format!("https://t.example/p?em={sha256}"), "email", "sha256"),
            (format!("https://t.example/p?em={}", sha256.to_uppercase()), "email", "sha256"),
            (format!("h={md5}"), "email", "md5"),
            (format!("ph={sha1}"), "phone", "sha1"),
            (format!("ph={phone_digits_sha}"), "phone", "sha256"),
            ("e=Aoife.OBrien42%40gmail.com".into(), "email", "url+plain"),
            (r#"{"e":"aoife.obrien42\u0040gmail.com"}"#.into(), "email", "json+plain"),
            (b64, "phone", "base64+plain"),
            ("msg=call me on +35315550123".into(), "phone", "e164"),
            ("addr=12+Harbour+Road&pc=D02+XY45".into(), "street", "url+plain"),
            ("n=AOIFE O'BRIEN".into(), "name", "plain"),
        ];
        for (data, field, encoding) in cases {
            let hits = n.find(&data);
            assert!(hits.iter().any(|(f, e)| *f == field && e == encoding), "{data}: {hits:?}");
        }
        let both = n.find(&format!("em={sha256}&pc=D02%20XY45"));
        assert_eq!(fields_of(&both).into_iter().collect::<Vec<_>>(), ["email", "postcode"]);
    }

    #[test]
    fn other_data_is_not_personal_data() {
        let n = PersonalNeedles::new(&persona());
        for data in [
            "https://shop.example/api/cart?id=35315550",
            &hex::encode(Sha256::digest("someone.else@gmail.com")),
            "Dublin",
            "",
        ] {
            assert!(n.find(data).is_empty(), "{data}");
        }
    }

    #[test]
    fn typed_values_are_masked_in_urls() {
        let n = PersonalNeedles::new(&persona());
        let shown = n.mask_in("https://c.example/x?e=Aoife.OBrien42%40Gmail.com%20&t=%2B353%201%20555%200123&n=ok");
        assert!(!shown.to_lowercase().contains("obrien42"), "{shown}");
        assert!(!shown.contains("555"), "{shown}");
        assert!(shown.ends_with("&n=ok"), "{shown}");
        let sha = hex::encode(Sha256::digest("aoife.obrien42@gmail.com"));
        assert_eq!(n.mask_in(&format!("https://t.example/p?em={sha}")), "https://t.example/p?em=***");
    }

    #[test]
    fn hostile_input_is_bounded() {
        let n = PersonalNeedles::new(&persona());
        let big = "QUFB".repeat(500_000);
        let t = std::time::Instant::now();
        assert!(n.find(&big).is_empty());
        assert!(t.elapsed() < crate::text::TEST_TIME_LIMIT);
    }
}
