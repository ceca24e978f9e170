//! CI smoke test for `charla-bench`: against a real server, a short fan-out and a small connect run finish on
//! their own, and their JSON reports say every message reached every client; the same holds against the
//! tool's own `floor-server`. With `--rooms`, the clients are in their rooms on the server, and every message
//! reaches its own room's clients and no one else. With `--tls`, the same over TLS with a test certificate, and
//! the connect run counts every handshake. With `--ws`, the same runs go through the web listener, one WebSocket
//! per client, and with both, through its TLS listener. With two servers as targets, each gets half the clients,
//! and the report sums both servers' memory and CPU.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::tls::TestCa;
use common::{TestClient, TestServer};
use serde_json::Value;

/// The longest one tool run may take before the test kills it and fails.
const RUN_LIMIT: Duration = Duration::from_secs(12);

/// Runs `charla-bench` with `args` plus `--target` and `--json`, and returns its parsed report.
fn bench(target: &str, args: &[&str]) -> Value {
    let stdout = bench_output(target, &[args, &["--json"]].concat());
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("charla-bench {args:?} printed no JSON ({e}): {stdout}"))
}

/// Runs `charla-bench` with `args` plus `--target`, and returns what it printed on standard output.
fn bench_output(target: &str, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla-bench"))
        .args(args)
        .args(["--target", target])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start charla-bench");
    let started = Instant::now();
    while child.try_wait().expect("poll charla-bench").is_none() {
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("charla-bench {args:?} ran longer than {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect charla-bench output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "charla-bench {args:?} failed: {stderr}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The first line of a printed report whose label starts with `label` (empty if none).
fn report_row(table: &str, label: &str) -> String {
    table.lines().find(|line| line.trim_start().starts_with(label)).unwrap_or_default().to_owned()
}

fn count(report: &Value, pointer: &str) -> u64 {
    report.pointer(pointer).and_then(Value::as_u64).unwrap_or_else(|| panic!("no count at {pointer} in {report:#}"))
}

#[test]
fn a_short_fanout_loses_nothing_and_a_small_connect_gets_everyone_in() {
    // Flood control off, as for any benchmark: the senders outrun a human's rate on purpose.
    let server = TestServer::start(&["--flood-rate", "0"]);

    let fanout = bench(
        &server.addr.to_string(),
        &[
            "fanout",
            "--clients",
            "20",
            "--senders",
            "2",
            "--rate",
            "50",
            "--duration",
            "2",
            "--drain-timeout",
            "3",
            "--login-timeout",
            "5",
        ],
    );
    assert_eq!(count(&fanout, "/connect/in_room"), 20, "{fanout:#}");
    // 50 messages a second for 2 seconds, on a fixed schedule.
    assert_eq!(count(&fanout, "/fanout/messages_sent"), 100, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/deliveries_expected"), 20 * 100, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/deliveries_received"), 20 * 100, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/lost"), 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/reordered"), 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/latency/count"), 20 * 100, "{fanout:#}");
    assert_eq!(fanout.pointer("/fanout/flood_control_suspected"), Some(&Value::Bool(false)), "{fanout:#}");

    let pid = server.pid().to_string();
    let connect = bench(
        &server.addr.to_string(),
        &["connect", "--clients", "50", "--concurrency", "10", "--hold", "0.5", "--server-pid", &pid],
    );
    assert_eq!(count(&connect, "/connect/in_room"), 50, "{connect:#}");
    assert_eq!(count(&connect, "/connect/failed"), 0, "{connect:#}");
    assert!(connect.pointer("/server/rss_kib_all_in").is_some(), "{connect:#}");
}

/// A `charla-bench floor-server` child, killed (by its PID, through `Child`) when dropped.
struct FloorServer {
    child: Child,
    addr: String,
}

impl FloorServer {
    fn start() -> FloorServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_charla-bench"))
            .args(["floor-server", "--target", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start charla-bench floor-server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("floor-server stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read the floor-server's first line");
        let addr = line.trim_end().rsplit(' ').next().unwrap_or_default().to_owned();
        let server = FloorServer { child, addr };
        assert!(line.starts_with("Floor server listening on 127.0.0.1:"), "unexpected first line {line:?}");
        server
    }
}

impl Drop for FloorServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_floor_server_relays_every_message_to_every_client() {
    let floor = FloorServer::start();
    let fanout = bench(
        &floor.addr,
        &["fanout", "--clients", "10", "--senders", "2", "--closed-loop", "--duration", "1", "--login-timeout", "5"],
    );
    assert_eq!(count(&fanout, "/connect/in_room"), 10, "{fanout:#}");
    let sent = count(&fanout, "/fanout/messages_sent");
    assert!(sent > 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/deliveries_expected"), 10 * sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/deliveries_received"), 10 * sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/lost"), 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/reordered"), 0, "{fanout:#}");
    assert_eq!(fanout.pointer("/fanout/flood_control_suspected"), Some(&Value::Bool(false)), "{fanout:#}");
}

/// The warning a run shaped by the server's default flood control must carry.
const FLOOD_WARNING: &str = "the server's flood control (default 5 lines/s per client, after a burst of 20) is \
                             probably shaping this run; start charla-server with --flood-rate 0 for benchmarks";

#[test]
fn a_run_held_back_by_default_flood_control_says_so_and_names_the_flag() {
    // Default flags: each client may send 5 lines a second after a burst of 20, so closed-loop senders that
    // could go much faster get about 25 lines through in the first second.
    let server = TestServer::start(&[]);
    let target = server.addr.to_string();
    let args =
        ["fanout", "--clients", "5", "--senders", "1", "--closed-loop", "--duration", "1", "--drain-timeout", "2"];
    let fanout = bench(&target, &args);
    assert_eq!(fanout.pointer("/fanout/flood_control_suspected"), Some(&Value::Bool(true)), "{fanout:#}");
    let warnings = fanout.pointer("/warnings").and_then(Value::as_array).expect("warnings");
    assert!(
        warnings
            .iter()
            .filter_map(Value::as_str)
            .any(|w| w.starts_with("each sender got about ") && w.ends_with(FLOOD_WARNING)),
        "{fanout:#}"
    );
    let table = bench_output(&target, &args);
    let warning = report_row(&table, "warning");
    assert!(warning.contains("lines/s through: ") && warning.ends_with(FLOOD_WARNING), "{table}");
}

#[test]
fn a_fanout_over_rooms_delivers_each_message_to_its_own_rooms_clients_only() {
    let server = TestServer::start(&["--flood-rate", "0"]);
    // 12 clients, 3 in each of 4 rooms; 4 senders, one in each room.
    let args = ["fanout", "--clients", "12", "--senders", "4", "--rooms", "4", "--closed-loop", "--duration", "1"];
    let fanout =
        bench(&server.addr.to_string(), &[&args[..], &["--drain-timeout", "3", "--login-timeout", "5"]].concat());
    assert_eq!(count(&fanout, "/connect/in_room"), 12, "{fanout:#}");
    assert_eq!(count(&fanout, "/connect/failed"), 0, "{fanout:#}");
    let rooms = fanout.pointer("/rooms").and_then(Value::as_array).expect("a rooms array");
    assert_eq!(rooms.len(), 4, "{fanout:#}");
    let mut all_sent = 0;
    for (k, room) in rooms.iter().enumerate() {
        assert_eq!(room.pointer("/room").and_then(Value::as_str), Some(format!("bench-{k}").as_str()), "{room:#}");
        assert_eq!(count(room, "/in_room"), 3, "{room:#}");
        assert_eq!(count(room, "/senders"), 1, "{room:#}");
        let sent = count(room, "/messages_sent");
        assert!(sent > 0, "room {k} heard nothing: {room:#}");
        // Charla echoes: each of the room's 3 clients, its sender too, gets each of its messages once.
        assert_eq!(count(room, "/deliveries_expected"), 3 * sent, "{room:#}");
        assert_eq!(count(room, "/deliveries_received"), 3 * sent, "{room:#}");
        assert_eq!(count(room, "/lost"), 0, "{room:#}");
        assert_eq!(count(room, "/reordered"), 0, "{room:#}");
        assert!(room.pointer("/deliveries_per_second").and_then(Value::as_f64).is_some_and(|r| r > 0.0), "{room:#}");
        all_sent += sent;
    }
    assert_eq!(count(&fanout, "/fanout/messages_sent"), all_sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/deliveries_received"), 3 * all_sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/lost"), 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/crossed_rooms"), 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/rooms_summary/count"), 4, "{fanout:#}");
    assert!(fanout.pointer("/rooms_summary/deliveries_per_second/min").and_then(Value::as_f64).is_some(), "{fanout:#}");
}

