//! The sans-I/O chat core: users, names, rooms, commands and history, driven by events and answering with
//! effects.
//!
//! It never touches a socket, a file or the clock. The event loop tells it what happened ("client 7 sent this
//! line at time t"), then takes the resulting [`Effect`]s ("send these bytes to everyone in #general; close 7")
//! and carries them out. Time always comes in as an argument, and [`Chat::poll_timeout`] says when the core next
//! needs a [`Chat::handle_timeout`] call, so tests drive it with simulated time and no sleeps.
//!
//! Each user reads the chat in their own language (`/lang`), and may be in several rooms (see
//! [`crate::core::rooms`]). A line for a room is rendered once per variant in use among its members (language,
//! and whether it carries the room's name because the room is not the member's current one), never once per
//! recipient; a user's message reads the same in every language.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use slab::Slab;

use crate::core::catalog::{HourMinute, Lang, Text};
use crate::core::cluster::ClusterEvent;
use crate::core::command::{Command, Input, parse_input};
use crate::core::deadlines::DeadlineHeap;
use crate::core::history::{DEFAULT_HISTORY_SIZE, History, StoredMessage};
use crate::core::names::{Name, NameError, NameKey, NameShape};
use crate::core::rooms::{
    DEFAULT_MAX_ROOMS, DEFAULT_MAX_ROOMS_PER_USER, Dialect, LOBBY, Room, RoomId, RoomName, Variant,
};
use crate::core::text::{clean_message, decode_lossy};

mod clients;
mod irc;
mod remote;

use clients::ClientTable;
use irc::IrcSession;
pub use remote::ClaimOutcome;
use remote::ClusterState;

/// Identifies one connection; the event loop uses its connection-table key. Ids are small integers, reused as
/// connections come and go: the chat keeps its clients in a vector indexed by them.
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
/// Join and leave notices are sent only while a room has at most this many members: in a small room they say
/// who is listening, in a large one they would drown the conversation (and cost O(users²) lines as a crowd
/// joins).
pub const DEFAULT_NOTICE_LIMIT: usize = 100;
/// The default silence after which an IRC client is pinged; it is closed if it stays silent as long again.
pub const DEFAULT_IRC_PING_AFTER: Duration = Duration::from_secs(120);
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
    /// Every member of a room, but `except` if given.
    Room { room: RoomId, except: Option<ClientId> },
    /// Every connection, named or not.
    Everyone,
}

/// One text rendered for the variants its recipients receive; each recipient gets the rendering for its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Localized {
    /// Indexed by [`Variant::index`]; `None` where no recipient receives that variant.
    by_variant: [Option<Payload>; Variant::COUNT],
}

impl Localized {
    /// The bytes for a recipient receiving `variant`.
    pub fn get(&self, variant: Variant) -> Option<&Payload> {
        self.by_variant[variant.index()].as_ref()
    }

    /// The length of the longest rendering: what the text adds to any one recipient's queue at most.
    pub fn longest(&self) -> usize {
        self.by_variant.iter().flatten().map(|payload| payload.len()).max().unwrap_or(0)
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
    /// One text for many, rendered in each variant they receive.
    Broadcast { to: Recipients, payload: Localized },
    /// Close the connection once everything queued for it so far has been written.
    Close(ClientId),
    /// A connection chose a name and joined; the loop logs it with the address.
    Joined { id: ClientId, name: String },
    /// A named user changed name; the loop logs it with the address.
    Renamed { id: ClientId, old: String, new: String },
    /// A named user left; the loop logs it with the address.
    Left { id: ClientId, name: String, reason: LeaveReason },
}

/// What the cluster module must do, when the chat is shared with other nodes; taken apart from the connection
/// effects ([`Chat::take_cluster_effects`]), as the history saver takes history apart from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEffect {
    /// Ask the cluster for `name` (whose look-alike shape is `shape`) for `id`, and answer with
    /// [`Chat::claim_result`] quoting `claim`.
    Claim { id: ClientId, claim: u64, name: String, shape: u64 },
    /// This node's user no longer uses `name`; the cluster may give it to someone else.
    Release { name: String, shape: u64 },
    /// Tell the other nodes.
    Tell(ClusterEvent),
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
    /// Join and leave notices go out only while a room has at most this many members.
    pub notice_limit: usize,
    /// Public messages kept per room and replayed to whoever joins it.
    pub history_size: usize,
    /// The longest line accepted, in bytes: the framer enforces it, the core quotes it in the error.
    pub max_line_bytes: usize,
    /// The most bytes one reply to one user may hold: the newest history that fits is replayed, a longer
    /// `/users` or `/rooms` list is cut short. The server keeps it below its output queue cap.
    pub max_reply_bytes: usize,
    /// Rooms that may exist at once.
    pub max_rooms: usize,
    /// Rooms one user may be in at once.
    pub max_rooms_per_user: usize,
    /// Silence after which an IRC client is pinged; it is closed if it stays silent as long again.
    pub irc_ping_after: Duration,
    /// `Some` when this node shares the chat with others (`--cluster`): names are claimed cluster-wide before
    /// use, and a node not heard from for this long is taken for dead, its users gone.
    pub cluster_node_timeout: Option<Duration>,
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
            max_rooms: DEFAULT_MAX_ROOMS,
            max_rooms_per_user: DEFAULT_MAX_ROOMS_PER_USER,
            irc_ping_after: DEFAULT_IRC_PING_AFTER,
            cluster_node_timeout: None,
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
    /// The room plain lines go to, once named (none after leaving every room).
    current: Option<RoomId>,
    /// Every room this user is in, in the order joined, and where the user is in that room's member list.
    rooms: Vec<(RoomId, usize)>,
    /// What it speaks.
    dialect: Dialect,
    /// An IRC connection's registration and capabilities; `None` for Charla's lines.
    irc: Option<Box<IrcSession>>,
}

