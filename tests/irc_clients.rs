//! Real IRC clients against the IRC listener, as separate processes: `ii` (its FIFOs and `out` files) and
//! headless WeeChat (driven through its fifo plugin, read back from its logger plugin). Each registers, joins a
//! room whose history was saved before the server started, reads that history, and chats with a line-protocol
//! user both ways, in the room and in private, then quits.
//!
//! The clients are Debian packages (`ii`, `weechat-headless`, `weechat-plugins`). Without them these tests say
//! so (on stderr) and pass, unless CHARLA_REQUIRE_IRC_CLIENTS=1, which `.ci/run` sets after installing them: CI always runs
//! them.

mod common;

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;

/// How long a client may take to show something it was sent, or to start, before the test fails. Longer than
/// a socket line's wait: a client process writes its files on its own schedule, on a busy machine.
const CLIENT_WAIT: Duration = Duration::from_secs(20);
/// Set to 1 where the clients must be present (CI, after installing them): a missing one fails the test.
const REQUIRE_ENV: &str = "CHARLA_REQUIRE_IRC_CLIENTS";

/// Two saved messages in `#cocina`, from 2020-09-13 12:26:40 and 12:27:40 UTC: a message and an action. Their
/// age shows whether a client got their time (server-time) or only the text.
const HISTORY: &str = r#"{"version": 2, "rooms": {"cocina": [
    {"ts": 1600000000000, "user": "Ana", "text": "sopa de ajo"},
    {"ts": 1600000060000, "user": "Ana", "text": "remueve", "action": true}]}}"#;

/// The executable `name` on PATH, or `None` (with the reason on stderr) when it is missing and not required.
fn client_binary(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file());
    if found.is_none() {
        let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
        assert!(!required, "{name} is not installed, and {REQUIRE_ENV}=1 requires it (apt-get install {package})");
        // Straight to stderr, not through eprintln!, which the test harness captures from a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: {name} is not installed (apt-get install {package}; .ci/run installs it)"
        );
    }
    found
}

/// A client process, killed (by its own handle, so by its PID) if the test ends before it exits.
struct ClientProcess {
    child: Child,
    name: &'static str,
}