/// The rooms `/rooms` lists, as its entry lines, read by `watcher` (skipping the join notices around them).
fn rooms_seen_by(watcher: &mut TestClient) -> Vec<String> {
    watcher.send("/rooms");
    loop {
        let line = watcher.read_line().expect("the server answers /rooms");
        if let Some(count) = line.strip_prefix("Rooms (").and_then(|rest| rest.strip_suffix("):")) {
            let count: usize = count.parse().expect("a room count");
            return (0..count).map(|_| watcher.read_line().expect("a room entry")).collect();
        }
    }
}

#[test]
fn a_connect_run_over_rooms_puts_each_client_in_its_room_on_the_server() {
    let server = TestServer::start(&["--flood-rate", "0"]);
    let mut watcher = server.join("Watcher");
    let target = server.addr.to_string();
    let run = std::thread::spawn(move || {
        bench_output(&target, &["connect", "--clients", "30", "--rooms", "3", "--hold", "3", "--login-timeout", "5"])
    });
    // While the clients are held, the server itself says who is in which room.
    let wanted = ["  #bench-0 (10)", "  #bench-1 (10)", "  #bench-2 (10)"];
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = rooms_seen_by(&mut watcher);
    while !wanted.iter().all(|room| seen.iter().any(|line| line == room)) {
        assert!(Instant::now() < deadline, "the server never listed {wanted:?}; last: {seen:?}");
        std::thread::sleep(Duration::from_millis(100));
        seen = rooms_seen_by(&mut watcher);
    }
    let table = run.join().expect("the charla-bench thread");
    assert!(table.lines().next().is_some_and(|title| title.contains(" · 30 clients · 3 rooms · ")), "{table}");
    let row = |key: &str| report_row(&table, key);
    assert!(row("clients in room").ends_with("30 of 30 (0 failed)"), "{table}");
    for k in 0..3 {
        assert!(row(&format!("#bench-{k} ")).ends_with(" 10 clients"), "{table}");
    }
}

