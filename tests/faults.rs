//! Faults: crashes, saves that fail, and shutdown under load. No history is lost beyond one save interval.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TestClient, TestServer};

const SIGTERM: i32 = 15;

#[test]
fn after_kill_9_the_history_holds_every_message_older_than_one_save_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut first = TestServer::start_in(dir.path(), &["--flood-rate", "0"]);
    let mut ana = first.join("Ana");
    for i in 0..30 {
        ana.send(&format!("message {i}"));
        ana.expect_stamped(&format!("Ana: message {i}"));
    }
    // One save interval (1 s) and some slack for the save itself.
    std::thread::sleep(Duration::from_millis(1500));
    first.crash();

    let second = TestServer::start_in(dir.path(), &[]);
    let mut bea = second.connect();
    bea.expect("USERNAME:");
    bea.send("Bea");
    bea.expect_lines(&["Welcome Bea!", "Type /help for commands", "History:"]);
    for i in 0..30 {
        bea.expect_stamped(&format!("Ana: message {i}"));
    }
}

#[test]
fn a_failing_save_is_logged_keeps_the_old_file_and_is_retried() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    ana.send("first");
    ana.expect_stamped("Ana: first");
    let path = server.history_path();
    let saved = wait_for(|| std::fs::read_to_string(&path).ok().filter(|t| t.contains("first")));

    // Directories at every temporary name the server could pick next make every save fail, even for root
    // (for whom a read-only directory would not).
    let blockers: Vec<_> = (0..2000)
        .map(|n| path.with_file_name(format!("chat_history.json.tmp-{}-{n}", server.pid())))
        .filter(|name| std::fs::create_dir(name).is_ok())
        .collect();
    ana.send("second");
    ana.expect_stamped("Ana: second");
    wait_for(|| server.log().contains("history not saved").then_some(()));
    assert!(server.log().contains("; the previous file is intact; retrying in 1s"), "{}", server.log());
    assert_eq!(std::fs::read_to_string(&path).expect("old file"), saved, "the old file is whole");
    // The server keeps serving.
    let mut bea = server.connect();
    bea.expect("USERNAME:");
    bea.send("Bea");
    bea.expect_lines(&["Welcome Bea!", "Type /help for commands", "History:"]);
    bea.expect_stamped("Ana: first");
    bea.expect_stamped("Ana: second");

    // Once the fault is gone, the next interval's retry saves.
    for blocker in blockers {
        std::fs::remove_dir(&blocker).expect("remove a blocking directory");
    }
    wait_for(|| std::fs::read_to_string(&path).ok().filter(|t| t.contains("second")));
}

#[test]
fn a_save_that_keeps_failing_is_retried_less_and_less_often_and_the_log_says_no_file_exists() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("create the history directory");
    let history = data.join("chat_history.json");
    let server = TestServer::start_in(dir.path(), &["--history-file", history.to_str().expect("UTF-8 path")]);
    // Once started, the directory goes away: every save fails, and there is no file at all.
    std::fs::remove_dir(&data).expect("remove the history directory");
    let mut ana = server.join("Ana");
    ana.send("hola");
    ana.expect_stamped("Ana: hola");

    // Saves are tried 1, 2, 4 and 8 s after the message. The log says so, and its timestamps show the waits
    // (without backing off, each failure would come one second after the last).
    let failures: Vec<String> = wait_for(|| {
        let log = server.log();
        let failures: Vec<String> =
            log.lines().filter(|line| line.contains("history not saved")).map(str::to_owned).collect();
        (failures.len() >= 3).then_some(failures)
    });
    for (line, delay) in failures.iter().zip(["1s", "2s", "4s"]) {
        assert!(line.ends_with(&format!("; no history file exists yet; retrying in {delay}")), "{line}");
    }
    let at: Vec<f64> = failures.iter().take(3).map(|line| seconds_of_day(line)).collect();
    assert!(at[1] - at[0] >= 0.9 && at[2] - at[1] >= 1.9, "waited 1 s then 2 s between tries: {failures:#?}");

    // The next retry, 4 s after the last, finds the directory back and saves.
    std::fs::create_dir(&data).expect("recreate the history directory");
    wait_for(|| std::fs::read_to_string(&history).ok().filter(|t| t.contains("hola")));
    assert!(server.log().contains("history saved again, after 3 failed attempts"), "{}", server.log());
}

