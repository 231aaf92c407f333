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

#[cfg(test)]
mod tests {
    use super::*;

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
}
