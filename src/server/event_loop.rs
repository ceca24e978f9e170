//! The event loop: one thread, one `mio::Poll`. It accepts, reads, frames lines, feeds them to the chat core,
//! carries out the core's effects, writes, saves history on a timer and shuts down on SIGINT/SIGTERM.
//!
//! Readiness is edge-triggered: every accept and read continues until `WouldBlock` (or, for a read, until a
//! fairness budget is spent or the client is throttled, in which case the loop itself comes back to it), and
//! writes until done or `WouldBlock`, with WRITABLE interest registered only while output is blocked.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::core::catalog::Text;
use crate::core::chat::{Chat, Effect, Now};
use crate::core::irc;
use crate::error::Context;
use crate::server::clock;
use crate::server::cluster::node::{self, ClusterNode};
use crate::server::cluster::redis::RedisUrl;
use crate::server::config::ServerConfig;
use crate::server::connection::ReadOutcome;
use crate::server::connections::{ConnectionLimits, Connections};
use crate::server::framing::{Frame, LineBatch};
use crate::server::history_file;
use crate::server::history_saver::HistorySaver;
use crate::server::per_ip::PerIpLimit;
use crate::server::tls::TlsCertificate;
use crate::server::transport::Transport;
use crate::server::web::{WebSite, WebStream};

const SIGNALS: Token = Token(usize::MAX - 1);
/// Woken by a helper thread: the history writer when a save has finished, the Redis link when it has news. (A
/// poll instance has one waker, shared by both.)
const WOKEN: Token = Token(usize::MAX - 2);
/// The listeners' tokens count down from here, one per listener; connections' tokens are small slab keys.
const FIRST_LISTENER: usize = usize::MAX - 8;

/// Readiness events taken from the kernel per poll.
pub(crate) const EVENTS_PER_POLL: usize = 1024;
/// The loop's one read buffer, shared by all connections: bytes per `read` call.
pub(crate) const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Bytes read from one connection per turn before others get theirs; a flooding client cannot starve the loop.
const READ_BUDGET_BYTES: usize = 4 * READ_CHUNK_BYTES;
/// Output one loop turn may produce (a broadcast counted once) before reading stops until the next turn. Every
/// queue is written between turns, so a burst from many connections reaches each reader in slices it can keep
/// up with, instead of all at once.
const TURN_OUTPUT_BUDGET_BYTES: usize = 256 * 1024;
/// How long shutdown waits for clients to take the shutdown notice and their queued output.
const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long accepting stays paused after running out of file descriptors, unless a connection closes first.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// Connections the kernel may hold completed but not yet accepted (capped by net.core.somaxconn), so a burst
/// of thousands of connects is not met with dropped SYNs and second-long retries.
const LISTEN_BACKLOG: i32 = 4096;
/// TCP keepalive on accepted sockets: probe after this much silence...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// ...then every this often...
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// ...and declare the peer dead after this many unanswered probes (about two minutes in all).
const KEEPALIVE_RETRIES: u32 = 6;

/// What a listening socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Lines over TCP (`--listen`).
    Plain,
    /// Lines over TLS (`--tls-listen`).
    Tls,
    /// The web page and its WebSocket over HTTP (`--web-listen`).
    Web,
    /// The same over HTTPS (`--web-tls-listen`).
    WebTls,
    /// IRC (`--irc-listen`).
    Irc,
    /// IRC over TLS (`--irc-tls-listen`).
    IrcTls,
}

impl ListenerKind {
    fn uses_tls(self) -> bool {
        matches!(self, ListenerKind::Tls | ListenerKind::WebTls | ListenerKind::IrcTls)
    }

    fn speaks_irc(self) -> bool {
        matches!(self, ListenerKind::Irc | ListenerKind::IrcTls)
    }
}

struct Listener {
    socket: TcpListener,
    kind: ListenerKind,
}

