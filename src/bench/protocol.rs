//! The two dialects the tool speaks, as bytes to send and lines to recognise: Charla's plain lines (answer the
//! name prompt, `/join` a room), and IRC (NICK/USER, wait for 001, JOIN a channel, PRIVMSG, answer PING).
//!
//! Only lines that matter to the benchmark are recognised; everything else (help hints, history, MOTD, join
//! notices) is [`Incoming::Other`] and costs no more than a prefix check.

use std::str::FromStr;

use crate::bench::message::parse_digits;

/// Which server dialect to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Charla's protocol: answer `USERNAME:` with a name, public messages arrive as `[HH:MM] name: text`.
    Line,
    /// IRC, as served by ngIRCd and friends.
    Irc,
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "line" => Ok(Protocol::Line),
            "irc" => Ok(Protocol::Irc),
            other => Err(format!("unknown protocol {other:?} (expected line or irc)")),
        }
    }
}

impl Protocol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Line => "line",
            Protocol::Irc => "irc",
        }
    }
}

/// One received line, as far as the benchmark cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming<'a> {
    /// Charla asks for a name (`USERNAME:` or its translation: a single word ending in a colon).
    NamePrompt,
    /// Charla's welcome, or IRC's 001: the name was accepted.
    Registered,
    /// Charla's `Now in #room` (the answer to `/join`), or IRC's end of a channel's NAMES list (366, the last
    /// reply to a JOIN): the room or channel, as the server spells it (Charla's without its `#`).
    InRoom(&'a [u8]),
    /// A public message from one of this run's clients, by client index.
    Message {
        client: usize,
        text: &'a [u8],
    },
    /// An IRC `PING`, with its token.
    Ping(&'a [u8]),
    /// The server refused the login or a command (Charla's `Error: ...`, IRC's `ERROR` or an error numeric).
    Refused(&'a [u8]),
    Other,
}

/// What the rooms of a run with `--rooms N` are called: this plus the room's number (`bench-3`; on IRC, the
/// channel `#bench-3`).
pub(crate) const ROOM_PREFIX: &str = "bench-";
/// Where Charla puts a named user, and where a one-room run stays.
pub(crate) const CHARLA_LOBBY: &str = "general";
/// Charla's answer to `/join`, before the room's name, in each of its languages.
const NOW_IN: [&[u8]; 2] = [b"Now in #", "Ahora estás en #".as_bytes()];

/// A protocol plus this run's naming: how to talk, and how to recognise our own clients' messages.
#[derive(Debug, Clone)]
pub(crate) struct Dialect {
    pub(crate) protocol: Protocol,
    /// `bench-<pid>-`: every client's name is this plus its index.
    name_prefix: String,
    /// The IRC channel every client joins with one room, or `None` to stop at registration
    /// (`connect --no-join`).
    channel: Option<String>,
    /// Rooms the clients are spread over; client `i` is in room `i % rooms`.
    rooms: usize,
}

/// IRC numerics that end a login or a JOIN: nickname problems, registration problems, channel refusals.
const IRC_REFUSALS: &[&[u8]] = &[
    b"403", b"405", b"431", b"432", b"433", b"436", b"437", b"451", b"461", b"462", b"464", b"465", b"471", b"473",
    b"474", b"475", b"476", b"477",
];

impl Dialect {
    pub(crate) fn new(protocol: Protocol, name_prefix: String, channel: Option<String>, rooms: usize) -> Dialect {
        Dialect { protocol, name_prefix, channel, rooms: rooms.max(1) }
    }

    /// The name of room `room`, as the server spells it: Charla's without `#` (`general` for the one room,
    /// `bench-3`), IRC's channel with it (`--channel` for the one room, `#bench-3`).
    pub(crate) fn room_name(&self, room: usize) -> String {
        match (self.protocol, self.rooms) {
            (Protocol::Line, 1) => CHARLA_LOBBY.to_owned(),
            (Protocol::Line, _) => format!("{ROOM_PREFIX}{room}"),
            (Protocol::Irc, 1) => self.channel.clone().unwrap_or_default(),
            (Protocol::Irc, _) => format!("#{ROOM_PREFIX}{room}"),
        }
    }

    /// Whether `room`, from an [`Incoming::InRoom`], is client `index`'s room. Room and channel names ignore
    /// ASCII case on both kinds of server.
    pub(crate) fn is_room_of(&self, index: usize, room: &[u8]) -> bool {
        room.eq_ignore_ascii_case(self.room_name(index % self.rooms).as_bytes())
    }

    pub(crate) fn name(&self, index: usize) -> String {
        format!("{}{index}", self.name_prefix)
    }

    /// What to send as soon as the TCP connection is up.
    pub(crate) fn greet(&self, index: usize, out: &mut Vec<u8>) {
        if self.protocol == Protocol::Irc {
            let name = self.name(index);
            out.extend_from_slice(format!("NICK {name}\r\nUSER {name} 0 * :charla-bench\r\n").as_bytes());
        }
    }

    /// The answer to [`Incoming::NamePrompt`].
    pub(crate) fn answer_prompt(&self, index: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name(index).as_bytes());
        out.push(b'\n');
    }

    /// What client `index` sends once [`Incoming::Registered`] arrives; returns whether it is now in its room
    /// (Charla with one room: yes, naming puts it in the lobby; otherwise only once the `/join` or JOIN is
    /// answered with [`Incoming::InRoom`]; IRC without a channel: at once).
    pub(crate) fn after_registered(&self, index: usize, out: &mut Vec<u8>) -> bool {
        let room = self.room_name(index % self.rooms);
        match (self.protocol, self.rooms, &self.channel) {
            (Protocol::Line, 1, _) | (Protocol::Irc, 1, None) => true,
            (Protocol::Line, _, _) => {
                out.extend_from_slice(format!("/join {room}\n").as_bytes());
                false
            }
            (Protocol::Irc, _, _) => {
                out.extend_from_slice(format!("JOIN {room}\r\n").as_bytes());
                false
            }
        }
    }

    /// Appends one public message to room `room` (Charla sends it to the sender's current room, which is its
    /// own); `text` writes the text itself.
    pub(crate) fn public_message(&self, room: usize, out: &mut Vec<u8>, text: impl FnOnce(&mut Vec<u8>)) {
        match self.protocol {
            Protocol::Line => {
                text(out);
                out.push(b'\n');
            }
            Protocol::Irc => {
                out.extend_from_slice(b"PRIVMSG ");
                out.extend_from_slice(self.room_name(room).as_bytes());
                out.extend_from_slice(b" :");
                text(out);
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    pub(crate) fn pong(&self, token: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(b"PONG ");
        out.extend_from_slice(token);
        out.extend_from_slice(b"\r\n");
    }

    /// The polite way to leave.
    pub(crate) fn quit(&self, out: &mut Vec<u8>) {
        match self.protocol {
            Protocol::Line => out.extend_from_slice(b"/quit\n"),
            Protocol::Irc => out.extend_from_slice(b"QUIT :charla-bench done\r\n"),
        }
    }

    /// Recognises one line (its `\n` already removed; a trailing `\r` is ignored).
    pub(crate) fn parse<'a>(&self, line: &'a [u8]) -> Incoming<'a> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self.protocol {
            Protocol::Line => self.parse_line(line),
            Protocol::Irc => self.parse_irc(line),
        }
    }

    /// `[HH:MM] name: text` (also tagged `#room [HH:MM] name: text`, from a room that is not the client's
    /// current one), `USERNAME:`, `Welcome NAME!`, `Now in #room`, `Error: ...`.
    fn parse_line<'a>(&self, line: &'a [u8]) -> Incoming<'a> {
        // A bench client is in its room and the lobby, where nobody talks: a tagged message would come from a
        // room it should not hear, and is parsed so that the worker can count it as crossed.
        let line = match line.first() {
            Some(b'#') => match memchr::memchr(b' ', line) {
                Some(space) => &line[space + 1..],
                None => return Incoming::Other,
            },
            _ => line,
        };
        if line.first() == Some(&b'[') {
            let Some(close) = find_pair(line, b']', b' ') else {
                return Incoming::Other;
            };
            let rest = &line[close + 2..];
            let Some(colon) = find_pair(rest, b':', b' ') else {
                return Incoming::Other;
            };
            return match self.client_index(&rest[..colon]) {
                Some(client) => Incoming::Message { client, text: &rest[colon + 2..] },
                None => Incoming::Other,
            };
        }
        if line.starts_with(b"Error:") {
            return Incoming::Refused(line);
        }
        if line.starts_with(b"Welcome ") || line.starts_with(b"Bienvenido ") {
            return Incoming::Registered;
        }
        if let Some(room) = NOW_IN.iter().find_map(|prefix| line.strip_prefix(*prefix)) {
            return Incoming::InRoom(room);
        }
        if line.len() > 1 && line.ends_with(b":") && !line.contains(&b' ') {
            return Incoming::NamePrompt;
        }
        Incoming::Other
    }

    /// `:prefix COMMAND params`, `PING :token`, `ERROR :reason`.
    fn parse_irc<'a>(&self, line: &'a [u8]) -> Incoming<'a> {
        if let Some(token) = line.strip_prefix(b"PING ") {
            return Incoming::Ping(token);
        }
        if line.starts_with(b"ERROR ") {
            return Incoming::Refused(line);
        }
        let Some(prefixed) = line.strip_prefix(b":") else {
            return Incoming::Other;
        };
        let mut words = prefixed.splitn(3, |&b| b == b' ');
        let (Some(source), Some(command)) = (words.next(), words.next()) else {
            return Incoming::Other;
        };
        match command {
            b"PRIVMSG" => {
                let params = words.next().unwrap_or_default();
                let nick = source.split(|&b| b == b'!').next().unwrap_or_default();
                match (self.client_index(nick), find_pair(params, b' ', b':')) {
                    (Some(client), Some(at)) => Incoming::Message { client, text: &params[at + 2..] },
                    _ => Incoming::Other,
                }
            }
            b"001" => Incoming::Registered,
            // `366 nick #channel :End of NAMES list`
            b"366" => match words.next().unwrap_or_default().split(|&b| b == b' ').nth(1) {
                Some(channel) => Incoming::InRoom(channel),
                None => Incoming::Other,
            },
            numeric if IRC_REFUSALS.contains(&numeric) => Incoming::Refused(line),
            _ => Incoming::Other,
        }
    }

    /// The index in `bench-<pid>-<index>`, for names of this run only.
    fn client_index(&self, name: &[u8]) -> Option<usize> {
        let digits = name.strip_prefix(self.name_prefix.as_bytes())?;
        usize::try_from(parse_digits(digits)?).ok()
    }
}