impl Client {
    fn new(lang: Lang, since: Instant, dialect: Dialect) -> Client {
        let irc = (dialect == Dialect::Irc).then(Box::default);
        Client { name: None, lang, since, current: None, rooms: Vec::new(), dialect, irc }
    }

    fn variant_in(&self, room: RoomId) -> Variant {
        Variant::of(self.lang, self.dialect, self.current == Some(room))
    }

    fn is_irc(&self) -> bool {
        self.dialect == Dialect::Irc
    }
}

/// The whole chat state.
#[derive(Debug)]
pub struct Chat {
    config: ChatConfig,
    local_clock: LocalClock,
    clients: ClientTable<Client>,
    /// Named users by the case-insensitive key of their name, in key order (the order `/users` lists them).
    by_name: BTreeMap<NameKey, ClientId>,
    /// Named users by what their name looks like, so nobody takes a look-alike.
    by_shape: HashMap<NameShape, ClientId>,
    rooms: Slab<Room>,
    /// The room everyone enters at login: created with the chat and never dropped, so its id never changes.
    lobby: RoomId,
    /// Rooms by the case-insensitive key of their name, in key order (the order `/rooms` lists them).
    room_by_key: BTreeMap<NameKey, RoomId>,
    /// Counts changes to any room's history, rooms dropped included, so a saver can tell whether to write.
    history_revision: u64,
    /// Per client with a deadline: the earliest moment its login or idle deadline could pass. An idle deadline
    /// moves later as the user sends lines; its entry is checked, and moved, only when it comes due.
    deadlines: DeadlineHeap,
    /// Users on other nodes and names being claimed, when the chat is shared with other nodes.
    cluster: Option<Box<ClusterState>>,
    effects: Vec<Effect>,
    cluster_effects: Vec<ClusterEffect>,
}

impl Chat {
    /// A chat with no one in it yet, and the lobby holding `history`. `local_clock` turns message times into
    /// the `[HH:MM]` shown to users.
    pub fn new(config: ChatConfig, local_clock: LocalClock, history: History) -> Chat {
        Chat::with_rooms(config, local_clock, vec![(RoomName::lobby(), history)])
    }

    /// A chat with no one in it yet and these rooms' histories (loaded from the file). Rooms with an empty
    /// history are left out, except the lobby, which always exists.
    pub fn with_rooms(config: ChatConfig, local_clock: LocalClock, histories: Vec<(RoomName, History)>) -> Chat {
        let cluster = config.cluster_node_timeout.map(|timeout| Box::new(ClusterState::new(timeout)));
        let mut chat = Chat {
            config,
            local_clock,
            clients: ClientTable::default(),
            by_name: BTreeMap::new(),
            by_shape: HashMap::new(),
            rooms: Slab::new(),
            lobby: 0,
            room_by_key: BTreeMap::new(),
            history_revision: 0,
            deadlines: DeadlineHeap::new(),
            cluster,
            effects: Vec::new(),
            cluster_effects: Vec::new(),
        };
        let lobby = Room::new(RoomName::lobby(), History::new(chat.config.history_size));
        chat.lobby = chat.rooms.insert(lobby);
        chat.room_by_key.insert(RoomName::lobby().key(), chat.lobby);
        for (name, history) in histories {
            let key = name.key();
            if let Some(&existing) = chat.room_by_key.get(&key) {
                // The lobby was created empty above; a loaded history for it takes its place.
                if chat.rooms[existing].history.is_empty() {
                    chat.rooms[existing].last_active_ms = history.iter().last().map_or(i64::MIN, |m| m.ts);
                    chat.rooms[existing].history = history;
                }
                continue;
            }
            if !history.is_empty() {
                let last_active_ms = history.iter().last().map_or(i64::MIN, |m| m.ts);
                let mut room = Room::new(name, history);
                room.last_active_ms = last_active_ms;
                let id = chat.rooms.insert(room);
                chat.room_by_key.insert(key, id);
            }
        }
        chat
    }

    /// Moves the pending effects into `out` (which should be empty), oldest first.
    pub fn take_effects(&mut self, out: &mut Vec<Effect>) {
        std::mem::swap(&mut self.effects, out);
    }

    /// Moves the pending cluster effects into `out` (which should be empty), oldest first. A node standing alone
    /// has none.
    pub fn take_cluster_effects(&mut self, out: &mut Vec<ClusterEffect>) {
        std::mem::swap(&mut self.cluster_effects, out);
    }

    /// Calls `each` with every client `to` names, as membership stands now, and the variant it receives. This
    /// is the fan-out loop of every broadcast, so it walks a dense list and allocates nothing.
    pub fn for_each_recipient(&self, to: Recipients, mut each: impl FnMut(ClientId, Variant)) {
        match to {
            Recipients::Room { room, except } => {
                let Some(room) = self.rooms.get(room) else { return };
                for member in &room.members {
                    if Some(member.id) != except {
                        each(member.id, member.variant);
                    }
                }
            }
            Recipients::Everyone => {
                self.clients.iter().for_each(|(id, client)| each(id, Variant::of(client.lang, client.dialect, true)))
            }
        }
    }

    /// How many users are named.
    pub fn member_count(&self) -> usize {
        self.by_name.len()
    }

    /// The lobby's history (the one room every user sees at login).
    pub fn history(&self) -> &History {
        &self.rooms[self.lobby].history
    }

    /// Every room and its history: what the history file holds.
    pub fn histories(&self) -> impl Iterator<Item = (&str, &History)> {
        self.room_by_key.values().map(|&id| &self.rooms[id]).map(|room| (room.name.as_str(), &room.history))
    }

    /// Changes whenever any room's history changes; a saver compares it with the revision it last wrote.
    pub fn history_revision(&self) -> u64 {
        self.history_revision
    }

