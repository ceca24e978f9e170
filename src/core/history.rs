//! The history rings: the last N public messages of each room, and their JSON form on disk.
//!
//! The file is `{"version": 2, "rooms": {"general": [message, ..], "cocina": [..]}}`. A version 1 file,
//! `{"version": 1, "messages": [..]}` from before rooms, reads as `general`'s history; a newer version is refused
//! (the server must not overwrite what a newer server wrote).
//!
//! Plain data and codec only; writing the file safely is the server's job (`server::history_file`). What is
//! read from a file is cleaned as live input is, since anyone able to write the file could otherwise send
//! newcomers raw escapes, extra lines or impossible names.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::io;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::core::chat::MAX_LINE_BYTES;
use crate::core::names::Name;
use crate::core::rooms::{LOBBY, RoomName};
use crate::core::text::clean_message;

/// The default number of public messages kept and replayed to users who join.
pub const DEFAULT_HISTORY_SIZE: usize = 50;

/// The version written to the history file: every room's history.
pub const FORMAT_VERSION: u32 = 2;
/// The version before rooms: one list of messages, read as the lobby's.
const SINGLE_ROOM_VERSION: u32 = 1;

/// One public message as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// When it was sent: Unix time in milliseconds, UTC.
    pub ts: i64,
    pub user: String,
    pub text: String,
    /// Said with `/me`: replayed as `* user text`. Written only when true, so older files read as before.
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

/// A bounded ring of recent public messages, oldest first.
#[derive(Debug)]
pub struct History {
    messages: VecDeque<StoredMessage>,
    capacity: usize,
    /// Counts changes, so a saver can tell whether anything happened since it last wrote.
    revision: u64,
}

/// A history file as read: each room's newest messages, and how many messages were dropped on the way.
#[derive(Debug)]
pub struct LoadedRooms {
    /// Rooms in the order the file lists them, each name valid and different (without regard to case).
    pub rooms: Vec<(RoomName, History)>,
    /// Messages live input could never have produced (a user that is not a valid name in its canonical form,
    /// text that is blank or over [`MAX_LINE_BYTES`] once cleaned), and those of rooms whose name is not valid
    /// or appears twice.
    pub dropped: usize,
}

/// A history file as read, for one room (the lobby): its newest messages, and how many were dropped.
#[derive(Debug)]
pub struct LoadedHistory {
    pub history: History,
    /// See [`LoadedRooms::dropped`]; other rooms' messages are not counted.
    pub dropped: usize,
}

/// Why a history file's bytes could not be used.
#[derive(Debug)]
pub enum HistoryFormatError {
    Json(serde_json::Error),
    UnsupportedVersion(u32),
    /// Reading failed part-way: the file may be fine, so it is neither used nor set aside.
    Read(io::Error),
}

impl std::fmt::Display for HistoryFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistoryFormatError::Json(e) => write!(f, "not valid history JSON: {e}"),
            HistoryFormatError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "history format version {v} is not supported (expected {SINGLE_ROOM_VERSION} or {FORMAT_VERSION})"
                )
            }
            HistoryFormatError::Read(e) => write!(f, "cannot read it: {e}"),
        }
    }
}

impl std::error::Error for HistoryFormatError {}

impl HistoryFormatError {
    /// Whether the file says it is of a version newer than this server's: written by a newer server, so it must
    /// be left as it is, neither used nor set aside.
    pub fn is_from_a_newer_version(&self) -> bool {
        matches!(self, HistoryFormatError::UnsupportedVersion(v) if *v > FORMAT_VERSION)
    }
}

/// Every room's history in the file form, rooms without messages left out.
pub fn rooms_to_json<'a>(
    rooms: impl IntoIterator<Item = (&'a str, &'a History)>,
) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct FileRef<'a> {
        version: u32,
        rooms: RoomsRef<'a>,
    }
    struct RoomsRef<'a>(Vec<(&'a str, &'a VecDeque<StoredMessage>)>);
    impl Serialize for RoomsRef<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.iter().map(|(name, messages)| (name, messages)))
        }
    }
    let rooms = rooms.into_iter().filter(|(_, history)| !history.is_empty()).map(|(name, h)| (name, &h.messages));
    serde_json::to_vec(&FileRef { version: FORMAT_VERSION, rooms: RoomsRef(rooms.collect()) })
}

