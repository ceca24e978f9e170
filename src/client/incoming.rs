//! Recognising the lines the server sends: the username question, the welcome, messages, notices, user lists.
//!
//! The patterns are taken from the catalogue itself, rendered with a placeholder where a name goes, in both
//! languages: the client understands a server running in either language, and no wording is spelled twice.

use std::ops::Range;

use crate::core::catalog::{HourMinute, Lang, Text};

/// Stands for a name when rendering patterns. A control character: the server never sends one.
const PLACEHOLDER: &str = "\u{1}";
/// Stands for the count when rendering the user-list header: a number no real list reaches.
const COUNT_MARK: usize = 987_654_321;
const LANGS: [Lang; 2] = [Lang::En, Lang::Es];

/// What kind of line the server sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The username question: the server waits for a name.
    AskName,
    /// The server confirms a `/lang` switch, in the new language.
    LangSet,
    /// The server accepted a name; the line names it.
    Welcome,
    /// `[HH:MM] name: text`, live or replayed from history.
    Public,
    /// `[HH:MM] (private) name: text`.
    Private,
    /// Someone joined or left.
    Presence,
    UsersHeader,
    /// One name of a user list.
    UserEntry,
    /// `Error: ...`.
    Error,
    Other,
}

/// One recognised line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incoming {
    pub(crate) kind: Kind,
    /// Where in the line the user name it is from or about is, if any.
    pub(crate) name: Option<Range<usize>>,
}

impl Incoming {
    fn plain(kind: Kind) -> Incoming {
        Incoming { kind, name: None }
    }
}

/// A rendered pattern split at its placeholder: `before` + value + `after`.
#[derive(Debug)]
struct Affixes {
    before: String,
    after: String,
}

impl Affixes {
    fn split(rendered: &str, mark: &str) -> Affixes {
        let (before, after) = rendered.split_once(mark).unwrap_or((rendered, ""));
        Affixes { before: before.to_owned(), after: after.to_owned() }
    }

    fn of_name(text: Text<'_>, lang: Lang) -> Affixes {
        Affixes::split(&text.render(lang), PLACEHOLDER)
    }

    /// Where the value is, if `line` has this shape and the value is one word.
    fn value_in(&self, line: &str) -> Option<Range<usize>> {
        let value = line.strip_prefix(&self.before)?.strip_suffix(&self.after)?;
        if value.is_empty() || value.contains(char::is_whitespace) {
            return None;
        }
        Some(self.before.len()..self.before.len() + value.len())
    }
}

/// Recognises the server's lines, one at a time, in order: a user list's entries follow its header.
#[derive(Debug)]
pub(crate) struct Recognizer {
    ask_name: Vec<String>,
    lang_set: Vec<String>,
    welcome: Vec<Affixes>,
    /// `(private) ` and `(privado) `: what follows the stamp in a private message.
    private_tags: Vec<String>,
    presence: Vec<Affixes>,
    users_header: Vec<Affixes>,
    user_entry: Vec<Affixes>,
    /// `Error:`, as the catalogue's errors begin in each language.
    error_prefixes: Vec<String>,
    /// Names still to come in the user list being received.
    entries_left: usize,
}

impl Default for Recognizer {
    fn default() -> Recognizer {
        Recognizer::new()
    }
}

impl Recognizer {
    pub(crate) fn new() -> Recognizer {
        let at = HourMinute { hour: 0, minute: 0 };
        let each = |f: &dyn Fn(Lang) -> Affixes| LANGS.iter().map(|&lang| f(lang)).collect::<Vec<_>>();
        Recognizer {
            ask_name: LANGS.iter().map(|&lang| Text::AskName.render(lang)).collect(),
            lang_set: LANGS.iter().map(|&lang| Text::LangSet.render(lang)).collect(),
            welcome: each(&|lang| Affixes::of_name(Text::Welcome { name: PLACEHOLDER }, lang)),
            private_tags: LANGS
                .iter()
                .map(|&lang| {
                    let private = Text::Private { at, from: PLACEHOLDER, text: "" };
                    let rendered = private.render(lang);
                    let after_stamp = stamped(&rendered).unwrap_or_default();
                    Affixes::split(after_stamp, PLACEHOLDER).before
                })
                .collect(),
            presence: LANGS
                .iter()
                .flat_map(|&lang| {
                    [
                        Affixes::of_name(Text::Joined { name: PLACEHOLDER }, lang),
                        Affixes::of_name(Text::Left { name: PLACEHOLDER }, lang),
                    ]
                })
                .collect(),
            users_header: each(&|lang| {
                Affixes::split(&Text::UsersHeader { count: COUNT_MARK }.render(lang), &COUNT_MARK.to_string())
            }),
            user_entry: each(&|lang| Affixes::of_name(Text::UserEntry { name: PLACEHOLDER }, lang)),
            error_prefixes: LANGS
                .iter()
                .map(|&lang| {
                    let rendered = Text::WhisperToSelf.render(lang);
                    let prefix = rendered.split_once(' ').map_or(rendered.as_str(), |(word, _)| word);
                    format!("{prefix} ")
                })
                .collect(),
            entries_left: 0,
        }
    }

