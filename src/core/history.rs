//! The history ring: the last N public messages, and their JSON form on disk.
//!
//! Plain data and codec only; writing the file safely is the server's job (`server::history_file`).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

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

#[derive(Deserialize)]
struct FileOwned {
    version: u32,
    messages: Vec<StoredMessage>,
}

/// Why a history file's bytes could not be used.
#[derive(Debug)]
pub enum HistoryFormatError {
    Json(serde_json::Error),
    UnsupportedVersion(u32),
}

impl std::fmt::Display for HistoryFormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistoryFormatError::Json(e) => write!(f, "not valid history JSON: {e}"),
            HistoryFormatError::UnsupportedVersion(v) => {
                write!(f, "history format version {v} is not supported (expected {FORMAT_VERSION})")
            }
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

    /// Reads the file form, keeping the newest `capacity` messages.
    pub fn from_json(bytes: &[u8], capacity: usize) -> Result<History, HistoryFormatError> {
        let file: FileOwned = serde_json::from_slice(bytes).map_err(HistoryFormatError::Json)?;
        if file.version != FORMAT_VERSION {
            return Err(HistoryFormatError::UnsupportedVersion(file.version));
        }
        let mut history = History::new(capacity);
        let skip = file.messages.len().saturating_sub(capacity);
        history.messages.extend(file.messages.into_iter().skip(skip));
        Ok(history)
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
}
