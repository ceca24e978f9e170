//! Public history: replayed to newcomers, saved as JSON, kept across restarts, never overwritten when corrupt.

mod common;

use std::io::Write;
use std::time::Duration;

use common::TestServer;

const SIGTERM: i32 = 15;
const SIGINT: i32 = 2;
/// 2025-11-24 14:30 UTC in Unix milliseconds: shown as `[14:30]` by servers the tests start (TZ=UTC0).
const AT_14_30: i64 = 1_763_994_600_000;

#[test]
fn a_restart_keeps_the_history_and_replays_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut first = TestServer::start_in(dir.path(), &[]);
    let mut ana = first.join("Ana");
    ana.send("before the restart");
    ana.expect_stamped("Ana: before the restart");
    ana.send("/whisper Ana not stored");
    ana.expect("Error: you cannot whisper to yourself");
    let status = first.signal_and_wait(SIGTERM);
    assert!(status.success(), "SIGTERM must exit 0, got {status:?}");
    ana.expect("*** The server is shutting down");
    ana.expect_closed();

    let second = TestServer::start_in(dir.path(), &[]);
    let mut bea = second.connect();
    bea.expect("USERNAME:");
    bea.send("Bea");
    bea.expect_lines(&["Welcome Bea!", "Type /help for commands", "History:"]);
    bea.expect_stamped("Ana: before the restart");
    bea.expect_silence(Duration::from_millis(200));
}

#[test]
fn the_saved_file_has_the_documented_format_and_no_whispers() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    ana.send("hola \"todos\"");
    ana.expect_stamped("Ana: hola \"todos\"");
    ana.send("/whisper Bea secreto");
    ana.expect("Message sent to Bea");
    bea.expect_stamped("Ana: hola \"todos\"");
    bea.expect_stamped("(private) Ana: secreto");
    // Saved within one save interval (1 s by default).
    let json = wait_for_file(&server.history_path(), Duration::from_secs(5));
    let value: serde_json::Value = serde_json::from_str(&json).expect("history is JSON");
    assert_eq!(value["version"], 2);
    let messages = value["rooms"]["general"].as_array().expect("the lobby's messages array");
    assert_eq!(messages.len(), 1, "only the public message is stored: {json}");
    assert_eq!(messages[0]["user"], "Ana");
    assert_eq!(messages[0]["text"], "hola \"todos\"");
    let ts = messages[0]["ts"].as_i64().expect("ts in ms");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    assert!((now_ms - ts).abs() < 60_000, "ts {ts} is Unix milliseconds");
}

#[test]
fn history_size_bounds_what_is_kept_and_replayed() {
    let server = TestServer::start(&["--history-size", "2"]);
    let mut ana = server.join("Ana");
    for text in ["one", "two", "three"] {
        ana.send(text);
        ana.expect_stamped(&format!("Ana: {text}"));
    }
    let mut bea = server.connect();
    bea.expect("USERNAME:");
    bea.send("Bea");
    bea.expect_lines(&["Welcome Bea!", "Type /help for commands", "History:"]);
    bea.expect_stamped("Ana: two");
    bea.expect_stamped("Ana: three");
    bea.expect_silence(Duration::from_millis(200));
}

#[test]
fn a_corrupt_history_file_is_set_aside_and_the_server_starts_empty() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("chat_history.json"), b"{\"version\": 1, \"messages\": [oops").expect("write");
    let server = TestServer::start_in(dir.path(), &[]);
    let _ana = server.join("Ana"); // No "History:" lines: the room starts empty.
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("chat_history.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the corrupt file is renamed aside: {aside:?}");
    let kept = std::fs::read(dir.path().join(&aside[0])).expect("read the set-aside file");
    assert_eq!(kept, b"{\"version\": 1, \"messages\": [oops");
    assert!(server.log().contains("unreadable"), "a warning is logged: {}", server.log());
}

