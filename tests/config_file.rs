//! `--config FILE`: the server takes its settings from a TOML file, flags override it, and a mistake in it stops
//! the start with exit status 2 and a line naming the file, the line and the key.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A server started by a test, stopped (by its own PID) when the test ends, however it ends.
struct Running {
    child: Child,
    first_line: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `charla-server ARGS` and reads its first stdout line (it exits at once if it cannot start).
fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start charla-server");
    let mut first_line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut first_line).expect("first line");
    Running { child, first_line }
}

/// Runs `charla-server ARGS` to its end, which a refused configuration must bring within the time limit.
fn run_to_exit(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start charla-server");
    for _ in 0..100 {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    panic!("charla-server {args:?} did not exit within 5 s: {out:?}");
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("charla.toml");
    std::fs::write(&path, text).expect("write the config file");
    path.to_str().expect("UTF-8 temp path").to_owned()
}

/// The address in `Server started on ADDR` (or its Spanish form).
fn address(first_line: &str) -> String {
    first_line.trim_end().rsplit(' ').next().expect("an address").to_owned()
}

fn first_line_from(addr: &str) -> String {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("read a line");
    line
}

#[test]
fn the_file_sets_the_server_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let history = dir.path().join("from-the-file.json");
    let config = write_config(
        dir.path(),
        &format!(
            "# Comments are fine.\nlisten = \"127.0.0.1:0\"\nhistory_file = {:?}\nlang = \"es\"\nmax_clients = 1\n",
            history.to_str().expect("UTF-8")
        ),
    );
    let server = start(&["--config", &config]);
    assert!(server.first_line.starts_with("Servidor iniciado en 127.0.0.1:"), "{:?}", server.first_line);
    let addr = address(&server.first_line);
    // max_clients = 1: the first connection is asked its name (in Spanish), the second is told the server is full.
    let mut first = TcpStream::connect(&addr).expect("connect");
    first.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut question = [0u8; 9];
    first.read_exact(&mut question).expect("the name question");
    assert_eq!(&question, b"USUARIO:\n");
    assert_eq!(first_line_from(&addr), "Error: el servidor está lleno; inténtalo más tarde\n");
    // The history goes where the file says, once someone has spoken.
    first.write_all(b"Ana\nHola\n").expect("send");
    for _ in 0..100 {
        if history.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no history written to {}", history.display());
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let history = dir.path().join("h.json");
    let config = write_config(dir.path(), "lang = \"es\"\nlisten = \"127.0.0.1:1\"\n");
    let server = start(&[
        "--listen",
        "127.0.0.1:0",
        "--config",
        &config,
        "--lang",
        "en",
        "--history-file",
        history.to_str().expect("UTF-8"),
    ]);
    assert!(server.first_line.starts_with("Server started on 127.0.0.1:"), "{:?}", server.first_line);
    assert_ne!(address(&server.first_line), "127.0.0.1:1");
}

#[test]
fn mistakes_in_the_file_are_refused_with_the_file_the_line_and_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "lang = \"en\"\n\nmax_clients = \"many\"\n",
            "line 3: max_clients: expected a whole number from 1 to 1000000, got \"many\"",
        ),
        ("max_clients = 0\n", "line 1: max_clients: expected a whole number from 1 to 1000000, got 0"),
        ("# typo below\nmax_client = 10\n", "line 2: max_client: unknown setting (charla-server --help lists them)"),
        ("listen = 5555\n", "line 1: listen: expected text in quotes, got 5555"),
        ("save_interval = 0\n", "line 1: save_interval: expected a whole number of seconds from 1 to 3600, got 0"),
        ("lang = \"fr\"\n", "line 1: lang: unknown language \"fr\" (expected en or es)"),
        ("flood_rate = 2.5\n", "line 1: flood_rate: expected a whole number from 0 to 1000000, got a float"),
    ];
    for (text, reason) in cases {
        let config = write_config(dir.path(), text);
        // The listen flag would be valid: the file is refused before anything listens.
        let out = run_to_exit(&["--config", &config, "--listen", "127.0.0.1:0"]);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("charla-server: {config} {reason}\nTry 'charla-server --help'.\n"),
            "{text:?}"
        );
        assert!(out.stdout.is_empty(), "nothing started: {out:?}");
    }
}

#[test]
fn a_missing_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nowhere.toml");
    let missing = missing.to_str().expect("UTF-8");
    let out = run_to_exit(&["--config", missing]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with(&format!("charla-server: cannot read {missing}: No such file")), "{stderr}");
}