#[test]
fn sigterm_under_load_tells_every_client_saves_and_exits_zero_within_3_s() {
    const CLIENTS: usize = 300;
    const TALKERS: usize = 5;
    let mut server = TestServer::start(&["--flood-rate", "0", "--notice-limit", "0"]);
    let mut clients: Vec<TestClient> = (0..CLIENTS).map(|i| server.join(&format!("user{i}"))).collect();
    // A few users chat flat out while the signal arrives.
    let stop = Arc::new(AtomicBool::new(false));
    let talkers: Vec<_> = (0..TALKERS)
        .map(|i| {
            let talker = server.join(&format!("talker{i}"));
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) && sent < 100_000 {
                    // The server goes away mid-send: a write error ends the chatter.
                    if talker.stream().write_all(format!("chatter {sent}\n").as_bytes()).is_err() {
                        break;
                    }
                    sent += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                talker
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let status = server.signal_and_wait(SIGTERM);
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    assert!(status.success(), "exit status {status:?}");
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    for (i, client) in clients.iter_mut().enumerate() {
        let all = client.read_to_close();
        let text = String::from_utf8_lossy(&all);
        assert!(text.ends_with("*** The server is shutting down\n"), "user{i} got no shutdown line: {text:?}");
    }
    for talker in talkers {
        drop(talker.join().expect("talker thread"));
    }
    let json = std::fs::read_to_string(server.history_path()).expect("history saved at shutdown");
    assert!(json.contains("chatter"), "history holds the chatter");
}

#[test]
fn sigterm_with_the_history_writer_stuck_exits_1_after_5_s_saying_the_history_was_not_saved() {
    let mut server = TestServer::start(&["--save-interval", "3600"]);
    let mut ana = server.join("Ana");
    ana.send("never saved");
    ana.expect_stamped("Ana: never saved");
    // The writer thread stops as if its disk hung; the rest of the server runs on.
    stop_thread(server.pid(), "history-writer");
    let started = Instant::now();
    let status = server.signal_and_wait(SIGTERM);
    let took = started.elapsed();
    assert_eq!(status.code(), Some(1), "an unsaved history is a failed exit; log: {}", server.log());
    assert!(took < Duration::from_secs(7), "shutdown took {took:?}");
    ana.expect("*** The server is shutting down");
    let log = server.log();
    assert!(log.contains("history not saved: the disk did not finish a save within 5s"), "{log}");
    assert!(!server.history_path().exists(), "nothing was saved");
}

/// Stops the thread of process `pid` named `name` with ptrace, which, unlike SIGSTOP, stops only that thread.
fn stop_thread(pid: i32, name: &str) {
    // A new thread names itself once it first runs, which on a busy machine can be a while after it is made.
    let tid: i32 = wait_for(|| {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("list the server's threads");
        tasks
            .filter_map(|task| task.ok())
            .find(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim_end() == name))
            .and_then(|task| task.file_name().to_str().and_then(|tid| tid.parse().ok()))
    });
    let null = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: ptrace and waitpid on a thread of the child this test started; no memory is shared.
    unsafe {
        assert_eq!(libc::ptrace(libc::PTRACE_SEIZE, tid, null, null), 0, "{}", std::io::Error::last_os_error());
        assert_eq!(libc::ptrace(libc::PTRACE_INTERRUPT, tid, null, null), 0, "{}", std::io::Error::last_os_error());
        let mut status = 0;
        assert_eq!(libc::waitpid(tid, &mut status, libc::__WALL), tid, "{}", std::io::Error::last_os_error());
        assert!(libc::WIFSTOPPED(status), "the thread stopped: status {status:#x}");
    }
    // A traced thread is reaped by its tracer (any thread of this process), and until it is, its process's exit
    // is not reported. This thread reaps it when the process ends, never letting it run before.
    std::thread::spawn(move || {
        loop {
            let mut status = 0;
            // SAFETY: as above.
            let waited = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
            if waited != tid || libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                return;
            }
        }
    });
}

/// The time of day of a log line (`2026-11-24T19:30:05.123Z ...`), in seconds.
fn seconds_of_day(line: &str) -> f64 {
    let time = line.get(11..23).unwrap_or_else(|| panic!("a timestamped log line: {line}"));
    let parts: Vec<f64> = time.split(':').map(|p| p.parse().expect("a number")).collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
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