    /// A new connection: ask it for a name and start its login clock.
    pub fn connect(&mut self, id: ClientId, now: Now) {
        self.clients.insert(id, Client::new(self.config.lang, now.mono, Dialect::Line));
        self.schedule_deadline(id);
        self.reply(id, &[Text::AskName]);
    }

    /// A new IRC connection: it registers with NICK and USER (nothing is asked), within the login timeout.
    pub fn connect_irc(&mut self, id: ClientId, now: Now) {
        self.clients.insert(id, Client::new(self.config.lang, now.mono, Dialect::Irc));
        self.schedule_deadline(id);
    }

    /// A connection is gone, whatever the reason. Others hear that a named user left.
    pub fn disconnect(&mut self, id: ClientId) {
        self.leave_chat(id, LeaveReason::Disconnected);
    }

    /// A complete line (without terminator) arrived from `id`.
    pub fn receive_line(&mut self, id: ClientId, raw: &[u8], now: Now) {
        if self.cluster.as_mut().is_some_and(|cluster| cluster.hold_line(id, raw)) {
            return;
        }
        let Some(client) = self.clients.get_mut(&id) else {
            return log::debug!("line from closed client {id} ignored");
        };
        // A proposed name is validated as sent, so a control character in it refuses it rather than being
        // silently dropped from it; any other line is cleaned.
        let text = decode_lossy(raw);
        if client.is_irc() {
            return self.irc_line(id, &text, now);
        }
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
        let nodes = self.cluster.as_ref().and_then(|cluster| cluster.next_deadline());
        self.deadlines.next().into_iter().chain(nodes).min()
    }

    /// Closes connections that did not choose a name in time, and named users silent past the idle timeout.
    pub fn handle_timeout(&mut self, now: Now) {
        self.expire_nodes(now);
        while let Some(id) = self.deadlines.pop_due(now.mono) {
            let Some(client) = self.clients.get(&id) else {
                continue;
            };
            let Some(deadline) = deadline_of(&self.config, client) else {
                continue;
            };
            let (named, irc) = (client.name.is_some(), client.is_irc());
            let idle_due = self.config.idle_timeout.is_some_and(|idle| client.since + idle <= now.mono);
            if deadline > now.mono {
                self.deadlines.schedule(id, deadline);
            } else if named && irc && !idle_due {
                // An IRC client's keepalive: pinged when silent, closed when the ping goes unanswered.
                self.irc_ping_or_close(id, now);
            } else if !named {
                self.reply(id, &[Text::LoginTimedOut]);
                self.clients.remove(&id);
                self.effects.push(Effect::Close(id));
            } else {
                let secs = self.config.idle_timeout.map_or(0, |t| t.as_secs());
                self.reply(id, &[Text::IdleTimedOut { secs }]);
                self.effects.push(Effect::Close(id));
                self.leave_chat(id, LeaveReason::Idle);
            }
        }
    }

    /// The server is stopping: tell every connection.
    pub fn shutdown(&mut self) {
        let mut payload = Localized::default();
        for lang in Lang::ALL {
            for dialect in [Dialect::Line, Dialect::Irc] {
                let rendering = render_reply(dialect, lang, "*", &[Text::ShuttingDown]);
                payload.by_variant[Variant::of(lang, dialect, true).index()] = Some(rendering);
            }
        }
        self.effects.push(Effect::Broadcast { to: Recipients::Everyone, payload });
    }

    /// Sets `id`'s deadline to its current one, or cancels it if it has none.
    fn schedule_deadline(&mut self, id: ClientId) {
        match self.clients.get(&id).and_then(|client| deadline_of(&self.config, client)) {
            Some(deadline) => self.deadlines.schedule(id, deadline),
            None => self.deadlines.cancel(id),
        }
    }

