//! Slow, idle, dead and flooding clients: none of them holds the server or the others back.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;

/// The timer column of /proc/net/tcp for the server's end of each established connection on `port`.
fn server_side_timers(port: u16) -> Vec<u8> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            // local_address, rem_address, st (01 = ESTABLISHED), tx:rx queues, tr:tm->when
            (cols[1].ends_with(&local) && cols[3] == "01").then(|| cols[5].split(':').next()?.parse().ok())?
        })
        .collect()
}

#[test]
fn accepted_sockets_have_tcp_keepalive_so_dead_peers_are_found() {
    let server = TestServer::start(&[]);
    let _ana = server.join("Ana");
    let _bea = server.join("Bea");
    // Timer 2 is the keepalive timer; an idle socket without keepalive has none (0). Right after sending, the
    // retransmission timer (1) may still be armed until the peer's ACK arrives.
    let start = Instant::now();
    loop {
        let timers = server_side_timers(server.addr.port());
        assert_eq!(timers.len(), 2, "two server-side connections in /proc/net/tcp");
        if timers.iter().all(|&t| t == 2) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no keepalive timers: {timers:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_silent_named_user_is_closed_after_the_idle_timeout() {
    let server = TestServer::start(&["--idle-timeout", "1"]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    // Ana keeps sending (empty lines, which nobody sees); Bea sends nothing.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1600) {
        ana.send("");
        std::thread::sleep(Duration::from_millis(200));
    }
    bea.expect("Error: nothing received from you for 1 seconds; closing the connection");
    bea.expect_closed();
    ana.expect("*** Bea left the chat");
    ana.send("/users");
    ana.expect_lines(&["Connected users (1):", "  Ana"]);
}

#[test]
fn a_flooding_client_is_slowed_not_dropped_and_others_are_unaffected() {
    let server = TestServer::start(&["--flood-rate", "4", "--flood-burst", "3"]);
    let mut flooder = server.join("Flooder");
    let mut calm = server.join("Calm");
    flooder.expect("*** Calm joined the chat");
    let started = Instant::now();
    let burst: String = (1..=11).map(|i| format!("flood {i}\n")).collect();
    flooder.send_raw(burst.as_bytes());
    // The burst passes at once; the rest is read at 4 lines/s, in order, none dropped.
    for i in 1..=3 {
        calm.expect_stamped(&format!("Flooder: flood {i}"));
    }
    calm.send("meanwhile");
    calm.expect_stamped("Calm: meanwhile");
    let mut flood_seen = 0;
    let mut meanwhile_seen = false;
    while flood_seen < 11 || !meanwhile_seen {
        let line = flooder.read_line().expect("flooder stays connected");
        if line.ends_with("Calm: meanwhile") {
            assert!(flood_seen < 11, "the calm user's message waited for the whole flood");
            meanwhile_seen = true;
        } else if line.contains("Flooder: flood ") {
            flood_seen += 1;
            assert!(line.ends_with(&format!("Flooder: flood {flood_seen}")), "out of order: {line}");
        }
    }
    // 8 lines past the burst at 4 per second cannot take less than about 2 s.
    assert!(started.elapsed() >= Duration::from_millis(1800), "not throttled: {:?}", started.elapsed());
}

#[test]
fn a_reader_that_stalls_is_dropped_with_bounded_server_memory() {
    let server = TestServer::start(&["--max-queue", "262144", "--flood-rate", "0"]);
    let mut talker = server.join("Talker");
    let stalled = server.join("Stalled");
    talker.expect("*** Stalled joined the chat");
    let baseline = server.rss_kib();
    let text = "y".repeat(4000);
    let mut sent = 0;
    while !server.log().contains("over the 262144 byte cap") {
        assert!(sent < 5_000, "Stalled was never dropped; log: {}", server.log());
        talker.send(&text);
        talker.expect_stamped(&format!("Talker: {text}"));
        sent += 1;
    }
    talker.expect("*** Stalled left the chat");
    let grown = server.rss_kib().saturating_sub(baseline);
    assert!(grown < 8 * 1024, "server RSS grew by {grown} KiB for a 256 KiB queue cap");
    drop(stalled);
}
