//! Usernames: what a valid name is, and the key under which two names count as the same.

use std::fmt;

/// The most characters (Unicode scalar values) a username may have.
pub const MAX_NAME_CHARS: usize = 32;

/// Why a proposed name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Empty, or longer than [`MAX_NAME_CHARS`].
    BadLength,
    /// Contains whitespace or a control character.
    BadCharacter,
    /// Starts with `/`, which would read as a command.
    LooksLikeCommand,
}

/// A validated username, as its owner spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

/// The uniqueness key of a name: its Unicode lowercase form, so `María`, `maría` and `MARÍA` collide while
/// `Maria` (no accent) does not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameKey(String);

impl Name {
    /// Validates a proposed name. Surrounding whitespace is not part of a name and is trimmed first.
    pub fn parse(proposed: &str) -> Result<Name, NameError> {
        let name = proposed.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_NAME_CHARS {
            return Err(NameError::BadLength);
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(NameError::BadCharacter);
        }
        if name.starts_with('/') {
            return Err(NameError::LooksLikeCommand);
        }
        Ok(Name(name.to_owned()))
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
        NameKey(name.to_lowercase())
    }
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
    fn keys_ignore_case_but_not_accents() {
        let key = |s| Name::parse(s).map(|n| n.key());
        assert_eq!(key("María"), key("maría"));
        assert_eq!(key("María"), key("MARÍA"));
        assert_ne!(key("María"), key("Maria"));
    }
}
