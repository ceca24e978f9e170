//! The history file on disk: loaded at start-up, saved atomically, and never overwritten when unreadable.
//!
//! A save writes a temporary file beside the real one, fsyncs it, renames it over the old file and fsyncs the
//! directory, so a crash at any instant leaves either the old or the new file whole. The temporary file always
//! has a fresh name and is created, never opened: whatever someone planted beside the history (a symbolic link
//! to another file, a FIFO) is neither followed nor waited on.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::history::{History, HistoryFormatError, LoadedRooms, read_rooms_json};
use crate::core::rooms::RoomName;
use crate::error::Context;

/// Names a corrupt file may be set aside under for one second, `.corrupt-<secs>` then `.corrupt-<secs>-1`
/// and so on, before start-up gives up.
const ASIDE_NAME_ATTEMPTS: u32 = 1000;

/// Fresh temporary names a save tries before giving up, when the ones it picks exist already (planted, or
/// left by a crash of an earlier server with the same process id).
const TEMP_NAME_ATTEMPTS: u64 = 16;

/// Numbers this process's temporary files, so no two saves ever use one name.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What start-up found at the history path.
#[derive(Debug)]
pub enum LoadOutcome {
    /// No file yet: history starts empty and the first save creates it.
    Missing,
    /// `messages` were kept in `rooms` rooms; `dropped` were not, as live input could not have produced them
    /// (see [`read_rooms_json`]).
    Loaded { messages: usize, rooms: usize, dropped: usize },
    /// The file could not be parsed; it was renamed to `moved_to` and history starts empty.
    SetAside { moved_to: PathBuf, reason: String },
}

/// Every room's history, as the file holds it.
pub type Rooms = Vec<(RoomName, History)>;

/// Loads the history at `path`, keeping each room's newest `capacity` messages. An unparsable file is renamed to
/// `<path>.corrupt-<unix_secs>` (or `...-<unix_secs>-<n>`, the first such name not taken) rather than ever
/// being overwritten, and never over another file. Fails when the file exists but cannot be read or set aside,
/// is not a regular file, or was written by a newer server (version 3 or later): the server must not start and
/// later replace someone's history.
pub fn load(path: &Path, capacity: usize, unix_secs: i64) -> io::Result<(Rooms, LoadOutcome)> {
    let Some(file) = open_regular(path)? else {
        return Ok((Vec::new(), LoadOutcome::Missing));
    };
    // Streamed, so a huge file costs time, not memory: only the newest `capacity` messages are ever held.
    match read_rooms_json(BufReader::new(file), capacity) {
        Ok(LoadedRooms { rooms, dropped }) => {
            let messages = rooms.iter().map(|(_, history)| history.len()).sum();
            let outcome = LoadOutcome::Loaded { messages, rooms: rooms.len(), dropped };
            Ok((rooms, outcome))
        }
        Err(HistoryFormatError::Read(e)) => {
            Err(e).with_context(|| format!("cannot read history file {}", path.display()))
        }
        Err(newer) if newer.is_from_a_newer_version() => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "history file {} is from a newer charla-server ({newer}); it is left as it is: upgrade \
                 charla-server, or give another --history-file",
                path.display()
            ),
        )),
        Err(parse_error) => {
            let moved_to = set_aside(path, unix_secs)
                .with_context(|| format!("cannot set aside corrupt history file {}", path.display()))?;
            Ok((Vec::new(), LoadOutcome::SetAside { moved_to, reason: parse_error.to_string() }))
        }
    }
}

/// Opens the history file for reading, or `None` if there is none. Anything but a regular file is refused: a
/// symbolic link, because each save would replace the link with a file rather than write through it; a FIFO,
/// device or socket, which could make start-up wait forever or never end; a directory. `O_NOFOLLOW` makes a
/// link an error rather than followed, `O_NONBLOCK` keeps the open from waiting for a FIFO's writer, and the
/// type is then checked on the open file itself, so nothing swapped in between is read.
fn open_regular(path: &Path) -> io::Result<Option<File>> {
    let opened =
        OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) && path.is_symlink() => {
            return Err(not_a_regular_file(path, "a symbolic link"));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read history file {}", path.display())),
    };
    let file_type =
        file.metadata().with_context(|| format!("cannot read history file {}", path.display()))?.file_type();
    if !file_type.is_file() {
        return Err(not_a_regular_file(path, describe(file_type)));
    }
    Ok(Some(file))
}