/// Reads the file form from `reader` as it arrives, keeping each room's newest `capacity` messages: memory
/// holds the histories and one message at a time, however large the file is. Buffer `reader`: it is read in
/// small pieces. Each message is cleaned as a live one is; one that live input could not have produced is
/// dropped and counted, as are the messages of a room whose name is not valid or was seen before.
pub fn read_rooms_json(reader: impl io::Read, capacity: usize) -> Result<LoadedRooms, HistoryFormatError> {
    read_file_form(serde_json::Deserializer::from_reader(reader), capacity)
}

impl History {
    pub fn new(capacity: usize) -> History {
        History { messages: VecDeque::with_capacity(capacity.min(1024)), capacity, revision: 0 }
    }

    /// Appends a message, dropping the oldest one when full.
    pub fn push(&mut self, message: StoredMessage) {
        if self.capacity > 0 {
            self.restore(message);
            self.revision += 1;
        }
    }

    /// Appends a message read from the file: like [`History::push`], but not a change to save.
    fn restore(&mut self, message: StoredMessage) {
        if self.capacity == 0 {
            return;
        }
        if self.messages.len() == self.capacity {
            self.messages.pop_front();
        }
        self.messages.push_back(message);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &StoredMessage> + ExactSizeIterator {
        self.messages.iter()
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The file form, as the lobby's history: `{"version": 2, "rooms": {"general": [{"ts": .., "user": ..,
    /// "text": ..}, ..]}}`. An error here (which plain strings and integers should never cause) is returned,
    /// never turned into an empty file.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        rooms_to_json([(LOBBY, self)])
    }

    /// Reads the file form's lobby, keeping its newest `capacity` messages that live input could have produced
    /// (see [`read_rooms_json`]).
    pub fn from_json(bytes: &[u8], capacity: usize) -> Result<History, HistoryFormatError> {
        History::read_json(bytes, capacity).map(|loaded| loaded.history)
    }

    /// Reads the file form's lobby from `reader` (see [`read_rooms_json`]).
    pub fn read_json(reader: impl io::Read, capacity: usize) -> Result<LoadedHistory, HistoryFormatError> {
        let LoadedRooms { rooms, dropped } = read_rooms_json(reader, capacity)?;
        let lobby = RoomName::lobby().key();
        let history = rooms.into_iter().find(|(name, _)| name.key() == lobby).map(|(_, history)| history);
        Ok(LoadedHistory { history: history.unwrap_or_else(|| History::new(capacity)), dropped })
    }
}

fn read_file_form<'de, R: serde_json::de::Read<'de>>(
    mut json: serde_json::Deserializer<R>,
    capacity: usize,
) -> Result<LoadedRooms, HistoryFormatError> {
    let mut loaded = LoadedRooms { rooms: Vec::new(), dropped: 0 };
    let mut version = None;
    let parsed = FileSeed { loaded: &mut loaded, capacity, version: &mut version }
        .deserialize(&mut json)
        .and_then(|()| json.end());
    // A version seen before the error explains it: a newer format need not parse as this one.
    match (parsed, version) {
        (_, Some(v)) if v != FORMAT_VERSION && v != SINGLE_ROOM_VERSION => {
            Err(HistoryFormatError::UnsupportedVersion(v))
        }
        (Err(e), _) if e.is_io() => Err(HistoryFormatError::Read(e.into())),
        (Err(e), _) => Err(HistoryFormatError::Json(e)),
        (Ok(()), _) => Ok(loaded),
    }
}

/// The message as live input would have left it, or `None` if live input could not have produced it.
fn cleaned(message: StoredMessage) -> Option<StoredMessage> {
    // A name is stored as it was accepted, so any other spelling (untrimmed, not NFC) is not one the server
    // wrote.
    if Name::parse(&message.user).ok()?.as_str() != message.user {
        return None;
    }
    let text = clean_until_stable(message.text);
    if text.trim().is_empty() || text.len() > MAX_LINE_BYTES {
        return None;
    }
    Some(StoredMessage { text, ..message })
}

/// Cleans `text` as live input is cleaned, again until nothing changes: removing a character can leave a
/// zero-width joiner beside one it no longer joins, which the next pass removes, and what loads must load the
/// same after it is saved back. Each pass that changes anything makes the text shorter or swaps a separator
/// for a space, which is kept, so this ends.
fn clean_until_stable(mut text: String) -> String {
    loop {
        match clean_message(&text) {
            // A copy is also returned, unchanged, for text with a joiner that stays.
            Cow::Owned(clean) if clean != text => text = clean,
            Cow::Owned(_) | Cow::Borrowed(_) => return text,
        }
    }
}

/// The top-level object, `{"version": 2, "rooms": {..}}` or `{"version": 1, "messages": [..]}`, in any key
/// order; other keys are ignored.
struct FileSeed<'a> {
    loaded: &'a mut LoadedRooms,
    capacity: usize,
    version: &'a mut Option<u32>,
}

