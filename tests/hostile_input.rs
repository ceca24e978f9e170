//! Hostile input: escape sequences, invalid UTF-8, look-alike names, endless lines, floods of empty lines,
//! NUL bytes and half characters. Each protection here fails its test if removed.

mod common;

use std::io::Write;
use std::time::Duration;

use common::TestServer;

#[test]
fn escape_sequences_and_control_characters_never_reach_another_user() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    // ESC (C0), CSI as a C1 control (U+009B), DEL, BEL, backspace, NUL; tab is kept.
    bea.send_raw("\x1b[2J\x1b]0;pwned\x07\u{9b}31mred\x7f\x08\0\tend\n".as_bytes());
    ana.expect_stamped("Bea: [2J]0;pwned31mred\tend");
}

#[test]
fn invalid_utf8_is_replaced_and_never_forwarded_raw() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    // Each run of invalid bytes becomes one U+FFFD, so garbage cannot grow a line on its way out.
    bea.send_raw(b"caf\xe9 \xff\xfe ok\n");
    ana.expect_stamped("Bea: caf\u{fffd} \u{fffd} ok");
}

#[test]
fn names_with_control_or_invisible_characters_are_refused() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    client.expect("USERNAME:");
    for bad in ["An\u{200b}a", "\u{202e}anA", "Ana\u{200d}", "A\u{1b}[31mna", "An\u{0}a", "Ana\u{feff}"] {
        client.send(bad);
        client.expect_lines(&[
            "Error: a name has 1 to 32 letters or digits, starts with a letter, and may join them with - _ or .",
            "USERNAME:",
        ]);
    }
}

#[test]
fn composed_and_decomposed_forms_of_a_name_are_the_same_name() {
    let server = TestServer::start(&[]);
    let _maria = server.join("Mar\u{ed}a");
    let mut other = server.connect();
    other.expect("USERNAME:");
    other.send("Mari\u{301}a");
    other.expect_lines(&["Error: the name Mar\u{ed}a is already taken", "USERNAME:"]);
}

#[test]
fn a_100_mb_line_is_refused_once_with_bounded_memory_and_the_connection_stays() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let baseline = server.rss_kib();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        ana.send_raw(&chunk);
    }
    ana.send("\nafter the flood");
    ana.expect("Error: line too long (over 4096 bytes); it was discarded");
    ana.expect_stamped("Ana: after the flood");
    let grown = server.rss_kib().saturating_sub(baseline);
    assert!(grown < 8 * 1024, "server RSS grew by {grown} KiB reading a 100 MB line");
}

#[test]
fn a_million_empty_lines_are_ignored_with_bounded_memory() {
    let server = TestServer::start(&["--flood-rate", "0"]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    let baseline = server.rss_kib();
    let empties = vec![b'\n'; 1_000_000];
    bea.send_raw(&empties);
    bea.send("after a million empty lines");
    ana.expect_stamped("Bea: after a million empty lines");
    bea.expect_stamped("Bea: after a million empty lines");
    let grown = server.rss_kib().saturating_sub(baseline);
    assert!(grown < 8 * 1024, "server RSS grew by {grown} KiB");
}

#[test]
fn half_a_utf8_character_waits_for_the_rest_of_its_line() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    // "ñ" is C3 B1: send only C3, then wait.
    bea.send_raw(b"espa\xc3");
    ana.expect_silence(Duration::from_millis(300));
    bea.stream().flush().expect("flush");
    bea.send_raw(b"\xb1a\n");
    ana.expect_stamped("Bea: españa");
}

#[test]
fn a_client_that_stops_mid_line_is_closed_by_the_login_timeout_if_unnamed() {
    let server = TestServer::start(&["--login-timeout", "1"]);
    let mut client = server.connect();
    client.expect("USERNAME:");
    client.send_raw(b"Ju\xc3");
    client.expect("Error: timed out waiting for a username");
    client.expect_closed();
}
