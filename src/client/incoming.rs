//! Recognising the lines the server sends: the username question, the welcome, messages, notices, user lists,
//! and the answers that say which room the user is in now or what the user is called now.
//!
//! The patterns are taken from the catalogue itself, rendered with placeholders where values go, in both
//! languages: the client understands a server running in either language, and no wording is spelled twice.

use std::ops::Range;

use crate::core::catalog::{HourMinute, Lang, Text};

/// Stands for the first value (a name, or a room) when rendering patterns. A control character: the server
/// never sends one.
const FIRST: &str = "\u{1}";
/// Stands for the second value.
const SECOND: &str = "\u{2}";
/// Stands for the count when rendering a user-list header: a number no real list reaches.
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
    /// `[HH:MM] * name text`: an action (`/me`), live or replayed from history.
    Action,
    /// `[HH:MM] (private) name: text`.
    Private,
    /// Someone joined or left the chat or a room, or changed name.
    Presence,
    UsersHeader,
    /// One name of a user list.
    UserEntry,
    /// The user's current room is now the one in [`Incoming::room`]: `Now in #room`, `You left #a; now in #b`.
    CurrentRoom,
    /// The user is in no room now: `You left #a; you are in no room now...`.
    NoRoom,
    /// The server confirms the user's new name (`/nick`).
    Renamed,
    /// `Error: ...`.
    Error,
    Other,
}

/// One recognised line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incoming {
    pub(crate) kind: Kind,
    /// Where the user names in the line are, in the order they appear: the one it is from or about (for a
    /// rename notice, the old name then the new).
    pub(crate) names: Vec<Range<usize>>,
    /// Where the room's name is (without its `#`), for [`Kind::CurrentRoom`].
    pub(crate) room: Option<Range<usize>>,
}

impl Incoming {
    fn plain(kind: Kind) -> Incoming {
        Incoming { kind, names: Vec::new(), room: None }
    }

    fn about(kind: Kind, names: Vec<Range<usize>>) -> Incoming {
        Incoming { kind, names, room: None }
    }

    fn about_one(kind: Kind, name: Range<usize>) -> Incoming {
        Incoming::about(kind, std::iter::once(name).collect())
    }
}

/// A rendered catalogue line with holes where its values go: the literal text around them.
#[derive(Debug)]
struct Pattern {
    /// The text before the first hole, between holes, and after the last: one more piece than holes.
    pieces: Vec<String>,
    /// For each hole, in the order they appear in the line, which mark it held.
    holes: Vec<usize>,
    /// How many marks the pattern was made with.
    marks: usize,
}

impl Pattern {
    /// `rendered` cut at each of `marks` it contains.
    fn new(rendered: &str, marks: &[&str]) -> Pattern {
        let mut found: Vec<(usize, usize, usize)> = marks
            .iter()
            .enumerate()
            .filter_map(|(mark, text)| rendered.find(text).map(|at| (at, at + text.len(), mark)))
            .collect();
        found.sort_unstable();
        let (mut pieces, mut holes, mut from) = (Vec::new(), Vec::new(), 0);
        for (start, end, mark) in found {
            pieces.push(rendered[from..start].to_owned());
            holes.push(mark);
            from = end;
        }
        pieces.push(rendered[from..].to_owned());
        Pattern { pieces, holes, marks: marks.len() }
    }

    /// A text rendered with [`FIRST`] (and [`SECOND`]) for its values.
    fn of(text: Text<'_>, lang: Lang) -> Pattern {
        Pattern::new(&text.render(lang), &[FIRST, SECOND])
    }

    /// Where each value is, by mark, if `line` has this shape and every value is one word. A value ends where
    /// the text after it first appears: values have no spaces, and the text after each one starts with a space
    /// or with punctuation a name or room cannot hold.
    fn values_in(&self, line: &str) -> Option<Vec<Range<usize>>> {
        let (first, rest_pieces) = self.pieces.split_first()?;
        let mut rest = line.strip_prefix(first.as_str())?;
        let mut at = first.len();
        let mut values = vec![0..0; self.marks];
        for (n, (&mark, after)) in self.holes.iter().zip(rest_pieces).enumerate() {
            let len = if n + 1 == self.holes.len() {
                rest.strip_suffix(after.as_str())?.len()
            } else {
                rest.find(after.as_str())?
            };
            let value = &rest[..len];
            if value.is_empty() || value.contains(char::is_whitespace) {
                return None;
            }
            values[mark] = at..at + len;
            rest = &rest[len + after.len()..];
            at += len + after.len();
        }
        // With holes, the last one took everything up to the closing text; without, the line is the text.
        rest.is_empty().then_some(values)
    }
}

