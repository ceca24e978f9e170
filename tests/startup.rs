//! Start-up: the first stdout line, flags, IPv6, and clear failures.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

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