pub struct Server {
    poll: Poll,
    events: Events,
    /// Emptied at shutdown, which closes them: no new connections while the last output drains. Listener `i`
    /// has the token `FIRST_LISTENER - i`.
    listeners: Vec<Listener>,
    /// The certificate TLS connections get, when there is a TLS listener; replaced on SIGHUP.
    tls: Option<TlsCertificate>,
    /// What web connections share: the page and the origins allowed.
    web: Arc<WebSite>,
    signals: Signals,
    config: ServerConfig,
    chat: Chat,
    conns: Connections,
    /// Effects taken from the core and not yet carried out; kept to reuse its allocation.
    effects: Vec<Effect>,
    /// The loop's one read buffer, lent to each connection in turn.
    scratch: Box<[u8]>,
    /// Lines framed from the connection being read, handed to the core one by one; reused.
    batch: LineBatch,
    /// Connections whose read budget ran out while still readable; read again before sleeping.
    read_backlog: Vec<usize>,
    /// Set while accept is paused (out of file descriptors): when to try again.
    accept_retry_at: Option<Instant>,
    /// Whether the current accept pause has been logged: once per episode, not per retry.
    accept_pause_logged: bool,
    /// Writes history to the JSON file; `None` in a cluster, whose history lives in Redis.
    saver: Option<HistorySaver>,
    /// This node's part in a cluster (`--cluster`).
    cluster: Option<ClusterNode>,
    stop_requested: bool,
}

