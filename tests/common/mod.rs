//! Test support: starts a real `charla-server` on a free port in its own directory, and talks to it over real
//! sockets, asserting the exact lines a user sees.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// The same test Redis as the cluster module's own unit tests.
#[path = "../../src/server/cluster/test_redis.rs"]
pub mod redis;
pub mod tls;
pub mod ws;

/// How long a test waits for a line it expects before failing.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// The TLS listener's address, when started with `--tls-listen`.
    pub tls_addr: Option<SocketAddr>,
    /// The web listener's address, when started with `--web-listen`.
    pub web_addr: Option<SocketAddr>,
    /// The HTTPS web listener's address, when started with `--web-tls-listen`.
    pub web_tls_addr: Option<SocketAddr>,
    /// The IRC listener's address, when started with `--irc-listen`.
    pub irc_addr: Option<SocketAddr>,
    /// The IRC-over-TLS listener's address, when started with `--irc-tls-listen`.
    pub irc_tls_addr: Option<SocketAddr>,
    pub dir: PathBuf,
    /// Started with `--lang es`.
    spanish: bool,
    /// Keeps the directory alive when the server made it.
    _temp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server in a fresh temporary directory.
    pub fn start(args: &[&str]) -> TestServer {
        let temp = tempfile::tempdir().expect("create a temporary directory");
        let mut server = TestServer::start_in(temp.path(), args);
        server._temp = Some(temp);
        server
    }

    /// Starts a server whose history file and log live in `dir`.
    pub fn start_in(dir: &Path, args: &[&str]) -> TestServer {
        TestServer::start_with(dir, args, None)
    }

    /// Starts a server in a fresh directory with its open-files limit set to `soft` and `hard`.
    pub fn start_with_open_files_limit(args: &[&str], soft: u64, hard: u64) -> TestServer {
        let temp = tempfile::tempdir().expect("create a temporary directory");
        let mut server = TestServer::start_with(temp.path(), args, Some((soft, hard)));
        server._temp = Some(temp);
        server
    }

    fn start_with(dir: &Path, args: &[&str], nofile: Option<(u64, u64)>) -> TestServer {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("open the server log");
        let mut command = server_command();
        command
            .args(["--listen", "127.0.0.1:0", "--history-file"])
            .arg(dir.join("chat_history.json"))
            .args(args)
            .env("TZ", "UTC0")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        if let Some((soft, hard)) = nofile {
            use std::os::unix::process::CommandExt;
            // rlim_t is u32 on 32-bit ARM; the tests' limits are small.
            let limit = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
            // SAFETY: setrlimit is async-signal-safe and only touches the child's own limits.
            unsafe {
                command.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = command.spawn().expect("start charla-server");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        // One line per listener: `Server started on ADDR`, `... ADDR (TLS)`, `Web chat on http[s]://ADDR/`.
        let listeners = usize::from(!args.windows(2).any(|w| w == ["--listen", "none"]))
            + ["--tls-listen", "--web-listen", "--web-tls-listen", "--irc-listen", "--irc-tls-listen"]
                .iter()
                .filter(|flag| args.contains(flag))
                .count();
        let (mut addr, mut tls_addr, mut web_addr, mut web_tls_addr) = (None, None, None, None);
        let (mut irc_addr, mut irc_tls_addr) = (None, None);
        for _ in 0..listeners {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read the server's first lines");
            let words: Vec<&str> = line.split_whitespace().collect();
            let unexpected = || panic!("unexpected line {line:?}; log: {}", read_log(dir));
            let last = words.last().copied().unwrap_or_default();
            if words.first() == Some(&"IRC") {
                let tls = last == "(TLS)";
                let parsed = words.get(2).and_then(|a| a.parse().ok()).unwrap_or_else(unexpected);
                if tls { irc_tls_addr = Some(parsed) } else { irc_addr = Some(parsed) }
            } else if let Some(url) = last.strip_prefix("http://").or_else(|| last.strip_prefix("https://")) {
                let parsed: SocketAddr = url.trim_end_matches('/').parse().unwrap_or_else(|_| unexpected());
                if last.starts_with("https") { web_tls_addr = Some(parsed) } else { web_addr = Some(parsed) }
            } else if last == "(TLS)" {
                tls_addr = Some(words.iter().rev().nth(1).and_then(|a| a.parse().ok()).unwrap_or_else(unexpected));
            } else {
                addr = Some(last.parse().unwrap_or_else(|_| unexpected()));
            }
        }
        let addr = addr
            .or(tls_addr)
            .or(web_addr)
            .or(irc_addr)
            .unwrap_or_else(|| panic!("no listener; log: {}", read_log(dir)));
        let spanish = args.windows(2).any(|w| w == ["--lang", "es"]);
        let dir = dir.to_path_buf();
        TestServer {
            child: Some(child),
            addr,
            tls_addr,
            web_addr,
            web_tls_addr,
            irc_addr,
            irc_tls_addr,
            dir,
            spanish,
            _temp: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).expect("server running")
    }

    /// The server's resident memory, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// User plus system CPU time the server has used, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("read /proc stat");
        // Fields after the command name (which is in parentheses and may hold spaces): utime is the 12th.
        let after_name = &stat[stat.rfind(')').expect("comm in stat") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    }

    /// The server's soft open-files limit, from /proc/PID/limits.
    pub fn soft_open_files_limit(&self) -> u64 {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).expect("read /proc limits");
        limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
            .expect("Max open files in /proc limits")
    }

    /// How many file descriptors the server has open.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).expect("list /proc fds").count()
    }

    pub fn history_path(&self) -> PathBuf {
        self.dir.join("chat_history.json")
    }

    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    /// Opens a raw connection.
    pub fn connect(&self) -> TestClient {
        TestClient::connect(self.addr)
    }

    /// Connects, answers the name question and reads the two welcome lines (the room must have no history).
    pub fn join(&self, name: &str) -> TestClient {
        self.join_with(self.connect(), name)
    }

    /// As [`TestServer::join`], over TLS to the TLS listener, trusting `ca` (PEM).
    pub fn join_tls(&self, name: &str, ca: &str) -> TestClient {
        let addr = self.tls_addr.expect("started with --tls-listen");
        self.join_with(TestClient::connect_tls(addr, ca), name)
    }

    /// Answers the name question on `client` and reads the two welcome lines.
    pub fn join_with(&self, mut client: TestClient, name: &str) -> TestClient {
        if self.spanish {
            client.expect("USUARIO:");
            client.send(name);
            client.expect(&format!("Bienvenido {name}!"));
            client.expect("Escribe /help para comandos");
        } else {
            client.expect("USERNAME:");
            client.send(name);
            client.expect(&format!("Welcome {name}!"));
            client.expect("Type /help for commands");
        }
        client
    }

    /// The room before Juan arrives in the seed's example session (start the server with `--lang es`): María
    /// and Pedro are in, and have said `Hola a todos` and `Qué tal?`. Returns them with nothing left unread.
    pub fn seed_room(&self) -> (TestClient, TestClient) {
        let mut maria = self.join("María");
        let mut pedro = self.join("Pedro");
        maria.expect("*** Pedro se ha unido al chat");
        maria.send("Hola a todos");
        maria.expect_stamped("María: Hola a todos");
        pedro.expect_stamped("María: Hola a todos");
        pedro.send("Qué tal?");
        maria.expect_stamped("Pedro: Qué tal?");
        pedro.expect_stamped("Pedro: Qué tal?");
        (maria, pedro)
    }

    /// Sends a signal and waits (bounded) for the server to exit.
    pub fn signal_and_wait(&mut self, signal: i32) -> ExitStatus {
        // SAFETY: kill(2) on the PID of the child this test started and has not yet reaped.
        unsafe { libc::kill(self.pid(), signal) };
        self.wait_exit(Duration::from_secs(10))
    }

    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("poll the server process") {
                return status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not exit within {limit:?}; log: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.crash();
    }
}

