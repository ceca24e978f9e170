//! The chat as IRC clients see it: registration (CAP, NICK, USER), the commands real clients send, and the
//! replies they expect, over the same users, names, rooms (`#room`), history and limits as everyone else.
//!
//! Lines in, effects out, like the rest of the core; the message format and the rendering of the chat's texts
//! as IRC lines are in `core::irc`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Chat, ClientId, Now};
use crate::core::catalog::Text;
use crate::core::irc::{self, ParseError, SERVER_NAME, USER_HOST};
use crate::core::names::{Name, NameKey};
use crate::core::rooms::{RoomId, RoomName};
use crate::core::text::clean_message;
use crate::core::time::utc_timestamp;

/// The capabilities this server offers (IRCv3).
const CAPABILITIES: &str = "server-time";
/// What RPL_ISUPPORT (005) says of this server.
const ISUPPORT: [&str; 8] = [
    "CASEMAPPING=rfc7613",
    "CHANTYPES=#",
    "NICKLEN=32",
    "CHANNELLEN=33",
    "UTF8ONLY",
    "NETWORK=Charla",
    "PREFIX=",
    "CHANMODES=,,,",
];
/// Names per RPL_NAMREPLY (353) line, so that each stays well under 512 bytes (a name is at most 128).
const NAMES_PER_LINE: usize = 3;
/// The longest user name kept from USER, in ASCII characters (WHOIS and WHO show it).
const MAX_USERNAME_CHARS: usize = 32;
/// The longest real name kept from USER, and the longest AWAY message, in bytes: short enough that a WHO or
/// WHOIS line carrying it stays under IRC's 512 bytes.
const MAX_FREE_TEXT_BYTES: usize = 200;

/// An IRC connection's state beside what every client has.
#[derive(Debug, Default)]
pub(super) struct IrcSession {
    /// The nickname asked for before registration (NICK).
    nick_wanted: Option<String>,
    /// Whether USER has been sent.
    user_given: bool,
    /// Capability negotiation is under way (CAP LS or REQ before registration): registration waits for CAP END.
    caps_pending: bool,
    /// The client asked for `server-time`: history lines carry their time as a tag.
    server_time: bool,
    /// When it was pinged for being silent, if it was and has not answered.
    pinged_at: Option<Instant>,
    /// The user name USER gave, reduced to ASCII letters, digits and `-_.` (the nick if nothing is left).
    username: String,
    /// The real name USER gave, cleaned like a message.
    realname: String,
    /// The AWAY message, while the user is away: told to whoever writes to it privately, shown by WHOIS.
    away: Option<String>,
}

impl IrcSession {
    /// When the keepalive next acts: a ping after a silence, or the close when a ping goes unanswered.
    pub(super) fn ping_deadline(&self, since: Instant, ping_after: Duration) -> Instant {
        match self.pinged_at {
            Some(pinged) => pinged + ping_after,
            None => since + ping_after,
        }
    }
}

