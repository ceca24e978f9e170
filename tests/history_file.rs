//! The history file's safety on disk: whatever is planted beside it is never followed, written through or
//! waited on, and a set-aside corrupt file is never replaced.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::TestServer;

const SIGTERM: i32 = 15;

/// The temporary names a save may use next: the fixed one of old servers, and this server's first fresh ones.
fn temporary_names(dir: &Path, pid: i32) -> Vec<PathBuf> {
    std::iter::once(dir.join("chat_history.json.tmp"))
        .chain((0..8).map(|n| dir.join(format!("chat_history.json.tmp-{pid}-{n}"))))
        .collect()
}

#[test]
fn links_planted_at_the_temporary_names_are_never_followed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let victim = elsewhere.path().join("precious.txt");
    std::fs::write(&victim, "precious").expect("write the victim");
    let server = TestServer::start_in(dir.path(), &[]);
    let planted = temporary_names(dir.path(), server.pid());
    for name in &planted {
        symlink(&victim, name).expect("plant a link");
    }

    let mut ana = server.join("Ana");
    ana.send("hola");
    ana.expect_stamped("Ana: hola");
    wait_for(|| std::fs::read_to_string(server.history_path()).ok().filter(|t| t.contains("hola")));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "precious", "the link's target is untouched");
    assert!(
        std::fs::symlink_metadata(server.history_path()).expect("history").is_file(),
        "the history is a regular file, not a planted link"
    );
    for name in &planted {
        assert_eq!(std::fs::read_link(name).expect("the planted link stays"), victim);
    }
}

#[test]
fn fifos_planted_at_the_temporary_names_block_neither_saving_nor_shutdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = TestServer::start_in(dir.path(), &[]);
    for name in temporary_names(dir.path(), server.pid()) {
        let name = CString::new(name.as_os_str().as_bytes()).expect("no NUL in a temp path");
        // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0, "mkfifo: {}", std::io::Error::last_os_error());
    }

    let mut ana = server.join("Ana");
    ana.send("hola");
    ana.expect_stamped("Ana: hola");
    wait_for(|| std::fs::read_to_string(server.history_path()).ok().filter(|t| t.contains("hola")));
    ana.send("adiós");
    ana.expect_stamped("Ana: adiós");
    let status = server.signal_and_wait(SIGTERM);
    assert!(status.success(), "SIGTERM exits 0 once the history is saved, got {status:?}");
    let json = std::fs::read_to_string(dir.path().join("chat_history.json")).expect("history");
    assert!(json.contains("adiós"), "saved at shutdown: {json}");
}

#[test]
fn a_corrupt_file_is_set_aside_under_a_name_no_other_file_has() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("chat_history.json"), "corrupt, second").expect("write");
    // What earlier starts within the same seconds left: set-aside files of this second and the next few.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs();
    let earlier: Vec<String> = (now..now + 5)
        .flat_map(|secs| [format!("chat_history.json.corrupt-{secs}"), format!("chat_history.json.corrupt-{secs}-1")])
        .collect();
    for name in &earlier {
        std::fs::write(dir.path().join(name), format!("corrupt, first: {name}")).expect("write");
    }

    let server = TestServer::start_in(dir.path(), &[]);
    let _ana = server.join("Ana"); // No "History:" lines: the room starts empty.
    for name in &earlier {
        let kept = std::fs::read_to_string(dir.path().join(name)).expect("an earlier set-aside file is still there");
        assert_eq!(kept, format!("corrupt, first: {name}"), "{name} was overwritten");
    }
    let new: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("chat_history.json.corrupt-") && !earlier.contains(name))
        .collect();
    assert_eq!(new.len(), 1, "the corrupt file has a name of its own: {new:?}");
    assert!(new[0].ends_with("-2"), "the first free name: {}", new[0]);
    assert_eq!(std::fs::read_to_string(dir.path().join(&new[0])).expect("read"), "corrupt, second");
    assert!(server.log().contains(&format!("moved it to {}", dir.path().join(&new[0]).display())), "{}", server.log());
}

/// Polls `check` until it returns something, for at most 10 s.
fn wait_for<T>(mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "condition not met within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
