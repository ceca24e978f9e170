//! One blocking connection to Redis, and the `redis://` URL that says where it goes: connect with a timeout,
//! authenticate, pick the database, then send commands and read their replies (one, or a pipeline of many).
//! Used only from [`super::link`]'s threads, never from the event loop.
//!
//! Hand-written over [`super::resp`] rather than a Redis client crate: the crates bring an async runtime of their
//! own (tokio, or async-std) or a large blocking client with connection pools, cluster and sentinel support,
//! while Charla needs a handful of commands (AUTH, SELECT, PING, PUBLISH, SUBSCRIBE, SET NX PX and the list
//! commands) over one plain TCP connection each way, and has a 2 MiB budget for the whole server.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::server::cluster::resp::{self, RespError, RespValue};

/// Redis's port when a URL names none.
pub(crate) const DEFAULT_PORT: u16 = 6379;
/// How long a TCP connect to Redis may take before the attempt counts as failed.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one read or write may block on a connected socket before the connection counts as lost: a Redis
/// that answers nothing for this long (stopped, or cut off) is treated as gone.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;

/// Where Redis is, and how to log in: `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`.
///
/// `Debug` and `Display` are written by hand so the password never reaches a log: both print
/// `redis://:***@host:port/db`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    /// A host name, an IPv4 address, or an IPv6 address without its brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) db: u32,
    /// An ACL user (`AUTH user password`); `None` logs in as the default user (`AUTH password`).
    pub(crate) user: Option<String>,
    password: Option<String>,
}

impl RedisUrl {
    /// Parses a `redis://` URL; the error says what is wrong with it, in words for the operator.
    pub(crate) fn parse(text: &str) -> Result<RedisUrl, String> {
        let bad = |why: &str| Err(format!("bad Redis URL {:?}: {why}", redact(text)));
        let Some(rest) = text.strip_prefix("redis://") else {
            if text.starts_with("rediss://") {
                return bad("TLS to Redis (rediss://) is not supported; use redis:// on a trusted network");
            }
            return bad("it must start with redis://");
        };
        if rest.contains(['?', '#']) {
            return bad("query strings and fragments are not supported");
        }
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash + 1..]),
            None => (rest, ""),
        };
        // The last @ ends the user information: a password may hold one if it is not percent-encoded.
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let Some((user, password)) = info.split_once(':') else {
                    return bad("a user needs a password: redis://USER:PASSWORD@HOST, or redis://:PASSWORD@HOST");
                };
                let (Some(user), Some(password)) = (percent_decode(user), percent_decode(password)) else {
                    return bad("a bad %-escape in the user or password");
                };
                if password.is_empty() {
                    return bad("the password is empty (leave out the @ part to connect without one)");
                }
                ((!user.is_empty()).then_some(user), Some(password))
            }
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let Some((host, after)) = bracketed.split_once(']') else { return bad("an IPv6 address without its ]") };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return bad("something other than :PORT after the IPv6 address"),
                },
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return bad("no host");
        }
        if host.contains(':') && !hostport.starts_with('[') {
            return bad("an IPv6 address must be in brackets: redis://[::1]:6379");
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => match port.parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => return bad("the port must be a number from 1 to 65535"),
            },
        };
        let db = match path {
            "" => 0,
            db => match db.parse::<u32>() {
                // u32's parser takes "+1" and "01"; a database is written plainly.
                Ok(number) if number.to_string() == db => number,
                _ => return bad("the database must be a number (redis://HOST:PORT/DB)"),
            },
        };
        Ok(RedisUrl { host: host.to_owned(), port, db, user, password })
    }

    /// `host:port`, with IPv6 in brackets: for messages.
    pub(crate) fn endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `%XX` escapes decoded, as a URL's user information may carry them; `None` for a bad escape or bytes that are