impl Chat {
    /// One line from an IRC connection.
    pub(super) fn irc_line(&mut self, id: ClientId, line: &str, now: Now) {
        let message = match irc::parse(line) {
            Ok(message) => message,
            Err(ParseError::Empty) => return,
            Err(ParseError::TooLong) => return self.irc_numeric(id, 417, &["Input line was too long"]),
        };
        let Some(client) = self.clients.get_mut(&id) else { return };
        let registered = client.name.is_some();
        if registered {
            // Any line shows the client is there: the keepalive starts over.
            client.since = now.mono;
            if let Some(session) = client.irc.as_mut() {
                session.pinged_at = None;
            }
        }
        let command = message.command.to_ascii_uppercase();
        let params = &message.params;
        match command.as_str() {
            "CAP" => self.irc_cap(id, params, now),
            "PASS" if !registered => {
                // No passwords are configured: refused cleanly.
                self.irc_numeric(id, 464, &["Password incorrect: this server takes no password"]);
                self.irc_close(id, "Password incorrect");
            }
            "NICK" => match params.first().filter(|n| !n.is_empty()) {
                None => self.irc_numeric(id, 431, &["No nickname given"]),
                Some(nick) if registered => self.nick(id, nick, now),
                Some(nick) => {
                    if let Some(session) = self.irc_session(id) {
                        session.nick_wanted = Some((*nick).to_owned());
                    }
                    self.irc_try_register(id, now);
                }
            },
            "USER" if registered => self.irc_numeric(id, 462, &["You may not reregister"]),
            "USER" => {
                // The real name is the fourth parameter, and may not be empty (Modern IRC).
                if params.len() < 4 || params[3].is_empty() {
                    return self.irc_numeric(id, 461, &["USER", "Not enough parameters"]);
                }
                if let Some(session) = self.irc_session(id) {
                    session.user_given = true;
                    session.username = params[0]
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                        .take(MAX_USERNAME_CHARS)
                        .collect();
                    session.realname = free_text(params[3]);
                }
                self.irc_try_register(id, now);
            }
            "PING" => {
                let Some(&token) = params.first() else {
                    return self.irc_numeric(id, 461, &["PING", "Not enough parameters"]);
                };
                let mut out = String::new();
                irc::from_server(&mut out, "PONG", &[SERVER_NAME, token]);
                self.push_to(id, Rc::from(out.into_bytes()));
            }
            "PONG" => {}
            "QUIT" => self.quit(id),
            _ if !registered => self.irc_numeric(id, 451, &["You have not registered"]),
            "JOIN" => self.irc_join(id, params),
            "PART" => match params.first() {
                None => self.irc_numeric(id, 461, &["PART", "Not enough parameters"]),
                Some(channels) => {
                    for channel in channels.split(',').filter(|c| !c.is_empty()) {
                        self.leave(id, Some(channel));
                    }
                }
            },
            "PRIVMSG" | "NOTICE" => self.irc_privmsg(id, params, command == "NOTICE", now),
            "NAMES" => self.irc_names_command(id, params),
            "WHO" => self.irc_who(id, params),
            "WHOIS" => self.irc_whois(id, params),
            "MODE" => self.irc_mode(id, params),
            "TOPIC" => self.irc_topic(id, params),
            "LUSERS" => self.irc_lusers(id),
            "LIST" => self.irc_list(id),
            "AWAY" => self.irc_away(id, params.first().copied()),
            "MOTD" => self.irc_numeric(id, 422, &["MOTD File is missing"]),
            "ISON" => self.irc_ison(id, params),
            "USERHOST" => self.irc_userhost(id, params),
            _ => self.irc_numeric(id, 421, &[message.command, "Unknown command"]),
        }
    }

    fn irc_session(&mut self, id: ClientId) -> Option<&mut IrcSession> {
        self.clients.get_mut(&id).and_then(|c| c.irc.as_deref_mut())
    }

    /// Registers once NICK and USER have come and capability negotiation is over.
    fn irc_try_register(&mut self, id: ClientId, now: Now) {
        let Some(session) = self.irc_session(id) else { return };
        if !session.user_given || session.caps_pending {
            return;
        }
        let Some(nick) = session.nick_wanted.take() else { return };
        let Some(name) = self.check_new_name(id, &nick) else { return };
        self.register(id, name, now);
    }

    /// The welcome burst (001 to 005, no MOTD), then the lobby joined as a JOIN would.
    pub(super) fn irc_welcome(&mut self, id: ClientId) {
        let Some(nick) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        let mut out = String::new();
        let welcome = format!("Welcome to the Charla chat, {nick}");
        let host = format!("Your host is {SERVER_NAME}, running Charla {}", env!("CARGO_PKG_VERSION"));
        irc::numeric(&mut out, 1, &nick, &[&welcome]);
        irc::numeric(&mut out, 2, &nick, &[&host]);
        irc::numeric(&mut out, 3, &nick, &["This server speaks Charla's lines and IRC"]);
        let _ = std::fmt::Write::write_fmt(
            &mut out,
            format_args!(":{SERVER_NAME} 004 {nick} {SERVER_NAME} {} i n\r\n", env!("CARGO_PKG_VERSION")),
        );
        let mut isupport: Vec<&str> = ISUPPORT.to_vec();
        isupport.push("are supported by this server");
        irc::numeric(&mut out, 5, &nick, &isupport);
        irc::numeric(&mut out, 422, &nick, &["MOTD File is missing"]);
        self.push_to(id, Rc::from(out.into_bytes()));
        let lobby = self.lobby;
        self.irc_enter(id, lobby);
    }

