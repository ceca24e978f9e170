//! What one node tells the others when several share a chat: the events, and the versioned envelope they travel
//! in.
//!
//! The core knows nothing of Redis. It emits [`ClusterEvent`]s for what its own users do (through
//! `Effect::Cluster`) and takes in the events of other nodes (`Chat::cluster_event`); the server's cluster module
//! carries them as JSON [`Envelope`]s over Redis pub/sub. Names travel as typed, rooms by name: each node keeps
//! its own ids.

use serde::{Deserialize, Serialize};

use crate::core::history::StoredMessage;

/// The envelope version this build writes and reads. A node refuses envelopes of another version (logged and
/// dropped), so nodes of an incompatible build ignore each other rather than misread each other.
pub const ENVELOPE_VERSION: u32 = 1;

/// The largest envelope a node accepts, in bytes: a roster of every user of a large node fits (20,000 users of
/// 32-character names in a few rooms each is under 2 MiB); anything larger is refused unread.
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;

/// One node's event, as every other node receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`ENVELOPE_VERSION`].
    pub v: u32,
    /// The sending node's name (`--node-name`), for the operator's log.
    pub node: String,
    /// The sending node's run: a fresh random number each time a node starts, so a node tells its own events
    /// from those of another node given the same name, and a restarted node from its former self.
    pub run: u64,
    pub event: ClusterEvent,
}

/// Something that happened on one node that the others must know.
///
/// Externally tagged (`{"said":{...}}`, or `"hello"` for an event without fields): serde's internally tagged
/// form buffers every event through its generic `Content` tree, which cost 32 KB of the 2 MiB binary budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterEvent {
    /// A user of the sending node is online (its name claimed cluster-wide), in these rooms.
    Online { name: String, rooms: Vec<String> },
    /// A user of the sending node left the chat.
    Offline { name: String },
    /// A user of the sending node changed name (the new one claimed).
    Renamed { old: String, new: String },
    /// A user of the sending node joined a room.
    Joined { name: String, room: String },
    /// A user of the sending node left a room.
    Parted { name: String, room: String },
    /// A public message or action in a room, said by a user of the sending node.
    Said { room: String, message: StoredMessage },
    /// A private message from a user of the sending node to a user of another.
    Whisper { from: String, to: String, text: String, ts: i64 },
    /// The sending node has just (re)joined the cluster: every node answers with its [`ClusterEvent::Roster`].
    Hello,
    /// Every user of the sending node and their rooms: the answer to [`ClusterEvent::Hello`].
    Roster { users: Vec<RosterEntry> },
    /// The sending node is alive. A node not heard from for the node timeout is taken for dead: its users
    /// leave.
    Heartbeat,
    /// The sending node is stopping: its users leave now.
    Bye,
}

/// One user in a [`ClusterEvent::Roster`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub name: String,
    pub rooms: Vec<String>,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    TooLarge(usize),
    Malformed(String),
    Version(u32),
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvelopeError::TooLarge(bytes) => write!(f, "{bytes} bytes, more than {MAX_ENVELOPE_BYTES}"),
            EnvelopeError::Malformed(why) => write!(f, "malformed: {why}"),
            EnvelopeError::Version(v) => write!(f, "version {v}, this node reads {ENVELOPE_VERSION}"),
        }
    }
}

impl Envelope {
    pub fn new(node: &str, run: u64, event: ClusterEvent) -> Envelope {
        Envelope { v: ENVELOPE_VERSION, node: node.to_owned(), run, event }
    }

    /// The envelope as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising these plain structs into a vector cannot fail (no maps with non-string keys, no I/O).
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an envelope; anything else (too large, not JSON, unknown event, another version) is an error for
    /// the caller to log and drop.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() > MAX_ENVELOPE_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        // The version is read first, so an envelope of a newer build is refused for its version, not for an
        // event this build does not know.
        #[derive(Deserialize)]
        struct Versioned {
            v: u32,
        }
        let versioned: Versioned =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if versioned.v != ENVELOPE_VERSION {
            return Err(EnvelopeError::Version(versioned.v));
        }
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_envelope_reads_back_as_written() {
        let message = StoredMessage { ts: 1_700_000_000_000, user: "Ana".into(), text: "hola".into(), action: false };
        for event in [
            ClusterEvent::Online { name: "Ana".into(), rooms: vec!["general".into()] },
            ClusterEvent::Said { room: "general".into(), message },
            ClusterEvent::Whisper { from: "Ana".into(), to: "Luis".into(), text: "psst".into(), ts: 5 },
            ClusterEvent::Roster { users: vec![RosterEntry { name: "Ana".into(), rooms: vec![] }] },
            ClusterEvent::Heartbeat,
        ] {
            let envelope = Envelope::new("a", 7, event);
            assert_eq!(Envelope::from_json(&envelope.to_json()), Ok(envelope));
        }
        assert_eq!(
            String::from_utf8(Envelope::new("a", 7, ClusterEvent::Hello).to_json()).as_deref(),
            Ok(r#"{"v":1,"node":"a","run":7,"event":"hello"}"#)
        );
    }

    #[test]
    fn other_versions_unknown_events_and_junk_are_refused() {
        assert_eq!(
            Envelope::from_json(br#"{"v":2,"node":"a","run":1,"event":"teleport"}"#),
            Err(EnvelopeError::Version(2))
        );
        assert!(matches!(
            Envelope::from_json(br#"{"v":1,"node":"a","run":1,"event":{"teleport":{}}}"#),
            Err(EnvelopeError::Malformed(_))
        ));
        assert!(matches!(Envelope::from_json(b"PING"), Err(EnvelopeError::Malformed(_))));
        assert!(matches!(Envelope::from_json(&vec![b' '; MAX_ENVELOPE_BYTES + 1]), Err(EnvelopeError::TooLarge(_))));
    }

    proptest! {
        #[test]
        fn any_bytes_are_an_envelope_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Envelope::from_json(&bytes);
        }
    }
}