    /// Recognises the next line from the server (without its terminator).
    pub(crate) fn recognize(&mut self, line: &str) -> Incoming {
        if self.entries_left > 0 {
            self.entries_left -= 1;
            if let Some(name) = self.user_entry.iter().find_map(|a| a.value_in(line)) {
                return Incoming { kind: Kind::UserEntry, name: Some(name) };
            }
            self.entries_left = 0;
        }
        if self.ask_name.iter().any(|q| q == line) {
            return Incoming::plain(Kind::AskName);
        }
        if self.lang_set.iter().any(|confirmation| confirmation == line) {
            return Incoming::plain(Kind::LangSet);
        }
        if let Some(message) = self.message(line) {
            return message;
        }
        if let Some(name) = self.presence.iter().find_map(|a| a.value_in(line)) {
            return Incoming { kind: Kind::Presence, name: Some(name) };
        }
        if let Some(name) = self.welcome.iter().find_map(|a| a.value_in(line)) {
            return Incoming { kind: Kind::Welcome, name: Some(name) };
        }
        if let Some(count) = self.users_header.iter().find_map(|a| a.value_in(line)) {
            self.entries_left = line[count].parse().unwrap_or(0);
            return Incoming::plain(Kind::UsersHeader);
        }
        if self.error_prefixes.iter().any(|p| line.starts_with(p.as_str())) {
            return Incoming::plain(Kind::Error);
        }
        Incoming::plain(Kind::Other)
    }

    /// `[HH:MM] name: text` or `[HH:MM] (private) name: text`. A name has no spaces, so it ends at the colon
    /// before the first space.
    fn message(&self, line: &str) -> Option<Incoming> {
        let after_stamp = stamped(line)?;
        let (kind, rest) = match self.private_tags.iter().find(|tag| after_stamp.starts_with(tag.as_str())) {
            Some(tag) => (Kind::Private, &after_stamp[tag.len()..]),
            None => (Kind::Public, after_stamp),
        };
        let start = line.len() - rest.len();
        let word = rest.split(' ').next()?;
        let name = word.strip_suffix(':').filter(|name| !name.is_empty())?;
        if !rest[word.len()..].starts_with(' ') {
            return None;
        }
        Some(Incoming { kind, name: Some(start..start + name.len()) })
    }
}

/// What follows a leading `[HH:MM] ` stamp, if the line has one.
fn stamped(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let shape = bytes.len() >= 8
        && bytes[0] == b'['
        && bytes[1..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b':'
        && bytes[4..6].iter().all(u8::is_ascii_digit)
        && bytes[6] == b']'
        && bytes[7] == b' ';
    if shape { Some(&line[8..]) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of<'a>(line: &'a str, incoming: &Incoming) -> Option<&'a str> {
        incoming.name.clone().map(|range| &line[range])
    }

    fn check(recognizer: &mut Recognizer, line: &str, kind: Kind, name: Option<&str>) {
        let incoming = recognizer.recognize(line);
        assert_eq!(incoming.kind, kind, "{line:?}");
        assert_eq!(name_of(line, &incoming), name, "{line:?}");
    }

    #[test]
    fn the_seed_session_in_spanish() {
        let mut r = Recognizer::new();
        check(&mut r, "USUARIO:", Kind::AskName, None);
        check(&mut r, "Bienvenido Juan!", Kind::Welcome, Some("Juan"));
        check(&mut r, "Escribe /help para comandos", Kind::Other, None);
        check(&mut r, "Historial:", Kind::Other, None);
        check(&mut r, "[14:30] María: Hola a todos", Kind::Public, Some("María"));
        check(&mut r, "[14:35] Juan: Hola! ¿Cómo están?", Kind::Public, Some("Juan"));
        check(&mut r, "Mensaje enviado a María", Kind::Other, None);
        check(&mut r, "[14:36] (privado) María: Hola Juan", Kind::Private, Some("María"));
        check(&mut r, "Usuarios conectados (3):", Kind::UsersHeader, None);
        check(&mut r, "  Juan", Kind::UserEntry, Some("Juan"));
        check(&mut r, "  María", Kind::UserEntry, Some("María"));
        check(&mut r, "  Pedro", Kind::UserEntry, Some("Pedro"));
        check(&mut r, "  no more", Kind::Other, None);
        check(&mut r, "*** Pedro se ha unido al chat", Kind::Presence, Some("Pedro"));
        check(&mut r, "*** Juan ha salido del chat", Kind::Presence, Some("Juan"));
        check(&mut r, "Error: el nombre Juan ya está en uso", Kind::Error, None);
        check(&mut r, "Hasta pronto!", Kind::Other, None);
    }

    #[test]
    fn english_lines_and_odd_names() {
        let mut r = Recognizer::new();
        check(&mut r, "USERNAME:", Kind::AskName, None);
        check(&mut r, "Language set to English", Kind::LangSet, None);
        check(&mut r, "Idioma cambiado a español", Kind::LangSet, None);
        check(&mut r, "Welcome a:b!", Kind::Welcome, Some("a:b"));
        check(&mut r, "[09:05] a:: text: with colons", Kind::Public, Some("a:"));
        check(&mut r, "[09:05] (private) Ana: psst", Kind::Private, Some("Ana"));
        check(&mut r, "[09:05] (private): a name like a tag", Kind::Public, Some("(private)"));
        check(&mut r, "*** Ana joined the chat", Kind::Presence, Some("Ana"));
        check(&mut r, "*** The server is shutting down", Kind::Other, None);
        check(&mut r, "Error: unknown command /x; type /help for the list", Kind::Error, None);
        check(&mut r, "[9:05] Ana: not a stamp", Kind::Other, None);
        check(&mut r, "Connected users (0):", Kind::UsersHeader, None);
        check(&mut r, "  Ana", Kind::Other, None);
    }
}