fn not_a_regular_file(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "cannot use history file {}: it is {what}, not a regular file; give --history-file the path of a \
             regular file, or of none yet",
            path.display()
        ),
    )
}

fn describe(file_type: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else {
        "a file of an unknown kind"
    }
}

/// What is at `path` after a save to it failed, as the log should say it: the previous file, or that there is
/// none.
pub fn describe_on_disk(path: &Path) -> String {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => "the previous file is intact".to_owned(),
        Ok(meta) => format!("{} is {}, not a history file", path.display(), describe(meta.file_type())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => "no history file exists yet".to_owned(),
        Err(e) => format!("cannot tell whether the previous file is intact: {e}"),
    }
}

/// Checks that saves to `path` can work, by creating and removing a temporary file beside it, so a directory
/// that is missing or cannot be written is found at start-up rather than after the first message.
pub fn check_writable(path: &Path) -> io::Result<()> {
    let dir = directory_of(path);
    let (temp, file) =
        create_temp(path).with_context(|| format!("cannot write the history file's directory {}", dir.display()))?;
    drop(file);
    fs::remove_file(&temp).with_context(|| format!("cannot remove temporary history file {}", temp.display()))
}

/// Replaces the file at `path` with `contents`, atomically and durably.
pub fn save(path: &Path, contents: &[u8]) -> io::Result<()> {
    let (temp, file) =
        create_temp(path).with_context(|| format!("cannot create a temporary file beside {}", path.display()))?;
    let written = write_synced(file, &temp, contents).and_then(|()| {
        fs::rename(&temp, path).with_context(|| format!("cannot rename temporary history file over {}", path.display()))
    });
    if let Err(e) = written {
        // Leave no half-written temporary file behind on a full or read-only disk; the old file is untouched.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_parent_dir(path)
}

/// Creates a new, empty temporary file beside `path`: `<name>.tmp-<pid>-<n>`. `O_CREAT|O_EXCL` fails on any
/// name that exists, symbolic links and FIFOs included, rather than following or opening it, so nothing planted
/// there is ever written through or blocks the writer; then the next number is tried.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    for _ in 0..TEMP_NAME_ATTEMPTS {
        let temp = temp_path(path, TEMP_COUNTER.fetch_add(1, Ordering::Relaxed));
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            // O_EXCL already refuses a link at the name; O_NOFOLLOW says so again should that ever change.
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp);
        match created {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{TEMP_NAME_ATTEMPTS} fresh names in a row were taken")))
}

fn write_synced(mut file: File, temp: &Path, contents: &[u8]) -> io::Result<()> {
    file.write_all(contents).with_context(|| format!("cannot write temporary history file {}", temp.display()))?;
    file.sync_all().with_context(|| format!("cannot fsync temporary history file {}", temp.display()))
}

/// Makes the rename itself durable.
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = directory_of(path);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync history directory {}", dir.display()))
}

/// The directory `path` is in: `.` for a bare file name.
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn temp_path(path: &Path, number: u64) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".tmp-{}-{number}", std::process::id()));
    path.with_file_name(name)
}

/// Moves the file at `path` to the first free name of `<path>.corrupt-<unix_secs>`,
/// `<path>.corrupt-<unix_secs>-1`, ... Two servers starting in the same second each get their own: the move
/// itself refuses to replace anything, so even a race cannot lose one.
fn set_aside(path: &Path, unix_secs: i64) -> io::Result<PathBuf> {
    for attempt in 0..ASIDE_NAME_ATTEMPTS {
        let moved_to = aside_path(path, unix_secs, attempt);
        match rename_no_replace(path, &moved_to) {
            Ok(()) => return Ok(moved_to),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{ASIDE_NAME_ATTEMPTS} names for set-aside files of this second are taken"),
    ))
}

fn aside_path(path: &Path, unix_secs: i64, attempt: u32) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".corrupt-{unix_secs}"));
    if attempt > 0 {
        name.push(format!("-{attempt}"));
    }
    path.with_file_name(name)
}

/// Renames `from` to `to`, failing with `AlreadyExists` rather than replacing whatever is at `to`:
/// `renameat2(RENAME_NOREPLACE)`, or, on a file system without it, a hard link (which never replaces) and then
/// removing `from`.
fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c_path = |p: &Path| {
            CString::new(p.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
        };
        let (from_c, to_c) = (c_path(from)?, c_path(to)?);
        // SAFETY: both paths are NUL-terminated and outlive the call, which only reads them.
        let renamed = unsafe {
            libc::renameat2(libc::AT_FDCWD, from_c.as_ptr(), libc::AT_FDCWD, to_c.as_ptr(), libc::RENAME_NOREPLACE)
        };
        if renamed == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        // EINVAL: this file system does not offer RENAME_NOREPLACE; ENOSYS: nor does the kernel.
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(e);
        }
    }
    move_by_link(from, to)
}

