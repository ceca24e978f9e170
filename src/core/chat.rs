//! The sans-I/O chat core: users, names, commands and history, driven by events and answering with effects.
//!
//! It never touches a socket, a file or the clock. The event loop tells it what happened ("client 7 sent this
//! line at time t"), then takes the resulting [`Effect`]s ("send these bytes to everyone; close 7") and carries
//! them out. Time always comes in as an argument, and [`Chat::poll_timeout`] says when the core next needs a
//! [`Chat::handle_timeout`] call, so tests drive it with simulated time and no sleeps.

use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::core::catalog::{HourMinute, Lang, Text};
use crate::core::command::{Command, Input, parse_input};
use crate::core::deadlines::DeadlineHeap;
use crate::core::history::{DEFAULT_HISTORY_SIZE, History, StoredMessage};
use crate::core::names::{Name, NameError, NameKey};
use crate::core::text::{clean_message, decode_lossy};

/// Identifies one connection; the event loop uses its connection-table key.
pub type ClientId = usize;

/// Bytes ready to be written: one or more complete lines. Shared, so a broadcast is rendered once and every
/// recipient's queue holds the same allocation.
pub type Payload = Rc<[u8]>;

/// Converts a Unix time in milliseconds to the local time of day shown in `[HH:MM]` stamps.
pub type LocalClock = fn(unix_ms: i64) -> HourMinute;

/// The longest line accepted, in bytes, not counting its terminator. The server's framer enforces it; the core
/// quotes it in the error a longer line gets.
pub const MAX_LINE_BYTES: usize = 4096;
/// The default time a connection may take to choose a name before it is closed.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Join and leave notices are sent only while at most this many users are online: in a small room they say who
/// is listening, in a large one they would drown the conversation (and cost O(users²) lines as a crowd joins).
pub const DEFAULT_NOTICE_LIMIT: usize = 100;

/// A moment, as both clocks see it: `mono` orders deadlines, `unix_ms` stamps messages.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub unix_ms: i64,
}

/// Who a payload goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipients {
    One(ClientId),
    /// Every named user.
    Members,
    /// Every named user but one.
    MembersExcept(ClientId),
    /// Every connection, named or not.
    Everyone,
}

/// What the event loop must do after an event. Recipient sets refer to the membership right after the event
/// that produced the effect, so the loop carries out each event's effects before feeding the next event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Send {
        to: Recipients,
        payload: Payload,
    },
    /// Close the connection once everything queued for it so far has been written.
    Close(ClientId),
}

/// The chat's settings: everything the core needs to know, and nothing about sockets or files. The server's
/// configuration holds one of these, so a new chat setting touches only the flags and the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatConfig {
    /// The language of the lines sent to users.
    pub lang: Lang,
    /// Time a connection has to choose a name before it is closed.
    pub login_timeout: Duration,
    /// Named users silent for this long are disconnected; `None` keeps them.
    pub idle_timeout: Option<Duration>,
    /// Join and leave notices go out only while at most this many users are online.
    pub notice_limit: usize,
    /// Public messages kept and replayed to newcomers.
    pub history_size: usize,
    /// The longest line accepted, in bytes: the framer enforces it, the core quotes it in the error.
    pub max_line_bytes: usize,
}

impl Default for ChatConfig {
    fn default() -> ChatConfig {
        ChatConfig {
            lang: Lang::En,
            login_timeout: DEFAULT_LOGIN_TIMEOUT,
            idle_timeout: None,
            notice_limit: DEFAULT_NOTICE_LIMIT,
            history_size: DEFAULT_HISTORY_SIZE,
            max_line_bytes: MAX_LINE_BYTES,
        }
    }
}

#[derive(Debug)]
struct Client {
    /// `None` until the connection has chosen a valid name.
    name: Option<Name>,
    /// When the connection was opened, while unnamed; when it last sent a line, once named.
    since: Instant,
    /// Where this client's id is in `Chat::members`, once named.
    member_index: usize,
}

