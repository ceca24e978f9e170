//! The second hardening round: what one hostile address could do to everyone else, and what it no longer can.
//! Each test plays the attack over real sockets against a real server and checks what the other users see.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{TestClient, TestServer};

/// A user who reads everything as fast as it arrives, on its own thread, counting the lines that match.
struct FastReader {
    writer: TcpStream,
    thread: JoinHandle<ReaderTally>,
}

#[derive(Debug, Default)]
struct ReaderTally {
    /// Lines that contain the marker.
    marked: usize,
    /// Whether the server closed the connection (it should not have).
    closed: bool,
    /// Whether the final line arrived.
    saw_end: bool,
}

impl FastReader {
    /// Joins as `name` and starts reading: counts lines containing `marker` until a line containing `end`, and
    /// says on `all_in` when it has counted `expected` of them.
    fn join(
        server: &TestServer,
        name: &str,
        (marker, expected, all_in): (&'static str, usize, mpsc::Sender<()>),
        end: &'static str,
    ) -> FastReader {
        let client = server.join(name);
        let writer = client.stream().try_clone().expect("clone");
        let stream = client.stream().try_clone().expect("clone");
        drop(client);
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let thread = std::thread::spawn(move || {
            let mut tally = ReaderTally::default();
            let mut reader = BufReader::with_capacity(1 << 16, stream);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => {
                        tally.closed = true;
                        return tally;
                    }
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line);
                if text.contains(end) {
                    tally.saw_end = true;
                    return tally;
                }
                if text.contains(marker) {
                    tally.marked += 1;
                    if tally.marked == expected {
                        let _ = all_in.send(());
                    }
                }
            }
        });
        FastReader { writer, thread }
    }
}

/// Connects from `source` and answers the name question, without reading anything after the welcome.
fn join_from(source: &str, server: &TestServer, name: &str) -> TestClient {
    let ip: IpAddr = source.parse().expect("address");
    let mut client = TestClient::connect_from(ip, server.addr);
    client.expect("USERNAME:");
    client.send(name);
    client.expect(&format!("Welcome {name}!"));
    client.expect("Type /help for commands");
    client
}

#[test]
fn a_burst_from_hostile_addresses_does_not_drop_users_who_keep_reading() {
    // Default limits: flood control lets each connection send 20 lines at once, 16 connections per address.
    let server = TestServer::start(&["--notice-limit", "0"]);
    let (all_in, relayed) = mpsc::channel();
    let readers: Vec<FastReader> = (0..20)
        .map(|i| FastReader::join(&server, &format!("reader{i}"), ("BURST", 640, all_in.clone()), "the end"))
        .collect();
    // Two hostile addresses, 16 connections each, every one sending 20 lines of 4,000 bytes at once: 2.6 MB for
    // every reader, well past the 1 MiB queue cap if it were all queued before anything is written.
    let line = format!("BURST {}\n", "x".repeat(4000));
    let burst: Vec<u8> = line.repeat(20).into_bytes();
    let mut attackers = Vec::new();
    for source in ["127.0.0.98", "127.0.0.99"] {
        for i in 0..16 {
            attackers.push(join_from(source, &server, &format!("evil{}x{i}", &source[8..])));
        }
    }
    for attacker in &mut attackers {
        attacker.send_raw(&burst);
    }
    // Once one reader has all 640 lines, every reader has had them before the next line, which ends the test.
    relayed.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no reader got it all: {}", server.log()));
    let mut last = server.join("Last");
    last.send("the end");
    last.send("/users");
    loop {
        let line = last.read_line().expect("Last stays connected");
        if let Some(rest) = line.strip_prefix("Connected users (") {
            assert_eq!(rest, "53):", "20 readers, 32 attackers and Last are all still here; log: {}", server.log());
            break;
        }
    }
    for (i, reader) in readers.into_iter().enumerate() {
        let tally = reader.thread.join().expect("reader thread");
        assert!(!tally.closed && tally.saw_end, "reader{i} was cut off: {tally:?}; log: {}", server.log());
        assert_eq!(tally.marked, 640, "reader{i} got every line of the burst");
        drop(reader.writer);
    }
    assert!(!server.log().contains("client not reading"), "log: {}", server.log());
}

