//! Rooms: what a room name is, and one room's members, history and cached `/users` reply.
//!
//! A room is named like a user (the same identifier rules, without the reserved names) and written with or
//! without a leading `#`: `#cocina` and `cocina` are one room, shown as `#cocina`, and case does not count.
//! Every user starts in [`LOBBY`]. A user can be in several rooms at once; one of them is the user's *current*
//! room, where plain lines go. Lines from a room that is not the member's current room carry its name in front
//! (`#cocina [14:30] Ana: hola`), so each broadcast has up to four renderings: two languages, tagged or not.

use crate::core::catalog::Lang;
use crate::core::chat::{ClientId, Payload};
use crate::core::history::History;
use crate::core::names::{NameError, NameKey, identifier};

/// The room everyone is in after choosing a name.
pub const LOBBY: &str = "general";
/// The default cap on rooms in existence.
pub const DEFAULT_MAX_ROOMS: usize = 1000;
/// The default cap on rooms one user is in at once.
pub const DEFAULT_MAX_ROOMS_PER_USER: usize = 20;

/// Identifies a room while it exists.
pub type RoomId = usize;

/// A valid room name, without its `#`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomName(String);

impl RoomName {
    /// Validates a room name as typed, with or without one leading `#`.
    pub fn parse(typed: &str) -> Result<RoomName, NameError> {
        let trimmed = typed.trim();
        identifier(trimmed.strip_prefix('#').unwrap_or(trimmed)).map(RoomName)
    }

    /// The lobby's name.
    pub fn lobby() -> RoomName {
        RoomName(LOBBY.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Two room names are one room when their keys are equal: case does not count.
    pub fn key(&self) -> NameKey {
        NameKey::of(&self.0)
    }
}

/// What a connection speaks: Charla's own lines, or IRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    #[default]
    Line,
    Irc,
}

/// How one member receives a room's lines: in which dialect and language, and (in Charla's lines) whether
/// tagged with the room's name because it is not the member's current room. IRC lines always name the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    pub lang: Lang,
    pub tagged: bool,
    pub dialect: Dialect,
}

impl Variant {
    /// How many variants there are.
    pub const COUNT: usize = 4 * Lang::ALL.len();

    /// Every variant, in the order of [`Variant::index`].
    pub fn all() -> impl Iterator<Item = Variant> {
        [Dialect::Line, Dialect::Irc].into_iter().flat_map(|dialect| {
            Lang::ALL.into_iter().flat_map(move |lang| [false, true].map(|tagged| Variant { lang, tagged, dialect }))
        })
    }

    /// A small number for arrays indexed by variant.
    pub fn index(self) -> usize {
        4 * (self.dialect as usize) + 2 * self.lang.index() + usize::from(self.tagged)
    }

    /// A connection's variant in a room that is (or not) its current one.
    pub fn of(lang: Lang, dialect: Dialect, current: bool) -> Variant {
        Variant { lang, tagged: !current && dialect == Dialect::Line, dialect }
    }
}

/// A named user as a room's broadcasts see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member {
    pub(crate) id: ClientId,
    pub(crate) variant: Variant,
}

/// One room.
#[derive(Debug)]
pub(crate) struct Room {
    pub(crate) name: RoomName,
    /// The members, densely packed: every broadcast to the room walks this list.
    pub(crate) members: Vec<Member>,
    /// How many members receive each variant, so a broadcast is rendered only in the variants in use.
    pub(crate) readers: [usize; Variant::COUNT],
    pub(crate) history: History,
    /// The `/users` reply per language, until membership changes.
    pub(crate) users_reply: [Option<Payload>; Lang::ALL.len()],
    /// When the last message was said here (Unix ms): of rooms with nobody in them, the quietest goes first
    /// when the room cap is reached.
    pub(crate) last_active_ms: i64,
    /// Members on other servers of a cluster: counted and listed, never sent to from here.
    pub(crate) remote_members: usize,
}

impl Room {
    pub(crate) fn new(name: RoomName, history: History) -> Room {
        Room {
            name,
            members: Vec::new(),
            readers: [0; Variant::COUNT],
            history,
            users_reply: Default::default(),
            last_active_ms: i64::MIN,
            remote_members: 0,
        }
    }

    /// Adds a member; returns where it is in the member list.
    pub(crate) fn add(&mut self, id: ClientId, variant: Variant) -> usize {
        self.members.push(Member { id, variant });
        self.readers[variant.index()] += 1;
        self.users_reply = Default::default();
        self.members.len() - 1
    }

    /// Removes the member at `index`; returns the member moved into its place, if any, whose index changed.
    pub(crate) fn remove(&mut self, index: usize) -> Option<ClientId> {
        let removed = self.members.swap_remove(index);
        self.readers[removed.variant.index()] -= 1;
        self.users_reply = Default::default();
        self.members.get(index).map(|moved| moved.id)
    }

    /// Changes how the member at `index` receives this room's lines.
    pub(crate) fn set_variant(&mut self, index: usize, variant: Variant) {
        let member = &mut self.members[index];
        self.readers[member.variant.index()] -= 1;
        self.readers[variant.index()] += 1;
        member.variant = variant;
    }

    /// A member on another server of the cluster came in.
    pub(crate) fn add_remote(&mut self) {
        self.remote_members += 1;
        self.users_reply = Default::default();
    }

    /// A member on another server of the cluster left.
    pub(crate) fn remove_remote(&mut self) {
        self.remote_members = self.remote_members.saturating_sub(1);
        self.users_reply = Default::default();
    }

    /// Everyone in the room, on this server and on the others of a cluster.
    pub(crate) fn population(&self) -> usize {
        self.members.len() + self.remote_members
    }

    /// Nobody in the room, here or on another server.
    pub(crate) fn is_empty(&self) -> bool {
        self.population() == 0
    }

    /// A room with nobody in it and nothing to replay has no reason to exist.
    pub(crate) fn is_vacant(&self) -> bool {
        self.is_empty() && self.history.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_optional_and_case_does_not_count() {
        let plain = RoomName::parse("cocina").expect("valid");
        let hashed = RoomName::parse(" #Cocina ").expect("valid");
        assert_eq!(hashed.as_str(), "Cocina");
        assert_eq!(plain.key(), hashed.key());
        assert!(RoomName::parse("##cocina").is_err());
        assert!(RoomName::parse("#").is_err());
        assert!(RoomName::parse("la cocina").is_err());
        assert!(RoomName::parse(&"x".repeat(33)).is_err());
        assert!(RoomName::parse("Servidor").is_ok(), "reserved names are for users only");
    }

    #[test]
    fn variants_index_a_dense_array() {
        let indexes: Vec<usize> = Variant::all().map(Variant::index).collect();
        assert_eq!(indexes, (0..Variant::COUNT).collect::<Vec<_>>());
    }

    #[test]
    fn members_leave_in_any_order_and_counts_follow() {
        let mut room = Room::new(RoomName::lobby(), History::new(10));
        let plain = Variant { lang: Lang::En, tagged: false, dialect: Dialect::Line };
        let tagged = Variant { lang: Lang::Es, tagged: true, dialect: Dialect::Line };
        for id in 0..4 {
            room.add(id, if id % 2 == 0 { plain } else { tagged });
        }
        assert_eq!(room.remove(0), Some(3), "the last member fills the gap");
        assert_eq!(room.readers[plain.index()], 1);
        room.set_variant(0, plain);
        assert_eq!(room.readers[plain.index()], 2);
        assert_eq!(room.readers[tagged.index()], 1);
        assert_eq!(room.remove(2), None);
        assert!(!room.is_vacant());
    }
}