    /// Removes a client; if it was named, each of its rooms hears that it left and the loop logs it.
    fn leave_chat(&mut self, id: ClientId, reason: LeaveReason) {
        self.deadlines.cancel(id);
        if let Some(cluster) = self.cluster.as_mut() {
            // A claim still under way is answered for nobody: `claim_result` then says to release the name.
            cluster.forget_claim(id);
        }
        let Some(client) = self.clients.remove(&id) else { return };
        let Some(name) = client.name else { return };
        self.by_name.remove(&name.key());
        self.by_shape.remove(&name.shape());
        if self.cluster.is_some() {
            self.cluster_effects
                .push(ClusterEffect::Release { name: name.as_str().to_owned(), shape: name.shape().value() });
            self.tell_cluster(ClusterEvent::Offline { name: name.as_str().to_owned() });
        }
        let rooms: Vec<RoomId> = client.rooms.iter().map(|&(room, _)| room).collect();
        // Told before the member goes, so that the notice limit counts the rooms as they were.
        self.notify_user_change(&rooms, Some(id), &[Text::Left { name: name.as_str() }]);
        for &(room, index) in &client.rooms {
            self.remove_member(room, index);
            self.drop_if_vacant(room);
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
        let Some(name) = self.check_new_name(id, line) else {
            return self.reply(id, &[Text::AskName]);
        };
        self.register(id, name, now);
    }

    /// `id` takes `name` (already checked): in a cluster, once the cluster grants it.
    fn register(&mut self, id: ClientId, name: Name, now: Now) {
        self.take_name(id, name, now);
    }

    /// `id` takes `name`, checked and (in a cluster) granted: a first name logs it in, a new one renames it.
    fn apply_name(&mut self, id: ClientId, name: Name, now: Now) {
        if self.name_of(id).is_some() {
            return self.rename(id, name);
        }
        self.by_name.insert(name.key(), id);
        self.by_shape.insert(name.shape(), id);
        self.effects.push(Effect::Joined { id, name: name.as_str().to_owned() });
        let Some(client) = self.clients.get_mut(&id) else { return };
        client.since = now.mono;
        client.name = Some(name);
        // The login deadline no longer applies; the idle one, if any, starts now.
        self.schedule_deadline(id);
        if let Some(name) = self.name_of(id).map(|n| n.as_str().to_owned()) {
            // Before the welcome, whose entering of the lobby the other nodes hear as a Joined.
            self.tell_cluster(ClusterEvent::Online { name, rooms: Vec::new() });
        }
        self.welcome(id);
    }

    /// Whether `line` may become `id`'s name: valid, not taken, not like anyone else's. Explains a refusal.
    fn check_new_name(&mut self, id: ClientId, line: &str) -> Option<Name> {
        let name = match Name::parse(line) {
            Ok(name) => name,
            Err(NameError::BadLength | NameError::BadCharacter | NameError::LooksLikeCommand) => {
                self.reply(id, &[Text::NameInvalid]);
                return None;
            }
            Err(NameError::MixedScripts) => {
                self.reply(id, &[Text::NameMixedScripts]);
                return None;
            }
            Err(NameError::Reserved) => {
                self.reply(id, &[Text::NameReserved { name: line.trim() }]);
                return None;
            }
        };
        if self.by_name.get(&name.key()).is_some_and(|&owner| owner != id) {
            self.reply(id, &[Text::NameTaken { name: name.as_str() }]);
            return None;
        }
        if let Some(taken) =
            self.by_shape.get(&name.shape()).filter(|&&owner| owner != id).and_then(|&o| self.name_of(o))
        {
            let taken = taken.as_str().to_owned();
            self.reply(id, &[Text::NameLooksLike { name: name.as_str(), taken: &taken }]);
            return None;
        }
        if let Some(cluster) = self.cluster.as_ref() {
            // Users on other nodes, as this node knows them; the claim is what settles it.
            if cluster.user_named(&name.key()).is_some() {
                self.reply(id, &[Text::NameTaken { name: name.as_str() }]);
                return None;
            }
            if let Some(taken) = cluster.user_shaped(name.shape()).map(str::to_owned) {
                self.reply(id, &[Text::NameLooksLike { name: name.as_str(), taken: &taken }]);
                return None;
            }
        }
        Some(name)
    }

    /// The welcome, with the lobby's newest history that fits in one reply; then the lobby hears of the
    /// newcomer.
    fn welcome(&mut self, id: ClientId) {
        let Some(client) = self.clients.get(&id) else { return };
        if client.is_irc() {
            return self.irc_welcome(id);
        }
        let (lang, name) = (client.lang, client.name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default());
        let mut out = String::new();
        for text in [Text::Welcome { name: &name }, Text::HelpHint] {
            text.render_into(lang, &mut out);
            out.push('\n');
        }
        let lobby = self.lobby;
        self.render_history(lobby, lang, &mut out);
        self.push_to(id, Rc::from(out.into_bytes()));
        self.enter_room(id, lobby);
        self.notify_room(lobby, Some(id), &[Text::Joined { name: &name }]);
    }

    /// Appends `room`'s history block (header and the newest messages that fit in one reply) to `out`.
    fn render_history(&self, room: RoomId, lang: Lang, out: &mut String) {
        let Some(room) = self.rooms.get(room) else { return };
        if room.history.is_empty() {
            return;
        }
        let clock = self.local_clock;
        let budget = self.config.max_reply_bytes.saturating_sub(out.len() + 64);
        let mut newest_first = Vec::new();
        let mut used = 0;
        for message in room.history.iter().rev() {
            let mut line = String::new();
            stored_text(message, clock).render_into(lang, &mut line);
            line.push('\n');
            used += line.len();
            if used > budget {
                break;
            }
            newest_first.push(line);
        }
        let header = if newest_first.len() == room.history.len() {
            Text::HistoryHeader
        } else {
            Text::HistoryHeaderPartial { shown: newest_first.len() }
        };
        header.render_into(lang, out);
        out.push('\n');
        newest_first.iter().rev().for_each(|line| out.push_str(line));
    }

    fn dispatch(&mut self, id: ClientId, line: &str, now: Now) {
        match parse_input(line) {
            Input::Blank => {}
            Input::Message(text) => self.say(id, text, false, now),
            Input::Command(Command::Me(text)) => self.say(id, text, true, now),
            Input::Command(Command::MeUsage) => self.reply(id, &[Text::MeUsage]),
            Input::Command(Command::Help) => self.reply(id, &[Text::Help]),
            Input::Command(Command::Users) => self.list_users(id),
            Input::Command(Command::Rooms) => self.list_rooms(id),
            Input::Command(Command::Whisper { to, text }) => self.whisper(id, to, text, now),
            Input::Command(Command::WhisperUsage) => self.reply(id, &[Text::WhisperUsage]),
            Input::Command(Command::Join(Some(room))) => self.join(id, room),
            Input::Command(Command::Join(None)) => self.reply(id, &[Text::JoinUsage]),
            Input::Command(Command::Leave(room)) => self.leave(id, room),
            Input::Command(Command::Nick(Some(name))) => self.nick(id, name, now),
            Input::Command(Command::Nick(None)) => self.reply(id, &[Text::NickUsage]),
            Input::Command(Command::Lang(code)) => self.set_lang(id, code),
            Input::Command(Command::Quit) => self.quit(id),
            Input::Command(Command::Unknown(command)) => self.reply(id, &[Text::UnknownCommand { command }]),
        }
    }

    /// A public message, or with `/me` an action, to the current room; it enters that room's history.
    fn say(&mut self, id: ClientId, text: &str, action: bool, now: Now) {
        let Some(room) = self.clients.get(&id).and_then(|c| c.current) else {
            return self.reply(id, &[Text::NoCurrentRoom]);
        };
        self.say_in(id, room, text, action, now);
    }

    /// A public message or action to one of the sender's rooms; it enters that room's history. An IRC sender
    /// does not get its own line back (IRC clients show what they sent); everyone else does.
    fn say_in(&mut self, id: ClientId, room: RoomId, text: &str, action: bool, now: Now) {
        let Some(client) = self.clients.get(&id) else { return };
        let Some(from) = client.name.as_ref() else { return };
        let except = client.is_irc().then_some(id);
        let from = from.as_str().to_owned();
        let message = StoredMessage { ts: now.unix_ms, user: from, text: text.to_owned(), action };
        let said = stored_text(&message, self.local_clock);
        self.notify_room(room, except, &[said]);
        if self.cluster.is_some()
            && let Some(room) = self.rooms.get(room)
        {
            let room = room.name.as_str().to_owned();
            self.tell_cluster(ClusterEvent::Said { room, message: message.clone() });
        }
        if let Some(room) = self.rooms.get_mut(room) {
            room.history.push(message);
            room.last_active_ms = now.unix_ms;
            self.history_revision += 1;
        }
    }

    /// The current room's members, sorted without regard to case. The reply is kept until the room's
    /// membership changes, so asking again and again costs a reference count, not a sort.
    fn list_users(&mut self, id: ClientId) {
        let Some(client) = self.clients.get(&id) else { return };
        let (lang, Some(room_id)) = (client.lang, client.current) else {
            return self.reply(id, &[Text::NoCurrentRoom]);
        };
        let Some(room) = self.rooms.get(room_id) else { return };
        if let Some(cached) = &room.users_reply[lang.index()] {
            let payload = Rc::clone(cached);
            return self.push_to(id, payload);
        }
        let mut out = String::new();
        let count = room.population();
        let header = if room.name.as_str() == LOBBY {
            Text::UsersHeader { count }
        } else {
            Text::UsersInRoomHeader { room: room.name.as_str(), count }
        };
        header.render_into(lang, &mut out);
        out.push('\n');
        // The global index is in name order; a room's members are those of its users who are in it.
        let members = self
            .by_name
            .iter()
            .filter_map(|(key, &user)| Some((key, self.clients.get(&user)?)))
            .filter(|(_, c)| c.rooms.iter().any(|&(r, _)| r == room_id))
            .filter_map(|(key, client)| Some((key, client.name.as_ref()?.as_str())));
        let names: Vec<&str> = match self.cluster.as_ref() {
            None => members.map(|(_, name)| name).collect(),
            // Users on other nodes, merged in the same order.
            Some(cluster) => {
                let mut all: Vec<(&NameKey, &str)> = members.chain(cluster.names_in(room_id)).collect();
                all.sort_unstable_by(|a, b| a.0.cmp(b.0));
                all.into_iter().map(|(_, name)| name).collect()
            }
        };
        let entries = names.into_iter().map(|name| Text::UserEntry { name });
        self.render_bounded(lang, entries, count, &mut out);
        let payload: Payload = Rc::from(out.into_bytes());
        if let Some(room) = self.rooms.get_mut(room_id) {
            room.users_reply[lang.index()] = Some(Rc::clone(&payload));
        }
        self.push_to(id, payload);
    }

    /// Every room, sorted without regard to case, with its member count.
    fn list_rooms(&mut self, id: ClientId) {
        let Some(client) = self.clients.get(&id) else { return };
        let (lang, current) = (client.lang, client.current);
        let mut out = String::new();
        Text::RoomsHeader { count: self.rooms.len() }.render_into(lang, &mut out);
        out.push('\n');
        let entries = self.room_by_key.values().map(|&room_id| {
            let room = &self.rooms[room_id];
            Text::RoomEntry { room: room.name.as_str(), members: room.population(), here: current == Some(room_id) }
        });
        self.render_bounded(lang, entries, self.rooms.len(), &mut out);
        self.push_to(id, Rc::from(out.into_bytes()));
    }

    /// Appends one line per entry while the reply stays within its bound, then says how many were left out.
    fn render_bounded<'a>(&self, lang: Lang, entries: impl Iterator<Item = Text<'a>>, total: usize, out: &mut String) {
        let budget = self.config.max_reply_bytes.saturating_sub(64);
        for (listed, entry) in entries.enumerate() {
            let before = out.len();
            entry.render_into(lang, out);
            out.push('\n');
            if out.len() > budget {
                out.truncate(before);
                Text::UsersMore { count: total - listed }.render_into(lang, out);
                out.push('\n');
                return;
            }
        }
    }