/// Where the two-byte sequence `first second` starts. Cheaper than `memmem` for these short lines, which pays
/// for building a searcher on every call.
fn find_pair(haystack: &[u8], first: u8, second: u8) -> Option<usize> {
    memchr::memchr_iter(first, haystack).find(|&at| haystack.get(at + 1) == Some(&second))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> Dialect {
        Dialect::new(Protocol::Line, "bench-7-".into(), Some("#bench".into()), 1)
    }

    fn irc() -> Dialect {
        Dialect::new(Protocol::Irc, "bench-7-".into(), Some("#bench".into()), 1)
    }

    #[test]
    fn charla_login_and_messages() {
        let d = line();
        assert_eq!(d.parse(b"USERNAME:"), Incoming::NamePrompt);
        assert_eq!(d.parse(b"USUARIO:"), Incoming::NamePrompt);
        assert_eq!(d.parse(b"Welcome bench-7-3!"), Incoming::Registered);
        assert_eq!(d.parse(b"Type /help for commands"), Incoming::Other);
        assert_eq!(
            d.parse(b"Error: the server is full; try again later"),
            Incoming::Refused(b"Error: the server is full; try again later")
        );
        assert_eq!(d.parse(b"[14:05] bench-7-12: 3 99 xx"), Incoming::Message { client: 12, text: b"3 99 xx" });
        assert_eq!(d.parse(b"[14:05] bench-8-12: 3 99 xx"), Incoming::Other, "another run's client");
        assert_eq!(d.parse(b"[14:05] Juan: hola: que tal"), Incoming::Other);
        assert_eq!(d.parse(b"[14:05] bench-7-2: a:b: c"), Incoming::Message { client: 2, text: b"a:b: c" });
        assert_eq!(d.parse(b"*** bench-7-1 joined the chat"), Incoming::Other);
    }

    #[test]
    fn irc_login_ping_and_messages() {
        let d = irc();
        let mut out = Vec::new();
        d.greet(4, &mut out);
        assert_eq!(out, b"NICK bench-7-4\r\nUSER bench-7-4 0 * :charla-bench\r\n");
        assert_eq!(d.parse(b":irc.local 001 bench-7-4 :Welcome\r"), Incoming::Registered);
        assert_eq!(d.parse(b":irc.local 366 bench-7-4 #bench :End"), Incoming::InRoom(b"#bench"));
        assert!(d.is_room_of(4, b"#Bench"));
        let mut out = Vec::new();
        assert!(!d.after_registered(4, &mut out));
        assert_eq!(out, b"JOIN #bench\r\n");
        assert_eq!(d.parse(b":irc.local 422 bench-7-4 :MOTD missing"), Incoming::Other);
        assert_eq!(
            d.parse(b":irc.local 433 * bench-7-4 :in use"),
            Incoming::Refused(b":irc.local 433 * bench-7-4 :in use")
        );
        assert_eq!(d.parse(b"PING :irc.local"), Incoming::Ping(b":irc.local"));
        assert_eq!(
            d.parse(b":bench-7-0!~bench-7-0@localhost PRIVMSG #bench :5 10 x"),
            Incoming::Message { client: 0, text: b"5 10 x" }
        );
        let mut out = Vec::new();
        d.public_message(0, &mut out, |o| o.extend_from_slice(b"1 2"));
        assert_eq!(out, b"PRIVMSG #bench :1 2\r\n");
    }

    #[test]
    fn with_rooms_charla_clients_join_theirs_and_wait_for_the_answer() {
        let d = Dialect::new(Protocol::Line, "bench-7-".into(), None, 3);
        let mut out = Vec::new();
        assert!(!d.after_registered(5, &mut out), "in the lobby until the /join is answered");
        assert_eq!(out, b"/join bench-2\n");
        assert_eq!(d.parse(b"Now in #bench-2"), Incoming::InRoom(b"bench-2"));
        assert_eq!(d.parse("Ahora estás en #bench-2".as_bytes()), Incoming::InRoom(b"bench-2"));
        assert!(d.is_room_of(5, b"bench-2"));
        assert!(!d.is_room_of(4, b"bench-2"));
        assert_eq!(d.parse(b"#bench-1 [14:05] bench-7-4: 3 99 x"), Incoming::Message { client: 4, text: b"3 99 x" });
        assert_eq!(d.parse(b"#general *** bench-7-1 joined the chat"), Incoming::Other);
        assert_eq!(d.parse(b"*** bench-7-1 joined #bench-2"), Incoming::Other);
        assert_eq!(d.parse(b"#bench-2"), Incoming::Other);
    }

    #[test]
    fn with_rooms_irc_clients_join_their_channel_and_talk_there() {
        let d = Dialect::new(Protocol::Irc, "bench-7-".into(), Some("#bench".into()), 3);
        let mut out = Vec::new();
        assert!(!d.after_registered(4, &mut out));
        assert_eq!(out, b"JOIN #bench-1\r\n");
        assert!(d.is_room_of(4, b"#bench-1"));
        assert!(!d.is_room_of(4, b"#bench"));
        let mut out = Vec::new();
        d.public_message(1, &mut out, |o| o.extend_from_slice(b"1 2"));
        assert_eq!(out, b"PRIVMSG #bench-1 :1 2\r\n");
    }

    #[test]
    fn charlas_own_lines_are_the_ones_recognised_here() {
        use crate::core::catalog::{Lang, Text};
        for lang in Lang::ALL {
            let now_in = Text::NowIn { room: "bench-0" }.render(lang);
            assert_eq!(line().parse(now_in.as_bytes()), Incoming::InRoom(b"bench-0"), "{now_in}");
            let welcome = Text::Welcome { name: "bench-7-0" }.render(lang);
            assert_eq!(line().parse(welcome.as_bytes()), Incoming::Registered, "{welcome}");
        }
        assert_eq!(crate::core::rooms::LOBBY, CHARLA_LOBBY);
    }
}
