//! IRC as a second dialect of the same chat: the message format (modern.ircdocs.horse), and how the chat's
//! texts read as IRC lines. No state and no I/O: `chat::irc` uses these to serve IRC clients from the core.

use std::fmt::Write as _;

use crate::core::catalog::{Lang, Text};

/// The server's name in every line it sends.
pub const SERVER_NAME: &str = "charla";
/// The host part of every user's prefix (`nick!nick@charla`): Charla never shows users' addresses.
pub const USER_HOST: &str = "charla";
/// The longest IRC line a client may send, tags apart (RFC 1459's 512 bytes with CR LF).
pub const MAX_LINE_BYTES: usize = 510;
/// The longest tags section a client may send before the rest of its line (modern IRC: 8191 bytes with `@` and
/// the space).
pub const MAX_TAGS_BYTES: usize = 8191;
/// The longest line the framer lets through on an IRC connection.
pub const MAX_FRAMED_BYTES: usize = MAX_LINE_BYTES + MAX_TAGS_BYTES;

/// One message from a client: its command and parameters (tags and source are ignored, as a server may).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The command, as sent (compare without regard to ASCII case).
    pub command: &'a str,
    pub params: Vec<&'a str>,
}

/// Why a line is not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing but tags or a source.
    Empty,
    /// The part after the tags is longer than [`MAX_LINE_BYTES`].
    TooLong,
}

/// Parses one line (without its CR LF): `[@tags] [:source] COMMAND [params...] [:trailing]`.
pub fn parse(line: &str) -> Result<Message<'_>, ParseError> {
    let mut rest = line.trim_start_matches(' ');
    if let Some(tagged) = rest.strip_prefix('@') {
        rest = tagged.split_once(' ').map_or("", |(_, after)| after).trim_start_matches(' ');
    }
    if rest.len() > MAX_LINE_BYTES {
        return Err(ParseError::TooLong);
    }
    if let Some(sourced) = rest.strip_prefix(':') {
        rest = sourced.split_once(' ').map_or("", |(_, after)| after).trim_start_matches(' ');
    }
    let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if command.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing);
            break;
        }
        let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(param);
        rest = after;
    }
    Ok(Message { command, params })
}

/// A user's prefix: `nick!nick@charla`.
pub fn prefix(nick: &str) -> String {
    format!("{nick}!{nick}@{USER_HOST}")
}

/// A numeric reply to `nick` (`*` before registration): `:charla 001 nick params...`, the last parameter as
/// trailing text.
pub fn numeric(out: &mut String, code: u16, nick: &str, params: &[&str]) {
    let _ = write!(out, ":{SERVER_NAME} {code:03} {nick}");
    push_params(out, params);
}

/// A message from a user: `:nick!nick@charla COMMAND params...`.
pub fn from_user(out: &mut String, nick: &str, command: &str, params: &[&str]) {
    let _ = write!(out, ":{} {command}", prefix(nick));
    push_params(out, params);
}

/// A message from the server: `:charla COMMAND params...`.
pub fn from_server(out: &mut String, command: &str, params: &[&str]) {
    let _ = write!(out, ":{SERVER_NAME} {command}");
    push_params(out, params);
}

/// Appends parameters, the last one as trailing (`:...`) so that it may hold spaces, then CR LF.
fn push_params(out: &mut String, params: &[&str]) {
    if let Some((last, middle)) = params.split_last() {
        for param in middle {
            out.push(' ');
            out.push_str(param);
        }
        out.push_str(" :");
        out.push_str(last);
    }
    out.push_str("\r\n");
}

/// The text of a CTCP ACTION (`/me`), if `text` is one.
pub fn action(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("\u{1}ACTION")?;
    let inner = inner.strip_suffix('\u{1}').unwrap_or(inner);
    Some(inner.strip_prefix(' ').unwrap_or(inner))
}

/// `#room` for a room named `room`.
pub fn channel(room: &str) -> String {
    format!("#{room}")
}

/// A text the chat sends to a room's members, as the IRC line it becomes, appended to `out` (nothing for texts
/// an IRC client has no use for). `room` is the room's name.
pub fn render_broadcast(text: &Text<'_>, lang: Lang, room: &str, out: &mut String) {
    let channel = channel(room);
    match *text {
        Text::Public { from, text, .. } => from_user(out, from, "PRIVMSG", &[&channel, text]),
        Text::Action { from, text, .. } => {
            from_user(out, from, "PRIVMSG", &[&channel, &format!("\u{1}ACTION {text}\u{1}")])
        }
        Text::Joined { name } | Text::JoinedRoom { name, .. } => from_user(out, name, "JOIN", &[&channel]),
        Text::LeftRoom { name, .. } => from_user(out, name, "PART", &[&channel, "Left"]),
        Text::Left { name } => from_user(out, name, "QUIT", &["Left the chat"]),
        Text::NickNotice { old, new } => from_user(out, old, "NICK", &[new]),
        ref other => from_server(out, "NOTICE", &[&channel, &other.render(lang)]),
    }
}