    fn whisper(&mut self, id: ClientId, to: &str, text: &str, now: Now) {
        let Some(from) = self.name_of(id) else { return };
        let Some(&target) = self.by_name.get(&NameKey::of(to)) else {
            let cluster = self.cluster.as_ref();
            let remote = cluster.and_then(|cluster| cluster.user_named(&NameKey::of(to)));
            let Some(remote) = remote.map(str::to_owned) else {
                return self.reply(id, &[Text::WhisperNoSuchUser { name: to }]);
            };
            // While the link is down a whisper would be dropped on the way: better said now than lost quietly.
            if !cluster.is_some_and(|cluster| cluster.linked()) {
                return self.reply(id, &[Text::WhisperUnreachable { name: &remote }]);
            }
            let from = from.as_str().to_owned();
            let event = ClusterEvent::Whisper { from, to: remote.clone(), text: text.to_owned(), ts: now.unix_ms };
            self.tell_cluster(event);
            return self.reply(id, &[Text::WhisperSent { to: &remote }]);
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

    /// `/join ROOM`: into the room (created if new) and make it current, or only make it current.
    fn join(&mut self, id: ClientId, typed: &str) {
        let Ok(name) = RoomName::parse(typed) else {
            return self.reply(id, &[Text::RoomNameInvalid]);
        };
        let Some(client) = self.clients.get(&id) else { return };
        let lang = client.lang;
        if let Some(&room) = self.room_by_key.get(&name.key())
            && client.rooms.iter().any(|&(r, _)| r == room)
        {
            self.make_current(id, Some(room));
            let room_name = self.rooms[room].name.as_str().to_owned();
            return self.reply(id, &[Text::NowIn { room: &room_name }]);
        }
        if client.rooms.len() >= self.config.max_rooms_per_user {
            let max = self.config.max_rooms_per_user;
            return self.reply(id, &[Text::TooManyMemberships { max }]);
        }
        let Some(room) = self.room_for_joining(id, &name) else { return };
        if self.clients.get(&id).is_some_and(Client::is_irc) {
            return self.irc_enter(id, room);
        }
        let (room_name, user) = (
            self.rooms[room].name.as_str().to_owned(),
            self.name_of(id).map(|n| n.as_str().to_owned()).unwrap_or_default(),
        );
        let mut out = String::new();
        Text::NowIn { room: &room_name }.render_into(lang, &mut out);
        out.push('\n');
        self.render_history(room, lang, &mut out);
        self.push_to(id, Rc::from(out.into_bytes()));
        self.enter_room(id, room);
        self.notify_room(room, Some(id), &[Text::JoinedRoom { name: &user, room: &room_name }]);
    }

    /// `/leave [ROOM]`: out of the room (the current one by default); another room becomes current.
    fn leave(&mut self, id: ClientId, typed: Option<&str>) {
        let Some(client) = self.clients.get(&id) else { return };
        let room = match typed {
            None => client.current,
            Some(typed) => {
                let Ok(name) = RoomName::parse(typed) else {
                    return self.reply(id, &[Text::RoomNameInvalid]);
                };
                match self.room_by_key.get(&name.key()).filter(|&&r| client.rooms.iter().any(|&(m, _)| m == r)) {
                    Some(&room) => Some(room),
                    None => return self.reply(id, &[Text::NotInRoom { room: name.as_str() }]),
                }
            }
        };
        let Some(room) = room else {
            return self.reply(id, &[Text::NoCurrentRoom]);
        };
        let Some(position) = client.rooms.iter().position(|&(r, _)| r == room) else { return };
        let was_current = client.current == Some(room);
        let user = client.name.as_ref().map(|n| n.as_str().to_owned()).unwrap_or_default();
        let room_name = self.rooms[room].name.as_str().to_owned();
        // Told before the member goes, so that the notice limit counts the room as it was.
        self.notify_room(room, Some(id), &[Text::LeftRoom { name: &user, room: &room_name }]);
        self.tell_cluster(ClusterEvent::Parted { name: user.clone(), room: room_name.clone() });
        if let Some(client) = self.clients.get_mut(&id) {
            let (_, index) = client.rooms.remove(position);
            if was_current {
                client.current = None;
            }
            self.remove_member(room, index);
        }
        if was_current {
            let next = self.clients.get(&id).and_then(|c| c.rooms.last()).map(|&(r, _)| r);
            self.make_current(id, next);
        }
        let now_in = self.clients.get(&id).and_then(|c| c.current).map(|r| self.rooms[r].name.as_str().to_owned());
        if self.clients.get(&id).is_some_and(Client::is_irc) {
            self.irc_echo(id, "PART", &[&irc_channel(&room_name)]);
        } else {
            self.reply(id, &[Text::YouLeft { room: &room_name, now_in: now_in.as_deref() }]);
        }
        self.drop_if_vacant(room);
    }

    /// `/nick NAME`: a new name under the same rules as a first one; the user's rooms hear of it.
    fn nick(&mut self, id: ClientId, typed: &str, now: Now) {
        let Some(new) = self.check_new_name(id, typed) else { return };
        self.take_name(id, new, now);
    }

    /// Renames a named user to `new`, checked and (in a cluster) granted.
    fn rename(&mut self, id: ClientId, new: Name) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        let Some(old) = client.name.replace(new.clone()) else { return };
        let rooms: Vec<RoomId> = client.rooms.iter().map(|&(room, _)| room).collect();
        self.by_name.remove(&old.key());
        self.by_shape.remove(&old.shape());
        self.by_name.insert(new.key(), id);
        self.by_shape.insert(new.shape(), id);
        if self.clients.get(&id).is_some_and(Client::is_irc) {
            self.irc_echo_as(id, old.as_str(), "NICK", &[new.as_str()]);
        } else {
            self.reply(id, &[Text::NickChanged { name: new.as_str() }]);
        }
        for &room in &rooms {
            if let Some(room) = self.rooms.get_mut(room) {
                room.users_reply = Default::default();
            }
        }
        self.notify_user_change(&rooms, Some(id), &[Text::NickNotice { old: old.as_str(), new: new.as_str() }]);
        self.effects.push(Effect::Renamed { id, old: old.as_str().to_owned(), new: new.as_str().to_owned() });
        if self.cluster.is_some() {
            self.cluster_effects
                .push(ClusterEffect::Release { name: old.as_str().to_owned(), shape: old.shape().value() });
            self.tell_cluster(ClusterEvent::Renamed { old: old.as_str().to_owned(), new: new.as_str().to_owned() });
        }
    }

    /// `/lang CODE`: from now on this user reads `CODE`, starting with the confirmation.
    fn set_lang(&mut self, id: ClientId, code: Option<&str>) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        let named = client.name.is_some();
        let answer = match code.map(|code| (code, code.parse::<Lang>())) {
            None => Text::LangCurrent { lang: client.lang },
            Some((code, Err(_))) => Text::LangUnknown { code },
            Some((_, Ok(lang))) => {
                client.lang = lang;
                self.refresh_variants(id);
                Text::LangSet
            }
        };
        // Before a name, the question comes again after the answer (in the new language).
        if named { self.reply(id, &[answer]) } else { self.reply(id, &[answer, Text::AskName]) }
    }