impl<'de> DeserializeSeed<'de> for FileSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a history object with \"version\" and \"rooms\" (or \"messages\")")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut seen_rooms, mut seen_messages) = (false, false);
        while let Some(key) = map.next_key::<FileKey>()? {
            match key {
                FileKey::Version => {
                    if self.version.is_some() {
                        return Err(de::Error::duplicate_field("version"));
                    }
                    let version = map.next_value::<u32>()?;
                    *self.version = Some(version);
                    if version != FORMAT_VERSION && version != SINGLE_ROOM_VERSION {
                        // Stop here: the rest is another format's, and may be large.
                        return Err(de::Error::custom(format_args!("unsupported version {version}")));
                    }
                }
                FileKey::Rooms if !seen_rooms => {
                    seen_rooms = true;
                    map.next_value_seed(RoomsSeed { loaded: &mut *self.loaded, capacity: self.capacity })?;
                }
                FileKey::Messages if !seen_messages => {
                    // Version 1: the messages of the one room there was, the lobby.
                    seen_messages = true;
                    let mut history = History::new(self.capacity);
                    let seed = MessagesSeed::keeping(&mut history, &mut self.loaded.dropped);
                    map.next_value_seed(seed)?;
                    add_room(self.loaded, RoomName::lobby(), history);
                }
                FileKey::Rooms => return Err(de::Error::duplicate_field("rooms")),
                FileKey::Messages => return Err(de::Error::duplicate_field("messages")),
                FileKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match *self.version {
            None => Err(de::Error::missing_field("version")),
            Some(FORMAT_VERSION) if !seen_rooms => Err(de::Error::missing_field("rooms")),
            Some(SINGLE_ROOM_VERSION) if !seen_messages => Err(de::Error::missing_field("messages")),
            Some(_) => Ok(()),
        }
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum FileKey {
    Version,
    Rooms,
    Messages,
    #[serde(other)]
    Other,
}

/// Adds a room's history, unless a room of that name (without regard to case) is there already: then its
/// messages count as dropped.
fn add_room(loaded: &mut LoadedRooms, name: RoomName, history: History) {
    let key = name.key();
    if loaded.rooms.iter().any(|(other, _)| other.key() == key) {
        loaded.dropped += history.len();
    } else {
        loaded.rooms.push((name, history));
    }
}

/// The `rooms` object: room name to its array of messages.
struct RoomsSeed<'a> {
    loaded: &'a mut LoadedRooms,
    capacity: usize,
}

impl<'de> DeserializeSeed<'de> for RoomsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RoomsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of rooms, each an array of messages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            let mut history = History::new(self.capacity);
            match RoomName::parse(&name).ok().filter(|room| room.as_str() == name) {
                Some(room) => {
                    map.next_value_seed(MessagesSeed::keeping(&mut history, &mut self.loaded.dropped))?;
                    add_room(self.loaded, room, history);
                }
                // A room name no user could have given (or not as the server writes it): its messages go.
                None => map.next_value_seed(MessagesSeed::dropping_all(&mut self.loaded.dropped))?,
            }
        }
        Ok(())
    }
}

/// One array of messages, read one message at a time into a ring of the newest clean ones (or all counted as
/// dropped).
struct MessagesSeed<'a> {
    kept: Option<&'a mut History>,
    dropped: &'a mut usize,
}