#[test]
fn over_tls_a_short_fanout_loses_nothing_and_a_connect_run_counts_every_handshake() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (cert, key, ca_file) =
        (files.cert.to_str().expect("UTF-8"), files.key.to_str().expect("UTF-8"), ca_file.to_str().expect("UTF-8"));
    let server = TestServer::start_in(
        dir.path(),
        &["--flood-rate", "0", "--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key],
    );
    let target = server.tls_addr.expect("a TLS listener").to_string();

    let fanout = bench(
        &target,
        &[
            "fanout",
            "--tls",
            "--ca",
            ca_file,
            "--clients",
            "20",
            "--senders",
            "4",
            "--closed-loop",
            "--duration",
            "1",
            "--drain-timeout",
            "3",
            "--login-timeout",
            "5",
        ],
    );
    assert_eq!(fanout.pointer("/tls"), Some(&Value::Bool(true)), "{fanout:#}");
    assert_eq!(count(&fanout, "/connect/in_room"), 20, "{fanout:#}");
    assert_eq!(count(&fanout, "/connect/handshakes/done"), 20, "{fanout:#}");
    let sent = count(&fanout, "/fanout/messages_sent");
    assert!(sent > 0, "{fanout:#}");
    // Charla echoes: every client, senders too, gets every message once.
    assert_eq!(count(&fanout, "/fanout/deliveries_expected"), 20 * sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/deliveries_received"), 20 * sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/lost"), 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/reordered"), 0, "{fanout:#}");

    let pid = server.pid().to_string();
    let connect = bench(
        &target,
        &[
            "connect",
            "--tls",
            "--ca",
            ca_file,
            "--clients",
            "50",
            "--concurrency",
            "10",
            "--hold",
            "0.5",
            "--server-pid",
            &pid,
        ],
    );
    assert_eq!(count(&connect, "/connect/in_room"), 50, "{connect:#}");
    assert_eq!(count(&connect, "/connect/failed"), 0, "{connect:#}");
    assert_eq!(count(&connect, "/connect/handshakes/done"), 50, "{connect:#}");
    let per_second = connect.pointer("/connect/handshakes/per_second").and_then(Value::as_f64);
    assert!(per_second.is_some_and(|rate| rate > 0.0), "{connect:#}");
    assert!(connect.pointer("/server/cpu_us_per_join").and_then(Value::as_f64).is_some(), "{connect:#}");
    // The table says it too.
    let table = bench_output(&target, &["connect", "--tls", "--ca", ca_file, "--clients", "5", "--hold", "0"]);
    assert!(table.lines().next().is_some_and(|title| title.contains(" · line protocol over TLS · ")), "{table}");
    let row = report_row(&table, "TLS handshakes/s");
    assert!(row.contains("(5 done in "), "{table}");
}

#[test]
fn over_tls_a_certificate_the_tool_does_not_trust_fails_every_client_with_its_cause() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    let (cert, key) = (files.cert.to_str().expect("UTF-8"), files.key.to_str().expect("UTF-8"));
    let server =
        TestServer::start_in(dir.path(), &["--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key]);
    // Another authority, under a name of its own.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "Some other CA");
    let stranger = params.self_signed(&rcgen::KeyPair::generate().expect("a key")).expect("a CA certificate");
    let stranger_file = dir.path().join("stranger.pem");
    std::fs::write(&stranger_file, stranger.pem()).expect("write the CA certificate");
    let report = bench(
        &server.tls_addr.expect("a TLS listener").to_string(),
        &["connect", "--tls", "--ca", stranger_file.to_str().expect("UTF-8"), "--clients", "3", "--hold", "0"],
    );
    assert_eq!(count(&report, "/connect/in_room"), 0, "{report:#}");
    assert_eq!(count(&report, "/connect/failed"), 3, "{report:#}");
    let failures = report.pointer("/connect/failures").and_then(Value::as_object).expect("failures by cause");
    assert!(failures.keys().all(|cause| cause.starts_with("tls: invalid peer certificate")), "{report:#}");
}

/// The number in `/users`' header (`Connected users (N):`), read by `watcher` (skipping notices and entries).
fn users_seen_by(watcher: &mut TestClient) -> usize {
    watcher.send("/users");
    loop {
        let line = watcher.read_line().expect("the server answers /users");
        if let Some(count) = line.strip_prefix("Connected users (").and_then(|rest| rest.strip_suffix("):")) {
            return count.parse().expect("a user count");
        }
    }
}

#[test]
fn over_websocket_a_fanout_loses_nothing_and_a_connect_run_is_seen_by_the_server() {
    let server = TestServer::start(&["--flood-rate", "0", "--web-listen", "127.0.0.1:0"]);
    let web = server.web_addr.expect("a web listener").to_string();
    // Two rooms, so the /join and its answer go through the WebSocket too.
    let args = ["fanout", "--ws", "--clients", "10", "--senders", "2", "--rooms", "2", "--closed-loop"];
    let fanout =
        bench(&web, &[&args[..], &["--duration", "1", "--drain-timeout", "3", "--login-timeout", "5"]].concat());
    assert_eq!(fanout.pointer("/transport").and_then(Value::as_str), Some("websocket"), "{fanout:#}");
    assert_eq!(count(&fanout, "/connect/in_room"), 10, "{fanout:#}");
    assert_eq!(count(&fanout, "/connect/failed"), 0, "{fanout:#}");
    let sent = count(&fanout, "/fanout/messages_sent");
    assert!(sent > 0, "{fanout:#}");
    // Each message reaches the 5 clients of its room, its sender included.
    assert_eq!(count(&fanout, "/fanout/deliveries_expected"), 5 * sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/deliveries_received"), 5 * sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/lost"), 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/reordered"), 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/crossed_rooms"), 0, "{fanout:#}");

    let mut watcher = server.join("Watcher");
    let run = std::thread::spawn(move || {
        bench_output(&web, &["connect", "--ws", "--clients", "20", "--hold", "3", "--login-timeout", "5"])
    });
    // While the clients are held, the server itself counts them: 20 and the watcher.
    let deadline = Instant::now() + Duration::from_secs(5);
    while users_seen_by(&mut watcher) != 21 {
        assert!(Instant::now() < deadline, "the server never listed the 20 WebSocket clients");
        std::thread::sleep(Duration::from_millis(100));
    }
    let table = run.join().expect("the charla-bench thread");
    assert!(table.lines().next().is_some_and(|title| title.contains("line protocol over WebSocket")), "{table}");
    let row = |key: &str| report_row(&table, key);
    assert!(row("clients in room").ends_with("20 of 20 (0 failed)"), "{table}");
}