    fn quit(&mut self, id: ClientId) {
        self.reply(id, &[Text::Goodbye]);
        self.effects.push(Effect::Close(id));
        self.leave_chat(id, LeaveReason::Quit);
    }

    /// The room called `name`, created if it does not exist yet, for `id` to join; explains a refusal.
    fn room_for_joining(&mut self, id: ClientId, name: &RoomName) -> Option<RoomId> {
        let key = name.key();
        if let Some(&room) = self.room_by_key.get(&key) {
            return Some(room);
        }
        if self.rooms.len() >= self.config.max_rooms && !self.evict_quietest_empty_room() {
            let max = self.config.max_rooms;
            self.reply(id, &[Text::TooManyRooms { max }]);
            return None;
        }
        let room = self.rooms.insert(Room::new(name.clone(), History::new(self.config.history_size)));
        self.room_by_key.insert(key, room);
        Some(room)
    }

    /// At the room cap, a room nobody is in gives way: the one quiet for longest. False if every room has people.
    fn evict_quietest_empty_room(&mut self) -> bool {
        let quietest = self
            .rooms
            .iter()
            .filter(|&(id, room)| room.is_empty() && id != self.lobby)
            .min_by_key(|(_, room)| room.last_active_ms)
            .map(|(id, _)| id);
        let Some(room) = quietest else { return false };
        let removed = self.rooms.remove(room);
        self.room_by_key.remove(&removed.name.key());
        self.history_revision += 1;
        true
    }

