//! The sans-I/O chat core: users, names, commands and history, driven by events and answering with effects.
//!
//! It never touches a socket, a file or the clock. The event loop tells it what happened ("client 7 sent this
//! line at time t"), then takes the resulting [`Effect`]s ("send these bytes to everyone; close 7") and carries
//! them out. Time always comes in as an argument, and [`Chat::poll_timeout`] says when the core next needs a
//! [`Chat::handle_timeout`] call, so tests drive it with simulated time and no sleeps.
//!
//! Each user reads the chat in their own language (`/lang`). A line for many users is rendered once per
//! language in use among them, not once per recipient; a user's message reads the same in every language and is
//! rendered once.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::core::catalog::{HourMinute, Lang, Text};
use crate::core::command::{Command, Input, parse_input};
use crate::core::deadlines::DeadlineHeap;
use crate::core::history::{DEFAULT_HISTORY_SIZE, History, StoredMessage};
use crate::core::names::{Name, NameError, NameKey, NameShape};
use crate::core::text::{clean_message, decode_lossy};

/// Identifies one connection; the event loop uses its connection-table key.
pub type ClientId = usize;

/// Bytes ready to be written: one or more complete lines. Shared, so a broadcast is rendered once and every
/// recipient's queue holds the same allocation.
pub type Payload = Rc<[u8]>;

/// Converts a Unix time in milliseconds to the local time of day shown in `[HH:MM]` stamps.
pub type LocalClock = fn(unix_ms: i64) -> HourMinute;

/// The longest line accepted, in bytes, not counting its terminator. The server's framer enforces it on what
/// arrives, and the core on what a line becomes once cleaned; the core quotes it in the error.
pub const MAX_LINE_BYTES: usize = 4096;
/// The default time a connection may take to choose a name before it is closed.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Join and leave notices are sent only while at most this many users are online: in a small room they say who
/// is listening, in a large one they would drown the conversation (and cost O(users²) lines as a crowd joins).
pub const DEFAULT_NOTICE_LIMIT: usize = 100;
/// The default bound on one reply to one user (the welcome with its history, a `/users` list): half the
/// server's default output queue cap, so that no reply can get a user dropped as not reading.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 512 * 1024;

/// A moment, as both clocks see it: `mono` orders deadlines, `unix_ms` stamps messages.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub mono: Instant,
    pub unix_ms: i64,
}

/// Who a broadcast goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipients {
    /// Every named user.
    Members,
    /// Every named user but one.
    MembersExcept(ClientId),
    /// Every connection, named or not.
    Everyone,
}

/// One text rendered for the languages its recipients read; each recipient gets the rendering in its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Localized {
    /// Indexed by [`Lang::index`]; `None` where no recipient reads that language.
    by_lang: [Option<Payload>; Lang::ALL.len()],
}

impl Localized {
    /// The bytes for a recipient reading `lang`.
    pub fn get(&self, lang: Lang) -> Option<&Payload> {
        self.by_lang[lang.index()].as_ref()
    }

    /// The length of the longest rendering: what the text adds to any one recipient's queue at most.
    pub fn longest(&self) -> usize {
        self.by_lang.iter().flatten().map(|payload| payload.len()).max().unwrap_or(0)
    }
}

/// Why a named user left, for the operator's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveReason {
    /// The user typed `/quit`.
    Quit,
    /// Silent past `--idle-timeout`.
    Idle,
    /// The connection ended or was dropped.
    Disconnected,
}

/// What the event loop must do after an event. Recipient sets refer to the membership right after the event
/// that produced the effect, so the loop carries out each event's effects before feeding the next event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Bytes for one connection, already in its language. It is sent even if the same event closes it.
    Send { to: ClientId, payload: Payload },
    /// One text for many, rendered in each language they read.
    Broadcast { to: Recipients, payload: Localized },
    /// Close the connection once everything queued for it so far has been written.
    Close(ClientId),
    /// A connection chose a name and joined; the loop logs it with the address.
    Joined { id: ClientId, name: String },
    /// A named user left; the loop logs it with the address.
    Left { id: ClientId, name: String, reason: LeaveReason },
}