/// The whole chat state.
#[derive(Debug)]
pub struct Chat {
    config: ChatConfig,
    local_clock: LocalClock,
    clients: HashMap<ClientId, Client>,
    by_name: HashMap<NameKey, ClientId>,
    /// The named clients, densely packed: every broadcast walks this list, so it is a plain vector.
    members: Vec<ClientId>,
    history: History,
    /// Per client with a deadline: the earliest moment its login or idle deadline could pass. An idle deadline
    /// moves later as the user sends lines; its entry is checked, and moved, only when it comes due.
    deadlines: DeadlineHeap,
    effects: Vec<Effect>,
}

impl Chat {
    /// A chat with no one in it yet. `local_clock` turns message times into the `[HH:MM]` shown to users.
    pub fn new(config: ChatConfig, local_clock: LocalClock, history: History) -> Chat {
        Chat {
            config,
            local_clock,
            clients: HashMap::new(),
            by_name: HashMap::new(),
            members: Vec::new(),
            history,
            deadlines: DeadlineHeap::new(),
            effects: Vec::new(),
        }
    }

    /// Moves the pending effects into `out` (which should be empty), oldest first.
    pub fn take_effects(&mut self, out: &mut Vec<Effect>) {
        std::mem::swap(&mut self.effects, out);
    }

    /// Calls `each` for every client `to` names, as membership stands now. This is the fan-out loop of every
    /// broadcast, so it walks a dense list and allocates nothing.
    pub fn for_each_recipient(&self, to: Recipients, mut each: impl FnMut(ClientId)) {
        match to {
            Recipients::One(id) => each(id),
            Recipients::Members => self.members.iter().for_each(|&id| each(id)),
            Recipients::MembersExcept(except) => {
                self.members.iter().filter(|&&id| id != except).for_each(|&id| each(id));
            }
            Recipients::Everyone => self.clients.keys().for_each(|&id| each(id)),
        }
    }

