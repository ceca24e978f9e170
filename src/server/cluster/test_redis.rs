//! Test support: a real `redis-server` on a free loopback port, in a temporary directory, with no persistence,
//! killed by its PID when dropped (never by name: other Redis servers on the machine are not ours).
//!
//! When `redis-server` is not installed the tests that need it say so on stderr and pass, unless
//! `CHARLA_REQUIRE_REDIS=1` (as CI sets), where a missing server fails them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The program started; found on `PATH`.
const REDIS_SERVER: &str = "redis-server";
/// How long a started server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// Ports tried when the one picked is taken between picking and binding.
const PORT_ATTEMPTS: usize = 5;

pub(crate) struct TestRedis {
    child: Option<Child>,
    pub(crate) port: u16,
    password: Option<String>,
    dir: tempfile::TempDir,
}

/// A loopback port nothing listens on right now (bound, then let go).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("its address").port()
}

impl TestRedis {
    /// A server without a password; `None` when there is no `redis-server` and it is not required.
    pub(crate) fn start() -> Option<TestRedis> {
        TestRedis::start_with_password(None)
    }

    pub(crate) fn start_with_password(password: Option<&str>) -> Option<TestRedis> {
        if !available() {
            return None;
        }
        for _ in 0..PORT_ATTEMPTS {
            if let Some(redis) = TestRedis::start_on(free_port(), password) {
                return Some(redis);
            }
        }
        panic!("{REDIS_SERVER} could not bind a free port in {PORT_ATTEMPTS} attempts");
    }

    /// A new server on the port of one that was killed: for tests of a restarted Redis.
    pub(crate) fn restart(&self) -> TestRedis {
        assert!(self.child.is_none(), "kill the old server first");
        TestRedis::start_on(self.port, self.password.as_deref())
            .unwrap_or_else(|| panic!("{REDIS_SERVER} could not bind port {} again", self.port))
    }

    /// Starts a server on `port`; `None` if the port turned out to be taken.
    fn start_on(port: u16, password: Option<&str>) -> Option<TestRedis> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("redis.log");
        let mut command = Command::new(REDIS_SERVER);
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        let child = command.spawn().unwrap_or_else(|e| panic!("start {REDIS_SERVER}: {e}"));
        let mut redis = TestRedis { child: Some(child), port, password: password.map(str::to_owned), dir };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if redis.answers_ping() {
                return Some(redis);
            }
            let exited = redis.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                redis.child = None;
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                if log.contains("Address already in use") {
                    return None;
                }
                panic!("{REDIS_SERVER} on port {port} exited ({status}) before answering PING; its log:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "{REDIS_SERVER} on port {port} did not answer PING in {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether something on the port answers an inline PING (with `+PONG`, or `-NOAUTH` when it wants a password).
    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0u8; 1];
        stream.write_all(b"PING\r\n").is_ok() && stream.read(&mut answer).is_ok_and(|n| n == 1)
    }

    /// `redis://127.0.0.1:PORT`, without a password.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `redis://:PASSWORD@127.0.0.1:PORT`, with the password given (right or wrong), as written.
    pub(crate) fn url_with_password(&self, password: &str) -> String {
        format!("redis://:{password}@127.0.0.1:{}", self.port)
    }

    /// This server's URL, with its own password if it has one.
    pub(crate) fn own_url(&self) -> String {
        match &self.password {
            Some(password) => self.url_with_password(password),
            None => self.url(),
        }
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, by PID (through `Child`), and reaps it: the server is gone without closing anything itself.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` to the server's PID (SIGSTOP and SIGCONT, for a Redis that hangs).
    pub(crate) fn signal(&self, signal: libc::c_int) {
        let pid = self.pid().expect("a running server");
        // SAFETY: kill(2) on the PID of our own child, which has not been reaped (so the PID is still ours).
        let result = unsafe { libc::kill(pid as libc::pid_t, signal) };
        assert_eq!(result, 0, "kill({pid}, {signal})");
    }

    /// The server's log, for a failing assertion's message.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        // SIGKILL ends a stopped (SIGSTOP) server too.
        self.kill();
    }
}

/// Whether `redis-server` can be run here. If not: fails when `CHARLA_REQUIRE_REDIS=1`, else says so on stderr.
fn available() -> bool {
    let found = Command::new(REDIS_SERVER)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var_os("CHARLA_REQUIRE_REDIS").is_none_or(|v| v != "1"),
            "{REDIS_SERVER} is not installed and CHARLA_REQUIRE_REDIS=1: install it (Debian: apt-get install \
             redis-server)"
        );
        eprintln!("{REDIS_SERVER} not found on PATH: skipping a test that needs a real Redis");
    }
    found
}