/// not UTF-8 once decoded.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A URL as typed, with anything between `://` and the last `@` of its authority replaced: for the error
/// message about a URL that did not parse (which may still hold a password).
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else { return text.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => text.to_owned(),
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        match (&self.user, &self.password) {
            (Some(user), _) => write!(f, "{user}:***@")?,
            (None, Some(_)) => f.write_str(":***@")?,
            (None, None) => {}
        }
        write!(f, "{}/{}", self.endpoint(), self.db)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// What went wrong talking to Redis, with where and at which step, ready for a log line.
#[derive(Debug)]
pub(crate) struct RedisError {
    /// `host:port`.
    pub(crate) endpoint: String,
    /// `connect`, `AUTH`, `SELECT`, `PING`, `write`, `read`...
    pub(crate) step: &'static str,
    pub(crate) kind: RedisErrorKind,
}

#[derive(Debug)]
pub(crate) enum RedisErrorKind {
    Io(io::Error),
    /// The bytes Redis sent are not RESP2, or exceed its limits.
    Protocol(RespError),
    /// Redis closed the connection.
    Closed,
    /// Redis refused a step of setting up the connection (a wrong password, a database that does not exist).
    Refused(String),
    /// A reply that makes no sense for the command (a setup step, PING).
    Unexpected(String),
    /// A command without even a name: not sent, and the connection is still usable.
    EmptyCommand,
}

impl RedisError {
    fn new(endpoint: &str, step: &'static str, kind: RedisErrorKind) -> RedisError {
        RedisError { endpoint: endpoint.to_owned(), step, kind }
    }

    /// Whether a read timed out with nothing else wrong: on the subscriber's connection, just quiet.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(&self.kind, RedisErrorKind::Io(e) if is_timeout(e))
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis {}: {}: ", self.endpoint, self.step)?;
        match &self.kind {
            RedisErrorKind::Io(e) if is_timeout(e) => write!(f, "no answer within {IO_TIMEOUT:?}"),
            RedisErrorKind::Io(e) => write!(f, "{e}"),
            RedisErrorKind::Protocol(e) => write!(f, "protocol error: {e}"),
            RedisErrorKind::Closed => f.write_str("the connection was closed"),
            RedisErrorKind::Refused(message) => write!(f, "refused: {message}"),
            RedisErrorKind::Unexpected(what) => write!(f, "unexpected reply: {what}"),
            RedisErrorKind::EmptyCommand => f.write_str("an empty command is not sent (Redis would not answer it)"),
        }
    }
}

impl std::error::Error for RedisError {}

/// A read or write that hit its socket timeout (Linux reports EAGAIN, which std calls `WouldBlock`).
fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// One connection: the socket, the bytes read but not yet parsed, and a buffer the next commands are encoded in.
pub(crate) struct RedisConnection {
    stream: TcpStream,
    endpoint: String,
    /// Bytes read; those before `parsed` are replies already returned. A read may bring hundreds of pub/sub
    /// messages, so they are not drained from the front one by one, but moved once, before the next read.
    input: Vec<u8>,
    parsed: usize,
    output: Vec<u8>,
}

impl RedisConnection {
    /// Connects and sets the connection up ([`RedisConnection::open`], then [`RedisConnection::handshake`]).
    #[cfg(test)] // The link opens its connections step by step (open, then handshake).
    pub(crate) fn connect(url: &RedisUrl) -> Result<RedisConnection, RedisError> {
        let mut connection = RedisConnection::open(url)?;
        connection.handshake(url)?;
        Ok(connection)
    }

