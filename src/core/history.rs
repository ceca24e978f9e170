//! The history ring: the last N public messages, and their JSON form on disk.
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
use crate::core::text::clean_message;

/// The default number of public messages kept and replayed to users who join.
pub const DEFAULT_HISTORY_SIZE: usize = 50;

/// The version written to, and required in, the history file.
const FORMAT_VERSION: u32 = 1;

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

#[derive(Serialize)]
struct FileRef<'a> {
    version: u32,
    messages: &'a VecDeque<StoredMessage>,
}

/// A history file as read: the newest messages, and how many messages were dropped on the way.
#[derive(Debug)]
pub struct LoadedHistory {
    pub history: History,
    /// Messages live input could never have produced: a user that is not a valid name in its canonical form,
    /// or text that is blank or over [`MAX_LINE_BYTES`] once cleaned.
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
                write!(f, "history format version {v} is not supported (expected {FORMAT_VERSION})")
            }
            HistoryFormatError::Read(e) => write!(f, "cannot read it: {e}"),
        }
    }
}

impl std::error::Error for HistoryFormatError {}

impl History {
    pub fn new(capacity: usize) -> History {
        History { messages: VecDeque::with_capacity(capacity.min(1024)), capacity, revision: 0 }
    }

    /// Appends a message, dropping the oldest one when full.
    pub fn push(&mut self, message: StoredMessage) {
        if self.capacity == 0 {
            return;
        }
        if self.messages.len() == self.capacity {
            self.messages.pop_front();
        }
        self.messages.push_back(message);
        self.revision += 1;
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

    /// The file form: `{"version": 1, "messages": [{"ts": .., "user": .., "text": ..}, ..]}`. An error here
    /// (which plain strings and integers should never cause) is returned, never turned into an empty file.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let file = FileRef { version: FORMAT_VERSION, messages: &self.messages };
        serde_json::to_vec(&file)
    }

    /// Reads the file form, keeping the newest `capacity` messages that live input could have produced
    /// (see [`History::read_json`]).
    pub fn from_json(bytes: &[u8], capacity: usize) -> Result<History, HistoryFormatError> {
        read_file_form(serde_json::Deserializer::from_slice(bytes), capacity).map(|loaded| loaded.history)
    }

    /// Reads the file form from `reader` as it arrives, keeping the newest `capacity` messages: memory holds
    /// the history and one message at a time, however large the file is. Buffer `reader`: it is read in small
    /// pieces. Each message is cleaned as a live one is; one that live input could not have produced is
    /// dropped and counted.
    pub fn read_json(reader: impl io::Read, capacity: usize) -> Result<LoadedHistory, HistoryFormatError> {
        read_file_form(serde_json::Deserializer::from_reader(reader), capacity)
    }
}

fn read_file_form<'de, R: serde_json::de::Read<'de>>(
    mut json: serde_json::Deserializer<R>,
    capacity: usize,
) -> Result<LoadedHistory, HistoryFormatError> {
    let mut loaded = LoadedHistory { history: History::new(capacity), dropped: 0 };
    let mut version = None;
    let parsed = FileSeed {
        messages: MessagesSeed { kept: &mut loaded.history.messages, capacity, dropped: &mut loaded.dropped },
        version: &mut version,
    }
    .deserialize(&mut json)
    .and_then(|()| json.end());
    // A version seen before the error explains it: a newer format need not parse as this one.
    match (parsed, version) {
        (_, Some(v)) if v != FORMAT_VERSION => Err(HistoryFormatError::UnsupportedVersion(v)),
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

/// The top-level object, `{"version": .., "messages": [..]}`, in any key order; other keys are ignored.
struct FileSeed<'a> {
    messages: MessagesSeed<'a>,
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
        f.write_str("a history object with \"version\" and \"messages\"")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen_messages = false;
        while let Some(key) = map.next_key::<FileKey>()? {
            match key {
                FileKey::Version => {
                    if self.version.is_some() {
                        return Err(de::Error::duplicate_field("version"));
                    }
                    let version = map.next_value::<u32>()?;
                    *self.version = Some(version);
                    if version != FORMAT_VERSION {
                        // Stop here: the rest is another format's, and may be large.
                        return Err(de::Error::custom(format_args!("unsupported version {version}")));
                    }
                }
                FileKey::Messages => {
                    if seen_messages {
                        return Err(de::Error::duplicate_field("messages"));
                    }
                    seen_messages = true;
                    map.next_value_seed(self.messages.reborrow())?;
                }
                FileKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if self.version.is_none() {
            return Err(de::Error::missing_field("version"));
        }
        if !seen_messages {
            return Err(de::Error::missing_field("messages"));
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum FileKey {
    Version,
    Messages,
    #[serde(other)]
    Other,
}

/// The `messages` array, read one message at a time into a ring of the newest `capacity` clean ones.
struct MessagesSeed<'a> {
    kept: &'a mut VecDeque<StoredMessage>,
    capacity: usize,
    dropped: &'a mut usize,
}

impl MessagesSeed<'_> {
    fn reborrow(&mut self) -> MessagesSeed<'_> {
        MessagesSeed { kept: &mut *self.kept, capacity: self.capacity, dropped: &mut *self.dropped }
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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(message) = seq.next_element::<StoredMessage>()? {
            let Some(message) = cleaned(message) else {
                *self.dropped += 1;
                continue;
            };
            if self.capacity == 0 {
                continue;
            }
            if self.kept.len() == self.capacity {
                self.kept.pop_front();
            }
            self.kept.push_back(message);
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
        assert!(json.starts_with(br#"{"version":1,"messages":[{"ts":1700000000000,"user":"user0","text":"text 0"}"#));
        let loaded = History::from_json(&json, 2).expect("own output parses");
        assert_eq!(loaded.iter().cloned().collect::<Vec<_>>(), vec![message(2), message(3)]);
    }

    #[test]
    fn rejects_garbage_and_other_versions() {
        assert!(matches!(History::from_json(b"{not json", 5), Err(HistoryFormatError::Json(_))));
        assert!(matches!(
            History::from_json(br#"{"version":2,"messages":[]}"#, 5),
            Err(HistoryFormatError::UnsupportedVersion(2))
        ));
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
        let json = br#"{"version":2,"messages":{"format":"new"}}"#;
        assert!(matches!(History::read_json(&json[..], 5), Err(HistoryFormatError::UnsupportedVersion(2))));
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
