//! Logging under systemd: when `JOURNAL_STREAM` names the server's stderr, as systemd sets it for a service that
//! logs to the journal, log lines carry a syslog priority prefix and no timestamp of their own (the journal stamps
//! each line); otherwise, and when the variable names some other stream, they keep the timestamp.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts the server with stderr going to `log` and `JOURNAL_STREAM` set to `journal_stream` (if any), waits for
/// it to start, stops it with SIGTERM and returns what it logged.
fn log_of_one_run(dir: &Path, journal_stream: Option<&str>) -> String {
    let log = dir.join("stderr.log");
    let stderr = std::fs::File::create(&log).expect("create the log file");
    let device_inode = {
        let meta = stderr.metadata().expect("stat the log file");
        format!("{}:{}", meta.dev(), meta.ino())
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_charla-server"));
    command
        .args(["--listen", "127.0.0.1:0", "--history-file"])
        .arg(dir.join("h.json"))
        .env("RUST_LOG", "info")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    match journal_stream {
        Some("ours") => command.env("JOURNAL_STREAM", &device_inode),
        Some(other) => command.env("JOURNAL_STREAM", other),
        None => &mut command,
    };
    let mut child = command.spawn().expect("start charla-server");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first).expect("first line");
    assert!(first.starts_with("Server started on"), "{first:?}");
    // SAFETY: kill(2) on our own child's PID, which has not been waited for, so it cannot have been reused.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    for _ in 0..100 {
        if child.try_wait().expect("wait").is_some() {
            return std::fs::read_to_string(&log).expect("read the log");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the server did not stop on SIGTERM within 5 s");
}

#[test]
fn under_the_journal_lines_have_a_priority_and_no_timestamp() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = log_of_one_run(dir.path(), Some("ours"));
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.contains(&"<6>INFO  SIGTERM received; shutting down"), "{log}");
    assert!(lines.iter().all(|line| line.starts_with("<6>INFO  ")), "{log}");
}

#[test]
fn elsewhere_lines_keep_their_timestamp() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Unset, and set for a stream that is not our stderr (a child of a service whose stderr went to a file).
    for journal_stream in [None, Some("1:1")] {
        let log = log_of_one_run(dir.path(), journal_stream);
        let stop = log.lines().find(|line| line.ends_with("SIGTERM received; shutting down")).expect("stop line");
        // 2026-11-29T23:26:47.798Z INFO  SIGTERM received; shutting down
        let (stamp, rest) = stop.split_once(' ').expect("a stamp");
        assert!(stamp.len() == 24 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T', "{stop:?}");
        assert_eq!(rest, "INFO  SIGTERM received; shutting down", "{journal_stream:?}");
    }
}