    /// Opens the TCP connection (each address the host resolves to, in turn, within [`CONNECT_TIMEOUT`] each),
    /// with Nagle off (commands are small and answered one round trip later) and [`IO_TIMEOUT`] on reads and
    /// writes, so no call blocks forever.
    pub(crate) fn open(url: &RedisUrl) -> Result<RedisConnection, RedisError> {
        let endpoint = url.endpoint();
        let fail = |step, e| RedisError::new(&endpoint, step, RedisErrorKind::Io(e));
        let addresses: Vec<SocketAddr> =
            (url.host.as_str(), url.port).to_socket_addrs().map_err(|e| fail("resolve", e))?.collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host resolves to no address");
        for address in addresses {
            match TcpStream::connect_timeout(&address, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    stream.set_nodelay(true).map_err(|e| fail("set TCP_NODELAY", e))?;
                    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| fail("set the read timeout", e))?;
                    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| fail("set the write timeout", e))?;
                    return Ok(RedisConnection { stream, endpoint, input: Vec::new(), parsed: 0, output: Vec::new() });
                }
                Err(e) => last = e,
            }
        }
        Err(fail("connect", last))
    }

    /// `AUTH` when the URL has a password, `SELECT` when it names a database other than 0, then `PING`, so a
    /// Redis that wants a password the URL lacks is found out here (NOAUTH) and not at the first command.
    pub(crate) fn handshake(&mut self, url: &RedisUrl) -> Result<(), RedisError> {
        if let Some(password) = &url.password {
            let reply = match &url.user {
                Some(user) => self.call(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => self.call(&[b"AUTH", password.as_bytes()]),
            };
            self.expect_ok("AUTH", reply?)?;
        }
        if url.db != 0 {
            let reply = self.call(&[b"SELECT", url.db.to_string().as_bytes()])?;
            self.expect_ok("SELECT", reply)?;
        }
        match self.call(&[b"PING"])? {
            RespValue::Simple(pong) if pong == "PONG" => Ok(()),
            other => Err(self.refused_or_unexpected("PING", other)),
        }
    }

    fn expect_ok(&self, step: &'static str, reply: RespValue) -> Result<(), RedisError> {
        match reply {
            RespValue::Simple(ok) if ok == "OK" => Ok(()),
            other => Err(self.refused_or_unexpected(step, other)),
        }
    }

    fn refused_or_unexpected(&self, step: &'static str, reply: RespValue) -> RedisError {
        let kind = match reply {
            RespValue::Error(message) => RedisErrorKind::Refused(message),
            other => RedisErrorKind::Unexpected(format!("{other:?}")),
        };
        RedisError::new(&self.endpoint, step, kind)
    }

    /// Sends one command and waits for its reply. A reply of type Error is `Ok(RespValue::Error(..))`: the
    /// caller decides what it means; `Err` is for a connection that can no longer be used (or an empty command,
    /// which is not sent).
    pub(crate) fn call(&mut self, args: &[&[u8]]) -> Result<RespValue, RedisError> {
        self.send([args])?;
        self.read_reply()
    }

    /// Sends every command, then reads every reply, in order: one round trip for all of them. Each command is
    /// its arguments, and must have at least one.
    #[cfg(test)] // The link writes and reads its batches itself (send, then read_reply).
    pub(crate) fn pipeline(&mut self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<RespValue>, RedisError> {
        self.send(commands.iter().map(Vec::as_slice))?;
        (0..commands.len()).map(|_| self.read_reply()).collect()
    }

    /// Writes commands without waiting for their replies (which the caller reads with
    /// [`RedisConnection::read_reply`]); each is its arguments, owned or borrowed.
    pub(crate) fn send<'a, A: AsRef<[u8]> + 'a>(
        &mut self,
        commands: impl IntoIterator<Item = &'a [A]>,
    ) -> Result<(), RedisError> {
        self.output.clear();
        let mut args: Vec<&[u8]> = Vec::new();
        for command in commands {
            if command.is_empty() {
                // Redis skips an empty array without a reply, so every reply after it would go to the wrong
                // command.
                return Err(RedisError::new(&self.endpoint, "write", RedisErrorKind::EmptyCommand));
            }
            args.clear();
            args.extend(command.iter().map(AsRef::as_ref));
            resp::encode_command(&args, &mut self.output);
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<(), RedisError> {
        let result = self.stream.write_all(&self.output);
        self.output.clear();
        result.map_err(|e| RedisError::new(&self.endpoint, "write", RedisErrorKind::Io(e)))
    }

    /// Reads until one whole reply is in, and returns it. A timeout is an error like any other (see
    /// [`RedisError::is_timeout`]); bytes of a reply read before it stay buffered, so calling again after a
    /// timeout carries on where it stopped.
    pub(crate) fn read_reply(&mut self) -> Result<RespValue, RedisError> {
        loop {
            match resp::parse(&self.input[self.parsed..]) {
                Ok(Some((value, taken))) => {
                    self.parsed += taken;
                    return Ok(value);
                }
                Ok(None) => {}
                Err(e) => return Err(RedisError::new(&self.endpoint, "read", RedisErrorKind::Protocol(e))),
            }
            self.input.drain(..self.parsed);
            self.parsed = 0;
            let filled = self.input.len();
            self.input.resize(filled + READ_CHUNK, 0);
            let read = self.stream.read(&mut self.input[filled..]);
            self.input.truncate(filled + *read.as_ref().unwrap_or(&0));
            match read {
                Ok(0) => return Err(RedisError::new(&self.endpoint, "read", RedisErrorKind::Closed)),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RedisError::new(&self.endpoint, "read", RedisErrorKind::Io(e))),
            }
        }
    }

    /// Changes how long a read may block: the subscriber reads with a short timeout so it can PING a quiet
    /// connection.
    pub(crate) fn set_read_timeout(&self, timeout: Duration) -> Result<(), RedisError> {
        self.stream
            .set_read_timeout(Some(timeout))
            .map_err(|e| RedisError::new(&self.endpoint, "set the read timeout", RedisErrorKind::Io(e)))
    }

    /// A second handle on the socket, through which another thread can shut it down to end a blocked read.
    pub(crate) fn shutdown_handle(&self) -> io::Result<ShutdownHandle> {
        self.stream.try_clone().map(ShutdownHandle)
    }
}

/// Can only shut a connection down: for stopping a thread blocked in a read on it.
pub(crate) struct ShutdownHandle(TcpStream);

impl ShutdownHandle {
    pub(crate) fn shutdown(&self) {
        // Already closed is as good as closed.
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::cluster::test_redis::TestRedis;

    fn url(text: &str) -> RedisUrl {
        RedisUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn urls_name_host_port_db_and_login() {
        let u = url("redis://127.0.0.1");
        assert_eq!(
            (u.host.as_str(), u.port, u.db, u.user.as_deref(), u.password.as_deref()),
            ("127.0.0.1", 6379, 0, None, None)
        );
        let u = url("redis://:s3cret@redis.internal:6380/2");
        assert_eq!((u.host.as_str(), u.port, u.db, u.password.as_deref()), ("redis.internal", 6380, 2, Some("s3cret")));
        assert_eq!(u.user, None);
        let u = url("redis://charla:p%40ss%3Aw0rd@10.0.0.5:7000/");
        assert_eq!(
            (u.user.as_deref(), u.password.as_deref(), u.port, u.db),
            (Some("charla"), Some("p@ss:w0rd"), 7000, 0)
        );
        let u = url("redis://:p@ss@host");
        assert_eq!((u.password.as_deref(), u.host.as_str()), (Some("p@ss"), "host"), "the last @ ends the password");
        let u = url("redis://[::1]:6390/15");
        assert_eq!((u.host.as_str(), u.port, u.db), ("::1", 6390, 15));
        assert_eq!(u.endpoint(), "[::1]:6390");
        assert_eq!(url("redis://[::1]").port, 6379);
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let error = |text: &str| RedisUrl::parse(text).expect_err(text);
        assert!(error("127.0.0.1:6379").ends_with("it must start with redis://"));
        assert!(error("rediss://host").contains("TLS to Redis (rediss://) is not supported"));
        assert!(error("redis://").ends_with("no host"));
        assert!(error("redis://:6379").ends_with("no host"));
        assert!(error("redis://host:0").contains("port must be a number from 1 to 65535"));
        assert!(error("redis://host:99999").contains("port must be"));
        assert!(error("redis://host:port").contains("port must be"));
        assert!(error("redis://host/zero").contains("database must be a number"));
        assert!(error("redis://host/01").contains("database must be a number"));
        assert!(error("redis://host/1/2").contains("database must be a number"));
        assert!(error("redis://user@host").contains("a user needs a password"));
        assert!(error("redis://:@host").contains("the password is empty"));
        assert!(error("redis://:%zz@host").contains("%-escape"));
        assert!(error("redis://::1:6379").contains("must be in brackets"));
        assert!(error("redis://[::1:6379").contains("without its ]"));
        assert!(error("redis://host?timeout=1").contains("query strings"));
    }

    #[test]
    fn the_password_never_shows_in_debug_display_or_errors() {
        for text in ["redis://:hunter2@10.1.2.3:6380/3", "redis://ana:hunter2@10.1.2.3:6380/3"] {
            let u = url(text);
            let shown = [format!("{u}"), format!("{u:?}"), format!("{:?}", Some(u.clone())), format!("{u:#?}")];
            for s in &shown {
                assert!(!s.contains("hunter2"), "{s}");
            }
            let user = if text.contains("ana") { "ana" } else { "" };
            assert_eq!(shown[0], format!("redis://{user}:***@10.1.2.3:6380/3"));
            assert_eq!(shown[1], format!("RedisUrl(redis://{user}:***@10.1.2.3:6380/3)"));
        }
        assert_eq!(url("redis://localhost").to_string(), "redis://localhost:6379/0");
        let e = RedisUrl::parse("redis://:hunter2@host:port").expect_err("bad port");
        assert!(!e.contains("hunter2") && e.contains("redis://***@host:port"), "{e}");
    }

    #[test]
    fn auth_with_the_right_password_then_commands_and_a_pipeline() {
        let Some(redis) = TestRedis::start_with_password(Some("right-horse")) else { return };
        // %2D is "-": the password is taken from the URL decoded.
        let mut c = RedisConnection::connect(&url(&redis.url_with_password("right%2Dhorse"))).expect("connect");
        assert_eq!(c.call(&[b"SET", b"k", b"v"]).expect("SET"), RespValue::Simple("OK".into()));
        assert_eq!(c.call(&[b"GET", b"k"]).expect("GET"), RespValue::Bulk(Some(b"v".to_vec())));
        assert_eq!(c.call(&[b"GET", b"missing"]).expect("GET"), RespValue::Bulk(None));
        let commands: Vec<Vec<Vec<u8>>> =
            (0..100).map(|i| vec![b"RPUSH".to_vec(), b"list".to_vec(), i.to_string().into_bytes()]).collect();
        let replies = c.pipeline(&commands).expect("pipeline");
        assert_eq!(replies, (1..=100).map(RespValue::Integer).collect::<Vec<_>>(), "in order");
        // A refused command is a reply, and the connection goes on.
        assert!(matches!(c.call(&[b"NOSUCHCOMMAND"]).expect("a reply"), RespValue::Error(e) if e.starts_with("ERR")));
        assert_eq!(c.call(&[b"LLEN", b"list"]).expect("LLEN"), RespValue::Integer(100));
        // An empty command would get no reply and put every later reply out of step: it is refused unsent.
        let empty = c.pipeline(&[vec![b"PING".to_vec()], vec![]]).expect_err("an empty command");
        assert!(matches!(empty.kind, RedisErrorKind::EmptyCommand), "{empty}");
        assert_eq!(c.call(&[b"PING"]).expect("still in step"), RespValue::Simple("PONG".into()));
    }

    #[test]
    fn a_wrong_or_missing_password_is_a_clear_error_at_connect() {
        let Some(redis) = TestRedis::start_with_password(Some("right")) else { return };
        let Err(wrong) = RedisConnection::connect(&url(&redis.url_with_password("battery-staple"))) else {
            panic!("a wrong password was accepted")
        };
        let text = wrong.to_string();
        assert!(matches!(wrong.kind, RedisErrorKind::Refused(_)) && wrong.step == "AUTH", "{text}");
        assert!(text.starts_with(&format!("redis 127.0.0.1:{}: AUTH: refused: WRONGPASS", redis.port)), "{text}");
        assert!(!text.contains("battery-staple"), "{text}");
        let Err(missing) = RedisConnection::connect(&url(&redis.url())) else { panic!("no password was accepted") };
        assert_eq!(missing.step, "PING", "{missing}");
        assert!(missing.to_string().contains("refused: NOAUTH"), "{missing}");
    }

    #[test]
    fn select_picks_the_database_and_a_missing_one_is_refused() {
        let Some(redis) = TestRedis::start() else { return };
        let mut one = RedisConnection::connect(&url(&format!("{}/1", redis.url()))).expect("connect to db 1");
        one.call(&[b"SET", b"where", b"one"]).expect("SET");
        let mut zero = RedisConnection::connect(&url(&redis.url())).expect("connect to db 0");
        assert_eq!(zero.call(&[b"GET", b"where"]).expect("GET"), RespValue::Bulk(None));
        let Err(e) = RedisConnection::connect(&url(&format!("{}/999", redis.url()))) else { panic!("db 999") };
        assert!(e.step == "SELECT" && e.to_string().contains("refused: ERR DB index is out of range"), "{e}");
    }

    #[test]
    fn connecting_where_nothing_listens_fails_at_once_naming_the_endpoint() {
        let port = crate::server::cluster::test_redis::free_port();
        let started = std::time::Instant::now();
        let Err(e) = RedisConnection::connect(&url(&format!("redis://127.0.0.1:{port}"))) else {
            panic!("connected to nothing")
        };
        assert!(started.elapsed() < CONNECT_TIMEOUT);
        assert_eq!(e.step, "connect");
        assert!(e.to_string().starts_with(&format!("redis 127.0.0.1:{port}: connect: ")), "{e}");
    }
}
