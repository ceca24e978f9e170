//! The README's benchmark command (`benches/scripts/quick.sh`) run as a user would run it, from a directory
//! holding their chat history: it must leave that history alone, write nothing there, and stay off port 5555,
//! where the user's own server may be listening.

use std::path::Path;
use std::process::Command;

#[test]
fn the_benchmark_command_touches_neither_the_users_history_nor_their_port() {
    let home = tempfile::tempdir().expect("temp dir");
    let history = home.path().join("chat_history.json");
    let theirs = br#"{"version":2,"rooms":{"general":[{"ts":1,"user":"Ana","text":"mine"}]}}"#;
    std::fs::write(&history, theirs).expect("the user's history");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scripts/quick.sh");
    let out = Command::new("bash")
        .arg(&script)
        .current_dir(home.path())
        .env("CHARLA_SERVER", env!("CARGO_BIN_EXE_charla-server"))
        .env("CHARLA_BENCH", env!("CARGO_BIN_EXE_charla-bench"))
        .env("DURATION", "1")
        .output()
        .expect("run quick.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "quick.sh failed: {out:?}");
    assert_eq!(std::fs::read(&history).expect("still there"), theirs, "the user's history is untouched");
    let files: Vec<_> = std::fs::read_dir(home.path()).expect("list").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(files, ["chat_history.json"], "nothing written where the user ran it");
    // The tool's first line names the server it loaded: a fresh port, never the default 5555.
    let header = stdout.lines().next().unwrap_or_default();
    assert!(header.contains("127.0.0.1:") && !header.contains(":5555 "), "{header}");
    assert!(stdout.contains("deliveries/s"), "a benchmark ran: {stdout}");
}