impl Server {
    /// Loads history and binds the listening sockets; nothing is served until [`Server::run`]. `tls` is the
    /// certificate for `config.tls_listen` (load it with [`TlsCertificate::load`] first, so that a bad file is
    /// a start-up error of its own).
    pub fn bind(mut config: ServerConfig, tls: Option<TlsCertificate>) -> io::Result<Server> {
        let cluster_url = match &config.cluster {
            Some(address) => Some(
                RedisUrl::parse(&address.0)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("--cluster: {e}")))?,
            ),
            None => None,
        };
        if cluster_url.is_some() {
            config.chat.cluster_node_timeout = Some(node::NODE_TIMEOUT);
        }
        // In a cluster, history is the cluster's (in Redis), loaded when the node first reaches it.
        let rooms = if cluster_url.is_some() { Vec::new() } else { load_history(&config)? };
        let poll = Poll::new().context("cannot create the poll instance")?;
        let mut listeners = Vec::new();
        let wanted = [
            (config.listen, ListenerKind::Plain),
            (config.tls_listen.filter(|_| tls.is_some()), ListenerKind::Tls),
            (config.web_listen, ListenerKind::Web),
            (config.web_tls_listen.filter(|_| tls.is_some()), ListenerKind::WebTls),
            (config.irc_listen, ListenerKind::Irc),
            (config.irc_tls_listen.filter(|_| tls.is_some()), ListenerKind::IrcTls),
        ];
        for (addr, kind) in wanted.into_iter().filter_map(|(addr, kind)| Some((addr?, kind))) {
            let mut socket = listen(addr).with_context(|| format!("cannot listen on {addr}"))?;
            poll.registry().register(&mut socket, Token(FIRST_LISTENER - listeners.len()), Interest::READABLE)?;
            listeners.push(Listener { socket, kind });
        }
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
        poll.registry().register(&mut signals, SIGNALS, Interest::READABLE)?;
        let registry = poll.registry().try_clone()?;
        let waker = std::sync::Arc::new(mio::Waker::new(poll.registry(), WOKEN)?);
        let (saver, cluster) = match cluster_url {
            None => {
                let saver = HistorySaver::start(config.history_file.clone(), config.save_interval, 0, waker)
                    .context("cannot start the history writer thread")?;
                (Some(saver), None)
            }
            Some(url) => {
                let name = config.node_name.clone().unwrap_or_else(node::default_node_name);
                log::info!("cluster: joining through {url} as node {name}");
                let history_size = config.chat.history_size;
                (None, Some(ClusterNode::start(url, name, history_size, waker, Instant::now())))
            }
        };
        let limits = ConnectionLimits { max_queue_bytes: config.max_queue_bytes, flood: config.flood };
        let per_ip = PerIpLimit::new(config.max_per_ip, config.trusted.clone());
        Ok(Server {
            poll,
            events: Events::with_capacity(EVENTS_PER_POLL),
            listeners,
            tls,
            web: Arc::new(WebSite::new(config.web_origins.clone())),
            signals,
            chat: Chat::with_rooms(config.chat.clone(), clock::local_hour_minute, rooms),
            conns: Connections::new(registry, limits, per_ip),
            effects: Vec::new(),
            scratch: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
            batch: LineBatch::default(),
            read_backlog: Vec::new(),
            accept_retry_at: None,
            accept_pause_logged: false,
            saver,
            cluster,
            stop_requested: false,
            config,
        })
    }

    /// Each listener's kind and the address it actually bound (useful with port 0).
    pub fn local_addrs(&self) -> io::Result<Vec<(ListenerKind, SocketAddr)>> {
        self.listeners.iter().map(|l| l.socket.local_addr().map(|addr| (l.kind, addr))).collect()
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub fn run(mut self) -> io::Result<()> {
        while !self.stop_requested {
            self.poll_once()?;
        }
        self.shutdown()
    }

    /// One turn of the loop: wait, handle events, run timers, flush, remove closed connections.
    fn poll_once(&mut self) -> io::Result<()> {
        let timeout = self.next_timeout(Instant::now());
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(e).context("poll failed");
        }
        let now = clock::now();
        self.conns.start_turn();
        // Connections left over from the last turn go first, so that new arrivals cannot starve them.
        self.read_backlog_once(now);
        // Lent out so handlers may borrow the server mutably while iterating; handed back below.
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            match event.token() {
                Token(t) if t <= FIRST_LISTENER && FIRST_LISTENER - t < self.listeners.len() => {
                    self.accept_all(FIRST_LISTENER - t, now)
                }
                SIGNALS => self.take_signals(),
                // The writer's outcome and the Redis link's news are taken after the events.
                WOKEN => {}
                Token(key) => {
                    if event.is_writable() {
                        self.conns.flush(key);
                    }
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        self.read_from(key, now);
                    }
                }
            }
        }
        self.events = events;
        self.run_timers(now);
        self.cluster_turn(now);
        self.conns.flush_pending();
        self.reap(now);
        // What the departures just reaped mean for the cluster (a user gone, a name free) leaves now.
        self.cluster_turn(now);
        Ok(())
    }

    /// How long poll may sleep: until the earliest timer, or not at all while reads are owed.
    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.read_backlog.is_empty() {
            return Some(Duration::ZERO);
        }
        let timers = [
            self.chat.poll_timeout(),
            self.saver.as_ref().and_then(HistorySaver::next_deadline),
            self.cluster.as_ref().and_then(ClusterNode::next_deadline),
            self.conns.next_deadline(),
            self.accept_retry_at,
        ];
        timers.into_iter().flatten().min().map(|deadline| deadline.saturating_duration_since(now))
    }

    fn run_timers(&mut self, now: Now) {
        self.chat.handle_timeout(now);
        self.apply_effects(now);
        self.conns.expire_closing(now.mono);
        // Each one's held lines go first, then what the kernel already holds for it: being edge-triggered, that
        // brings no new event.
        while let Some(key) = self.conns.pop_unthrottled(now.mono) {
            self.read_from(key, now);
        }
        if self.accept_retry_at.is_some_and(|at| at <= now.mono) {
            self.accept_retry_at = None;
            self.accept_on_every_listener(now);
        }
        if let Some(saver) = self.saver.as_mut() {
            saver.tick(&self.chat, now.mono);
        }
    }

    /// The cluster's news in, this node's news out, and what follows for the connections here.
    fn cluster_turn(&mut self, now: Now) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        cluster.turn(&mut self.chat, now);
        self.apply_effects(now);
        self.conns.flush_pending();
    }

    /// After a pause: what queued up on any listener meanwhile brings no new event (edge-triggered).
    fn accept_on_every_listener(&mut self, now: Now) {
        for index in 0..self.listeners.len() {
            self.accept_all(index, now);
        }
    }

    fn accept_all(&mut self, index: usize, now: Now) {
        if self.accept_retry_at.is_some() {
            return;
        }
        loop {
            let Some(listener) = self.listeners.get(index) else { return };
            let kind = listener.kind;
            match listener.socket.accept() {
                Ok((stream, peer)) => {
                    if self.accept_pause_logged {
                        log::info!("accepting connections again");
                        self.accept_pause_logged = false;
                    }
                    self.admit(stream, peer, kind, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, or worse: accepting again at once would spin. Wait for a
                    // connection to close, or for the retry delay.
                    if !self.accept_pause_logged {
                        log::warn!("accept failed: {e}; pausing new connections until one closes");
                        self.accept_pause_logged = true;
                    }
                    self.accept_retry_at = Some(now.mono + ACCEPT_RETRY_DELAY);
                    return;
                }
            }
        }
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, kind: ListenerKind, now: Now) {
        if self.conns.len() >= self.config.max_clients {
            log::warn!("refusing {peer}: {} connections already (--max-clients)", self.conns.len());
            return refuse(stream, kind, Text::ServerFull, &self.config);
        }
        if !self.conns.try_admit_ip(peer.ip()) {
            log::warn!("refusing {peer}: {} connections from it already (--max-per-ip)", self.config.max_per_ip);
            return refuse(stream, kind, Text::TooManyFromAddress, &self.config);
        }
        set_socket_options(&stream, peer);
        let inner = match (kind.uses_tls(), &self.tls) {
            (false, _) => Transport::Tcp(stream),
            (true, Some(certificate)) => match certificate.accept() {
                Ok(session) => Transport::Tls(Box::new((stream, session))),
                Err(e) => {
                    self.conns.release_ip(peer.ip());
                    return log::warn!("cannot start TLS with {peer}: {e}; dropping it");
                }
            },
            (true, None) => return self.conns.release_ip(peer.ip()),
        };
        let transport = match kind {
            ListenerKind::Plain | ListenerKind::Tls | ListenerKind::Irc | ListenerKind::IrcTls => inner,
            ListenerKind::Web | ListenerKind::WebTls => {
                let max_line = self.config.chat.max_line_bytes;
                Transport::Web(Box::new(WebStream::new(inner, Arc::clone(&self.web), kind.uses_tls(), max_line)))
            }
        };
        let max_line = if kind.speaks_irc() { irc::MAX_FRAMED_BYTES } else { self.config.chat.max_line_bytes };
        match self.conns.insert(transport, peer, max_line, now.mono) {
            Ok(key) => {
                log::debug!("connection {key} from {peer}");
                if kind.speaks_irc() {
                    self.chat.connect_irc(key, now);
                } else {
                    self.chat.connect(key, now);
                }
                self.apply_effects(now);
            }
            Err(e) => log::warn!("cannot register connection from {peer}: {e}; dropping it"),
        }
    }

    fn take_signals(&mut self) {
        for signal in self.signals.pending() {
            match signal {
                SIGHUP => self.reload(),
                SIGINT => self.stop("SIGINT"),
                _ => self.stop("SIGTERM"),
            }
        }
    }

    /// SIGHUP: the TLS certificate is read again; new connections get the new one, existing ones carry on.
    /// A missing or broken file leaves the current certificate in use. A hang-up never stops the chat.
    fn reload(&mut self) {
        let Some(current) = &self.tls else {
            return log::info!("SIGHUP received; nothing to reload (no --tls-listen), carrying on");
        };
        match current.reload() {
            Ok(reloaded) => {
                log::info!("SIGHUP received; reloaded the TLS certificate ({})", reloaded.describe());
                self.tls = Some(reloaded);
            }
            Err(e) => log::error!("SIGHUP received; cannot reload the TLS certificate: {e}; keeping the current one"),
        }
    }

    fn stop(&mut self, signal: &str) {
        log::info!("{signal} received; shutting down");
        self.stop_requested = true;
    }

    /// Reads what one connection sent, one chunk at a time, and hands its lines to the core after each chunk
    /// (see `Connection::read_lines`). It stops at the connection's fair share of this turn, or when the
    /// turn's output budget is spent; either way the connection is read again next turn.
    fn read_from(&mut self, key: usize, now: Now) {
        let mut read_this_turn = 0;
        loop {
            if self.conns.turn_output_bytes() >= TURN_OUTPUT_BUDGET_BYTES || read_this_turn >= READ_BUDGET_BYTES {
                return self.read_backlog.push(key);
            }
            let outcome = self.conns.read_lines(key, &mut self.scratch, &mut self.batch, READ_CHUNK_BYTES, now.mono);
            self.dispatch_batch(key, now);
            match outcome {
                ReadOutcome::BudgetSpent => read_this_turn += READ_CHUNK_BYTES,
                ReadOutcome::Drained | ReadOutcome::Throttled(_) | ReadOutcome::NotReading => return,
                ReadOutcome::PeerClosed => return self.peer_closed(key, now),
                ReadOutcome::Failed(e) => {
                    log::debug!("read from connection {key} failed: {e}; closing");
                    self.conns.kill(key);
                    self.chat.disconnect(key);
                    return self.apply_effects(now);
                }
            }
        }
    }

    /// Hands each framed line to the core, carrying out its effects line by line, so each line's recipients
    /// are the membership right after the line before it.
    fn dispatch_batch(&mut self, key: usize, now: Now) {
        let batch = std::mem::take(&mut self.batch);
        for frame in batch.iter() {
            if !self.conns.is_open(key) {
                // After /quit: whatever the client sent later is dropped.
                break;
            }
            match frame {
                Frame::Line(line) => self.chat.receive_line(key, line, now),
                Frame::TooLong => self.chat.line_too_long(key),
            }
            self.apply_effects(now);
        }
        self.batch = batch;
        self.batch.clear();
    }

    /// Gives each connection whose read budget ran out its next turn.
    fn read_backlog_once(&mut self, now: Now) {
        let backlog = std::mem::take(&mut self.read_backlog);
        for key in backlog {
            self.read_from(key, now);
        }
    }

    /// The peer closed its side: it has left the chat, but still gets what was queued for it.
    fn peer_closed(&mut self, key: usize, now: Now) {
        self.chat.disconnect(key);
        self.apply_effects(now);
        self.conns.close_after_flush(key, now.mono);
    }

    fn apply_effects(&mut self, now: Now) {
        self.chat.take_effects(&mut self.effects);
        self.conns.apply(&self.chat, &mut self.effects, now.mono);
    }

    fn reap(&mut self, now: Now) {
        let removed = self.conns.reap(&mut self.chat, &mut self.effects, now.mono);
        // Leave notices queued while reaping go out now rather than after the next wake-up.
        self.conns.flush_pending();
        if removed > 0 && self.accept_retry_at.is_some() {
            self.accept_retry_at = None;
            self.accept_on_every_listener(now);
        }
    }

    /// Stops accepting, tells everyone, flushes for at most [`SHUTDOWN_FLUSH_TIMEOUT`], saves history.
    fn shutdown(mut self) -> io::Result<()> {
        for mut listener in std::mem::take(&mut self.listeners) {
            if let Err(e) = self.poll.registry().deregister(&mut listener.socket) {
                log::debug!("deregistering a listener failed: {e}");
            }
        }
        let now = clock::now();
        self.chat.shutdown();
        self.apply_effects(now);
        self.conns.flush_pending();
        if let Some(cluster) = self.cluster.take() {
            cluster.shutdown(&mut self.chat, now);
        }
        let deadline = now.mono + SHUTDOWN_FLUSH_TIMEOUT;
        while self.conns.any_output_pending() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::warn!("some clients did not take the shutdown notice within {SHUTDOWN_FLUSH_TIMEOUT:?}");
                break;
            }
            match self.poll.poll(&mut self.events, Some(left)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("poll failed during shutdown"),
            }
            let writable: Vec<usize> = self.events.iter().filter(|e| e.is_writable()).map(|e| e.token().0).collect();
            for key in writable {
                self.conns.flush(key);
            }
        }
        log::info!("stopped; {} connections closed", self.conns.len());
        let Server { saver, chat, .. } = self;
        if let Some(saver) = saver
            && !saver.finish(&chat)
        {
            return Err(io::Error::other("history could not be saved at shutdown"));
        }
        Ok(())
    }
}

