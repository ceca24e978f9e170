//! The history file on disk: loaded at start-up, saved atomically, and never overwritten when unreadable.
//!
//! A save writes a temporary file beside the real one, fsyncs it, renames it over the old file and fsyncs the
//! directory, so a crash at any instant leaves either the old or the new file whole.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::core::history::{History, HistoryFormatError, LoadedHistory};
use crate::error::Context;

/// What start-up found at the history path.
#[derive(Debug)]
pub enum LoadOutcome {
    /// No file yet: history starts empty and the first save creates it.
    Missing,
    /// `messages` were kept; `dropped` were not, as live input could not have produced them (see
    /// [`History::read_json`]).
    Loaded { messages: usize, dropped: usize },
    /// The file could not be parsed; it was renamed to `moved_to` and history starts empty.
    SetAside { moved_to: PathBuf, reason: String },
}

/// Loads the history at `path`, keeping the newest `capacity` messages. An unparsable file is renamed to
/// `<path>.corrupt-<unix_secs>` rather than ever being overwritten. Fails only when the file exists but cannot be
/// read or set aside: the server must not start and later replace someone's history.
pub fn load(path: &Path, capacity: usize, unix_secs: i64) -> io::Result<(History, LoadOutcome)> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((History::new(capacity), LoadOutcome::Missing)),
        Err(e) => return Err(e).with_context(|| format!("cannot read history file {}", path.display())),
    };
    // Streamed, so a huge file costs time, not memory: only the newest `capacity` messages are ever held.
    match History::read_json(BufReader::new(file), capacity) {
        Ok(LoadedHistory { history, dropped }) => {
            let messages = history.len();
            Ok((history, LoadOutcome::Loaded { messages, dropped }))
        }
        Err(HistoryFormatError::Read(e)) => {
            Err(e).with_context(|| format!("cannot read history file {}", path.display()))
        }
        Err(parse_error) => {
            let moved_to = aside_path(path, unix_secs);
            fs::rename(path, &moved_to)
                .with_context(|| format!("cannot set aside corrupt history file {}", path.display()))?;
            Ok((History::new(capacity), LoadOutcome::SetAside { moved_to, reason: parse_error.to_string() }))
        }
    }
}

/// Replaces the file at `path` with `contents`, atomically and durably.
pub fn save(path: &Path, contents: &[u8]) -> io::Result<()> {
    let temp = temp_path(path);
    let written = write_synced(&temp, contents).and_then(|()| {
        fs::rename(&temp, path).with_context(|| format!("cannot rename temporary history file over {}", path.display()))
    });
    if let Err(e) = written {
        // Leave no half-written temporary file behind on a full or read-only disk; the old file is untouched.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_parent_dir(path)
}

fn write_synced(temp: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .with_context(|| format!("cannot create temporary history file {}", temp.display()))?;
    file.write_all(contents).with_context(|| format!("cannot write temporary history file {}", temp.display()))?;
    file.sync_all().with_context(|| format!("cannot fsync temporary history file {}", temp.display()))
}

/// Makes the rename itself durable.
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync history directory {}", dir.display()))
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

fn aside_path(path: &Path, unix_secs: i64) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".corrupt-{unix_secs}"));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::history::StoredMessage;

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chat_history.json");
        let mut history = History::new(50);
        history.push(StoredMessage { ts: 1, user: "Ana".into(), text: "hola".into() });
        save(&path, &history.to_json().expect("serialise")).expect("save");
        let (loaded, outcome) = load(&path, 50, 0).expect("load");
        assert!(matches!(outcome, LoadOutcome::Loaded { messages: 1, dropped: 0 }));
        assert_eq!(loaded.iter().next().map(|m| m.text.as_str()), Some("hola"));
        assert!(!temp_path(&path).exists());
    }

    #[test]
    fn a_missing_file_is_an_empty_history() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (history, outcome) = load(&dir.path().join("none.json"), 50, 0).expect("load");
        assert!(history.is_empty());
        assert!(matches!(outcome, LoadOutcome::Missing));
    }

    #[test]
    fn a_corrupt_file_is_set_aside_not_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chat_history.json");
        fs::write(&path, b"{\"version\":1,\"messages\":[").expect("write");
        let (history, outcome) = load(&path, 50, 1234).expect("load");
        assert!(history.is_empty());
        let LoadOutcome::SetAside { moved_to, .. } = outcome else { panic!("expected set aside, got {outcome:?}") };
        assert_eq!(moved_to, dir.path().join("chat_history.json.corrupt-1234"));
        assert_eq!(fs::read(&moved_to).expect("aside copy"), b"{\"version\":1,\"messages\":[");
        assert!(!path.exists());
    }
}