impl<'a> MessagesSeed<'a> {
    fn keeping(history: &'a mut History, dropped: &'a mut usize) -> MessagesSeed<'a> {
        MessagesSeed { kept: Some(history), dropped }
    }

    fn dropping_all(dropped: &'a mut usize) -> MessagesSeed<'a> {
        MessagesSeed { kept: None, dropped }
    }
}

impl<'de> DeserializeSeed<'de> for MessagesSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MessagesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of messages")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(message) = seq.next_element::<StoredMessage>()? {
            match (cleaned(message), self.kept.as_deref_mut()) {
                (Some(message), Some(history)) => history.restore(message),
                _ => *self.dropped += 1,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: i64) -> StoredMessage {
        StoredMessage { ts: 1_700_000_000_000 + i, user: format!("user{i}"), text: format!("text {i}"), action: false }
    }

    #[test]
    fn keeps_only_the_newest_messages() {
        let mut history = History::new(3);
        for i in 0..5 {
            history.push(message(i));
        }
        let kept: Vec<i64> = history.iter().map(|m| m.ts - 1_700_000_000_000).collect();
        assert_eq!(kept, vec![2, 3, 4]);
        assert_eq!(history.revision(), 5);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut history = History::new(0);
        history.push(message(1));
        assert!(history.is_empty());
        assert_eq!(history.revision(), 0);
    }

    #[test]
    fn json_round_trips_and_trims_to_capacity() {
        let mut history = History::new(10);
        for i in 0..4 {
            history.push(message(i));
        }
        let json = history.to_json().expect("serialise");
        assert!(
            json.starts_with(
                br#"{"version":2,"rooms":{"general":[{"ts":1700000000000,"user":"user0","text":"text 0"}"#
            )
        );
        let loaded = History::from_json(&json, 2).expect("own output parses");
        assert_eq!(loaded.iter().cloned().collect::<Vec<_>>(), vec![message(2), message(3)]);
    }

    #[test]
    fn rejects_garbage_and_other_versions() {
        assert!(matches!(History::from_json(b"{not json", 5), Err(HistoryFormatError::Json(_))));
        assert!(matches!(
            History::from_json(br#"{"version":3,"rooms":{}}"#, 5),
            Err(HistoryFormatError::UnsupportedVersion(3))
        ));
        assert!(matches!(History::from_json(br#"{"version":2,"messages":[]}"#, 5), Err(HistoryFormatError::Json(_))));
    }

    #[test]
    fn every_room_round_trips_and_a_version_1_file_is_the_lobby() {
        let mut lobby = History::new(10);
        let mut kitchen = History::new(10);
        lobby.push(message(1));
        kitchen.push(message(2));
        kitchen.push(StoredMessage { action: true, ..message(3) });
        let json = rooms_to_json([("general", &lobby), ("cocina", &kitchen), ("vacía", &History::new(10))])
            .expect("serialise");
        let text = String::from_utf8(json.clone()).expect("UTF-8");
        assert!(text.contains(r#""cocina":[{"ts":1700000000002,"user":"user2","text":"text 2"},{"ts":1700000000003,"user":"user3","text":"text 3","action":true}]"#), "{text}");
        assert!(!text.contains("vac"), "a room without messages is not written: {text}");
        let loaded = read_rooms_json(&json[..], 10).expect("own output");
        let rooms: Vec<(&str, usize)> = loaded.rooms.iter().map(|(n, h)| (n.as_str(), h.len())).collect();
        assert_eq!(rooms, [("general", 1), ("cocina", 2)]);
        let v1 = br#"{"version":1,"messages":[{"ts":1,"user":"Ana","text":"hola"}]}"#;
        let loaded = read_rooms_json(&v1[..], 10).expect("version 1");
        assert_eq!(loaded.rooms.len(), 1);
        assert_eq!(loaded.rooms[0].0.as_str(), "general");
        assert_eq!(loaded.rooms[0].1.iter().next().map(|m| m.text.as_str()), Some("hola"));
    }

    #[test]
    fn rooms_with_impossible_or_repeated_names_are_dropped_and_counted() {
        let json = br##"{"version":2,"rooms":{"general":[{"ts":1,"user":"Ana","text":"a"}],
            "a b":[{"ts":1,"user":"Ana","text":"b"},{"ts":2,"user":"Ana","text":"c"}],
            "#cocina":[{"ts":1,"user":"Ana","text":"d"}],
            "GENERAL":[{"ts":1,"user":"Ana","text":"e"}]}}"##;
        let loaded = read_rooms_json(&json[..], 10).expect("valid JSON");
        assert_eq!(loaded.rooms.len(), 1);
        assert_eq!(loaded.dropped, 4);
    }

    #[test]
    fn reads_keys_in_any_order_ignoring_unknown_ones() {
        let json = br#"{"messages":[{"ts":1,"user":"Ana","text":"hola","extra":0}],"note":[1,2],"version":1}"#;
        let history = History::read_json(&json[..], 5).expect("valid").history;
        assert_eq!(history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["hola"]);
        assert_eq!(history.revision(), 0, "loading is not a change to save");
    }

    #[test]
    fn loaded_messages_are_cleaned_as_live_ones_and_impossible_ones_dropped() {
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        let messages = [
            ("Ana", r"hola\ntodos\u001b[2J\u2028fin"),
            (r"Mar\u00eda", r"joined\u202e\u200d\u00e9"),
            ("Bea", r"\u00e9\u200d\u00e9 a joiner that stays"),
            (r"Juan P\u00e9rez", "a name with a space"),
            (r"Mari\u0301a", "a name not in NFC"),
            (" Ana", "a name not trimmed"),
            ("/quit", "a name like a command"),
            (r"An\u200ba", "an invisible character"),
            ("", "no name"),
            ("Ana", r"\u001b \t"),
            ("Ana", &long),
            ("Bea", "last"),
        ];
        let list: Vec<String> =
            messages.iter().map(|(user, text)| format!(r#"{{"ts":1,"user":"{user}","text":"{text}"}}"#)).collect();
        let json = format!(r#"{{"version":1,"messages":[{}]}}"#, list.join(","));
        let loaded = History::read_json(json.as_bytes(), 50).expect("valid JSON");
        let kept: Vec<(&str, &str)> = loaded.history.iter().map(|m| (m.user.as_str(), m.text.as_str())).collect();
        assert_eq!(
            kept,
            [
                ("Ana", "holatodos[2J fin"),
                ("María", "joinedé"),
                ("Bea", "é\u{200d}é a joiner that stays"),
                ("Bea", "last")
            ]
        );
        assert_eq!(loaded.dropped, 8);
    }

    #[test]
    fn dropped_messages_leave_room_for_older_clean_ones() {
        let json = br#"{"version":1,"messages":[{"ts":1,"user":"Ana","text":"old"},{"ts":2,"user":"A B","text":"x"}]}"#;
        let loaded = History::read_json(&json[..], 1).expect("valid JSON");
        assert_eq!(loaded.history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["old"]);
        assert_eq!(loaded.dropped, 1);
    }

    #[test]
    fn stops_at_a_newer_version_even_if_the_rest_is_another_format() {
        let json = br#"{"version":3,"messages":{"format":"new"}}"#;
        let got = History::read_json(&json[..], 5);
        assert!(matches!(got, Err(HistoryFormatError::UnsupportedVersion(3))));
        assert!(got.is_err_and(|e| e.is_from_a_newer_version()));
    }

    #[test]
    fn refuses_missing_and_repeated_fields_and_trailing_data() {
        for json in [
            &br#"{"version":1}"#[..],
            br#"{"messages":[]}"#,
            br#"{"version":1,"messages":[],"messages":[]}"#,
            br#"{"version":1,"messages":[]} x"#,
            br#"[1,[]]"#,
        ] {
            let got = History::read_json(json, 5);
            assert!(matches!(got, Err(HistoryFormatError::Json(_))), "{}: {got:?}", String::from_utf8_lossy(json));
        }
    }

    #[test]
    fn a_read_error_is_not_a_format_error() {
        struct Failing;
        impl io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        assert!(
            matches!(History::read_json(Failing, 5), Err(HistoryFormatError::Read(e)) if e.to_string() == "disk on fire")
        );
    }
}