    /// Adds a named client to a room's members and makes it the client's current room.
    fn enter_room(&mut self, id: ClientId, room: RoomId) {
        let Some(client) = self.clients.get_mut(&id) else { return };
        let variant = Variant::of(client.lang, client.dialect, false);
        let Some(index) = self.rooms.get_mut(room).map(|r| r.add(id, variant)) else { return };
        if client.rooms.capacity() == 0 {
            // Most users stay in one room: a first membership takes 16 bytes of heap, not the 64 a growing
            // vector would reserve. With 10,000 idle users that is a tenth of what each one costs.
            client.rooms.reserve_exact(1);
        }
        client.rooms.push((room, index));
        self.make_current(id, Some(room));
        if self.cluster.is_some()
            && let (Some(name), Some(room)) = (self.name_of(id), self.rooms.get(room))
        {
            let (name, room) = (name.as_str().to_owned(), room.name.as_str().to_owned());
            self.tell_cluster(ClusterEvent::Joined { name, room });
        }
    }

    /// Removes the member at `index` of `room`, keeping the index of the member moved into its place.
    fn remove_member(&mut self, room: RoomId, index: usize) {
        let Some(moved) = self.rooms.get_mut(room).and_then(|r| r.remove(index)) else { return };
        if let Some(entry) = self.clients.get_mut(&moved).and_then(|c| c.rooms.iter_mut().find(|(r, _)| *r == room)) {
            entry.1 = index;
        }
    }