/// The chat's settings: everything the core needs to know, and nothing about sockets or files. The server's
/// configuration holds one of these, so a new chat setting touches only the flags and the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatConfig {
    /// The language a new connection is spoken to in, until it chooses another with `/lang`.
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
    /// The most bytes one reply to one user may hold: the newest history that fits is replayed, a longer
    /// `/users` list is cut short. The server keeps it below its output queue cap.
    pub max_reply_bytes: usize,
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
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

#[derive(Debug)]
struct Client {
    /// `None` until the connection has chosen a valid name.
    name: Option<Name>,
    /// The language this client reads.
    lang: Lang,
    /// When the connection was opened, while unnamed; when it last sent a line, once named.
    since: Instant,
    /// Where this client is in `Chat::members`, once named.
    member_index: usize,
}

/// A named user as every broadcast sees it.
#[derive(Debug, Clone, Copy)]
struct Member {
    id: ClientId,
    lang: Lang,
}

/// The whole chat state.
#[derive(Debug)]
pub struct Chat {
    config: ChatConfig,
    local_clock: LocalClock,
    clients: HashMap<ClientId, Client>,
    /// Named users by the case-insensitive key of their name, in key order (the order `/users` lists them).
    by_name: BTreeMap<NameKey, ClientId>,
    /// Named users by what their name looks like, so nobody takes a look-alike.
    by_shape: HashMap<NameShape, ClientId>,
    /// The named clients, densely packed: every broadcast walks this list, so it is a plain vector.
    members: Vec<Member>,
    /// How many members read each language, so a broadcast is rendered only in the languages in use.
    readers: [usize; Lang::ALL.len()],
    /// The `/users` reply per language, until membership changes.
    users_reply: [Option<Payload>; Lang::ALL.len()],
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
            by_name: BTreeMap::new(),
            by_shape: HashMap::new(),
            members: Vec::new(),
            readers: [0; Lang::ALL.len()],
            users_reply: Default::default(),
            history,
            deadlines: DeadlineHeap::new(),
            effects: Vec::new(),
        }
    }

    /// Moves the pending effects into `out` (which should be empty), oldest first.
    pub fn take_effects(&mut self, out: &mut Vec<Effect>) {
        std::mem::swap(&mut self.effects, out);
    }

    /// Calls `each` with every client `to` names, as membership stands now, and the language it reads. This is
    /// the fan-out loop of every broadcast, so it walks a dense list and allocates nothing.
    pub fn for_each_recipient(&self, to: Recipients, mut each: impl FnMut(ClientId, Lang)) {
        match to {
            Recipients::Members => self.members.iter().for_each(|m| each(m.id, m.lang)),
            Recipients::MembersExcept(except) => {
                self.members.iter().filter(|m| m.id != except).for_each(|m| each(m.id, m.lang));
            }
            Recipients::Everyone => self.clients.iter().for_each(|(&id, client)| each(id, client.lang)),
        }
    }

    /// How many users are named.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// A new connection: ask it for a name and start its login clock.
    pub fn connect(&mut self, id: ClientId, now: Now) {
        let client = Client { name: None, lang: self.config.lang, since: now.mono, member_index: 0 };
        self.clients.insert(id, client);
        self.schedule_deadline(id);
        self.reply(id, &[Text::AskName]);
    }

    /// A connection is gone, whatever the reason. Others hear that a named user left.
    pub fn disconnect(&mut self, id: ClientId) {
        self.leave(id, LeaveReason::Disconnected);
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
            return self.at_name_prompt(id, &text, now);
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
                self.reply(id, &[Text::LoginTimedOut]);
                self.clients.remove(&id);
                self.effects.push(Effect::Close(id));
            } else {
                let secs = self.config.idle_timeout.map_or(0, |t| t.as_secs());
                self.reply(id, &[Text::IdleTimedOut { secs }]);
                self.effects.push(Effect::Close(id));
                self.leave(id, LeaveReason::Idle);
            }
        }
    }

    /// The server is stopping: tell every connection.
    pub fn shutdown(&mut self) {
        self.send(Recipients::Everyone, &[Text::ShuttingDown]);
    }

    /// Sets `id`'s deadline to its current one, or cancels it if it has none.
    fn schedule_deadline(&mut self, id: ClientId) {
        match self.clients.get(&id).and_then(|client| deadline_of(&self.config, client)) {
            Some(deadline) => self.deadlines.schedule(id, deadline),
            None => self.deadlines.cancel(id),
        }
    }

    /// Removes a client; if it was named, others hear that it left and the loop logs it.
    fn leave(&mut self, id: ClientId, reason: LeaveReason) {
        self.deadlines.cancel(id);
        let Some(Client { name: Some(name), member_index, lang, .. }) = self.clients.remove(&id) else {
            return;
        };
        self.by_name.remove(&name.key());
        self.by_shape.remove(&name.shape());
        self.members.swap_remove(member_index);
        if let Some(moved) = self.members.get(member_index)
            && let Some(client) = self.clients.get_mut(&moved.id)
        {
            client.member_index = member_index;
        }
        self.readers[lang.index()] -= 1;
        self.users_reply = Default::default();
        if self.members.len() < self.config.notice_limit {
            self.send(Recipients::Members, &[Text::Left { name: name.as_str() }]);
        }
        self.effects.push(Effect::Left { id, name: name.as_str().to_owned(), reason });
    }

    /// A line from a connection that has no name yet: a name to try, or one of the few commands that make
    /// sense before one.
    fn at_name_prompt(&mut self, id: ClientId, line: &str, now: Now) {
        match parse_input(line) {
            Input::Command(Command::Quit) => return self.quit(id),
            Input::Command(Command::Lang(code)) => return self.set_lang(id, code),
            Input::Command(Command::Help) => return self.reply(id, &[Text::NamePromptHelp, Text::AskName]),
            _ => {}
        }
        let name = match Name::parse(line) {
            Ok(name) => name,
            Err(NameError::BadLength | NameError::BadCharacter | NameError::LooksLikeCommand) => {
                return self.reply(id, &[Text::NameInvalid, Text::AskName]);
            }
            Err(NameError::MixedScripts) => return self.reply(id, &[Text::NameMixedScripts, Text::AskName]),
            Err(NameError::Reserved) => {
                return self.reply(id, &[Text::NameReserved { name: line.trim() }, Text::AskName]);
            }
        };
        let key = name.key();
        if self.by_name.contains_key(&key) {
            return self.reply(id, &[Text::NameTaken { name: name.as_str() }, Text::AskName]);
        }
        let shape = name.shape();
        if let Some(taken) = self.by_shape.get(&shape).and_then(|&other| self.name_of(other)) {
            let taken = taken.as_str().to_owned();
            return self.reply(id, &[Text::NameLooksLike { name: name.as_str(), taken: &taken }, Text::AskName]);
        }
        self.by_name.insert(key, id);
        self.by_shape.insert(shape, id);
        self.users_reply = Default::default();
        self.welcome(id, &name);
        if self.by_name.len() <= self.config.notice_limit {
            self.send(Recipients::MembersExcept(id), &[Text::Joined { name: name.as_str() }]);
        }
        self.effects.push(Effect::Joined { id, name: name.as_str().to_owned() });
        if let Some(client) = self.clients.get_mut(&id) {
            client.name = Some(name);
            client.since = now.mono;
            client.member_index = self.members.len();
            self.members.push(Member { id, lang: client.lang });
            self.readers[client.lang.index()] += 1;
        }
        // The login deadline no longer applies; the idle one, if any, starts now.
        self.schedule_deadline(id);
    }

    /// The welcome, and the newest history that fits in one reply.
    fn welcome(&mut self, id: ClientId, name: &Name) {
        let Some(lang) = self.lang_of(id) else { return };
        let mut out = String::new();
        for text in [Text::Welcome { name: name.as_str() }, Text::HelpHint] {
            text.render_into(lang, &mut out);
            out.push('\n');
        }
        if !self.history.is_empty() {
            let clock = self.local_clock;
            let budget = self.config.max_reply_bytes.saturating_sub(out.len() + 64);
            let mut newest_first = Vec::new();
            let mut used = 0;
            for message in self.history.iter().rev() {
                let mut line = String::new();
                Text::Public { at: clock(message.ts), from: &message.user, text: &message.text }
                    .render_into(lang, &mut line);
                line.push('\n');
                used += line.len();
                if used > budget {
                    break;
                }
                newest_first.push(line);
            }
            let header = if newest_first.len() == self.history.len() {
                Text::HistoryHeader
            } else {
                Text::HistoryHeaderPartial { shown: newest_first.len() }
            };
            header.render_into(lang, &mut out);
            out.push('\n');
            newest_first.iter().rev().for_each(|line| out.push_str(line));
        }
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    fn dispatch(&mut self, id: ClientId, line: &str, now: Now) {
        match parse_input(line) {
            Input::Blank => {}
            Input::Message(text) => self.public_message(id, text, now),
            Input::Command(Command::Help) => self.reply(id, &[Text::Help]),
            Input::Command(Command::Users) => self.list_users(id),
            Input::Command(Command::Whisper { to, text }) => self.whisper(id, to, text, now),
            Input::Command(Command::WhisperUsage) => self.reply(id, &[Text::WhisperUsage]),
            Input::Command(Command::Lang(code)) => self.set_lang(id, code),
            Input::Command(Command::Quit) => self.quit(id),
            Input::Command(Command::Unknown(command)) => self.reply(id, &[Text::UnknownCommand { command }]),
        }
    }

    fn public_message(&mut self, id: ClientId, text: &str, now: Now) {
        let Some(from) = self.name_of(id) else { return };
        let at = (self.local_clock)(now.unix_ms);
        let from = from.as_str().to_owned();
        self.send(Recipients::Members, &[Text::Public { at, from: &from, text }]);
        self.history.push(StoredMessage { ts: now.unix_ms, user: from, text: text.to_owned() });
    }

    /// Everyone named, sorted without regard to case. The reply is kept until membership changes, so asking
    /// again and again costs a reference count, not a sort.
    fn list_users(&mut self, id: ClientId) {
        let Some(lang) = self.lang_of(id) else { return };
        if let Some(cached) = &self.users_reply[lang.index()] {
            let payload = Rc::clone(cached);
            return self.push_to(id, payload);
        }
        let mut out = String::new();
        Text::UsersHeader { count: self.by_name.len() }.render_into(lang, &mut out);
        out.push('\n');
        let budget = self.config.max_reply_bytes.saturating_sub(64);
        for (listed, &member) in self.by_name.values().enumerate() {
            let Some(name) = self.name_of(member) else { continue };
            let before = out.len();
            Text::UserEntry { name: name.as_str() }.render_into(lang, &mut out);
            out.push('\n');
            if out.len() > budget {
                out.truncate(before);
                Text::UsersMore { count: self.by_name.len() - listed }.render_into(lang, &mut out);
                out.push('\n');
                break;
            }
        }
        let payload: Payload = Rc::from(out.into_bytes());
        self.users_reply[lang.index()] = Some(Rc::clone(&payload));
        self.push_to(id, payload);
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
        let (from, target_name) = (from.as_str().to_owned(), target_name.as_str().to_owned());
        self.reply(target, &[Text::Private { at, from: &from, text }]);
        self.reply(id, &[Text::WhisperSent { to: &target_name }]);
    }

    /// `/lang CODE`: from now on this user reads `CODE`, starting with the confirmation.
    fn set_lang(&mut self, id: ClientId, code: Option<&str>) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        let Some(code) = code else {
            let lang = client.lang;
            return self.reply(id, &[Text::LangCurrent { lang }]);
        };
        let Ok(lang) = code.parse::<Lang>() else {
            return self.reply(id, &[Text::LangUnknown { code }]);
        };
        let old = std::mem::replace(&mut client.lang, lang);
        let named = client.name.is_some();
        if named {
            let index = client.member_index;
            self.members[index].lang = lang;
            self.readers[old.index()] -= 1;
            self.readers[lang.index()] += 1;
            self.reply(id, &[Text::LangSet]);
        } else {
            self.reply(id, &[Text::LangSet, Text::AskName]);
        }
    }

    fn quit(&mut self, id: ClientId) {
        self.reply(id, &[Text::Goodbye]);
        self.effects.push(Effect::Close(id));
        self.leave(id, LeaveReason::Quit);
    }

    fn name_of(&self, id: ClientId) -> Option<&Name> {
        self.clients.get(&id).and_then(|c| c.name.as_ref())
    }

    fn lang_of(&self, id: ClientId) -> Option<Lang> {
        self.clients.get(&id).map(|c| c.lang)
    }

    /// Sends `texts` to one client, in its language.
    fn reply(&mut self, id: ClientId, texts: &[Text<'_>]) {
        let Some(lang) = self.lang_of(id) else { return };
        let payload = render_lines(lang, texts);
        self.push_to(id, payload);
    }

    fn push_to(&mut self, id: ClientId, payload: Payload) {
        self.effects.push(Effect::Send { to: id, payload });
    }

    /// Sends `texts` to many, rendered once per language in use among them (or once, if they read the same in
    /// every language).
    fn send(&mut self, to: Recipients, texts: &[Text<'_>]) {
        let mut localized = Localized::default();
        let neutral = texts.iter().all(Text::same_in_every_language);
        let mut shared: Option<Payload> = None;
        for lang in Lang::ALL {
            let in_use = matches!(to, Recipients::Everyone) || self.readers[lang.index()] > 0;
            if !in_use {
                continue;
            }
            let payload = match (&shared, neutral) {
                (Some(payload), true) => Rc::clone(payload),
                _ => render_lines(lang, texts),
            };
            shared.get_or_insert_with(|| Rc::clone(&payload));
            localized.by_lang[lang.index()] = Some(payload);
        }
        self.effects.push(Effect::Broadcast { to, payload: localized });
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
        /// What the loop would log: joins and leaves.
        log: Vec<String>,
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
                log: Vec::new(),
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
                        self.seen.entry(to).or_default().push_str(&text);
                    }
                    Effect::Broadcast { to, payload } => {
                        let mut recipients = Vec::new();
                        self.chat.for_each_recipient(to, |id, lang| recipients.push((id, lang)));
                        for (id, lang) in recipients {
                            let bytes = payload.get(lang).expect("rendered in every recipient's language");
                            let text = String::from_utf8(bytes.to_vec()).expect("catalogue lines are UTF-8");
                            self.seen.entry(id).or_default().push_str(&text);
                        }
                    }
                    Effect::Close(id) => self.closed.push(id),
                    Effect::Joined { name, .. } => self.log.push(format!("joined {name}")),
                    Effect::Left { name, reason, .. } => self.log.push(format!("left {name} {reason:?}")),
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
            "Error: a name has 1 to 32 letters or digits, starts with a letter, and may join them with - _ or .\n\
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
        let mut members: Vec<ClientId> = h.chat.members.iter().map(|m| m.id).collect();
        members.sort_unstable();
        assert_eq!(members, vec![2, 4]);
        h.line(4, "still two of us");
        assert_eq!(h.take(2), "[14:30] user4: still two of us\n");
        assert_eq!(h.take(4), "[14:30] user4: still two of us\n");
        h.join(6, "user6");
        h.chat.disconnect(2);
        let mut members: Vec<ClientId> = h.chat.members.iter().map(|m| m.id).collect();
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
    fn each_user_reads_their_own_language_from_the_name_prompt_on() {
        let mut h = Harness::new(Lang::En);
        h.join(1, "Ana");
        h.connect(2);
        assert_eq!(h.take(2), "USERNAME:\n");
        h.line(2, "/lang es");
        assert_eq!(h.take(2), "Idioma cambiado a español\nUSUARIO:\n");
        h.line(2, "Juan");
        assert_eq!(h.take(2), "Bienvenido Juan!\nEscribe /help para comandos\n");
        assert_eq!(h.take(1), "*** Juan joined the chat\n");
        h.line(1, "/lang");
        assert_eq!(h.take(1), "Language: en (available: en, es)\n");
        h.line(2, "/lang fr");
        assert_eq!(h.take(2), "Error: idioma desconocido fr; disponibles: en, es\n");
        h.line(1, "/lang es");
        assert_eq!(h.take(1), "Idioma cambiado a español\n");
        h.line(2, "/lang en");
        h.take(2);
        h.line(2, "/quit");
        assert_eq!(h.take(2), "Goodbye!\n");
        assert_eq!(h.take(1), "*** Juan ha salido del chat\n");
    }

    #[test]
    fn a_broadcast_is_rendered_once_per_language_in_use() {
        let mut h = Harness::new(Lang::En);
        h.join(1, "Ana");
        h.join(2, "Bea");
        let render_count = |effects: &[Effect]| match effects.last() {
            Some(Effect::Broadcast { payload, .. }) => Lang::ALL.iter().filter(|&&l| payload.get(l).is_some()).count(),
            other => panic!("expected a broadcast, got {other:?}"),
        };
        let mut effects = Vec::new();
        h.chat.take_effects(&mut effects);
        h.chat.receive_line(2, b"/lang es", h.now());
        h.chat.take_effects(&mut effects);
        effects.clear();
        h.chat.connect(3, h.now());
        h.chat.receive_line(3, b"Cid", h.now());
        h.chat.take_effects(&mut effects);
        effects.retain(|e| matches!(e, Effect::Broadcast { .. }));
        assert_eq!(render_count(&effects), 2, "a join notice for readers of English and of Spanish");
        effects.clear();
        h.chat.receive_line(1, b"hola", h.now());
        h.chat.take_effects(&mut effects);
        let Some(Effect::Broadcast { payload, .. }) = effects.last() else { panic!("a broadcast") };
        let (en, es) = (payload.get(Lang::En).expect("en"), payload.get(Lang::Es).expect("es"));
        assert!(Rc::ptr_eq(en, es), "a message reads the same in every language: one rendering");
        effects.clear();
        h.chat.receive_line(2, b"/lang en", h.now());
        h.chat.receive_line(1, b"hola", h.now());
        h.chat.take_effects(&mut effects);
        assert_eq!(render_count(&effects), 1, "nobody reads Spanish any more");
    }

    #[test]
    fn help_at_the_name_prompt_explains_what_to_type() {
        let mut h = Harness::new(Lang::Es);
        h.connect(1);
        h.take(1);
        h.line(1, "/help");
        assert_eq!(
            h.take(1),
            "Escribe aquí el nombre que quieres usar, /lang en para inglés, o /quit para salir\nUSUARIO:\n"
        );
    }

    #[test]
    fn look_alike_names_are_refused_while_their_owner_is_connected() {
        let mut h = Harness::new(Lang::En);
        h.join(1, "Ian");
        h.connect(2);
        h.take(2);
        h.line(2, "lan");
        assert_eq!(h.take(2), "Error: the name lan looks too much like Ian, who is connected\nUSERNAME:\n");
        h.line(1, "/quit");
        h.line(2, "lan");
        assert_eq!(h.take(2), "Welcome lan!\nType /help for commands\n");
    }

    #[test]
    fn joins_and_leaves_are_reported_for_the_log_with_the_reason() {
        let mut h = Harness::new(Lang::En);
        h.chat.config.idle_timeout = Some(Duration::from_secs(60));
        h.join(1, "Ana");
        h.join(2, "Bea");
        h.join(3, "Cid");
        h.line(1, "/quit");
        h.chat.disconnect(2);
        h.advance(Duration::from_secs(61));
        let now = h.now();
        h.chat.handle_timeout(now);
        h.apply();
        assert_eq!(
            h.log,
            ["joined Ana", "joined Bea", "joined Cid", "left Ana Quit", "left Bea Disconnected", "left Cid Idle"]
        );
    }

    #[test]
    fn the_welcome_keeps_to_the_reply_bound_with_the_newest_history() {
        let mut h = Harness::new(Lang::En);
        h.chat.config.max_reply_bytes = 200;
        h.join(1, "Ana");
        for i in 0..10 {
            h.line(1, &format!("message number {i}"));
        }
        h.connect(2);
        h.line(2, "Bea");
        let welcome = h.take(2);
        assert!(welcome.len() <= 200 + "USERNAME:\n".len(), "{} bytes: {welcome}", welcome.len());
        assert!(welcome.contains("History (the last "), "{welcome}");
        assert!(welcome.ends_with("Ana: message number 9\n"), "{welcome}");
    }

    #[test]
    fn a_long_users_list_is_cut_short_and_says_how_many_more() {
        let mut h = Harness::new(Lang::En);
        h.chat.config.max_reply_bytes = 150;
        h.chat.config.notice_limit = 0;
        for id in 0..40 {
            h.join(id, &format!("user{id:02}"));
        }
        h.line(0, "/users");
        let list = h.take(0);
        assert!(list.starts_with("Connected users (40):\n  user00\n"), "{list}");
        assert!(list.len() <= 150, "{} bytes", list.len());
        let last = list.lines().last().expect("lines");
        assert!(last.starts_with("  ... and ") && last.ends_with(" more"), "{last}");
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
