//! CI smoke test for `charla-bench`: against a real server, a short fan-out and a small connect run finish on
//! their own, and their JSON reports say every message reached every client; the same holds against the
//! tool's own `floor-server`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;
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
    let warning = table.lines().find(|line| line.trim_start().starts_with("warning")).unwrap_or_default();
    assert!(warning.contains("lines/s through: ") && warning.ends_with(FLOOD_WARNING), "{table}");
}