    /// Makes `room` (one of the client's) its current room, and updates how each of its rooms reaches it.
    fn make_current(&mut self, id: ClientId, room: Option<RoomId>) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.current = room;
        }
        self.refresh_variants(id);
    }

    /// Brings the variant each of the client's rooms sends it in line with its language and current room.
    fn refresh_variants(&mut self, id: ClientId) {
        let Some(client) = self.clients.get(&id) else { return };
        for &(room, index) in &client.rooms {
            let variant = client.variant_in(room);
            if let Some(room) = self.rooms.get_mut(room)
                && room.members[index].variant != variant
            {
                room.set_variant(index, variant);
            }
        }
    }

    /// A room nobody is in, with no history to replay, goes away; the lobby stays.
    fn drop_if_vacant(&mut self, room: RoomId) {
        if room != self.lobby && self.rooms.get(room).is_some_and(Room::is_vacant) {
            let removed = self.rooms.remove(room);
            self.room_by_key.remove(&removed.name.key());
        }
    }

    /// Whether someone, on this node or (in a cluster) another, is called `name`.
    fn user_exists(&self, name: &str) -> bool {
        let key = NameKey::of(name);
        self.by_name.contains_key(&key) || self.cluster.as_ref().is_some_and(|c| c.user_named(&key).is_some())
    }

    fn name_of(&self, id: ClientId) -> Option<&Name> {
        self.clients.get(&id).and_then(|c| c.name.as_ref())
    }

    /// Sends `texts` to one client, in its dialect and language.
    fn reply(&mut self, id: ClientId, texts: &[Text<'_>]) {
        let Some(client) = self.clients.get(&id) else { return };
        let nick = client.name.as_ref().map_or("*", Name::as_str);
        let payload = render_reply(client.dialect, client.lang, nick, texts);
        if !payload.is_empty() {
            self.push_to(id, payload);
        }
    }

    fn push_to(&mut self, id: ClientId, payload: Payload) {
        self.effects.push(Effect::Send { to: id, payload });
    }

    /// Sends `texts` to a room's members (but `except`), rendered once per variant in use among them: a
    /// notice, only while the room is within the notice limit; a message, always.
    fn notify_room(&mut self, room_id: RoomId, except: Option<ClientId>, texts: &[Text<'_>]) {
        self.notify_room_in(room_id, except, texts, None);
    }

    /// A notice about a user rather than a room (leaving the chat, a new name), to everyone who shares a room
    /// with it: per room for line users (each room's copy tagged as its lines are), but once for an IRC user,
    /// for whom it is one QUIT or NICK however many channels they share.
    fn notify_user_change(&mut self, rooms: &[RoomId], except: Option<ClientId>, texts: &[Text<'_>]) {
        let mut irc_members: Vec<(ClientId, Lang)> = Vec::new();
        for &room_id in rooms {
            self.notify_room_in(room_id, except, texts, Some(Dialect::Line));
            let Some(room) = self.rooms.get(room_id) else { continue };
            if room.population() > self.config.notice_limit {
                continue;
            }
            let irc = room.members.iter().filter(|m| m.variant.dialect == Dialect::Irc && Some(m.id) != except);
            irc_members.extend(irc.map(|m| (m.id, m.variant.lang)));
        }
        irc_members.sort_unstable_by_key(|&(id, _)| id);
        irc_members.dedup_by_key(|&mut (id, _)| id);
        let mut by_lang: [Option<Payload>; Lang::ALL.len()] = Default::default();
        for (id, lang) in irc_members {
            let payload = by_lang[lang.index()].get_or_insert_with(|| {
                let mut out = String::new();
                for text in texts {
                    // QUIT and NICK name no channel.
                    crate::core::irc::render_broadcast(text, lang, LOBBY, &mut out);
                }
                Rc::from(out.into_bytes())
            });
            let payload = Rc::clone(payload);
            self.push_to(id, payload);
        }
    }

    /// [`Chat::notify_room`], to the members of one dialect only when `only` is given.
    fn notify_room_in(&mut self, room_id: RoomId, except: Option<ClientId>, texts: &[Text<'_>], only: Option<Dialect>) {
        let Some(room) = self.rooms.get(room_id) else { return };
        let is_notice = !texts.iter().all(Text::same_in_every_language);
        if room.members.is_empty() || (is_notice && room.population() > self.config.notice_limit) {
            return;
        }
        let mut payload = Localized::default();
        // A message reads the same in both languages: one rendering per dialect and tag.
        let mut shared: [Option<Payload>; 4] = Default::default();
        for variant in Variant::all() {
            if room.readers[variant.index()] == 0 || only.is_some_and(|dialect| dialect != variant.dialect) {
                continue;
            }
            let form = 2 * (variant.dialect as usize) + usize::from(variant.tagged);
            let rendered = match &shared[form] {
                Some(same) if !is_notice => Rc::clone(same),
                _ => render_variant(&room.name, variant, texts),
            };
            shared[form].get_or_insert_with(|| Rc::clone(&rendered));
            payload.by_variant[variant.index()] = Some(rendered);
        }
        self.effects.push(Effect::Broadcast { to: Recipients::Room { room: room_id, except }, payload });
    }
}

/// How a stored message reads: a message or an action.
fn stored_text(message: &StoredMessage, clock: LocalClock) -> Text<'_> {
    let at = clock(message.ts);
    if message.action {
        Text::Action { at, from: &message.user, text: &message.text }
    } else {
        Text::Public { at, from: &message.user, text: &message.text }
    }
}

/// When `client` is due to be closed (or, on IRC, pinged), if it ever is.
fn deadline_of(config: &ChatConfig, client: &Client) -> Option<Instant> {
    match client.name {
        None => Some(client.since + config.login_timeout),
        Some(_) => {
            let idle = config.idle_timeout.map(|idle| client.since + idle);
            let ping = client.irc.as_ref().map(|irc| irc.ping_deadline(client.since, config.irc_ping_after));
            idle.into_iter().chain(ping).min()
        }
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

/// Renders a reply to one connection (`nick` is its name, `*` before it has one) in its dialect.
fn render_reply(dialect: Dialect, lang: Lang, nick: &str, texts: &[Text<'_>]) -> Payload {
    if dialect == Dialect::Line {
        return render_lines(lang, texts);
    }
    let mut out = String::new();
    for text in texts {
        crate::core::irc::render_reply(text, lang, nick, &mut out);
    }
    Rc::from(out.into_bytes())
}

fn irc_channel(room: &str) -> String {
    crate::core::irc::channel(room)
}

/// Renders a room's lines for one variant: in its language, with `#room ` in front of each line if tagged; or
/// as IRC lines naming the channel.
fn render_variant(room: &RoomName, variant: Variant, texts: &[Text<'_>]) -> Payload {
    let mut out = String::new();
    if variant.dialect == Dialect::Irc {
        for text in texts {
            crate::core::irc::render_broadcast(text, variant.lang, room.as_str(), &mut out);
        }
        return Rc::from(out.into_bytes());
    }
    for text in texts {
        if variant.tagged {
            out.push('#');
            out.push_str(room.as_str());
            out.push(' ');
        }
        text.render_into(variant.lang, &mut out);
        out.push('\n');
    }
    Rc::from(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[HH:MM]` in UTC, so the tests' stamps do not depend on the machine's time zone (shared with `remote`'s).
    pub(super) fn utc_clock(unix_ms: i64) -> HourMinute {
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
                        self.chat.for_each_recipient(to, |id, variant| recipients.push((id, variant)));
                        for (id, variant) in recipients {
                            let bytes = payload.get(variant).expect("rendered in every recipient's variant");
                            let text = String::from_utf8(bytes.to_vec()).expect("catalogue lines are UTF-8");
                            self.seen.entry(id).or_default().push_str(&text);
                        }
                    }
                    Effect::Close(id) => self.closed.push(id),
                    Effect::Joined { name, .. } => self.log.push(format!("joined {name}")),
                    Effect::Left { name, reason, .. } => self.log.push(format!("left {name} {reason:?}")),
                    Effect::Renamed { old, new, .. } => self.log.push(format!("renamed {old} {new}")),
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
        let mut members: Vec<ClientId> = h.chat.rooms[h.chat.lobby].members.iter().map(|m| m.id).collect();
        members.sort_unstable();
        assert_eq!(members, vec![2, 4]);
        h.line(4, "still two of us");
        assert_eq!(h.take(2), "[14:30] user4: still two of us\n");
        assert_eq!(h.take(4), "[14:30] user4: still two of us\n");
        h.join(6, "user6");
        h.chat.disconnect(2);
        let mut members: Vec<ClientId> = h.chat.rooms[h.chat.lobby].members.iter().map(|m| m.id).collect();
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
            Some(Effect::Broadcast { payload, .. }) => Variant::all().filter(|&v| payload.get(v).is_some()).count(),
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
        let untagged = |lang| Variant::of(lang, Dialect::Line, true);
        let (en, es) = (payload.get(untagged(Lang::En)).expect("en"), payload.get(untagged(Lang::Es)).expect("es"));
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
