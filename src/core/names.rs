//! Usernames: what a valid name is, and the keys under which two names count as the same or as look-alikes.
//!
//! A name is an identifier in the sense of Unicode's security mechanisms (UTS #39): letters, digits and
//! combining marks that its General Security Profile allows (no fullwidth or mathematical letters, small
//! capitals, symbols, private-use, unassigned or noncharacter code points), all of one script, with `-`, `_`
//! or `.` allowed between them. Uniqueness is checked twice: without regard to case (`María` is `maría`), and
//! by the TR39 confusable skeleton (`Ian` is `lan`, a Cyrillic `Маria` would be `Maria`), so nobody can take a
//! name that looks like someone else's. A few names that would pass for the server itself are reserved.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::{GeneralSecurityProfile, MixedScript};

use crate::core::confusables;

/// The most characters (Unicode scalar values) a username may have.
pub const MAX_NAME_CHARS: usize = 32;
/// The most combining marks on one letter: enough for Vietnamese (`ệ` decomposed has two), not for a tower.
const MAX_MARKS_PER_LETTER: usize = 2;
/// What may join the letters and digits of a name; never first, last, or twice in a row.
const SEPARATORS: [char; 3] = ['-', '_', '.'];
/// Names that would pass for the server or its staff, in either language; refused in every look-alike form.
const RESERVED: [&str; 11] = [
    "server",
    "servidor",
    "system",
    "sistema",
    "admin",
    "administrator",
    "administrador",
    "root",
    "operator",
    "moderator",
    "moderador",
];

/// Why a proposed name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// Empty, or longer than [`MAX_NAME_CHARS`].
    BadLength,
    /// A character that is not an allowed letter, digit or mark or a separator; a separator first, last or
    /// twice in a row; too many marks on a letter; or a first character that is not a letter.
    BadCharacter,
    /// Letters of more than one script, as in a Latin name with one Cyrillic letter in it.
    MixedScripts,
    /// Starts with `/`, which would read as a command.
    LooksLikeCommand,
    /// Looks like one of the names the server keeps for itself.
    Reserved,
}

/// A validated username, as its owner spelled it (in NFC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

/// The uniqueness key of a name: its NFC-normalised Unicode lowercase form, so `María`, `maría`, `MARÍA` and a
/// decomposed `Mari\u{301}a` collide while `Maria` (no accent) does not. Whispers find their target by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameKey(String);

/// What a name looks like: the lowercase of its TR39 confusable skeleton. Two names with one shape would be
/// mistaken for each other (`Ian` and `lan`, `Juan1` and `Juanl`, `Маria` in Cyrillic and `Maria`). Held as a
/// 64-bit hash of the skeleton, which is all uniqueness needs (two different skeletons share one with a chance
/// of about one in 10^19 per pair) and costs a connected user 8 bytes instead of a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NameShape(u64);