    /// Every named user's client, in no particular order.
    pub fn members(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.members.iter().copied()
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// A new connection: ask it for a name and start its login clock.
    pub fn connect(&mut self, id: ClientId, now: Now) {
        self.clients.insert(id, Client { name: None, since: now.mono, member_index: 0 });
        self.schedule_deadline(id);
        self.reply(id, &[Text::AskName]);
    }

    /// A connection is gone, whatever the reason. Others hear that a named user left.
    pub fn disconnect(&mut self, id: ClientId) {
        self.deadlines.cancel(id);
        if let Some(Client { name: Some(name), member_index, .. }) = self.clients.remove(&id) {
            self.by_name.remove(&name.key());
            self.members.swap_remove(member_index);
            if let Some(&moved) = self.members.get(member_index)
                && let Some(client) = self.clients.get_mut(&moved)
            {
                client.member_index = member_index;
            }
            if self.by_name.len() < self.config.notice_limit {
                let notice = self.render(&[Text::Left { name: name.as_str() }]);
                self.send(Recipients::Members, notice);
            }
        }
    }

    /// A complete line (without terminator) arrived from `id`.
    pub fn receive_line(&mut self, id: ClientId, raw: &[u8], now: Now) {
        let Some(client) = self.clients.get_mut(&id) else {
            return log::debug!("line from closed client {id} ignored");
        };
        // A proposed name is validated as sent, so a control character in it refuses it rather than being
        // silently dropped from it; any other line is cleaned.
        let text = decode_lossy(raw);
        if client.name.is_none() {
            return self.choose_name(id, &text, now);
        }
        client.since = now.mono;
        let clean = clean_message(&text);
        // The line cap holds for what is sent, not only for what was read.
        if clean.len() > self.config.max_line_bytes {
            return self.line_too_long(id);
        }
        self.dispatch(id, &clean, now);
    }

    /// `id` sent a line longer than the framer allows; it was discarded.
    pub fn line_too_long(&mut self, id: ClientId) {
        let max_bytes = self.config.max_line_bytes;
        match self.clients.get(&id) {
            Some(Client { name: None, .. }) => self.reply(id, &[Text::LineTooLong { max_bytes }, Text::AskName]),
            Some(Client { name: Some(_), .. }) => self.reply(id, &[Text::LineTooLong { max_bytes }]),
            None => {}
        }
    }

    /// When [`Chat::handle_timeout`] next may have work to do, if ever. It may be early, never late.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// Closes connections that did not choose a name in time, and named users silent past the idle timeout.
    pub fn handle_timeout(&mut self, now: Now) {
        while let Some(id) = self.deadlines.pop_due(now.mono) {
            let Some(client) = self.clients.get(&id) else {
                continue;
            };
            let Some(deadline) = deadline_of(&self.config, client) else {
                continue;
            };
            if deadline > now.mono {
                self.deadlines.schedule(id, deadline);
            } else if client.name.is_none() {
                self.clients.remove(&id);
                self.reply(id, &[Text::LoginTimedOut]);
                self.effects.push(Effect::Close(id));
            } else {
                let secs = self.config.idle_timeout.map_or(0, |t| t.as_secs());
                self.reply(id, &[Text::IdleTimedOut { secs }]);
                self.effects.push(Effect::Close(id));
                self.disconnect(id);
            }
        }
    }

    /// Sets `id`'s deadline to its current one, or cancels it if it has none.
    fn schedule_deadline(&mut self, id: ClientId) {
        match self.clients.get(&id).and_then(|client| deadline_of(&self.config, client)) {
            Some(deadline) => self.deadlines.schedule(id, deadline),
            None => self.deadlines.cancel(id),
        }
    }

    /// The server is stopping: tell every connection.
    pub fn shutdown(&mut self) {
        let notice = self.render(&[Text::ShuttingDown]);
        self.send(Recipients::Everyone, notice);
    }

    fn choose_name(&mut self, id: ClientId, line: &str, now: Now) {
        if matches!(parse_input(line), Input::Command(Command::Quit)) {
            return self.quit(id);
        }
        let name = match Name::parse(line) {
            Ok(name) => name,
            Err(NameError::BadLength | NameError::BadCharacter | NameError::LooksLikeCommand) => {
                return self.reply(id, &[Text::NameInvalid, Text::AskName]);
            }
        };
        let key = name.key();
        if self.by_name.contains_key(&key) {
            return self.reply(id, &[Text::NameTaken { name: name.as_str() }, Text::AskName]);
        }
        self.by_name.insert(key, id);
        self.welcome(id, &name);
        if self.by_name.len() <= self.config.notice_limit {
            let notice = self.render(&[Text::Joined { name: name.as_str() }]);
            self.send(Recipients::MembersExcept(id), notice);
        }
        if let Some(client) = self.clients.get_mut(&id) {
            client.name = Some(name);
            client.since = now.mono;
            client.member_index = self.members.len();
            self.members.push(id);
        }
        // The login deadline no longer applies; the idle one, if any, starts now.
        self.schedule_deadline(id);
    }

    fn welcome(&mut self, id: ClientId, name: &Name) {
        let mut texts = vec![Text::Welcome { name: name.as_str() }, Text::HelpHint];
        let clock = self.local_clock;
        if !self.history.is_empty() {
            texts.push(Text::HistoryHeader);
            texts.extend(self.history.iter().map(|m| Text::Public { at: clock(m.ts), from: &m.user, text: &m.text }));
        }
        let payload = render_lines(self.config.lang, &texts);
        self.send(Recipients::One(id), payload);
    }

    fn dispatch(&mut self, id: ClientId, line: &str, now: Now) {
        match parse_input(line) {
            Input::Blank => {}
            Input::Message(text) => self.public_message(id, text, now),
            Input::Command(Command::Help) => self.reply(id, &[Text::Help]),
            Input::Command(Command::Users) => self.list_users(id),
            Input::Command(Command::Whisper { to, text }) => self.whisper(id, to, text, now),
            Input::Command(Command::WhisperUsage) => self.reply(id, &[Text::WhisperUsage]),
            Input::Command(Command::Quit) => self.quit(id),
            Input::Command(Command::Unknown(command)) => self.reply(id, &[Text::UnknownCommand { command }]),
        }
    }

    fn public_message(&mut self, id: ClientId, text: &str, now: Now) {
        let Some(from) = self.name_of(id) else { return };
        let at = (self.local_clock)(now.unix_ms);
        let payload = self.render(&[Text::Public { at, from: from.as_str(), text }]);
        let stored = StoredMessage { ts: now.unix_ms, user: from.as_str().to_owned(), text: text.to_owned() };
        self.history.push(stored);
        self.send(Recipients::Members, payload);
    }

    fn list_users(&mut self, id: ClientId) {
        let mut names: Vec<&Name> = self.clients.values().filter_map(|c| c.name.as_ref()).collect();
        names.sort_by_cached_key(|name| (name.key(), name.as_str().to_owned()));
        let mut texts = Vec::with_capacity(names.len() + 1);
        texts.push(Text::UsersHeader { count: names.len() });
        texts.extend(names.iter().map(|name| Text::UserEntry { name: name.as_str() }));
        let payload = render_lines(self.config.lang, &texts);
        self.send(Recipients::One(id), payload);
    }

    fn whisper(&mut self, id: ClientId, to: &str, text: &str, now: Now) {
        let Some(from) = self.name_of(id) else { return };
        let Some(&target) = self.by_name.get(&NameKey::of(to)) else {
            return self.reply(id, &[Text::WhisperNoSuchUser { name: to }]);
        };
        if target == id {
            return self.reply(id, &[Text::WhisperToSelf]);
        }
        let Some(target_name) = self.name_of(target) else {
            return;
        };
        let at = (self.local_clock)(now.unix_ms);
        let private = self.render(&[Text::Private { at, from: from.as_str(), text }]);
        let receipt = self.render(&[Text::WhisperSent { to: target_name.as_str() }]);
        self.send(Recipients::One(target), private);
        self.send(Recipients::One(id), receipt);
    }

    fn quit(&mut self, id: ClientId) {
        self.reply(id, &[Text::Goodbye]);
        self.effects.push(Effect::Close(id));
        self.disconnect(id);
    }

    fn name_of(&self, id: ClientId) -> Option<&Name> {
        self.clients.get(&id).and_then(|c| c.name.as_ref())
    }

    fn reply(&mut self, id: ClientId, texts: &[Text<'_>]) {
        let payload = self.render(texts);
        self.send(Recipients::One(id), payload);
    }

    fn render(&self, texts: &[Text<'_>]) -> Payload {
        render_lines(self.config.lang, texts)
    }

    fn send(&mut self, to: Recipients, payload: Payload) {
        self.effects.push(Effect::Send { to, payload });
    }
}

/// When `client` is due to be closed, if it ever is.
fn deadline_of(config: &ChatConfig, client: &Client) -> Option<Instant> {
    match client.name {
        None => Some(client.since + config.login_timeout),
        Some(_) => config.idle_timeout.map(|idle| client.since + idle),
    }
}

/// Renders texts as consecutive `\n`-terminated lines in one shared payload.
fn render_lines(lang: Lang, texts: &[Text<'_>]) -> Payload {
    let mut out = String::new();
    for text in texts {
        text.render_into(lang, &mut out);
        out.push('\n');
    }
    Rc::from(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_clock(unix_ms: i64) -> HourMinute {
        let minutes = unix_ms.div_euclid(60_000);
        HourMinute { hour: (minutes / 60 % 24) as u8, minute: (minutes % 60) as u8 }
    }

    /// A chat driven with simulated time; every effect is turned into per-client transcripts.
    struct Harness {
        chat: Chat,
        start: Instant,
        /// 14:30 UTC on some day, in ms, plus the simulated time elapsed.
        base_unix_ms: i64,
        elapsed: Duration,
        seen: HashMap<ClientId, String>,
        closed: Vec<ClientId>,
    }

    impl Harness {
        fn new(lang: Lang) -> Harness {
            let config = ChatConfig { lang, ..ChatConfig::default() };
            Harness {
                chat: Chat::new(config, utc_clock, History::new(50)),
                start: Instant::now(),
                base_unix_ms: 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000 + (14 * 60 + 30) * 60_000,
                elapsed: Duration::ZERO,
                seen: HashMap::new(),
                closed: Vec::new(),
            }
        }

        fn now(&self) -> Now {
            Now { mono: self.start + self.elapsed, unix_ms: self.base_unix_ms + self.elapsed.as_millis() as i64 }
        }

        fn advance(&mut self, by: Duration) {
            self.elapsed += by;
        }

        fn connect(&mut self, id: ClientId) {
            let now = self.now();
            self.chat.connect(id, now);
            self.apply();
        }

        fn line(&mut self, id: ClientId, line: &str) {
            let now = self.now();
            self.chat.receive_line(id, line.as_bytes(), now);
            self.apply();
        }

        fn join(&mut self, id: ClientId, name: &str) {
            self.connect(id);
            self.line(id, name);
            self.take(id);
        }

        fn apply(&mut self) {
            let mut effects = Vec::new();
            self.chat.take_effects(&mut effects);
            for effect in effects {
                match effect {
                    Effect::Send { to, payload } => {
                        let text = String::from_utf8(payload.to_vec()).expect("catalogue lines are UTF-8");
                        let mut ids = Vec::new();
                        self.chat.for_each_recipient(to, |id| ids.push(id));
                        for id in ids {
                            self.seen.entry(id).or_default().push_str(&text);
                        }
                    }
                    Effect::Close(id) => self.closed.push(id),
                }
            }
        }

        /// What `id` has been sent since the last take.
        fn take(&mut self, id: ClientId) -> String {
            self.seen.remove(&id).unwrap_or_default()
        }
    }

    #[test]
    fn a_new_connection_is_asked_for_a_name_then_welcomed() {
        let mut h = Harness::new(Lang::Es);
        h.connect(1);
        assert_eq!(h.take(1), "USUARIO:\n");
        h.line(1, "Juan");
        assert_eq!(h.take(1), "Bienvenido Juan!\nEscribe /help para comandos\n");
    }

    #[test]
    fn newcomers_get_the_history_and_others_a_join_notice() {
        let mut h = Harness::new(Lang::Es);
        h.join(1, "María");
        h.line(1, "Hola a todos");
        assert_eq!(h.take(1), "[14:30] María: Hola a todos\n");
        h.advance(Duration::from_secs(120));
        h.join(2, "Pedro");
        assert_eq!(h.take(1), "*** Pedro se ha unido al chat\n");
        h.line(2, "Qué tal?");
        h.take(1);
        h.take(2);
        h.connect(3);
        h.line(3, "Juan");
        assert_eq!(
            h.take(3),
            "USUARIO:\nBienvenido Juan!\nEscribe /help para comandos\nHistorial:\n\
             [14:30] María: Hola a todos\n[14:32] Pedro: Qué tal?\n"
        );
        assert_eq!(h.take(1), "*** Juan se ha unido al chat\n");
        assert_eq!(h.take(2), "*** Juan se ha unido al chat\n");
    }

    #[test]
    fn names_are_unique_ignoring_case_and_bad_names_are_asked_again() {
        let mut h = Harness::new(Lang::En);
        h.join(1, "María");
        h.connect(2);
        h.take(2);
        h.line(2, "MARÍA");
        assert_eq!(h.take(2), "Error: the name MARÍA is already taken\nUSERNAME:\n");
        h.line(2, "two words");
        assert_eq!(
            h.take(2),
            "Error: a name has 1 to 32 characters, no spaces or control characters, and does not start with /\n\
             USERNAME:\n"
        );
        h.line(2, "Maria");
        assert_eq!(h.take(2), "Welcome Maria!\nType /help for commands\n");
    }

    #[test]
    fn public_messages_reach_everyone_named_including_the_sender() {
        let mut h = Harness::new(Lang::En);
        h.join(1, "Ana");
        h.join(2, "Bea");
        h.take(1);
        h.connect(3);
        h.take(3);
        h.line(1, "hi all");
        assert_eq!(h.take(1), "[14:30] Ana: hi all\n");
        assert_eq!(h.take(2), "[14:30] Ana: hi all\n");
        assert_eq!(h.take(3), "", "an unnamed connection is not in the room");
        h.line(1, "   ");
        assert_eq!(h.take(2), "", "blank lines are ignored");
    }

    #[test]
    fn users_are_listed_sorted_ignoring_case() {
        let mut h = Harness::new(Lang::Es);
        h.join(1, "pedro");
        h.join(2, "Juan");
        h.join(3, "María");
        h.line(1, "/users");
        assert_eq!(
            h.take(1),
            "*** Juan se ha unido al chat\n*** María se ha unido al chat\nUsuarios conectados (3):\n  Juan\n  María\n  pedro\n"
        );
    }

    #[test]
    fn whispers_reach_only_their_target_and_are_not_stored() {
        let mut h = Harness::new(Lang::Es);
        h.join(1, "Juan");
        h.join(2, "María");
        h.join(3, "Pedro");
        for id in 1..=3 {
            h.take(id);
        }
        h.line(1, "/whisper maría Hola María, ¿cómo estás?");
        assert_eq!(h.take(1), "Mensaje enviado a María\n");
        assert_eq!(h.take(2), "[14:30] (privado) Juan: Hola María, ¿cómo estás?\n");
        assert_eq!(h.take(3), "");
        assert!(h.chat.history().is_empty());
    }

    #[test]
    fn whisper_errors_are_explained() {
        let mut h = Harness::new(Lang::En);
        h.join(1, "Juan");
        h.line(1, "/whisper Nadie hola");
        assert_eq!(h.take(1), "Error: no user named Nadie is connected\n");
        h.line(1, "/whisper JUAN hola");
        assert_eq!(h.take(1), "Error: you cannot whisper to yourself\n");
        h.line(1, "/whisper Juan");
        assert_eq!(h.take(1), "Error: usage: /whisper <user> <message>\n");
    }

    #[test]
    fn quit_says_goodbye_closes_and_others_hear_it() {
        let mut h = Harness::new(Lang::Es);
        h.join(1, "Juan");
        h.join(2, "Pedro");
        h.take(1);
        h.line(1, "/quit");
        assert_eq!(h.take(1), "Hasta pronto!\n");
        assert_eq!(h.closed, vec![1]);
        assert_eq!(h.take(2), "*** Juan ha salido del chat\n");
        // The name is free again.
        h.join(3, "juan");
        assert_eq!(h.take(2), "*** juan se ha unido al chat\n");
    }

    #[test]
    fn members_stay_exact_as_users_leave_in_any_order() {
        let mut h = Harness::new(Lang::En);
        h.chat.config.notice_limit = 0;
        for id in 1..=5 {
            h.join(id, &format!("user{id}"));
        }
        h.chat.disconnect(1);
        h.line(3, "/quit");
        h.chat.disconnect(5);
        let mut members: Vec<ClientId> = h.chat.members().collect();
        members.sort_unstable();
        assert_eq!(members, vec![2, 4]);
        h.line(4, "still two of us");
        assert_eq!(h.take(2), "[14:30] user4: still two of us\n");
        assert_eq!(h.take(4), "[14:30] user4: still two of us\n");
        h.join(6, "user6");
        h.chat.disconnect(2);
        let mut members: Vec<ClientId> = h.chat.members().collect();
        members.sort_unstable();
        assert_eq!(members, vec![4, 6]);
    }

    #[test]
    fn help_and_unknown_commands() {
        let mut h = Harness::new(Lang::En);
        h.join(1, "Juan");
        h.line(1, "/help");
        assert!(h.take(1).starts_with("Available commands:\n  /help"));
        h.line(1, "/dance");
        assert_eq!(h.take(1), "Error: unknown command /dance; type /help for the list\n");
    }

    #[test]
    fn control_characters_never_reach_other_users() {
        let mut h = Harness::new(Lang::En);
        h.join(1, "Ana");
        h.join(2, "Bea");
        h.take(1);
        h.chat.receive_line(1, b"\x1b[2Jred\x07\tok\xff", h.now());
        h.apply();
        assert_eq!(h.take(2), "[14:30] Ana: [2Jred\tok\u{fffd}\n");
    }

    #[test]
    fn an_unnamed_connection_times_out_but_a_named_one_does_not() {
        let mut h = Harness::new(Lang::En);
        h.connect(1);
        h.join(2, "Ana");
        h.advance(Duration::from_secs(10));
        h.connect(3);
        h.take(1);
        h.take(3);
        assert_eq!(h.chat.poll_timeout(), Some(h.start + DEFAULT_LOGIN_TIMEOUT));
        h.advance(Duration::from_secs(20));
        let now = h.now();
        h.chat.handle_timeout(now);
        h.apply();
        assert_eq!(h.take(1), "Error: timed out waiting for a username\n");
        assert_eq!(h.closed, vec![1]);
        assert_eq!(h.chat.poll_timeout(), Some(h.start + Duration::from_secs(10) + DEFAULT_LOGIN_TIMEOUT));
        h.line(3, "Bea");
        // The login entry may still wake the loop once; it then closes nothing and is gone.
        h.advance(Duration::from_secs(30));
        let now = h.now();
        h.chat.handle_timeout(now);
        h.apply();
        assert_eq!(h.closed, vec![1]);
        assert_eq!(h.chat.poll_timeout(), None, "named connections have no deadline without --idle-timeout");
    }

    #[test]
    fn silent_named_users_are_closed_after_the_idle_timeout() {
        let mut h = Harness::new(Lang::En);
        h.chat.config.idle_timeout = Some(Duration::from_secs(60));
        h.join(1, "Ana");
        h.join(2, "Bea");
        h.take(1);
        h.advance(Duration::from_secs(50));
        h.line(2, "still here");
        h.take(1);
        h.take(2);
        // Ana's deadline is 60 s after joining; Bea's moved to 110 s when she spoke.
        h.advance(Duration::from_secs(10));
        let now = h.now();
        h.chat.handle_timeout(now);
        h.apply();
        assert_eq!(h.take(1), "Error: nothing received from you for 60 seconds; closing the connection\n");
        assert_eq!(h.closed, vec![1]);
        assert_eq!(h.take(2), "*** Ana left the chat\n");
        assert_eq!(h.chat.poll_timeout(), Some(h.start + Duration::from_secs(110)));
    }

    #[test]
    fn notices_stop_above_the_notice_limit() {
        let mut h = Harness::new(Lang::En);
        h.chat.config.notice_limit = 2;
        h.join(1, "Ana");
        h.join(2, "Bea");
        assert_eq!(h.take(1), "*** Bea joined the chat\n");
        h.join(3, "Cid");
        assert_eq!(h.take(1), "", "a third user is past the limit of 2");
        h.line(3, "/quit");
        assert_eq!(h.take(1), "", "Cid left a room of 3");
        h.line(2, "/quit");
        assert_eq!(h.take(1), "*** Bea left the chat\n", "Bea left a room of 2");
    }

    #[test]
    fn too_long_lines_are_answered() {
        let mut h = Harness::new(Lang::En);
        h.connect(1);
        h.take(1);
        h.chat.line_too_long(1);
        h.apply();
        assert_eq!(h.take(1), "Error: line too long (over 4096 bytes); it was discarded\nUSERNAME:\n");
    }

    #[test]
    fn shutdown_reaches_every_connection() {
        let mut h = Harness::new(Lang::En);
        h.connect(1);
        h.join(2, "Ana");
        h.take(1);
        h.chat.shutdown();
        h.apply();
        assert_eq!(h.take(1), "*** The server is shutting down\n");
        assert_eq!(h.take(2), "*** The server is shutting down\n");
    }
}
