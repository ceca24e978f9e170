//! Cleaning message text before anyone else sees it, whether it arrives live or from the history file.
//!
//! A message may hold any printable text, tabs included. What could act on another user's terminal or client
//! instead of being read is taken out: control characters (ANSI escapes, NUL, NEL), bidi controls that reorder
//! what is displayed after them, and invisible characters that hide text. Line and paragraph separators
//! (U+2028, U+2029), which some clients break lines on, become spaces, so no message can show as two lines and
//! forge the second. Invalid UTF-8 becomes one U+FFFD per run of bad bytes, so garbage cannot grow a line
//! threefold on its way out.

use std::borrow::Cow;

/// Decodes a raw line. Each run of bytes that are not UTF-8 becomes a single U+FFFD, so the text is never
/// longer than the bytes it came from plus two bytes per run.
pub fn decode_lossy(raw: &[u8]) -> Cow<'_, str> {
    let mut chunks = raw.utf8_chunks();
    let Some(first) = chunks.next() else { return Cow::Borrowed("") };
    if first.invalid().is_empty() {
        // One chunk with nothing invalid: the whole line is valid UTF-8.
        return Cow::Borrowed(first.valid());
    }
    let mut text = String::with_capacity(raw.len());
    let mut after_invalid = false;
    for chunk in std::iter::once(first).chain(chunks) {
        if !chunk.valid().is_empty() {
            text.push_str(chunk.valid());
            after_invalid = false;
        }
        if !chunk.invalid().is_empty() && !after_invalid {
            text.push(char::REPLACEMENT_CHARACTER);
            after_invalid = true;
        }
    }
    Cow::Owned(text)
}

/// The message as others will see it (see the module documentation for what changes).
pub fn clean_message(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_joiner(c) || treatment(c) != Treatment::Keep) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut clean = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        match treatment(c) {
            Treatment::Keep if is_joiner(c) => {
                // Zero-width (non-)joiners shape emoji sequences and Indic or Persian script, between two such
                // characters; anywhere else they only hide something.
                let joins = |n: Option<&char>| {
                    n.is_some_and(|&n| {
                        !n.is_ascii() && !n.is_whitespace() && !is_joiner(n) && treatment(n) == Treatment::Keep
                    })
                };
                if joins(i.checked_sub(1).and_then(|p| chars.get(p))) && joins(chars.get(i + 1)) {
                    clean.push(c);
                }
            }
            Treatment::Keep => clean.push(c),
            Treatment::Space => clean.push(' '),
            Treatment::Remove => {}
        }
    }
    Cow::Owned(clean)
}

/// Zero-width non-joiner and joiner.
fn is_joiner(c: char) -> bool {
    c == '\u{200c}' || c == '\u{200d}'
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Treatment {
    Keep,
    Space,
    Remove,
}

fn treatment(c: char) -> Treatment {
    match c {
        '\t' => Treatment::Keep,
        '\u{2028}' | '\u{2029}' => Treatment::Space,
        // C0 controls, DEL, and C1 controls (NEL among them).
        c if c.is_control() => Treatment::Remove,
        // Bidi controls: marks, embeddings, overrides and isolates.
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => Treatment::Remove,
        // Invisible: zero-width space, word joiner and invisible operators, byte-order mark, Mongolian vowel
        // separator, soft hyphen, combining grapheme joiner, Hangul fillers, interlinear annotations, musical
        // formatting, tags (which can smuggle hidden ASCII).
        '\u{200b}'
        | '\u{2060}'..='\u{2064}'
        | '\u{feff}'
        | '\u{180e}'
        | '\u{00ad}'
        | '\u{034f}'
        | '\u{115f}'
        | '\u{1160}'
        | '\u{3164}'
        | '\u{ffa0}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e007f}' => Treatment::Remove,
        _ => Treatment::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_text_is_borrowed_unchanged() {
        assert!(matches!(decode_lossy("Hola! ¿Cómo están?".as_bytes()), Cow::Borrowed("Hola! ¿Cómo están?")));
        assert!(matches!(clean_message("Hola\ta todos 👋"), Cow::Borrowed("Hola\ta todos 👋")));
    }

    #[test]
    fn each_run_of_invalid_bytes_becomes_one_replacement_character() {
        assert_eq!(decode_lossy(&[0xff; 4096]), "\u{fffd}");
        assert_eq!(decode_lossy(b"a\xff\xfeb\xc3"), "a\u{fffd}b\u{fffd}");
        assert_eq!(decode_lossy(b""), "");
        // Alternating bytes still cannot more than double the line.
        let alternating: Vec<u8> = (0..4096).map(|i| if i % 2 == 0 { b'a' } else { 0xff }).collect();
        assert_eq!(decode_lossy(&alternating).len(), 2048 * 4);
    }

    #[test]
    fn controls_are_removed() {
        assert_eq!(clean_message("\u{1b}[2Jred\u{7}\tok\u{85}\u{0}"), "[2Jred\tok");
    }

    #[test]
    fn line_separators_cannot_forge_a_second_line() {
        assert_eq!(clean_message("hola\u{2028}[14:30] Pedro: fake"), "hola [14:30] Pedro: fake");
        assert_eq!(clean_message("a\u{2029}b"), "a b");
    }

    #[test]
    fn bidi_controls_and_invisible_characters_are_removed() {
        for (dirty, clean) in [
            ("abc\u{202e}fed", "abcfed"),
            ("\u{2066}x\u{2069}", "x"),
            ("a\u{200e}b\u{200f}c\u{061c}", "abc"),
            ("pay\u{200b}pal", "paypal"),
            ("x\u{feff}\u{2060}y", "xy"),
            ("hi\u{e0041}\u{e0042}", "hi"),
        ] {
            assert_eq!(clean_message(dirty), clean, "{dirty:?}");
        }
    }

    #[test]
    fn joiners_stay_only_inside_emoji_and_scripts_that_need_them() {
        let family = "👨\u{200d}👩\u{200d}👧";
        assert_eq!(clean_message(family), family);
        assert_eq!(clean_message("می\u{200c}خواهم"), "می\u{200c}خواهم");
        assert_eq!(clean_message("hola\u{200d}fake"), "holafake");
        assert_eq!(clean_message("\u{200d}"), "");
        assert_eq!(clean_message("é\u{200d}\u{200d}👩"), "é👩");
    }
}