/// Moves `from` to `to` by hard-linking it there, which never replaces anything, then removing `from`.
fn move_by_link(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to)?;
    fs::remove_file(from)
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
        history.push(StoredMessage { ts: 1, user: "Ana".into(), text: "hola".into(), action: false });
        save(&path, &history.to_json().expect("serialise")).expect("save");
        let (loaded, outcome) = load(&path, 50, 0).expect("load");
        assert!(matches!(outcome, LoadOutcome::Loaded { messages: 1, rooms: 1, dropped: 0 }));
        assert_eq!(loaded[0].0.as_str(), "general");
        assert_eq!(loaded[0].1.iter().next().map(|m| m.text.as_str()), Some("hola"));
        let names: Vec<_> = fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, ["chat_history.json"], "no temporary file is left");
    }

    #[test]
    fn a_save_skips_names_that_exist_and_leaves_them_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.json");
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        // Saves in other tests of this process may take some of these numbers first, which only means fewer
        // planted names to skip.
        let planted: Vec<PathBuf> = (next..next + TEMP_NAME_ATTEMPTS - 1).map(|n| temp_path(&path, n)).collect();
        for name in &planted {
            fs::write(name, b"planted").expect("plant");
        }
        save(&path, b"saved").expect("a free name is found");
        assert_eq!(fs::read(&path).expect("saved"), b"saved");
        for name in &planted {
            assert_eq!(fs::read(name).expect("still there"), b"planted");
        }
    }

    #[test]
    fn a_file_from_a_newer_server_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chat_history.json");
        let newer = br#"{"version":3,"rooms":{"general":[]}}"#;
        fs::write(&path, newer).expect("write");
        let e = load(&path, 50, 1234).expect_err("refused");
        assert!(e.to_string().contains("from a newer charla-server"), "{e}");
        assert_eq!(fs::read(&path).expect("still there"), newer);
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 1, "nothing set aside");
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

    #[test]
    fn a_corrupt_file_is_never_set_aside_over_another() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.json");
        for taken in ["h.json.corrupt-7", "h.json.corrupt-7-1"] {
            fs::write(dir.path().join(taken), taken).expect("write");
        }
        fs::write(&path, b"[").expect("write");
        let (_, outcome) = load(&path, 50, 7).expect("load");
        let LoadOutcome::SetAside { moved_to, .. } = outcome else { panic!("expected set aside, got {outcome:?}") };
        assert_eq!(moved_to, dir.path().join("h.json.corrupt-7-2"));
        assert_eq!(fs::read(&moved_to).expect("aside copy"), b"[");
        for taken in ["h.json.corrupt-7", "h.json.corrupt-7-1"] {
            assert_eq!(fs::read_to_string(dir.path().join(taken)).expect("still there"), taken);
        }
    }

    #[test]
    fn both_ways_of_moving_refuse_to_replace() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (from, to, free) = (dir.path().join("from"), dir.path().join("to"), dir.path().join("free"));
        fs::write(&from, "from").expect("write");
        fs::write(&to, "to").expect("write");
        for (way, move_file) in
            [("rename", rename_no_replace as fn(&Path, &Path) -> io::Result<()>), ("link", move_by_link)]
        {
            assert_eq!(move_file(&from, &to).map_err(|e| e.kind()), Err(io::ErrorKind::AlreadyExists), "{way}");
            assert_eq!(fs::read_to_string(&to).expect("to"), "to", "{way}");
            move_file(&from, &free).expect("a free name");
            assert_eq!(fs::read_to_string(&free).expect("moved"), "from", "{way}");
            assert!(!from.exists(), "{way}");
            fs::rename(&free, &from).expect("put back");
        }
    }

    #[test]
    fn after_a_failed_save_the_log_says_what_is_on_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("h.json");
        assert_eq!(describe_on_disk(&path), "no history file exists yet");
        fs::write(&path, b"{}").expect("write");
        assert_eq!(describe_on_disk(&path), "the previous file is intact");
        fs::remove_file(&path).expect("remove");
        fs::create_dir(&path).expect("mkdir");
        assert_eq!(describe_on_disk(&path), format!("{} is a directory, not a history file", path.display()));
    }
}