/// Recognises the server's lines, one at a time, in order: a user list's entries follow its header.
#[derive(Debug)]
pub(crate) struct Recognizer {
    ask_name: Vec<String>,
    lang_set: Vec<String>,
    /// `(private) ` and `(privado) `: what follows the stamp in a private message.
    private_tags: Vec<String>,
    /// Lines about one user, whose name is the first value: the welcome, notices, the confirmation of `/nick`.
    about_one: Vec<(Kind, Pattern)>,
    /// `*** OLD is now known as NEW`.
    rename_notices: Vec<Pattern>,
    /// Answers naming the user's current room as their first value.
    current_room: Vec<Pattern>,
    /// The answer to leaving the last room.
    no_room: Vec<Pattern>,
    /// User-list headers: the count is the second value (a room, where there is one, the first).
    users_header: Vec<Pattern>,
    user_entry: Vec<Pattern>,
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
        let each = |f: &dyn Fn(Lang) -> Pattern| LANGS.iter().map(|&lang| f(lang)).collect::<Vec<_>>();
        let count = COUNT_MARK.to_string();
        let about_one = LANGS.iter().flat_map(|&lang| {
            [
                (Kind::Welcome, Text::Welcome { name: FIRST }),
                (Kind::Presence, Text::Joined { name: FIRST }),
                (Kind::Presence, Text::Left { name: FIRST }),
                (Kind::Presence, Text::JoinedRoom { name: FIRST, room: SECOND }),
                (Kind::Presence, Text::LeftRoom { name: FIRST, room: SECOND }),
                (Kind::Renamed, Text::NickChanged { name: FIRST }),
            ]
            .map(|(kind, text)| (kind, Pattern::of(text, lang)))
        });
        Recognizer {
            ask_name: LANGS.iter().map(|&lang| Text::AskName.render(lang)).collect(),
            lang_set: LANGS.iter().map(|&lang| Text::LangSet.render(lang)).collect(),
            private_tags: LANGS
                .iter()
                .map(|&lang| {
                    let private = Text::Private { at, from: FIRST, text: "" };
                    let rendered = private.render(lang);
                    let after_stamp = stamped(&rendered).unwrap_or_default();
                    after_stamp.split_once(FIRST).map_or(after_stamp, |(tag, _)| tag).to_owned()
                })
                .collect(),
            about_one: about_one.collect(),
            rename_notices: each(&|lang| Pattern::of(Text::NickNotice { old: FIRST, new: SECOND }, lang)),
            current_room: LANGS
                .iter()
                .flat_map(|&lang| {
                    [
                        Pattern::of(Text::NowIn { room: FIRST }, lang),
                        Pattern::of(Text::YouLeft { room: SECOND, now_in: Some(FIRST) }, lang),
                    ]
                })
                .collect(),
            no_room: each(&|lang| Pattern::of(Text::YouLeft { room: FIRST, now_in: None }, lang)),
            users_header: LANGS
                .iter()
                .flat_map(|&lang| {
                    [
                        Text::UsersHeader { count: COUNT_MARK },
                        Text::UsersInRoomHeader { room: FIRST, count: COUNT_MARK },
                    ]
                    .map(|text| Pattern::new(&text.render(lang), &[FIRST, &count]))
                })
                .collect(),
            user_entry: each(&|lang| Pattern::of(Text::UserEntry { name: FIRST }, lang)),
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

    /// Recognises the next line from the server (without its terminator, and without a room's tag).
    pub(crate) fn recognize(&mut self, line: &str) -> Incoming {
        if self.entries_left > 0 {
            self.entries_left -= 1;
            if let Some(values) = first_match(&self.user_entry, line) {
                return Incoming::about(Kind::UserEntry, first_value(values));
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
        if let Some((kind, values)) =
            self.about_one.iter().find_map(|(kind, pattern)| pattern.values_in(line).map(|values| (*kind, values)))
        {
            return Incoming::about(kind, first_value(values));
        }
        if let Some(values) = first_match(&self.rename_notices, line) {
            return Incoming::about(Kind::Presence, values);
        }
        if let Some(values) = first_match(&self.current_room, line) {
            return Incoming { kind: Kind::CurrentRoom, names: Vec::new(), room: values.into_iter().next() };
        }
        if first_match(&self.no_room, line).is_some() {
            return Incoming::plain(Kind::NoRoom);
        }
        if let Some(values) = first_match(&self.users_header, line) {
            self.entries_left = values.get(1).and_then(|count| line[count.clone()].parse().ok()).unwrap_or(0);
            return Incoming::plain(Kind::UsersHeader);
        }
        if self.error_prefixes.iter().any(|p| line.starts_with(p.as_str())) {
            return Incoming::plain(Kind::Error);
        }
        Incoming::plain(Kind::Other)
    }

    /// `[HH:MM] name: text`, `[HH:MM] * name text` or `[HH:MM] (private) name: text`. A name has no spaces,
    /// so it ends at the colon before the first space (at the first space, in an action).
    fn message(&self, line: &str) -> Option<Incoming> {
        let after_stamp = stamped(line)?;
        if let Some(action) = after_stamp.strip_prefix("* ") {
            let start = line.len() - action.len();
            let name = action.split(' ').next().filter(|name| !name.is_empty())?;
            return Some(Incoming::about_one(Kind::Action, start..start + name.len()));
        }
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
        Some(Incoming::about_one(kind, start..start + name.len()))
    }
}

/// The values of the first pattern `line` matches.
fn first_match(patterns: &[Pattern], line: &str) -> Option<Vec<Range<usize>>> {
    patterns.iter().find_map(|pattern| pattern.values_in(line))
}

/// Just the first value: the one name a line is about.
fn first_value(mut values: Vec<Range<usize>>) -> Vec<Range<usize>> {
    values.truncate(1);
    values
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
        incoming.names.first().map(|range| &line[range.clone()])
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

    fn room_of<'a>(line: &'a str, incoming: &Incoming) -> Option<&'a str> {
        incoming.room.clone().map(|range| &line[range])
    }

    #[test]
    fn the_answers_that_move_the_user_between_rooms_in_both_languages() {
        let mut r = Recognizer::new();
        for (line, room) in [
            ("Now in #cocina", "cocina"),
            ("Ahora estás en #cocina", "cocina"),
            ("You left #cocina; now in #general", "general"),
            ("Has salido de #cocina; ahora estás en #general", "general"),
        ] {
            let incoming = r.recognize(line);
            assert_eq!((incoming.kind, room_of(line, &incoming)), (Kind::CurrentRoom, Some(room)), "{line:?}");
        }
        check(&mut r, "You left #general; you are in no room now: /join one to talk", Kind::NoRoom, None);
        let es = "Has salido de #general; no estás en ninguna sala: entra en una con /join para hablar";
        check(&mut r, es, Kind::NoRoom, None);
        check(&mut r, "Now in #la cocina", Kind::Other, None);
        check(&mut r, "Error: you are not in #cocina", Kind::Error, None);
    }

    #[test]
    fn room_notices_actions_renames_and_room_user_lists() {
        let mut r = Recognizer::new();
        check(&mut r, "*** Pedro joined #cocina", Kind::Presence, Some("Pedro"));
        check(&mut r, "*** Pedro se ha unido a #cocina", Kind::Presence, Some("Pedro"));
        check(&mut r, "*** Pedro left #cocina", Kind::Presence, Some("Pedro"));
        check(&mut r, "*** Pedro ha salido de #cocina", Kind::Presence, Some("Pedro"));
        check(&mut r, "[14:30] * Juan waves", Kind::Action, Some("Juan"));
        check(&mut r, "[14:30] *  nobody", Kind::Other, None);
        check(&mut r, "You are now known as Juanito", Kind::Renamed, Some("Juanito"));
        check(&mut r, "Ahora te llamas Juanito", Kind::Renamed, Some("Juanito"));
        let notice = "*** Juan is now known as Juanito";
        let incoming = r.recognize(notice);
        let names: Vec<&str> = incoming.names.iter().map(|range| &notice[range.clone()]).collect();
        assert_eq!((incoming.kind, names), (Kind::Presence, vec!["Juan", "Juanito"]));
        check(&mut r, "*** Juan ahora se llama Juanito", Kind::Presence, Some("Juan"));
        check(&mut r, "Users in #cocina (2):", Kind::UsersHeader, None);
        check(&mut r, "  Ana", Kind::UserEntry, Some("Ana"));
        check(&mut r, "  Juan", Kind::UserEntry, Some("Juan"));
        check(&mut r, "  #cocina (2)", Kind::Other, None);
        check(&mut r, "Usuarios en #cocina (1):", Kind::UsersHeader, None);
        check(&mut r, "  Ana", Kind::UserEntry, Some("Ana"));
    }
}