/// A reply to one IRC client (`nick`, `*` before registration), as IRC lines appended to `out`. Errors become
/// their numerics; what has no IRC form is a NOTICE carrying the text in the client's language.
pub fn render_reply(text: &Text<'_>, lang: Lang, nick: &str, out: &mut String) {
    match *text {
        Text::Private { from, text, .. } => from_user(out, from, "PRIVMSG", &[nick, text]),
        // An IRC client shows what it sent itself.
        Text::WhisperSent { .. } | Text::HelpHint | Text::AskName | Text::LangSet => {}
        Text::NameTaken { name } => numeric(out, 433, nick, &[name, "Nickname is already in use"]),
        Text::NameLooksLike { name, taken } => {
            numeric(out, 433, nick, &[name, &format!("Nickname looks too much like {taken}, who is connected")])
        }
        Text::NameReserved { name } => numeric(out, 432, nick, &[name, "Erroneous nickname: reserved"]),
        Text::NameUnverifiable { name } => numeric(out, 433, nick, &[name, &text.render(lang)]),
        Text::NameLostInCluster { .. } => from_server(out, "ERROR", &[&format!("Closing Link: {}", text.render(lang))]),
        Text::NameInvalid | Text::NameMixedScripts => numeric(out, 432, nick, &["*", &text.render(lang)]),
        Text::WhisperNoSuchUser { name } => numeric(out, 401, nick, &[name, "No such nick/channel"]),
        // 401 is the one numeric a PRIVMSG to a nick can fail with; its text says why this time.
        Text::WhisperUnreachable { name } => numeric(out, 401, nick, &[name, &text.render(lang)]),
        Text::NotInRoom { room } => numeric(out, 442, nick, &[&channel(room), "You're not on that channel"]),
        Text::TooManyMemberships { .. } => numeric(out, 405, nick, &["*", &text.render(lang)]),
        Text::TooManyRooms { .. } | Text::RoomNameInvalid => numeric(out, 403, nick, &["*", &text.render(lang)]),
        Text::UnknownCommand { command } => numeric(out, 421, nick, &[command, "Unknown command"]),
        Text::LineTooLong { .. } => numeric(out, 417, nick, &["Input line was too long"]),
        Text::Goodbye => from_server(out, "ERROR", &["Closing Link: Goodbye"]),
        Text::LoginTimedOut | Text::IdleTimedOut { .. } | Text::ShuttingDown => {
            from_server(out, "ERROR", &[&format!("Closing Link: {}", text.render(lang))])
        }
        ref other => {
            for line in other.render(lang).lines() {
                from_server(out, "NOTICE", &[nick, line]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::catalog::HourMinute;

    #[test]
    fn messages_parse_with_tags_source_and_trailing() {
        assert_eq!(parse("NICK Juan"), Ok(Message { command: "NICK", params: vec!["Juan"] }));
        assert_eq!(
            parse("@time=x;label=1 :j!j@h PRIVMSG #cocina :hola a todos"),
            Ok(Message { command: "PRIVMSG", params: vec!["#cocina", "hola a todos"] })
        );
        assert_eq!(
            parse("USER juan 0 * :Juan P"),
            Ok(Message { command: "USER", params: vec!["juan", "0", "*", "Juan P"] })
        );
        assert_eq!(parse("PING :"), Ok(Message { command: "PING", params: vec![""] }));
        assert_eq!(parse("CAP  LS   302"), Ok(Message { command: "CAP", params: vec!["LS", "302"] }));
        assert_eq!(parse(""), Err(ParseError::Empty));
        assert_eq!(parse("@tags-only"), Err(ParseError::Empty));
        assert_eq!(parse(&format!("PRIVMSG #a :{}", "x".repeat(600))), Err(ParseError::TooLong));
        // Long tags do not count against the 510 bytes.
        assert!(parse(&format!("@a={} PING x", "y".repeat(4000))).is_ok());
    }

    #[test]
    fn actions_are_ctcp() {
        assert_eq!(action("\u{1}ACTION waves\u{1}"), Some("waves"));
        assert_eq!(action("\u{1}ACTION waves"), Some("waves"));
        assert_eq!(action("waves"), None);
    }

    #[test]
    fn chat_texts_read_as_irc() {
        let at = HourMinute { hour: 14, minute: 30 };
        let mut out = String::new();
        render_broadcast(&Text::Public { at, from: "Ana", text: "hola : a" }, Lang::En, "general", &mut out);
        render_broadcast(&Text::Action { at, from: "Ana", text: "waves" }, Lang::En, "general", &mut out);
        render_broadcast(&Text::JoinedRoom { name: "Bea", room: "cocina" }, Lang::En, "cocina", &mut out);
        render_broadcast(&Text::NickNotice { old: "Bea", new: "Beatriz" }, Lang::En, "cocina", &mut out);
        assert_eq!(
            out,
            ":Ana!Ana@charla PRIVMSG #general :hola : a\r\n:Ana!Ana@charla PRIVMSG #general :\u{1}ACTION waves\u{1}\r\n\
             :Bea!Bea@charla JOIN :#cocina\r\n:Bea!Bea@charla NICK :Beatriz\r\n"
        );
        out.clear();
        render_reply(&Text::NameTaken { name: "Ana" }, Lang::En, "*", &mut out);
        render_reply(&Text::WhisperNoSuchUser { name: "Nadie" }, Lang::Es, "Juan", &mut out);
        assert_eq!(
            out,
            ":charla 433 * Ana :Nickname is already in use\r\n:charla 401 Juan Nadie :No such nick/channel\r\n"
        );
    }
}
