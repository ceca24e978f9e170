//! Start-up: the first stdout line, flags, IPv6, and clear failures.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;

#[test]
fn listens_on_ipv6_and_prints_the_actual_address() {
    let server = TestServer::start(&["--listen", "[::1]:0"]);
    assert!(server.addr.is_ipv6(), "{}", server.addr);
    assert_ne!(server.addr.port(), 0, "the actual port is printed");
    let _ana = server.join("Ana");
}

#[test]
fn the_first_line_is_in_the_chosen_language() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .args(["--listen", "127.0.0.1:0", "--lang", "es", "--history-file"])
        .arg(dir.path().join("h.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start charla-server");
    let mut first = String::new();
    let read = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut first);
    let _ = child.kill();
    let _ = child.wait();
    read.expect("first line");
    assert!(first.starts_with("Servidor iniciado en 127.0.0.1:"), "{first:?}");
}

#[test]
fn help_lists_every_flag_with_its_default() {
    let out = Command::new(env!("CARGO_BIN_EXE_charla-server")).arg("--help").output().expect("run --help");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen ADDR:PORT",
        "[default: 127.0.0.1:5555]",
        "--history-file PATH",
        "[default: chat_history.json]",
        "--history-size N",
        "[default: 50]",
        "--save-interval SECS",
        "--lang en|es",
        "--max-clients N",
        "--max-queue BYTES",
        "[default: 1048576]",
        "--login-timeout SECS",
        "[default: 30]",
    ] {
        assert!(help.contains(flag), "--help lacks {flag:?}:\n{help}");
    }
}

#[test]
fn a_bad_flag_exits_2_with_a_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_charla-server")).args(["--lang", "fr"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown language \"fr\""));
}

#[test]
fn an_address_in_use_fails_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .args(["--listen", &addr, "--history-file"])
        .arg(dir.path().join("h.json"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen on {addr}")), "{stderr}");
    assert!(stderr.contains("Address already in use"), "{stderr}");
}

#[test]
fn a_history_path_that_is_a_symbolic_link_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("real.json");
    let history = r#"{"version":1,"messages":[{"ts":1,"user":"Ana","text":"hola"}]}"#;
    std::fs::write(&target, history).expect("write the target");
    let link = dir.path().join("h.json");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let stderr = refused_start(&link);
    assert!(
        stderr.contains(&format!(
            "cannot use history file {}: it is a symbolic link, not a regular file",
            link.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_link(&link).expect("still a link"), target);
    assert_eq!(std::fs::read_to_string(&target).expect("target"), history);
}

#[test]
fn a_history_path_that_is_a_fifo_or_a_directory_is_refused_without_waiting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("fifo.json");
    let name = std::ffi::CString::new(fifo.to_str().expect("UTF-8 temp path")).expect("no NUL");
    // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0, "mkfifo: {}", std::io::Error::last_os_error());
    let directory = dir.path().join("dir.json");
    std::fs::create_dir(&directory).expect("mkdir");
    for (path, what) in [(&fifo, "a FIFO"), (&directory, "a directory")] {
        let stderr = refused_start(path);
        let expected = format!("cannot use history file {}: it is {what}, not a regular file", path.display());
        assert!(stderr.contains(&expected), "{stderr}");
    }
}

#[test]
fn a_history_directory_that_cannot_be_written_is_found_at_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing");
    let stderr = refused_start(&missing.join("h.json"));
    let expected =
        format!("cannot write the history file's directory {}: No such file or directory", missing.display());
    assert!(stderr.contains(&expected), "{stderr}");

    // Root may write anywhere, but not inside a regular file.
    let file = dir.path().join("file");
    std::fs::write(&file, "").expect("write");
    let stderr = refused_start(&file.join("h.json"));
    let expected = format!("cannot write the history file's directory {}: Not a directory", file.display());
    assert!(stderr.contains(&expected), "{stderr}");
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, ["file"], "nothing is left behind");
}

/// Starts the server on `history`, expecting it to refuse at once: exit status 1 within 10 s. Returns its
/// stderr.
fn refused_start(history: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .args(["--listen", "127.0.0.1:0", "--history-file"])
        .arg(history)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start charla-server");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the server") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server still runs after 10 s with history file {}", history.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child.stderr.take().expect("piped stderr").read_to_string(&mut stderr).expect("read stderr");
    assert_eq!(status.code(), Some(1), "exit status; stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line says why: {stderr}");
    stderr
}