/// The command that starts `charla-server`. CI runs some tests on ARM builds under qemu-user, naming the emulator
/// in `CHARLA_TEST_RUNNER` (`qemu-aarch64`): the kernel cannot start an ARM server by itself, so the test starts
/// the emulator with the server as its program.
pub fn server_command() -> Command {
    let server = env!("CARGO_BIN_EXE_charla-server");
    let runner = std::env::var("CHARLA_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(emulator) => {
            let mut command = Command::new(emulator);
            command.args(words).arg(server);
            command
        }
        None => Command::new(server),
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

/// A connection lines are read from and written to.
pub trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// One user's connection, read line by line.
pub struct TestClient {
    /// The connection as lines are read from and written to it: the socket itself, or TLS over it.
    reader: BufReader<Box<dyn ReadWrite>>,
    /// The socket, for timeouts and shutdown.
    writer: TcpStream,
}

impl TestClient {
    pub fn connect(addr: SocketAddr) -> TestClient {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        TestClient::from_stream(stream)
    }

    /// Connects from a chosen local address, such as another loopback address (127.0.0.2).
    pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> TestClient {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("create socket");
        socket.bind(&SocketAddr::new(source, 0).into()).unwrap_or_else(|e| panic!("bind {source}: {e}"));
        socket.connect(&addr.into()).unwrap_or_else(|e| panic!("connect to {addr} from {source}: {e}"));
        TestClient::from_stream(socket.into())
    }

    pub fn from_stream(stream: TcpStream) -> TestClient {
        stream.set_read_timeout(Some(LINE_TIMEOUT)).expect("set read timeout");
        let writer = stream.try_clone().expect("clone the stream");
        TestClient { reader: BufReader::new(Box::new(stream)), writer }
    }

    /// Opens a WebSocket to the web listener at `addr` (as from `origin`, if given); its text messages are lines.
    pub fn connect_ws(addr: SocketAddr, origin: Option<&str>) -> TestClient {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(LINE_TIMEOUT)).expect("set read timeout");
        let writer = stream.try_clone().expect("clone the stream");
        TestClient { reader: BufReader::new(Box::new(ws::open(stream, addr, origin))), writer }
    }

    /// Connects over TLS, trusting only `ca` (PEM) and expecting the server to be `localhost`.
    pub fn connect_tls(addr: SocketAddr, ca: &str) -> TestClient {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        stream.set_read_timeout(Some(LINE_TIMEOUT)).expect("set read timeout");
        let writer = stream.try_clone().expect("clone the stream");
        let session = tls::client_session(ca);
        TestClient { reader: BufReader::new(Box::new(rustls::StreamOwned::new(session, stream))), writer }
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let io = self.reader.get_mut();
        io.write_all(bytes).and_then(|()| io.flush()).expect("send to the server");
    }

    /// The next line, without its `\n`; `None` once the server has closed the connection.
    pub fn read_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(line.strip_suffix('\n').unwrap_or_else(|| panic!("unterminated line {line:?}")).to_owned()),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
            Err(e) => panic!("no line within {LINE_TIMEOUT:?}: {e}"),
        }
    }

    pub fn expect(&mut self, expected: &str) {
        assert_eq!(self.read_line().as_deref(), Some(expected));
    }

    pub fn expect_lines(&mut self, expected: &[&str]) {
        for line in expected {
            self.expect(line);
        }
    }

    /// Expects `[HH:MM] rest`, where HH:MM is the current UTC time (or the minute before, near a boundary).
    pub fn expect_stamped(&mut self, rest: &str) {
        let line = self.read_line().unwrap_or_else(|| panic!("connection closed before {rest:?}"));
        let now = utc_stamp(0);
        let before = utc_stamp(60);
        assert!(
            line == format!("{now} {rest}") || line == format!("{before} {rest}"),
            "got {line:?}, expected {now} {rest:?}"
        );
    }

    /// The next line if one arrives within `limit`; `None` if none does.
    pub fn read_line_within(&mut self, limit: Duration) -> Option<String> {
        self.writer.set_read_timeout(Some(limit)).expect("set read timeout");
        let mut line = String::new();
        let got = self.reader.read_line(&mut line);
        self.writer.set_read_timeout(Some(LINE_TIMEOUT)).expect("set read timeout");
        match got {
            Ok(0) => panic!("the server closed the connection"),
            Ok(_) => Some(line.strip_suffix('\n').unwrap_or_else(|| panic!("unterminated line {line:?}")).to_owned()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                assert!(line.is_empty(), "half a line arrived: {line:?}");
                None
            }
            Err(e) => panic!("reading failed: {e}"),
        }
    }

    /// Asserts that nothing arrives for `quiet`.
    pub fn expect_silence(&mut self, quiet: Duration) {
        self.writer.set_read_timeout(Some(quiet)).expect("set read timeout");
        let mut line = String::new();
        let got = self.reader.read_line(&mut line);
        self.writer.set_read_timeout(Some(LINE_TIMEOUT)).expect("set read timeout");
        match got {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected silence, got {other:?}: {line:?}"),
        }
    }

    /// Asserts the server closes the connection with nothing more to say.
    pub fn expect_closed(&mut self) {
        assert_eq!(self.read_line(), None, "expected the server to close the connection");
    }

    /// Reads until the server closes the connection, returning everything it sent.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        match self.reader.read_to_end(&mut all) {
            Ok(_) => all,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => all,
            Err(e) => panic!("connection not closed within {LINE_TIMEOUT:?}: {e}"),
        }
    }

    pub fn shutdown_write(&self) {
        self.writer.shutdown(Shutdown::Write).expect("half-close");
    }

    pub fn stream(&self) -> &TcpStream {
        &self.writer
    }
}

/// `[HH:MM]` in UTC, `seconds_ago` seconds before now.
pub fn utc_stamp(seconds_ago: u64) -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() - seconds_ago;
    format!("[{:02}:{:02}]", secs / 3600 % 24, secs / 60 % 60)
}

/// Whether `line` is `[HH:MM] rest` with HH:MM the current UTC time (or the minute before, near a boundary).
pub fn is_stamped(line: &str, rest: &str) -> bool {
    line == format!("{} {rest}", utc_stamp(0)) || line == format!("{} {rest}", utc_stamp(60))
}