impl Name {
    /// Validates a proposed name and normalises it to NFC. Surrounding whitespace is not part of a name and is
    /// trimmed first.
    pub fn parse(proposed: &str) -> Result<Name, NameError> {
        let name = identifier(proposed)?;
        let shape = NameShape::of(&name);
        if RESERVED.iter().any(|reserved| NameShape::of(reserved) == shape) {
            return Err(NameError::Reserved);
        }
        Ok(Name(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> NameKey {
        NameKey::of(&self.0)
    }

    pub fn shape(&self) -> NameShape {
        NameShape::of(&self.0)
    }
}

/// The identifier rules every name and room name follows: trimmed, NFC, 1 to [`MAX_NAME_CHARS`] characters of
/// one script, allowed letters, digits and marks, and single separators between them.
pub fn identifier(proposed: &str) -> Result<String, NameError> {
    let name: String = proposed.trim().nfc().collect();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(NameError::BadLength);
    }
    if name.starts_with('/') {
        return Err(NameError::LooksLikeCommand);
    }
    check_characters(&name)?;
    if !name.as_str().is_single_script() {
        return Err(NameError::MixedScripts);
    }
    Ok(name)
}

/// Letters, digits and marks the identifier profile allows, and single separators between them.
fn check_characters(name: &str) -> Result<(), NameError> {
    let mut previous_was_separator = true; // Refuses a separator first.
    let mut marks_in_a_row = 0;
    for (i, c) in name.chars().enumerate() {
        if SEPARATORS.contains(&c) {
            if previous_was_separator {
                return Err(NameError::BadCharacter);
            }
            previous_was_separator = true;
            marks_in_a_row = 0;
            continue;
        }
        let is_mark = is_combining_mark(c);
        let allowed = (c.is_alphanumeric() || is_mark) && c.identifier_allowed();
        let starts_badly = i == 0 && !c.is_alphabetic();
        marks_in_a_row = if is_mark { marks_in_a_row + 1 } else { 0 };
        if !allowed || starts_badly || marks_in_a_row > MAX_MARKS_PER_LETTER || (is_mark && previous_was_separator) {
            return Err(NameError::BadCharacter);
        }
        previous_was_separator = false;
    }
    if previous_was_separator {
        // Refuses a separator last.
        return Err(NameError::BadCharacter);
    }
    Ok(())
}

impl NameKey {
    /// The key as text: what a cluster names a room's shared history by.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key any string would have as a name; used to look up a whisper's target as typed.
    pub fn of(name: &str) -> NameKey {
        // Lowercasing can itself produce decomposed sequences, so normalise on both sides of it.
        NameKey(name.nfc().collect::<String>().to_lowercase().nfc().collect())
    }
}

impl NameShape {
    /// The shape as a number: what a cluster claims a name by, so look-alikes collide across servers too.
    pub fn value(self) -> u64 {
        self.0
    }

    pub fn of(name: &str) -> NameShape {
        use std::hash::{Hash, Hasher};
        let skeleton = skeleton(name).to_lowercase();
        // SipHash with fixed keys: the same name has the same shape in every run.
        let mut hasher = std::hash::DefaultHasher::new();
        skeleton.hash(&mut hasher);
        NameShape(hasher.finish())
    }
}

/// The TR39 skeleton of `s`, as `unicode_security::skeleton` makes it, from the compact copy of its tables in
/// `confusables.rs`: decomposed, default-ignorable code points dropped, each character replaced by its
/// prototype, decomposed again.
fn skeleton(s: &str) -> String {
    let mut mapped = String::with_capacity(s.len());
    for c in s.chars().nfd().filter(|&c| !confusables::is_default_ignorable(c)) {
        match confusables::prototype(c) {
            Some(prototype) => mapped.extend(prototype),
            None => mapped.push(c),
        }
    }
    mapped.nfd().collect()
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
    fn the_compact_confusables_table_agrees_with_unicode_security_for_every_code_point() {
        let mut one = String::new();
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            one.clear();
            one.push(c);
            let theirs: String = unicode_security::skeleton(&one).collect();
            assert_eq!(skeleton(&one), theirs, "U+{:04X}", u32::from(c));
        }
        for name in ["María", "Маria", "Ian", "lan", "ﬁsh", "Mari\u{301}a", "a\u{200b}b", "ǅemal"] {
            assert_eq!(skeleton(name), unicode_security::skeleton(name).collect::<String>(), "{name}");
        }
    }

    #[test]
    fn accepts_ordinary_names_in_any_script_and_trims_them() {
        assert_eq!(Name::parse("  María ").map(|n| n.to_string()), Ok("María".to_owned()));
        assert!(Name::parse(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        // 32 characters, 64 bytes: the limit counts characters.
        assert!(Name::parse(&"ñ".repeat(MAX_NAME_CHARS)).is_ok());
        for name in
            ["Пётр", "Σωκράτης", "محمد", "李小龍", "すずき", "Nguyễn", "bench-22012-0", "ana_b", "j.r", "user42"]
        {
            assert!(Name::parse(name).is_ok(), "{name} should be a valid name");
        }
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
    fn look_alike_letters_and_symbols_are_refused() {
        for (sneaky, why) in [
            ("Ｍａｒｉａ", NameError::BadCharacter),                    // fullwidth
            ("𝐌𝐚𝐫𝐢𝐚", NameError::BadCharacter),                         // mathematical bold
            ("ᴍᴀʀɪᴀ", NameError::BadCharacter),                         // small capitals
            ("\u{301}", NameError::BadCharacter),                       // a lone combining accent
            ("a\u{301}\u{302}\u{303}\u{304}", NameError::BadCharacter), // a tower of marks
            ("(private)\u{2800}Pedro", NameError::BadCharacter),        // a blank Braille cell
            ("Pedro\u{e000}", NameError::BadCharacter),                 // private use
            ("Pedro\u{378}", NameError::BadCharacter),                  // unassigned
            ("Pedro\u{fdd0}", NameError::BadCharacter),                 // a noncharacter
            ("***", NameError::BadCharacter),
            ("-ana", NameError::BadCharacter),
            ("ana-", NameError::BadCharacter),
            ("an--a", NameError::BadCharacter),
            ("4ana", NameError::BadCharacter),
            ("M\u{430}ria", NameError::MixedScripts), // Cyrillic а in a Latin name
            ("Pedr\u{3bf}", NameError::MixedScripts), // Greek ο
            ("Servidor", NameError::Reserved),
            ("SERVER", NameError::Reserved),
            ("5ystem", NameError::BadCharacter),
            ("R00t", NameError::Reserved),
        ] {
            assert_eq!(Name::parse(sneaky), Err(why), "{sneaky:?}");
        }
        let marks = format!("a{}", "\u{301}".repeat(32));
        assert!(Name::parse(&marks).is_err(), "32 combining marks");
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

    #[test]
    fn shapes_catch_look_alikes_across_letters_and_scripts() {
        let shape = |s: &str| Name::parse(s).map(|n| n.shape()).expect(s);
        assert_eq!(shape("Ian"), shape("lan"));
        assert_eq!(shape("Juan1"), shape("Juanl"));
        // A whole-script Cyrillic name that reads as a Latin one.
        assert_eq!(shape("\u{420}\u{430}\u{440}\u{430}"), shape("Papa"));
        assert_ne!(shape("María"), shape("Marta"));
    }
}