impl ClientProcess {
    /// Waits (bounded) for the client to exit by itself.
    fn wait_exit(&mut self) {
        let start = Instant::now();
        while self.child.try_wait().expect("poll the client").is_none() {
            assert!(start.elapsed() < CLIENT_WAIT, "{} did not exit within {CLIENT_WAIT:?}", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A server with the IRC listener whose history file holds [`HISTORY`], and the line user Ana, in `#cocina`
/// with that history read. The temporary directory holds the server's files and the client's.
fn server_with_history() -> (tempfile::TempDir, TestServer, common::TestClient) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    fs::write(dir.path().join("chat_history.json"), HISTORY).expect("write the history file");
    let server = TestServer::start_in(dir.path(), &["--irc-listen", "127.0.0.1:0"]);
    let mut ana = server.join("Ana");
    ana.send("/join cocina");
    ana.expect_lines(&["Now in #cocina", "History:", "[12:26] Ana: sopa de ajo", "[12:27] * Ana remueve"]);
    (dir, server, ana)
}

/// Waits until `file` holds `needle`, returning its contents; fails with what it holds after [`CLIENT_WAIT`].
fn wait_for(file: &Path, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            start.elapsed() < CLIENT_WAIT,
            "{} did not show {needle:?} within {CLIENT_WAIT:?}; it holds:\n{text}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes one line into a client's FIFO once the client has it open for reading (bounded): opened without
/// blocking, so a client that never reads fails the test instead of hanging it.
fn write_fifo(fifo: &Path, line: &str) {
    let start = Instant::now();
    loop {
        match OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(fifo) {
            Ok(mut pipe) => {
                // One write of less than PIPE_BUF bytes: the reader gets the line whole.
                pipe.write_all(format!("{line}\n").as_bytes()).expect("write to the FIFO");
                return;
            }
            // ENXIO: nobody reads it (yet, or between two opens of ii's); NotFound: not created yet.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) || e.kind() == ErrorKind::NotFound => {}
            Err(e) => panic!("open {}: {e}", fifo.display()),
        }
        assert!(start.elapsed() < CLIENT_WAIT, "nobody read {} within {CLIENT_WAIT:?}", fifo.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn output_file(dir: &Path, name: &str) -> Stdio {
    Stdio::from(fs::File::create(dir.join(name)).expect("create a client's output file"))
}

#[test]
fn ii_registers_joins_reads_history_and_chats_with_a_line_user() {
    let Some(ii) = client_binary("ii", "ii") else { return };
    let (dir, server, mut ana) = server_with_history();
    let irc = server.irc_addr.expect("the IRC listener");
    let root = dir.path().join("ii");
    let mut juan = ClientProcess {
        child: Command::new(ii)
            .args(["-s", &irc.ip().to_string(), "-p", &irc.port().to_string(), "-n", "Juan", "-f", "Juan Real"])
            .arg("-i")
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(output_file(dir.path(), "ii.stdout"))
            .stderr(output_file(dir.path(), "ii.stderr"))
            .spawn()
            .expect("start ii"),
        name: "ii",
    };
    // ii names its directory after the host it was given, and each channel's or nick's after it.
    let host = root.join(irc.ip().to_string());
    let channel = host.join("#cocina");

    // Registration: the welcome burst lands in the server's `out`; Ana, in #cocina, hears of it from #general.
    wait_for(&host.join("out"), "Welcome to the Charla chat, Juan");
    ana.expect("#general *** Juan joined the chat");

    // Joining reads the room's history. ii asks for no capability, so a message carries its time in its text
    // (an action cannot: its text must start with the CTCP marker), and ii shows an action's CTCP as it came.
    write_fifo(&host.join("in"), "/j #cocina");
    let joined = wait_for(&channel.join("out"), "<Ana> \u{1}ACTION remueve\u{1}");
    assert!(joined.contains("<Ana> [12:26] sopa de ajo"), "the history, in order:\n{joined}");
    assert!(joined.contains("Juan(Juan@charla) has joined #cocina"), "the JOIN echo:\n{joined}");
    ana.expect("*** Juan joined #cocina");

    // The room, both ways.
    write_fifo(&channel.join("in"), "hola Ana");
    ana.expect_stamped("Juan: hola Ana");
    ana.send("hola Juan");
    ana.expect_stamped("Ana: hola Juan");
    wait_for(&channel.join("out"), "<Ana> hola Juan");

    // Private messages, both ways: ii opens a directory for the nick that wrote.
    ana.send("/whisper Juan secreto");
    ana.expect("Message sent to Juan");
    wait_for(&host.join("ana").join("out"), "<Ana> secreto");
    write_fifo(&host.join("in"), "/j Ana en privado");
    ana.expect_stamped("(private) Juan: en privado");

    // Quitting: ii exits, and each room Juan was in says he left.
    write_fifo(&host.join("in"), "/q adios");
    juan.wait_exit();
    ana.expect("#general *** Juan left the chat");
    ana.expect("*** Juan left the chat");
}

#[test]
fn weechat_registers_joins_reads_timed_history_and_chats_with_a_line_user() {
    let Some(weechat) = client_binary("weechat-headless", "weechat-headless weechat-plugins") else { return };
    let (dir, server, mut ana) = server_with_history();
    let irc = server.irc_addr.expect("the IRC listener");
    let home = dir.path().join("weechat");
    let fifo = home.join("fifo");
    let logs = home.join("logs");
    // Logs written at once (not every 120 s), the FIFO at a known path, no TLS (the default before WeeChat 4.0,
    // which reads -notls; 3.x ignores it).
    let setup = [
        "/set logger.file.flush_delay 0".to_owned(),
        format!("/set fifo.file.path {}", fifo.display()),
        format!("/server add charla {}/{} -notls", irc.ip(), irc.port()),
        "/set irc.server.charla.nicks Wee".to_owned(),
        "/connect charla".to_owned(),
    ];
    let mut wee = ClientProcess {
        child: Command::new(weechat)
            .arg("--dir")
            .arg(&home)
            .args(["--run-command", &setup.join(";")])
            // Its logs and its shown times in UTC, like the server's [HH:MM].
            .env("TZ", "UTC0")
            .stdin(Stdio::null())
            .stdout(output_file(dir.path(), "weechat.stdout"))
            .stderr(output_file(dir.path(), "weechat.stderr"))
            .spawn()
            .expect("start weechat-headless"),
        name: "weechat-headless",
    };
    let server_log = logs.join("irc.server.charla.weechatlog");
    let cocina_log = logs.join("irc.charla.#cocina.weechatlog");

    // Registration, with the one capability on offer.
    let registered = wait_for(&server_log, "Welcome to the Charla chat, Wee");
    assert!(registered.contains("client capability, enabled: server-time"), "server-time:\n{registered}");
    ana.expect("#general *** Wee joined the chat");

    // Joining reads the history, each line at the time it was said (server-time), not at the time it arrived.
    write_fifo(&fifo, "irc.server.charla */join #cocina");
    let joined = wait_for(&cocina_log, "2020-09-13 12:27:40\t *\tAna remueve");
    assert!(joined.contains("2020-09-13 12:26:40\tAna\tsopa de ajo"), "the history, timed:\n{joined}");
    assert!(joined.contains("Channel #cocina: 2 nicks"), "the names:\n{joined}");
    ana.expect("*** Wee joined #cocina");

    // The room, both ways, /me included.
    write_fifo(&fifo, "irc.charla.#cocina *hola Ana");
    ana.expect_stamped("Wee: hola Ana");
    write_fifo(&fifo, "irc.charla.#cocina */me pica cebolla");
    ana.expect_stamped("* Wee pica cebolla");
    ana.send("hola Wee");
    ana.expect_stamped("Ana: hola Wee");
    wait_for(&cocina_log, "\tAna\thola Wee");
    ana.send("/me sonríe");
    ana.expect_stamped("* Ana sonríe");
    wait_for(&cocina_log, "\t *\tAna sonríe");

    // Private messages, both ways: WeeChat opens a buffer (and a log) for the nick that wrote.
    ana.send("/whisper Wee secreto");
    ana.expect("Message sent to Wee");
    wait_for(&logs.join("irc.charla.ana.weechatlog"), "\tAna\tsecreto");
    write_fifo(&fifo, "irc.server.charla */msg Ana en privado");
    ana.expect_stamped("(private) Wee: en privado");

    // Quitting WeeChat quits the server too; each room Wee was in says it left.
    write_fifo(&fifo, "irc.server.charla */quit adios");
    wee.wait_exit();
    ana.expect("#general *** Wee left the chat");
    ana.expect("*** Wee left the chat");
}