#[test]
fn lines_from_the_history_file_are_cleaned_as_live_input_and_impossible_ones_dropped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let messages = [
        (r"Ana", r"hola\n[14:31] Pedro: forged"),
        (r"Ana", r"\u001b[2Jred\u2028[14:32] Pedro: forged too\u202e"),
        (r"Pedro\n[14:33] Root", r"a name with a newline"),
        (r"Juan P\u00e9rez", r"a name with a space"),
        (r"An\u200ba", r"a name with an invisible character"),
        (r"Mari\u0301a", r"a name not in the form the server stores"),
        (r"Bea", r"\u001b\u0007 "),
        (r"Bea", r"the end"),
    ];
    let list: Vec<String> =
        messages.iter().map(|(user, text)| format!(r#"{{"ts":{AT_14_30},"user":"{user}","text":"{text}"}}"#)).collect();
    let json = format!(r#"{{"version":1,"messages":[{}]}}"#, list.join(","));
    std::fs::write(dir.path().join("chat_history.json"), json).expect("write the history file");

    let server = TestServer::start_in(dir.path(), &[]);
    let mut cruz = server.connect();
    cruz.expect("USERNAME:");
    cruz.send("Cruz");
    cruz.expect_lines(&[
        "Welcome Cruz!",
        "Type /help for commands",
        "History:",
        "[14:30] Ana: hola[14:31] Pedro: forged",
        "[14:30] Ana: [2Jred [14:32] Pedro: forged too",
        "[14:30] Bea: the end",
    ]);
    cruz.expect_silence(Duration::from_millis(200));
    assert!(server.log().contains("dropped 5"), "the dropped messages are counted in the log: {}", server.log());
}

#[test]
fn sigint_also_saves_and_exits_zero() {
    let mut server = TestServer::start(&["--save-interval", "3600"]);
    let mut ana = server.join("Ana");
    ana.send("saved at shutdown");
    ana.expect_stamped("Ana: saved at shutdown");
    assert!(!server.history_path().exists(), "not saved yet: the interval is an hour");
    let status = server.signal_and_wait(SIGINT);
    assert!(status.success(), "SIGINT must exit 0, got {status:?}");
    let json = std::fs::read_to_string(server.history_path()).expect("history saved at shutdown");
    assert!(json.contains("saved at shutdown"), "{json}");
}

fn wait_for_file(path: &std::path::Path, limit: Duration) -> String {
    let start = std::time::Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(start.elapsed() < limit, "{} not written within {limit:?}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_50_mb_history_file_loads_in_little_memory_and_keeps_the_newest() {
    const MESSAGES: usize = 50_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let padding = "x".repeat(1000);
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("chat_history.json")).expect("create"));
    write!(file, r#"{{"version": 1, "messages": ["#).expect("write");
    for i in 0..MESSAGES {
        let comma = if i == 0 { "" } else { "," };
        write!(file, r#"{comma}{{"ts": {AT_14_30}, "user": "user{}", "text": "message {i} {padding}"}}"#, i % 37)
            .expect("write");
    }
    write!(file, "]}}").expect("write");
    file.into_inner().expect("flush").sync_all().expect("sync");
    assert!(std::fs::metadata(dir.path().join("chat_history.json")).expect("size").len() > 50_000_000);

    let server = TestServer::start_in(dir.path(), &[]);
    // The history is loaded before the server says it started, so this is the load's peak.
    let peak_kib = status_kib(&server, "VmHWM:");
    assert!(peak_kib < 30 * 1024, "the server's memory peaked at {peak_kib} KiB loading the history");
    let mut bea = server.connect();
    bea.expect("USERNAME:");
    bea.send("Bea");
    bea.expect_lines(&["Welcome Bea!", "Type /help for commands", "History:"]);
    for i in MESSAGES - 50..MESSAGES {
        bea.expect(&format!("[14:30] user{}: message {i} {padding}", i % 37));
    }
    bea.expect_silence(Duration::from_millis(200));
    assert!(server.log().contains("loaded 50 messages"), "{}", server.log());
}

/// A `/proc/PID/status` field of the server, in KiB.
fn status_kib(server: &TestServer, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).expect("read /proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc status"))
}

#[test]
fn a_version_1_file_loads_as_the_lobby_and_is_written_back_as_version_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chat_history.json");
    std::fs::write(
        &path,
        br#"{"version":1,"messages":[{"ts":1763994600000,"user":"Mar\u00eda","text":"Hola a todos"}]}"#,
    )
    .expect("write a version 1 file");
    let mut server = TestServer::start_in(dir.path(), &["--lang", "es"]);
    let mut juan = server.connect();
    juan.expect("USUARIO:");
    juan.send("Juan");
    juan.expect_lines(&["Bienvenido Juan!", "Escribe /help para comandos", "Historial:"]);
    let replayed = juan.read_line().expect("the old message");
    assert!(replayed.ends_with("] María: Hola a todos"), "{replayed}");
    juan.send("/join cocina");
    juan.expect("Ahora estás en #cocina");
    juan.send("sopa");
    juan.expect_stamped("Juan: sopa");
    assert!(server.signal_and_wait(libc::SIGTERM).success());
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("saved")).expect("history is JSON");
    assert_eq!(value["version"], 2);
    assert_eq!(value["rooms"]["general"][0]["text"], "Hola a todos");
    assert_eq!(value["rooms"]["cocina"][0]["text"], "sopa");
}

#[test]
fn a_file_from_a_newer_server_stops_start_up_and_is_left_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chat_history.json");
    let newer = br#"{"version":3,"rooms":{"general":[]},"topics":{}}"#;
    std::fs::write(&path, newer).expect("write");
    let out = common::server_command()
        .args(["--listen", "127.0.0.1:0", "--history-file"])
        .arg(&path)
        .output()
        .expect("run charla-server");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is from a newer charla-server"), "{stderr}");
    assert_eq!(std::fs::read(&path).expect("still there"), newer);
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1, "nothing set aside or written");
}