fn load_history(config: &ServerConfig) -> io::Result<history_file::Rooms> {
    history_file::check_writable(&config.history_file)?;
    let unix_secs = clock::unix_ms(std::time::SystemTime::now()) / 1000;
    let (history, outcome) = history_file::load(&config.history_file, config.chat.history_size, unix_secs)?;
    let path = config.history_file.display();
    match outcome {
        history_file::LoadOutcome::Missing => log::info!("no history at {path} yet; starting empty"),
        history_file::LoadOutcome::Loaded { messages, rooms, dropped: 0 } => {
            log::info!("loaded {} in {} from {path}", count(messages, "message"), count(rooms, "room"))
        }
        history_file::LoadOutcome::Loaded { messages, rooms, dropped } => log::warn!(
            "loaded {} in {} from {path}; dropped {dropped} that no user could have sent (an invalid name or \
             room name, or text blank or too long once cleaned)",
            count(messages, "message"),
            count(rooms, "room")
        ),
        history_file::LoadOutcome::SetAside { moved_to, reason } => log::warn!(
            "history file {path} is unreadable ({reason}); moved it to {} and starting empty",
            moved_to.display()
        ),
    }
    Ok(history)
}

/// `1 message`, `2 messages`: a count for the log, in the number it needs.
fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// Tells a connection over a limit why it is refused, without waiting for it: a fresh socket's buffer has
/// room for one line, and if it has not, the peer loses only the explanation. A TLS client could not read a
/// line before its handshake, so it is only closed.
fn refuse(mut stream: TcpStream, kind: ListenerKind, why: Text<'_>, config: &ServerConfig) {
    use std::io::Write;
    match kind {
        ListenerKind::Plain => {}
        ListenerKind::Tls | ListenerKind::WebTls | ListenerKind::IrcTls => return,
        ListenerKind::Irc => {
            let _ = stream.write(format!("ERROR :Closing Link: {}\r\n", why.render(config.chat.lang)).as_bytes());
            return;
        }
        ListenerKind::Web => {
            let body = why.render(config.chat.lang);
            let response = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
                body.len() + 1
            );
            let _ = stream.write(response.as_bytes());
            return;
        }
    }
    let mut line = why.render(config.chat.lang);
    line.push('\n');
    let _ = stream.write(line.as_bytes());
}

/// A non-blocking listening socket with a deep accept backlog.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Restarting must not wait for the old server's connections in TIME_WAIT to expire.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Interactive traffic: no Nagle delay. Dead peers: found by keepalive probes even when nobody speaks.
fn set_socket_options(stream: &TcpStream, peer: SocketAddr) {
    if let Err(e) = stream.set_nodelay(true) {
        log::debug!("TCP_NODELAY on {peer} failed: {e}");
    }
    let keepalive =
        TcpKeepalive::new().with_time(KEEPALIVE_IDLE).with_interval(KEEPALIVE_INTERVAL).with_retries(KEEPALIVE_RETRIES);
    if let Err(e) = SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        log::debug!("TCP keepalive on {peer} failed: {e}");
    }
}

/// Errors about one pending connection, not about the listener: skip it and accept the next.
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted)
}