    /// Into a room, as IRC has it: the JOIN echo, the topic (none), the names, the room's recent history; then
    /// the room's other members hear of it.
    pub(super) fn irc_enter(&mut self, id: ClientId, room: RoomId) {
        self.enter_room(id, room);
        let (Some(nick), Some(client)) = (self.name_of(id).map(|n| n.as_str().to_owned()), self.clients.get(&id))
        else {
            return;
        };
        let server_time = client.irc.as_ref().is_some_and(|s| s.server_time);
        let Some(room_name) = self.rooms.get(room).map(|r| r.name.as_str().to_owned()) else { return };
        let channel = irc::channel(&room_name);
        let mut out = String::new();
        irc::from_user(&mut out, &nick, "JOIN", &[&channel]);
        irc::numeric(&mut out, 331, &nick, &[&channel, "No topic is set"]);
        self.irc_names_into(&nick, room, &mut out);
        self.irc_history_into(room, &channel, server_time, &mut out);
        self.push_to(id, Rc::from(out.into_bytes()));
        let notice = if room == self.lobby {
            Text::Joined { name: &nick }
        } else {
            Text::JoinedRoom { name: &nick, room: &room_name }
        };
        self.notify_room(room, Some(id), &[notice]);
    }

    /// RPL_NAMREPLY (353) lines and RPL_ENDOFNAMES (366) for a room, in name order.
    fn irc_names_into(&self, me: &str, room: RoomId, out: &mut String) {
        let channel = self.rooms.get(room).map_or_else(String::new, |r| irc::channel(r.name.as_str()));
        let mut members: Vec<&str> = self
            .by_name
            .values()
            .filter_map(|user| self.clients.get(user))
            .filter(|client| client.rooms.iter().any(|&(r, _)| r == room))
            .filter_map(|client| client.name.as_ref().map(Name::as_str))
            .collect();
        if let Some(cluster) = self.cluster.as_ref() {
            // Users on other nodes are in the room too.
            members.extend(cluster.names_in(room).map(|(_, name)| name));
        }
        for names in members.chunks(NAMES_PER_LINE) {
            irc::numeric(out, 353, me, &["=", &channel, &names.join(" ")]);
        }
        irc::numeric(out, 366, me, &[&channel, "End of /NAMES list"]);
    }

    /// The room's recent history as the PRIVMSGs they were, stamped with `server-time` when the client asked
    /// for it, else with `[HH:MM]` in front of the text; the newest that fit in one reply.
    fn irc_history_into(&self, room: RoomId, channel: &str, server_time: bool, out: &mut String) {
        let Some(room) = self.rooms.get(room) else { return };
        let budget = self.config.max_reply_bytes.saturating_sub(out.len() + 64);
        let mut newest_first = Vec::new();
        let mut used = 0;
        for message in room.history.iter().rev() {
            let mut line = String::new();
            let text = if message.action {
                format!("\u{1}ACTION {}\u{1}", message.text)
            } else if server_time {
                message.text.clone()
            } else {
                let at = (self.local_clock)(message.ts);
                format!("[{:02}:{:02}] {}", at.hour, at.minute, message.text)
            };
            if server_time {
                line.push_str(&format!("@time={} ", utc_timestamp(message.ts)));
            }
            irc::from_user(&mut line, &message.user, "PRIVMSG", &[channel, &text]);
            used += line.len();
            if used > budget {
                break;
            }
            newest_first.push(line);
        }
        newest_first.iter().rev().for_each(|line| out.push_str(line));
    }

    /// JOIN #a,#b (JOIN 0 leaves every room). A room already joined is left alone.
    fn irc_join(&mut self, id: ClientId, params: &[&str]) {
        let Some(channels) = params.first() else {
            return self.irc_numeric(id, 461, &["JOIN", "Not enough parameters"]);
        };
        if *channels == "0" {
            let rooms: Vec<String> = self.irc_rooms_of(id).into_iter().map(|(_, name)| name).collect();
            for room in rooms {
                self.leave(id, Some(&room));
            }
            return;
        }
        for channel in channels.split(',').filter(|c| !c.is_empty()) {
            let already = RoomName::parse(channel).ok().and_then(|name| self.room_by_key.get(&name.key()).copied());
            let member = already.is_some_and(|room| self.irc_rooms_of(id).iter().any(|&(r, _)| r == room));
            if !member {
                self.join(id, channel);
            }
        }
    }

    /// The rooms a client is in, with their names.
    fn irc_rooms_of(&self, id: ClientId) -> Vec<(RoomId, String)> {
        let Some(client) = self.clients.get(&id) else { return Vec::new() };
        client
            .rooms
            .iter()
            .filter_map(|&(room, _)| Some((room, self.rooms.get(room)?.name.as_str().to_owned())))
            .collect()
    }