#[test]
fn garbage_bytes_cannot_make_a_line_longer_than_the_cap() {
    let server = TestServer::start(&["--flood-rate", "0"]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    // 4,096 invalid bytes are one run: one replacement character, not 4,096 of them (12 KB).
    let mut garbage = vec![0xff; 4096];
    garbage.push(b'\n');
    bea.send_raw(&garbage);
    ana.expect_stamped("Bea: \u{fffd}");
    // Invalid bytes between valid ones would still double the line: past 4,096 bytes it is refused as too long.
    let alternating: Vec<u8> = (0..4096).map(|i| if i % 2 == 0 { b'a' } else { 0xff }).chain([b'\n']).collect();
    bea.send_raw(&alternating);
    bea.expect_stamped("Bea: \u{fffd}");
    bea.expect("Error: line too long (over 4096 bytes); it was discarded");
    bea.send("still here");
    ana.expect_stamped("Bea: still here");
}

#[test]
fn the_welcome_never_gets_a_newcomer_dropped_whatever_the_history_size() {
    // A history of 1,000 lines of 4,000 bytes is 4 MB: four times the default queue cap.
    let server = TestServer::start(&["--history-size", "1000", "--flood-rate", "0"]);
    let mut ana = server.join("Ana");
    let text = "é".repeat(2000);
    for i in 0..1000 {
        ana.send(&format!("{i:04} {text}"));
    }
    for i in 0..1000 {
        ana.expect_stamped(&format!("Ana: {i:04} {text}"));
    }
    let mut newcomer = server.connect();
    newcomer.expect("USERNAME:");
    newcomer.send("Nuevo");
    newcomer.expect_lines(&["Welcome Nuevo!", "Type /help for commands"]);
    let header = newcomer.read_line().expect("a history header");
    let shown: usize = header
        .strip_prefix("History (the last ")
        .and_then(|rest| rest.strip_suffix(" messages):"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a partial history header, got {header:?}"));
    assert!((100..1000).contains(&shown), "{shown} messages shown");
    for i in 1000 - shown..1000 {
        newcomer.expect_stamped(&format!("Ana: {i:04} {text}"));
    }
    newcomer.send("/users");
    newcomer.expect_lines(&["Connected users (2):", "  Ana", "  Nuevo"]);
}

#[test]
fn a_full_history_of_garbage_lines_still_lets_newcomers_in() {
    let server = TestServer::start(&["--history-size", "100", "--flood-rate", "0"]);
    let mut evil = server.join("Evil");
    let mut garbage = vec![0xff; 4096];
    garbage.push(b'\n');
    for _ in 0..100 {
        evil.send_raw(&garbage);
    }
    for _ in 0..100 {
        evil.expect_stamped("Evil: \u{fffd}");
    }
    let mut newcomer = server.connect();
    newcomer.expect("USERNAME:");
    newcomer.send("Nuevo");
    newcomer.expect_lines(&["Welcome Nuevo!", "Type /help for commands", "History:"]);
    for _ in 0..100 {
        newcomer.expect_stamped("Evil: \u{fffd}");
    }
    newcomer.send("hola");
    newcomer.expect_stamped("Nuevo: hola");
}

#[test]
fn names_that_imitate_others_or_the_server_are_refused() {
    let server = TestServer::start(&[]);
    let _maria = server.join("Maria");
    let _ian = server.join("Ian");
    let mut client = server.connect();
    client.expect("USERNAME:");
    let invalid = "Error: a name has 1 to 32 letters or digits, starts with a letter, and may join them with - _ or .";
    let mixed = "Error: a name uses the letters of one alphabet only (no Latin mixed with Cyrillic)";
    let cases: Vec<(String, String)> = vec![
        ("M\u{430}ria".into(), mixed.into()),  // Cyrillic а
        ("Pedr\u{3bf}".into(), mixed.into()),  // Greek ο
        ("Ｍａｒｉａ".into(), invalid.into()), // fullwidth
        ("𝐌𝐚𝐫𝐢𝐚".into(), invalid.into()),      // mathematical bold
        ("ᴍᴀʀɪᴀ".into(), invalid.into()),      // small capitals
        ("\u{301}".into(), invalid.into()),    // a lone combining accent
        (format!("a{}", "\u{301}".repeat(32)), invalid.into()),
        ("(private)\u{2800}Pedro".into(), invalid.into()), // a blank Braille cell forging a whisper line
        ("Pedro\u{e000}".into(), invalid.into()),          // private use
        ("Pedro\u{378}".into(), invalid.into()),           // unassigned
        ("Pedro\u{fdd0}".into(), invalid.into()),          // noncharacter
        ("***".into(), invalid.into()),
        ("Servidor".into(), "Error: the name Servidor is reserved".into()),
        ("SERVER".into(), "Error: the name SERVER is reserved".into()),
        ("lan".into(), "Error: the name lan looks too much like Ian, who is connected".into()),
        ("\u{420}\u{430}\u{440}\u{430}".into(), invalid.into()),
    ];
    for (name, error) in cases.iter().take(cases.len() - 1) {
        client.send(name);
        client.expect_lines(&[error, "USERNAME:"]);
    }
    // A whole-script Cyrillic name is fine on its own, but not when it reads as someone connected.
    client.send("\u{420}\u{430}\u{440}\u{430}");
    client.expect_lines(&["Welcome \u{420}\u{430}\u{440}\u{430}!", "Type /help for commands"]);
    let mut other = server.connect();
    other.expect("USERNAME:");
    other.send("Papa");
    other.expect_lines(&[
        "Error: the name Papa looks too much like \u{420}\u{430}\u{440}\u{430}, who is connected",
        "USERNAME:",
    ]);
}

#[test]
fn message_text_cannot_forge_lines_or_hide_words() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut pedro = server.join("Pedro");
    ana.expect("*** Pedro joined the chat");
    pedro.send("hola\u{2028}[14:30] Ana: fake\u{2029}end");
    ana.expect_stamped("Pedro: hola [14:30] Ana: fake end");
    pedro.send("abc\u{202e}fed \u{2066}iso\u{2069} a\u{200e}b\u{200f}c");
    ana.expect_stamped("Pedro: abcfed iso abc");
    pedro.send("pay\u{200b}pal\u{feff} x\u{2060}y hola\u{200d}fake");
    ana.expect_stamped("Pedro: paypal xy holafake");
    // Emoji sequences keep their joiners.
    pedro.send("👨\u{200d}👩\u{200d}👧");
    ana.expect_stamped("Pedro: 👨\u{200d}👩\u{200d}👧");
}

#[test]
fn sighup_does_not_stop_the_server_and_sigterm_still_does() {
    let mut server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    ana.send("before");
    ana.expect_stamped("Ana: before");
    // SAFETY: kill(2) on the PID of the server this test started.
    unsafe { libc::kill(server.pid(), libc::SIGHUP) };
    let start = Instant::now();
    while !server.log().contains("SIGHUP received") {
        assert!(start.elapsed() < Duration::from_secs(10), "no SIGHUP line; log: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    ana.send("after");
    ana.expect_stamped("Ana: after");
    let _bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    let status = server.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "SIGTERM after SIGHUP exits 0: {status:?}");
    ana.expect("*** The server is shutting down");
}

#[test]
fn asking_for_users_in_a_big_room_costs_little() {
    charla::server::limits::raise_open_files_limit().expect("raise the open-files limit");
    let server = TestServer::start(&["--flood-rate", "0", "--notice-limit", "0"]);
    // 3,000 named users who never read again: their welcome fits in the socket buffers.
    let crowd: Vec<TcpStream> = (0..3000)
        .map(|i| {
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            stream.write_all(format!("crowd{i}\n").as_bytes()).expect("send a name");
            stream
        })
        .collect();
    let mut asker = server.join("Asker");
    // The crowd's names are all in once the list counts them.
    loop {
        asker.send("/users");
        let header = asker.read_line().expect("a list");
        let count: usize = header["Connected users (".len()..header.len() - 2].parse().expect("count");
        for _ in 0..count {
            asker.read_line();
        }
        if count == 3001 {
            break;
        }
    }
    // 16 users asking 100 times each. Sorting and rendering 3,000 names costs milliseconds; a kept reply does not.
    let clients: Vec<TestClient> = (0..16).map(|i| server.join(&format!("ask{i}"))).collect();
    let askers: Vec<JoinHandle<()>> = clients
        .into_iter()
        .map(|mut client| {
            std::thread::spawn(move || {
                client.stream().set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
                let mut reader = BufReader::new(client.stream().try_clone().expect("clone"));
                let mut sink = Vec::new();
                for _ in 0..100 {
                    client.send("/users");
                    sink.clear();
                    reader.read_until(b'\n', &mut sink).expect("read the header");
                    let header = String::from_utf8_lossy(&sink).into_owned();
                    let count: usize = header
                        .strip_prefix("Connected users (")
                        .and_then(|rest| rest.trim_end().strip_suffix("):"))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("a list header, got {header:?}"));
                    for _ in 0..count {
                        sink.clear();
                        assert!(reader.read_until(b'\n', &mut sink).expect("read the list") > 0, "closed");
                    }
                }
            })
        })
        .collect();
    let before = server.cpu_ticks();
    for asker in askers {
        asker.join().expect("asker");
    }
    let ticks = server.cpu_ticks() - before;
    // 1,600 lists of 3,017 names: about 60 MB written, which is most of what this costs now (2 ticks of 1/100 s
    // measured, in a debug build); sorting and rendering each list anew took 160 in the release build before.
    assert!(ticks < 40, "the server used {ticks} ticks (1/100 s each) for 1,600 /users");
    drop(crowd);
}

#[test]
fn a_throttled_flooder_holds_no_more_than_a_line_of_input() {
    charla::server::limits::raise_open_files_limit().expect("raise the open-files limit");
    let server = TestServer::start(&["--notice-limit", "0"]);
    let before = server.rss_kib();
    // 320 connections, each sending 64 KiB of empty lines at once: far past its 20-line burst. (Empty lines are
    // ignored, so only the input is held, not anyone's output.)
    let flood = "\n".repeat(64 * 1024);
    let flooders: Vec<TcpStream> = (0..320)
        .map(|i| {
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            stream.write_all(format!("flooder{i}\n").as_bytes()).expect("name");
            stream.set_nonblocking(true).expect("non-blocking");
            let _ = stream.write(flood.as_bytes());
            stream
        })
        .collect();
    // Let the server read what it will; then it holds what throttled connections have not been allowed to send.
    std::thread::sleep(Duration::from_secs(2));
    let after = server.rss_kib();
    assert!(after < before + 6 * 1024, "RSS grew from {before} KiB to {after} KiB with 320 throttled flooders");
    drop(flooders);
}

#[test]
fn connection_storms_leave_no_memory_behind() {
    let server = TestServer::start(&[]);
    let storm = |count: usize| {
        for _ in 0..count {
            // Connect, read the name question, hang up: a login deadline is set and must go with the connection.
            let mut stream = TcpStream::connect(server.addr).expect("connect");
            let mut prompt = [0u8; 10];
            let _ = stream.read(&mut prompt);
        }
    };
    storm(2000);
    std::thread::sleep(Duration::from_millis(300));
    let baseline = server.rss_kib();
    for _ in 0..5 {
        storm(20_000);
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = server.rss_kib();
    assert!(after < baseline + 1536, "RSS went from {baseline} KiB to {after} KiB after 100,000 connections");
    // Still serving.
    let mut ana = server.join("Ana");
    ana.send("hola");
    ana.expect_stamped("Ana: hola");
}

#[test]
fn a_last_line_without_a_newline_is_delivered_when_the_sender_closes() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut pepe = TestClient::connect(server.addr);
    pepe.expect("USERNAME:");
    pepe.send_raw(b"Pepe\nhola sin salto");
    pepe.shutdown_write();
    ana.expect("*** Pepe joined the chat");
    ana.expect_stamped("Pepe: hola sin salto");
    ana.expect("*** Pepe left the chat");
}
