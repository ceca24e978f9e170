//! Property tests of the two checks every user's words go through: message cleaning and name validation. Each
//! property says what must hold for every input, not just for the examples in the unit tests.

use charla::core::names::{MAX_NAME_CHARS, Name, NameKey};
use charla::core::text::{clean_message, decode_lossy};
use proptest::prelude::*;

const REPLACEMENT: &str = "\u{fffd}";
const REPLACEMENT_TWICE: &str = "\u{fffd}\u{fffd}";

/// Characters that must never survive cleaning (see docs/PROTOCOL.md).
fn forbidden_in_messages(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{200b}' | '\u{feff}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
        || ('\u{e0000}'..='\u{e007f}').contains(&c)
}

/// Strings rich in the characters the rules care about: ASCII, accents, other scripts, marks, invisibles.
fn tricky_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        "[a-zA-Z0-9 ._-]{0,6}",
        Just("é".to_owned()),
        Just("\u{301}".to_owned()),
        Just("\u{430}".to_owned()),
        Just("\u{3bf}".to_owned()),
        Just("\u{200d}".to_owned()),
        Just("\u{200b}".to_owned()),
        Just("\u{202e}".to_owned()),
        Just("\u{2028}".to_owned()),
        Just("\u{1b}[31m".to_owned()),
        Just("👩".to_owned()),
        Just("李".to_owned()),
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_keeps_valid_text_and_cannot_triple_garbage(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = decode_lossy(&bytes);
        if let Ok(valid) = std::str::from_utf8(&bytes) {
            prop_assert_eq!(&*text, valid);
        }
        // Each run of invalid bytes (at least one byte) becomes one 3-byte character.
        prop_assert!(text.len() <= 3 * bytes.len());
        // A run of bad bytes is one replacement character: two in a row only if the input itself held one.
        let doubled = text.contains(REPLACEMENT_TWICE);
        let literal = bytes.windows(3).any(|w| w == REPLACEMENT.as_bytes());
        prop_assert!(!doubled || literal, "{:?} -> {:?}", bytes, text);
    }

    #[test]
    fn cleaning_removes_every_forbidden_character_and_is_idempotent(text in tricky_text()) {
        let clean = clean_message(&text);
        prop_assert!(!clean.chars().any(forbidden_in_messages), "{:?} -> {:?}", text, clean);
        prop_assert!(clean.len() <= text.len());
        prop_assert_eq!(&*clean_message(&clean), &*clean);
        // Joiners only ever sit between two non-ASCII characters.
        let chars: Vec<char> = clean.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c == '\u{200d}' || c == '\u{200c}' {
                prop_assert!(i > 0 && i + 1 < chars.len() && !chars[i - 1].is_ascii() && !chars[i + 1].is_ascii());
            }
        }
    }

    #[test]
    fn an_accepted_name_obeys_the_rules_and_is_its_own_canonical_form(text in tricky_text()) {
        if let Ok(name) = Name::parse(&text) {
            let s = name.as_str();
            let count = s.chars().count();
            prop_assert!((1..=MAX_NAME_CHARS).contains(&count));
            prop_assert!(s.chars().next().is_some_and(char::is_alphabetic));
            prop_assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control() || forbidden_in_messages(c)));
            prop_assert!(!s.contains("--") && !s.ends_with(['-', '_', '.']));
            let again = Name::parse(s).expect("an accepted name parses again");
            prop_assert_eq!(again.as_str(), s);
            // Names compare in lowercase (PROTOCOL.md), so a name and its capitals are one name wherever
            // capitals lead back to the same lowercase: not for `ß`, whose capitals are `SS`, another name.
            let upper = s.to_uppercase();
            if upper.to_lowercase() == s.to_lowercase() {
                prop_assert_eq!(again.key(), NameKey::of(&upper));
            }
            prop_assert_eq!(again.shape(), Name::parse(s).expect("again").shape());
        }
    }
}
