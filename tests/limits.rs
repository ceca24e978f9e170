//! Bounds: line length, output queued for a slow client, connection count, time to choose a name.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{TestClient, TestServer};

#[test]
fn a_line_of_4096_bytes_passes_and_a_longer_one_is_refused_without_closing() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let longest = "a".repeat(4096);
    ana.send(&longest);
    ana.expect_stamped(&format!("Ana: {longest}"));
    // Sent in pieces, as a slow link would; the error comes once, and the rest of the line is dropped.
    ana.send_raw("b".repeat(3000).as_bytes());
    ana.send_raw("b".repeat(3000).as_bytes());
    ana.expect("Error: line too long (over 4096 bytes); it was discarded");
    ana.send_raw("b".repeat(3000).as_bytes());
    ana.send("\nstill here");
    ana.expect_stamped("Ana: still here");
}

#[test]
fn a_client_that_stops_reading_is_dropped_and_others_keep_chatting() {
    let server = TestServer::start(&["--max-queue", "65536", "--flood-rate", "0"]);
    let mut talker = server.join("Talker");
    let mut listener = server.join("Listener");
    let stalled = server.join("Stalled");
    talker.expect_lines(&["*** Listener joined the chat", "*** Stalled joined the chat"]);
    listener.expect("*** Stalled joined the chat");

    // Stalled never reads again. Kernel buffers on loopback hold a few MiB, so send well past that.
    let text = "x".repeat(4000);
    let mut sent = 0;
    while !server.log().contains("over the 65536 byte cap") {
        assert!(sent < 5_000, "Stalled was never dropped; log: {}", server.log());
        talker.send(&text);
        talker.expect_stamped(&format!("Talker: {text}"));
        listener.expect_stamped(&format!("Talker: {text}"));
        sent += 1;
    }
    listener.expect("*** Stalled left the chat");
    talker.expect("*** Stalled left the chat");
    // The others still chat.
    talker.send("still flowing");
    listener.expect_stamped("Talker: still flowing");
    // Stalled's connection was closed by the server: reading drains what was buffered, then ends.
    stalled.stream().set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut sink = Vec::new();
    match stalled.stream().read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "the server must close it: {e}"),
    }
}

#[test]
fn one_connection_past_max_clients_is_told_the_server_is_full() {
    let server = TestServer::start(&["--max-clients", "2"]);
    let _ana = server.join("Ana");
    let _bea = server.join("Bea");
    let mut third = server.connect();
    third.expect("Error: the server is full; try again later");
    third.expect_closed();
}

#[test]
fn a_connection_that_never_chooses_a_name_is_closed_after_the_login_timeout() {
    let server = TestServer::start(&["--login-timeout", "1"]);
    let mut idle = server.connect();
    let started = Instant::now();
    idle.expect("USERNAME:");
    idle.expect("Error: timed out waiting for a username");
    idle.expect_closed();
    assert!(started.elapsed() >= Duration::from_millis(900), "closed too early: {:?}", started.elapsed());
    // A named user is not subject to it.
    let mut ana = server.join("Ana");
    ana.expect_silence(Duration::from_millis(1500));
    ana.send("/users");
    ana.expect_lines(&["Connected users (1):", "  Ana"]);
}

#[test]
fn invalid_utf8_is_replaced_not_forwarded() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea: TestClient = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    ana.send_raw(b"caf\xe9 \x1b[31mred\x1b[0m\n");
    bea.expect_stamped("Ana: caf\u{fffd} [31mred[0m");
}
