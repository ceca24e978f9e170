//! The history ring: the last N public messages, and their JSON form on disk.
//!
//! Plain data and codec only; writing the file safely is the server's job (`server::history_file`).

use std::collections::VecDeque;
use std::fmt;
use std::io;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

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

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &StoredMessage> {
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

    /// Reads the file form, keeping the newest `capacity` messages.
    pub fn from_json(bytes: &[u8], capacity: usize) -> Result<History, HistoryFormatError> {
        read_file_form(serde_json::Deserializer::from_slice(bytes), capacity)
    }

    /// Reads the file form from `reader` as it arrives, keeping the newest `capacity` messages: memory holds
    /// the history and one message at a time, however large the file is. Buffer `reader`: it is read in small
    /// pieces.
    pub fn read_json(reader: impl io::Read, capacity: usize) -> Result<History, HistoryFormatError> {
        read_file_form(serde_json::Deserializer::from_reader(reader), capacity)
    }
}

fn read_file_form<'de, R: serde_json::de::Read<'de>>(
    mut json: serde_json::Deserializer<R>,
    capacity: usize,
) -> Result<History, HistoryFormatError> {
    let mut history = History::new(capacity);
    let mut version = None;
    let parsed = FileSeed { messages: &mut history.messages, capacity, version: &mut version }
        .deserialize(&mut json)
        .and_then(|()| json.end());
    // A version seen before the error explains it: a newer format need not parse as this one.
    match (parsed, version) {
        (_, Some(v)) if v != FORMAT_VERSION => Err(HistoryFormatError::UnsupportedVersion(v)),
        (Err(e), _) if e.is_io() => Err(HistoryFormatError::Read(e.into())),
        (Err(e), _) => Err(HistoryFormatError::Json(e)),
        (Ok(()), _) => Ok(history),
    }
}

/// The top-level object, `{"version": .., "messages": [..]}`, in any key order; other keys are ignored.
struct FileSeed<'a> {
    messages: &'a mut VecDeque<StoredMessage>,
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
        f.write_str("a history object with \"version\" and \"messages\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
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
                    map.next_value_seed(MessagesSeed { messages: &mut *self.messages, capacity: self.capacity })?;
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

/// The `messages` array, read one message at a time into a ring of the newest `capacity`.
struct MessagesSeed<'a> {
    messages: &'a mut VecDeque<StoredMessage>,
    capacity: usize,
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
            if self.capacity == 0 {
                continue;
            }
            if self.messages.len() == self.capacity {
                self.messages.pop_front();
            }
            self.messages.push_back(message);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(i: i64) -> StoredMessage {
        StoredMessage { ts: 1_700_000_000_000 + i, user: format!("user{i}"), text: format!("text {i}") }
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
        let history = History::read_json(&json[..], 5).expect("valid");
        assert_eq!(history.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["hola"]);
        assert_eq!(history.revision(), 0, "loading is not a change to save");
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