#[test]
fn over_websocket_inside_tls_a_fanout_loses_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (cert, key, ca_file) =
        (files.cert.to_str().expect("UTF-8"), files.key.to_str().expect("UTF-8"), ca_file.to_str().expect("UTF-8"));
    let server = TestServer::start_in(
        dir.path(),
        &["--flood-rate", "0", "--web-tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key],
    );
    let target = server.web_tls_addr.expect("an HTTPS listener").to_string();
    let fanout = bench(
        &target,
        &[
            "fanout",
            "--tls",
            "--ca",
            ca_file,
            "--ws",
            "--clients",
            "10",
            "--senders",
            "2",
            "--closed-loop",
            "--duration",
            "1",
            "--drain-timeout",
            "3",
            "--login-timeout",
            "5",
        ],
    );
    assert_eq!(fanout.pointer("/tls"), Some(&Value::Bool(true)), "{fanout:#}");
    assert_eq!(fanout.pointer("/transport").and_then(Value::as_str), Some("websocket"), "{fanout:#}");
    assert_eq!(count(&fanout, "/connect/in_room"), 10, "{fanout:#}");
    assert_eq!(count(&fanout, "/connect/handshakes/done"), 10, "{fanout:#}");
    let sent = count(&fanout, "/fanout/messages_sent");
    assert!(sent > 0, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/deliveries_received"), 10 * sent, "{fanout:#}");
    assert_eq!(count(&fanout, "/fanout/lost"), 0, "{fanout:#}");
}

#[test]
fn with_two_targets_a_connect_run_puts_half_the_clients_on_each_server() {
    let servers = [TestServer::start(&["--flood-rate", "0"]), TestServer::start(&["--flood-rate", "0"])];
    let mut watchers = [servers[0].join("Watcher"), servers[1].join("Watcher")];
    let targets = format!("{},{}", servers[0].addr, servers[1].addr);
    let pids = format!("{},{}", servers[0].pid(), servers[1].pid());
    let run = {
        let targets = targets.clone();
        std::thread::spawn(move || {
            let args = ["connect", "--clients", "20", "--hold", "3", "--login-timeout", "5", "--server-pid", &pids];
            bench_output(&targets, &args)
        })
    };
    // While the clients are held, each server counts its own: 10 and its watcher.
    let deadline = Instant::now() + Duration::from_secs(5);
    for (server, watcher) in watchers.iter_mut().enumerate() {
        let mut seen = users_seen_by(watcher);
        while seen != 11 {
            assert!(Instant::now() < deadline, "server {server} lists {seen} users, not the watcher and 10 clients");
            std::thread::sleep(Duration::from_millis(100));
            seen = users_seen_by(watcher);
        }
    }
    let table = run.join().expect("the charla-bench thread");
    assert!(table.lines().next().is_some_and(|title| title.contains(&format!(" · {targets} · 20 clients"))), "{table}");
    let row = |key: &str| report_row(&table, key);
    assert!(row("clients in room").ends_with("20 of 20 (0 failed)"), "{table}");
    let section = format!("2 servers (pids {}, {}), summed", servers[0].pid(), servers[1].pid());
    assert!(table.lines().any(|line| line.contains(&section)), "{table}");
    for server in &servers {
        assert!(row(&format!("pid {} ", server.pid())).contains(" KiB all in · "), "{table}");
    }
}

#[test]
fn with_two_server_pids_the_json_report_sums_them_and_keeps_each() {
    let servers = [TestServer::start(&[]), TestServer::start(&[])];
    let targets = format!("{},{}", servers[0].addr, servers[1].addr);
    let pids = format!("{},{}", servers[0].pid(), servers[1].pid());
    let report = bench(&targets, &["connect", "--clients", "4", "--hold", "0", "--server-pid", &pids]);
    assert_eq!(count(&report, "/connect/in_room"), 4, "{report:#}");
    let processes = report.pointer("/server/processes").and_then(Value::as_array).expect("processes");
    assert_eq!(processes.len(), 2, "{report:#}");
    let sum: u64 = processes.iter().map(|p| count(p, "/rss_kib_all_in")).sum();
    assert_eq!(count(&report, "/server/rss_kib_all_in"), sum, "{report:#}");
    for (process, server) in processes.iter().zip(&servers) {
        assert_eq!(count(process, "/pid"), u64::try_from(server.pid()).expect("a PID"), "{report:#}");
    }
}