    /// PRIVMSG (or NOTICE, which never gets an error back) to rooms and nicks; `\x01ACTION` is `/me`.
    fn irc_privmsg(&mut self, id: ClientId, params: &[&str], notice: bool, now: Now) {
        let (Some(targets), Some(text)) = (params.first(), params.get(1)) else {
            if !notice {
                let missing = if params.is_empty() { 411 } else { 412 };
                let reason = if missing == 411 { "No recipient given" } else { "No text to send" };
                self.irc_numeric(id, missing, &[reason]);
            }
            return;
        };
        let (text, action) = match irc::action(text) {
            Some(action) => (action, true),
            // Other CTCP requests (VERSION, PING...) are not answered on anyone's behalf.
            None if text.starts_with('\u{1}') => return,
            None => (*text, false),
        };
        let clean = clean_message(text);
        if clean.trim().is_empty() {
            if !notice {
                self.irc_numeric(id, 412, &["No text to send"]);
            }
            return;
        }
        if clean.len() > self.config.max_line_bytes {
            return self.line_too_long(id);
        }
        for target in targets.split(',').filter(|t| !t.is_empty()) {
            if target.starts_with('#') {
                let room = RoomName::parse(target).ok().and_then(|name| self.room_by_key.get(&name.key()).copied());
                let member = room.filter(|&room| self.irc_rooms_of(id).iter().any(|&(r, _)| r == room));
                match member {
                    Some(room) => self.say_in(id, room, &clean, action, now),
                    None if notice => {}
                    None if room.is_some() => self.irc_numeric(id, 404, &[target, "Cannot send to channel"]),
                    None => self.irc_numeric(id, 403, &[target, "No such channel"]),
                }
            } else if self.user_exists(target) {
                let text = if action { format!("* {clean}") } else { clean.to_string() };
                self.whisper(id, target, &text, now);
                // A message (not a notice, which is never answered) to someone away gets the away message back
                // (known for users of this node only).
                if let Some(&user) = self.by_name.get(&NameKey::of(target))
                    && let Some((nick, away)) = self.irc_identity(user).and_then(|who| Some((who.nick, who.away?)))
                    && !notice
                    && user != id
                {
                    self.irc_numeric(id, 301, &[&nick, &away]);
                }
            } else if !notice {
                self.irc_numeric(id, 401, &[target, "No such nick/channel"]);
            }
        }
    }

