//! Usernames: what a valid name is, and the key under which two names count as the same.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// The most characters (Unicode scalar values) a username may have.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a proposed name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Empty, or longer than [`MAX_NAME_CHARS`].
    BadLength,
    /// Contains whitespace, a control character, or an invisible one (zero-width, bidi control, ...) that would
    /// let two different-looking names look alike or reorder the text around them.
    BadCharacter,
    /// Starts with `/`, which would read as a command.
    LooksLikeCommand,
}

/// A validated username, as its owner spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

/// The uniqueness key of a name: its NFC-normalised Unicode lowercase form, so `María`, `maría`, `MARÍA` and a
/// decomposed `Mari\u{301}a` collide while `Maria` (no accent) does not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameKey(String);

impl Name {
    /// Validates a proposed name and normalises it to NFC. Surrounding whitespace is not part of a name and is
    /// trimmed first.
    pub fn parse(proposed: &str) -> Result<Name, NameError> {
        let name: String = proposed.trim().nfc().collect();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(NameError::BadLength);
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control() || is_invisible(c)) {
            return Err(NameError::BadCharacter);
        }
        if name.starts_with('/') {
            return Err(NameError::LooksLikeCommand);
        }
        Ok(Name(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> NameKey {
        NameKey::of(&self.0)
    }
}

impl NameKey {
    /// The key any string would have as a name; used to look up a whisper's target as typed.
    pub fn of(name: &str) -> NameKey {
        // Lowercasing can itself produce decomposed sequences, so normalise on both sides of it.
        NameKey(name.nfc().collect::<String>().to_lowercase().nfc().collect())
    }
}

/// Unicode's default-ignorable code points (DerivedCoreProperties.txt, Unicode 15) and the bidi controls:
/// characters that render as nothing, so `Ana` and `An\u{200b}a` would look the same, or that reorder the text
/// displayed after them.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names_and_trims_them() {
        assert_eq!(Name::parse("  María ").map(|n| n.to_string()), Ok("María".to_owned()));
        assert!(Name::parse(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        // 32 characters, 64 bytes: the limit counts characters.
        assert!(Name::parse(&"ñ".repeat(MAX_NAME_CHARS)).is_ok());
    }

    #[test]
    fn refuses_bad_names_with_a_reason() {
        assert_eq!(Name::parse(""), Err(NameError::BadLength));
        assert_eq!(Name::parse("   "), Err(NameError::BadLength));
        assert_eq!(Name::parse(&"x".repeat(MAX_NAME_CHARS + 1)), Err(NameError::BadLength));
        assert_eq!(Name::parse("Juan Pérez"), Err(NameError::BadCharacter));
        assert_eq!(Name::parse("a\tb"), Err(NameError::BadCharacter));
        assert_eq!(Name::parse("a\u{1b}[31mb"), Err(NameError::BadCharacter));
        assert_eq!(Name::parse("/quit"), Err(NameError::LooksLikeCommand));
    }

    #[test]
    fn composed_and_decomposed_forms_are_one_name() {
        let composed = Name::parse("Mar\u{ed}a").expect("valid");
        let decomposed = Name::parse("Mari\u{301}a").expect("valid");
        assert_eq!(composed.key(), decomposed.key());
        assert_eq!(decomposed.as_str(), "Mar\u{ed}a", "names are kept in NFC");
        assert_eq!(NameKey::of("MARI\u{301}A"), composed.key());
    }

    #[test]
    fn invisible_characters_are_refused() {
        for sneaky in ["An\u{200b}a", "\u{200d}Ana", "Ana\u{202e}", "A\u{2066}na", "Ana\u{feff}", "An\u{ad}a"] {
            assert_eq!(Name::parse(sneaky), Err(NameError::BadCharacter), "{sneaky:?}");
        }
    }

    #[test]
    fn keys_ignore_case_but_not_accents() {
        let key = |s| Name::parse(s).map(|n| n.key());
        assert_eq!(key("María"), key("maría"));
        assert_eq!(key("María"), key("MARÍA"));
        assert_ne!(key("María"), key("Maria"));
    }
}