    fn irc_names_command(&mut self, id: ClientId, params: &[&str]) {
        let Some(me) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        let rooms: Vec<RoomId> = match params.first() {
            Some(channels) => channels
                .split(',')
                .filter_map(|c| RoomName::parse(c).ok())
                .filter_map(|name| self.room_by_key.get(&name.key()).copied())
                .collect(),
            None => self.irc_rooms_of(id).into_iter().map(|(room, _)| room).collect(),
        };
        let mut out = String::new();
        for room in rooms {
            self.irc_names_into(&me, room, &mut out);
        }
        if out.is_empty() {
            irc::numeric(&mut out, 366, &me, &[params.first().copied().unwrap_or("*"), "End of /NAMES list"]);
        }
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    /// WHO #room (its members), WHO nick, or WHO mask (`*` and `?` over nicks, without regard to case); as
    /// many as fit in one reply.
    fn irc_who(&mut self, id: ClientId, params: &[&str]) {
        let Some(me) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        let mask = params.first().copied().unwrap_or("*");
        let room = RoomName::parse(mask)
            .ok()
            .filter(|_| mask.starts_with('#'))
            .and_then(|n| self.room_by_key.get(&n.key()).copied());
        let (channel, users): (String, Vec<ClientId>) = if let Some(room) = room {
            (irc::channel(self.rooms[room].name.as_str()), self.rooms[room].members.iter().map(|m| m.id).collect())
        } else if mask.contains(['*', '?']) {
            let mask = mask.to_lowercase();
            let users = self
                .by_name
                .values()
                .copied()
                .filter(|&user| self.name_of(user).is_some_and(|n| glob_matches(&mask, &n.as_str().to_lowercase())))
                .collect();
            ("*".to_owned(), users)
        } else {
            ("*".to_owned(), self.by_name.get(&NameKey::of(mask)).copied().into_iter().collect())
        };
        let budget = self.config.max_reply_bytes.saturating_sub(512);
        let mut out = String::new();
        for who in users.into_iter().filter_map(|user| self.irc_identity(user)) {
            if out.len() > budget {
                break;
            }
            let flags = if who.away.is_some() { "G" } else { "H" };
            // The last field is the hop count (always 0: one server) and the real name.
            let realname = format!("0 {}", who.realname);
            let fields = [&channel, &who.username, USER_HOST, SERVER_NAME, &who.nick, flags, &realname];
            irc::numeric(&mut out, 352, &me, &fields);
        }
        irc::numeric(&mut out, 315, &me, &[mask, "End of /WHO list"]);
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    /// How `user` shows in WHO and WHOIS: IRC users as USER and AWAY left them, everyone else by name alone.
    fn irc_identity(&self, user: ClientId) -> Option<Identity> {
        let client = self.clients.get(&user)?;
        let nick = client.name.as_ref()?.as_str().to_owned();
        let session = client.irc.as_deref();
        let given = |text: Option<&String>| text.filter(|t| !t.is_empty()).cloned().unwrap_or_else(|| nick.clone());
        Some(Identity {
            username: given(session.map(|s| &s.username)),
            realname: given(session.map(|s| &s.realname)),
            away: session.and_then(|s| s.away.clone()),
            nick,
        })
    }

    fn irc_whois(&mut self, id: ClientId, params: &[&str]) {
        let Some(me) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        let Some(target) = params.last() else {
            return self.irc_numeric(id, 431, &["No nickname given"]);
        };
        let mut out = String::new();
        match self.by_name.get(&NameKey::of(target)).copied().and_then(|user| Some((user, self.irc_identity(user)?))) {
            Some((user, who)) => {
                let nick = who.nick;
                irc::numeric(&mut out, 311, &me, &[&nick, &who.username, USER_HOST, "*", &who.realname]);
                let channels: Vec<String> =
                    self.irc_rooms_of(user).iter().map(|(_, name)| irc::channel(name)).collect();
                if !channels.is_empty() {
                    irc::numeric(&mut out, 319, &me, &[&nick, &channels.join(" ")]);
                }
                irc::numeric(&mut out, 312, &me, &[&nick, SERVER_NAME, "Charla"]);
                if let Some(away) = &who.away {
                    irc::numeric(&mut out, 301, &me, &[&nick, away]);
                }
                irc::numeric(&mut out, 318, &me, &[&nick, "End of /WHOIS list"]);
            }
            None => {
                irc::numeric(&mut out, 401, &me, &[target, "No such nick/channel"]);
                irc::numeric(&mut out, 318, &me, &[target, "End of /WHOIS list"]);
            }
        }
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    /// Enough of MODE that clients stop asking: no channel or user modes exist here.
    fn irc_mode(&mut self, id: ClientId, params: &[&str]) {
        let Some(me) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        let Some(target) = params.first() else {
            return self.irc_numeric(id, 461, &["MODE", "Not enough parameters"]);
        };
        let mut out = String::new();
        if target.starts_with('#') {
            match params.get(1) {
                Some(modes) if modes.contains('b') => {
                    irc::numeric(&mut out, 368, &me, &[target, "End of channel ban list"])
                }
                Some(_) => irc::numeric(&mut out, 482, &me, &[target, "Channel modes cannot be changed here"]),
                None => irc::numeric(&mut out, 324, &me, &[target, "+"]),
            }
        } else if NameKey::of(target) == NameKey::of(&me) {
            irc::numeric(&mut out, 221, &me, &["+"]);
        } else {
            irc::numeric(&mut out, 502, &me, &["Cannot change mode for other users"]);
        }
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    fn irc_topic(&mut self, id: ClientId, params: &[&str]) {
        let Some(channel) = params.first() else {
            return self.irc_numeric(id, 461, &["TOPIC", "Not enough parameters"]);
        };
        let exists = RoomName::parse(channel).ok().is_some_and(|name| self.room_by_key.contains_key(&name.key()));
        if !channel.starts_with('#') || !exists {
            self.irc_numeric(id, 403, &[channel, "No such channel"]);
        } else if params.len() > 1 {
            self.irc_numeric(id, 482, &[channel, "Topics cannot be set here"]);
        } else {
            self.irc_numeric(id, 331, &[channel, "No topic is set"]);
        }
    }

    fn irc_lusers(&mut self, id: ClientId) {
        let users = self.by_name.len();
        let rooms = self.rooms.len().to_string();
        let Some(me) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        let mut out = String::new();
        irc::numeric(&mut out, 251, &me, &[&format!("There are {users} users and 0 invisible on 1 servers")]);
        irc::numeric(&mut out, 254, &me, &[&rooms, "channels formed"]);
        irc::numeric(&mut out, 255, &me, &[&format!("I have {users} clients and 0 servers")]);
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    fn irc_list(&mut self, id: ClientId) {
        let Some(me) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        let mut out = String::new();
        irc::numeric(&mut out, 321, &me, &["Channel", "Users  Name"]);
        for &room in self.room_by_key.values() {
            let room = &self.rooms[room];
            irc::numeric(&mut out, 322, &me, &[&irc::channel(room.name.as_str()), &room.population().to_string(), ""]);
        }
        irc::numeric(&mut out, 323, &me, &["End of /LIST"]);
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    fn irc_ison(&mut self, id: ClientId, params: &[&str]) {
        let present: Vec<String> = params
            .iter()
            .flat_map(|p| p.split(' '))
            .filter_map(|nick| self.by_name.get(&NameKey::of(nick)).and_then(|&user| self.name_of(user)))
            .map(|name| name.as_str().to_owned())
            .collect();
        self.irc_numeric(id, 303, &[&present.join(" ")]);
    }

    fn irc_userhost(&mut self, id: ClientId, params: &[&str]) {
        // `nick=+user@host`, `-` instead of `+` for someone away.
        let replies: Vec<String> = params
            .iter()
            .filter_map(|nick| self.by_name.get(&NameKey::of(nick)).and_then(|&user| self.irc_identity(user)))
            .map(|who| {
                let here = if who.away.is_some() { '-' } else { '+' };
                format!("{}={here}{}@{USER_HOST}", who.nick, who.username)
            })
            .collect();
        self.irc_numeric(id, 302, &[&replies.join(" ")]);
    }

    /// AWAY :message marks the user away (306), AWAY alone or with nothing but blanks marks it back (305).
    fn irc_away(&mut self, id: ClientId, message: Option<&str>) {
        let away = message.map(free_text).filter(|m| !m.trim().is_empty());
        let reply = if away.is_some() {
            (306, "You have been marked as being away")
        } else {
            (305, "You are no longer marked as being away")
        };
        if let Some(session) = self.irc_session(id) {
            session.away = away;
        }
        self.irc_numeric(id, reply.0, &[reply.1]);
    }

    /// CAP LS, REQ, LIST and END (IRCv3 capability negotiation); `server-time` is the one capability.
    fn irc_cap(&mut self, id: ClientId, params: &[&str], now: Now) {
        let nick = self.name_of(id).map_or_else(|| "*".to_owned(), |n| n.as_str().to_owned());
        let registered = nick != "*";
        let subcommand = params.first().map(|p| p.to_ascii_uppercase()).unwrap_or_default();
        let mut out = String::new();
        match subcommand.as_str() {
            "LS" => {
                if let Some(session) = self.irc_session(id) {
                    session.caps_pending |= !registered;
                }
                irc::from_server(&mut out, "CAP", &[&nick, "LS", CAPABILITIES]);
            }
            "REQ" => {
                let requested = params.get(1).copied().unwrap_or("");
                let known =
                    requested.split(' ').filter(|c| !c.is_empty()).all(|c| c == "server-time" || c == "-server-time");
                if let Some(session) = self.irc_session(id) {
                    session.caps_pending |= !registered;
                    if known {
                        session.server_time = requested.split(' ').any(|c| c == "server-time");
                    }
                }
                irc::from_server(&mut out, "CAP", &[&nick, if known { "ACK" } else { "NAK" }, requested]);
            }
            "LIST" => {
                let enabled = self.clients.get(&id).and_then(|c| c.irc.as_ref()).is_some_and(|s| s.server_time);
                irc::from_server(&mut out, "CAP", &[&nick, "LIST", if enabled { "server-time" } else { "" }]);
            }
            "END" => {
                if let Some(session) = self.irc_session(id) {
                    session.caps_pending = false;
                }
                return self.irc_try_register(id, now);
            }
            _ => irc::numeric(&mut out, 410, &nick, &[&subcommand, "Invalid CAP command"]),
        }
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    /// A silent IRC client is pinged; one silent since it was pinged is closed.
    pub(super) fn irc_ping_or_close(&mut self, id: ClientId, now: Now) {
        let Some(session) = self.irc_session(id) else { return };
        if session.pinged_at.is_some() {
            return self.irc_close(id, "Ping timeout");
        }
        session.pinged_at = Some(now.mono);
        let mut out = String::new();
        irc::from_server(&mut out, "PING", &[SERVER_NAME]);
        self.push_to(id, Rc::from(out.into_bytes()));
        self.schedule_deadline(id);
    }

    /// `ERROR :Closing Link: why`, then the connection closes (a named user leaves the chat).
    fn irc_close(&mut self, id: ClientId, why: &str) {
        let mut out = String::new();
        irc::from_server(&mut out, "ERROR", &[&format!("Closing Link: {why}")]);
        self.push_to(id, Rc::from(out.into_bytes()));
        self.effects.push(super::Effect::Close(id));
        if self.name_of(id).is_some() {
            self.leave_chat(id, super::LeaveReason::Idle);
        } else {
            self.clients.remove(&id);
            self.deadlines.cancel(id);
        }
    }

    /// A numeric reply to `id`, addressed to its nick (`*` before registration).
    fn irc_numeric(&mut self, id: ClientId, code: u16, params: &[&str]) {
        let nick = self.name_of(id).map_or_else(|| "*".to_owned(), |n| n.as_str().to_owned());
        let mut out = String::new();
        irc::numeric(&mut out, code, &nick, params);
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    /// A command echoed back to its IRC sender, as from itself (PART).
    pub(super) fn irc_echo(&mut self, id: ClientId, command: &str, params: &[&str]) {
        let Some(nick) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        self.irc_echo_as(id, &nick, command, params);
    }

    /// A command echoed back to its IRC sender, as from `nick` (NICK, sent from the old nick).
    pub(super) fn irc_echo_as(&mut self, id: ClientId, nick: &str, command: &str, params: &[&str]) {
        let mut out = String::new();
        irc::from_user(&mut out, nick, command, params);
        self.push_to(id, Rc::from(out.into_bytes()));
    }
}

/// How one user shows in WHO and WHOIS.
struct Identity {
    nick: String,
    username: String,
    realname: String,
    away: Option<String>,
}

/// Text a user gave for others to read (a real name, an away message): cleaned like a message, and cut at a
/// character boundary to at most [`MAX_FREE_TEXT_BYTES`].
fn free_text(text: &str) -> String {
    let mut clean = clean_message(text).into_owned();
    let mut end = clean.len().min(MAX_FREE_TEXT_BYTES);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean.truncate(end);
    clean
}

/// Whether `text` matches the IRC mask `mask`: `*` stands for any run of characters, `?` for one. Greedy with
/// one backtrack point, so linear in practice and never worse than their product.
fn glob_matches(mask: &str, text: &str) -> bool {
    let (mask, text): (Vec<char>, Vec<char>) = (mask.chars().collect(), text.chars().collect());
    let (mut m, mut t) = (0, 0);
    // The last `*` seen, and where in the text it started matching.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match mask.get(m) {
            Some(&'*') => {
                star = Some((m, t));
                m += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                m += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` take one more character, and go on from there.
                Some((at, from)) => {
                    star = Some((at, from + 1));
                    m = at + 1;
                    t = from + 1;
                }
                None => return false,
            },
        }
    }
    mask[m..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_like_irc_masks() {
        assert!(glob_matches("*", "coolnick"));
        assert!(glob_matches("coolni*", "coolnick"));
        assert!(glob_matches("c?oln*k", "coolnick"));
        assert!(glob_matches("*nick", "coolnick"));
        assert!(glob_matches("*o*o*", "coolnick"));
        assert!(!glob_matches("coolni", "coolnick"));
        assert!(!glob_matches("?", ""));
        assert!(!glob_matches("*x*", "coolnick"));
        assert!(glob_matches("maría*", "maría"));
    }

    #[test]
    fn free_text_is_cleaned_and_cut_at_a_character() {
        assert_eq!(free_text("a\u{1b}[31mb"), "a[31mb");
        let long = "é".repeat(MAX_FREE_TEXT_BYTES);
        let cut = free_text(&long);
        assert!(cut.len() <= MAX_FREE_TEXT_BYTES && cut.chars().all(|c| c == 'é'), "{cut}");
    }
}
