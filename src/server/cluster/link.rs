//! The link between the event loop and Redis: two helper threads that do the blocking Redis I/O, and the queues
//! the loop talks to them through, so the loop never waits on Redis (as `history_saver` keeps it off the disk).
//!
//! - "charla-redis" takes the loop's [`Request`]s from a bounded queue, in order, and sends up to
//!   [`MAX_PIPELINE`] of them at a time in one write, then reads their replies; a tagged request's reply goes
//!   back to the loop as [`LinkEvent::Reply`]. One thread, one connection, one queue: commands reach Redis in
//!   the order they were submitted, and Redis delivers one connection's PUBLISHes in that order, which the
//!   cluster relies on.
//! - "charla-redis-sub" SUBSCRIBEs to the channels and hands every message to the loop
//!   ([`LinkEvent::Message`]). It PINGs a quiet connection, so a Redis that died or hung is noticed within
//!   about [`IDLE_PING_INTERVAL`] + [`PING_TIMEOUT`] even when no one is talking.
//!
//! Events reach the loop over a channel, and the thread that sent one wakes the loop through a `mio::Waker`.
//! Neither thread ever blocks the loop, and [`ClusterLink::start`] returns at once: both connect in the
//! background, and reconnect with exponential backoff ([`BACKOFF_MIN`] doubling to [`BACKOFF_MAX`], jittered)
//! after a failure. The link is up ([`LinkEvent::Up`]) once both connections are set up and subscribed, and
//! down ([`LinkEvent::Down`], once per outage) as soon as either is lost. While it is down, requests are not held
//! for the outage: a tagged one is answered with an error at once, an untagged one is dropped and counted.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::server::cluster::redis::{RedisConnection, RedisError, RedisUrl, ShutdownHandle};
use crate::server::cluster::resp::RespValue;

/// The name of the thread that sends the loop's requests.
const COMMAND_THREAD: &str = "charla-redis";
/// Requests sent to Redis in one write, whose replies are then read together: one round trip for a burst.
pub(crate) const MAX_PIPELINE: usize = 256;
/// The largest pub/sub message handed to the loop, in bytes: 1 MiB. A larger one is dropped with a warning
/// (no node publishes one; a chat line is 4 KiB at most).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// The first wait before reconnecting after a failure; each failure in a row doubles it, up to [`BACKOFF_MAX`].
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest wait between reconnection attempts.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connection quiet for this long is sent a PING, so a dead Redis is found before a command needs it.
pub(crate) const IDLE_PING_INTERVAL: Duration = Duration::from_secs(1);
/// How long the subscriber waits for the answer to its PING before it counts the connection as lost. With
/// [`IDLE_PING_INTERVAL`], a Redis that hangs is noticed within 2.5 s (one that dies closes its sockets, which is
/// noticed at once).
pub(crate) const PING_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long either thread blocks at most while its connection is idle: how often it looks at the clock (to
/// PING), at whether its connection must prove itself again, and (the subscriber) at whether the link stops.
const TICK: Duration = Duration::from_millis(250);

/// One Redis command from the loop: its arguments (the command name first). With a tag, its reply comes back as
/// [`LinkEvent::Reply`] with that tag; without one, nobody hears of it unless Redis refuses it (logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub tag: Option<u64>,
    pub command: Vec<Vec<u8>>,
}

/// What the link tells the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// Both connections (commands and subscriber) are connected, and the subscriber is subscribed. Up and Down
    /// alternate, starting with Up.
    Up,
    /// A connection was lost (sent once per outage); requests fail until the next Up.
    Down { reason: String },
    /// A pub/sub message on a subscribed channel.
    Message { channel: Vec<u8>, payload: Vec<u8> },
    /// The reply to a tagged request: Redis's reply (an error reply included, as `RespValue::Error`), or `Err`
    /// when the request failed or was never sent because Redis was unreachable.
    Reply { tag: u64, result: Result<RespValue, String> },
}

/// The loop's handle on the two threads.
pub(crate) struct ClusterLink {
    /// Taken at shutdown: closing the queue is how the command thread learns to stop.
    requests: Option<SyncSender<Request>>,
    events: Receiver<LinkEvent>,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// Disconnected once every thread has returned: each holds a sender it drops on the way out.
    finished: Receiver<()>,
}

/// The two connections, as indices into [`Health::up`] and [`Shared::sockets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Commands = 0,
    Subscriber = 1,
}

/// What both threads and the loop's handle share.
struct Shared {
    url: RedisUrl,
    stopping: AtomicBool,
    /// Requests submitted and not yet taken by the command thread.
    queued: AtomicUsize,
    health: Mutex<Health>,
    /// A handle on each live connection's socket, for shutdown to end a blocked read at once.
    sockets: Mutex<[Option<ShutdownHandle>; 2]>,
    /// Unbounded, because a thread must never block on the loop; the loop drains it every turn, so it holds at
    /// most what arrived during one turn.
    events: Sender<LinkEvent>,
    waker: Arc<mio::Waker>,
    /// Set when the loop has been woken and has not yet found the channel empty: one wake per batch of events,
    /// not one system call per event.
    wake_pending: AtomicBool,
}

/// Whether the link is up, and what the current outage has cost.
#[derive(Default)]
struct Health {
    /// Each connection is known to work: set up, or answered since the link last went down. Any loss clears
    /// both, so a connection that was idle when Redis restarted proves itself (a PING) before the link is up.
    up: [bool; 2],
    /// `Up` sent and no `Down` since.
    link_up: bool,
    /// Set at the first failure after being up (or before the first success), cleared when both are up again.
    outage: Option<Outage>,
    /// Untagged requests Redis refused (error replies), for the log.
    refused_untagged: u64,
}

struct Outage {
    since: Instant,
    /// The latest failure, for the error tagged requests get.
    reason: String,
    /// Untagged requests dropped because the link was down.
    dropped: u64,
}

impl ClusterLink {
    /// Starts both threads and returns at once; they connect in the background, and the loop hears
    /// [`LinkEvent::Up`] when both are ready. `waker` is woken whenever events wait in [`ClusterLink::try_recv`];
    /// at most `queue_capacity` requests wait for the command thread.
    pub(crate) fn start(
        url: RedisUrl,
        channels: Vec<Vec<u8>>,
        waker: Arc<mio::Waker>,
        queue_capacity: usize,
    ) -> ClusterLink {
        let (requests, request_queue) = mpsc::sync_channel(queue_capacity);
        let (event_sender, events) = mpsc::channel();
        let (finished_sender, finished) = mpsc::channel::<()>();
        let shared = Arc::new(Shared {
            url,
            stopping: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            health: Mutex::new(Health::default()),
            sockets: Mutex::new([None, None]),
            events: event_sender,
            waker,
            wake_pending: AtomicBool::new(false),
        });
        let mut threads = Vec::with_capacity(2);
        let commands = {
            let (shared, finished) = (Arc::clone(&shared), finished_sender.clone());
            std::thread::Builder::new().name(COMMAND_THREAD.to_owned()).spawn(move || {
                run_commands(&shared, &request_queue);
                drop(finished);
            })
        };
        let subscriber = {
            let (shared, finished) = (Arc::clone(&shared), finished_sender);
            std::thread::Builder::new().name("charla-redis-sub".to_owned()).spawn(move || {
                run_subscriber(&shared, &channels);
                drop(finished);
            })
        };
        for (name, spawned) in [(COMMAND_THREAD, commands), ("charla-redis-sub", subscriber)] {
            match spawned {
                Ok(handle) => threads.push(handle),
                // The link then never comes up. Without the command thread the queue is closed, and submit
                // gives every request back.
                Err(e) => log::error!("cannot start the {name} thread: {e}; the link to Redis stays down"),
            }
        }
        ClusterLink { requests: Some(requests), events, shared, threads, finished }
    }

    /// Queues one request without blocking; gives it back when the queue is full (or the link is shut down).
    pub(crate) fn submit(&self, request: Request) -> Result<(), Request> {
        let Some(requests) = &self.requests else { return Err(request) };
        // Counted before it is sent, so the command thread never takes one it has not been counted for.
        self.shared.queued.fetch_add(1, Ordering::SeqCst);
        requests.try_send(request).map_err(|e| {
            self.shared.queued.fetch_sub(1, Ordering::SeqCst);
            match e {
                TrySendError::Full(request) | TrySendError::Disconnected(request) => request,
            }
        })
    }

    /// The next event, if any. The loop calls this until it returns `None` every time it is woken: the waker is
    /// woken again only after an empty channel has been seen.
    pub(crate) fn try_recv(&self) -> Option<LinkEvent> {
        if let Ok(event) = self.events.try_recv() {
            return Some(event);
        }
        // Cleared before looking once more: an event sent meanwhile is either seen by this second look, or
        // finds the flag clear and wakes the loop.
        self.shared.wake_pending.store(false, Ordering::SeqCst);
        self.events.try_recv().ok()
    }

    /// Requests submitted and not yet taken by the command thread.
    pub(crate) fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::SeqCst)
    }

    /// Stops both threads, waiting for them at most `timeout` in all. While the link is up, the requests already
    /// queued (a node's goodbye, its released names) are carried first: the queue is closed, and the command
    /// thread sends what is left in it, then returns. A thread still inside a TCP connect (at most
    /// [`crate::server::cluster::redis::CONNECT_TIMEOUT`]) cannot be interrupted: it is left behind, and ends
    /// with the process. Requests still queued when the time is up are dropped.
    pub(crate) fn shutdown(mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        self.requests = None;
        if self.shared.link_is_up() {
            let draining = |threads: &[JoinHandle<()>]| {
                threads.iter().any(|thread| thread.thread().name() == Some(COMMAND_THREAD) && !thread.is_finished())
            };
            while draining(&self.threads) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.signal_stop();
        match self.finished.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                for thread in self.threads.drain(..) {
                    let _ = thread.join();
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                log::warn!("the Redis link's threads did not stop within {timeout:?}; exiting without them");
                self.threads.clear();
            }
        }
    }

    /// Tells both threads to stop, and ends whatever they are blocked in: the request queue closes, live
    /// sockets are shut down, and a thread waiting to reconnect is woken.
    fn signal_stop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.requests = None;
        for socket in self.shared.sockets().iter().flatten() {
            socket.shutdown();
        }
        for thread in &self.threads {
            thread.thread().unpark();
        }
    }
}

impl Drop for ClusterLink {
    /// Without [`ClusterLink::shutdown`]: the threads are told to stop, but not waited for.
    fn drop(&mut self) {
        self.signal_stop();
    }
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The health, even if a thread panicked holding it (its state is plain flags and counters).
    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sockets(&self) -> MutexGuard<'_, [Option<ShutdownHandle>; 2]> {
        self.sockets.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hands an event to the loop and wakes it, unless a wake is already pending.
    fn emit(&self, event: LinkEvent) {
        if self.events.send(event).is_err() {
            return; // The loop's handle is gone: nobody to tell.
        }
        if !self.wake_pending.swap(true, Ordering::SeqCst)
            && let Err(e) = self.waker.wake()
        {
            log::error!("cannot wake the event loop for a Redis event: {e}");
        }
    }

    /// Connects `side`'s connection and sets it up. Its socket is registered first, so shutdown can end a
    /// handshake that hangs.
    fn connect(&self, side: Side) -> Result<RedisConnection, String> {
        let mut connection = RedisConnection::open(&self.url).map_err(|e| e.to_string())?;
        {
            let mut sockets = self.sockets();
            // Checked under the lock shutdown takes: either shutdown sees this socket, or this sees the flag.
            if self.stopping() {
                return Err("shutting down".to_owned());
            }
            sockets[side as usize] = connection.shutdown_handle().ok();
        }
        connection.handshake(&self.url).map_err(|e| e.to_string())?;
        Ok(connection)
    }

    /// `side` is connected (and subscribed); the link is up once both are.
    fn connected(&self, side: Side) {
        let mut health = self.health();
        health.up[side as usize] = true;
        if health.link_up || !health.up.iter().all(|&up| up) {
            return;
        }
        health.link_up = true;
        match health.outage.take() {
            Some(outage) => log::info!(
                "Redis link to {} is back after {:.1?}; {} untagged requests were dropped meanwhile",
                self.url,
                outage.since.elapsed(),
                outage.dropped
            ),
            None => log::info!("Redis link to {} is up", self.url),
        }
        // Sent under the lock, so Up and Down reach the loop in the order they happened.
        self.emit(LinkEvent::Up);
    }

    /// `side`'s connection was lost, or could not be made: the link is down until both are back.
    fn lost(&self, side: Side, reason: String) {
        self.sockets()[side as usize] = None;
        if self.stopping() {
            return;
        }
        let mut health = self.health();
        // The other connection may have died with this one and not know it yet (an idle socket learns of a
        // restarted Redis only when it is used): it must show it works before the link is up again.
        health.up = [false, false];
        if health.link_up {
            health.link_up = false;
            self.emit(LinkEvent::Down { reason: reason.clone() });
        }
        match &mut health.outage {
            Some(outage) => {
                log::debug!("Redis link to {}: still down: {reason}", self.url);
                outage.reason = reason;
            }
            None => {
                log::warn!(
                    "Redis link to {} is down: {reason}; reconnecting with backoff (up to {BACKOFF_MAX:?}); \
                     requests fail until it is back",
                    self.url
                );
                health.outage = Some(Outage { since: Instant::now(), reason, dropped: 0 });
            }
        }
    }

    fn link_is_up(&self) -> bool {
        self.health().link_up
    }

    fn is_up(&self, side: Side) -> bool {
        self.health().up[side as usize]
    }

    /// Answers a request the link cannot carry now: a tagged one with an error, at once; an untagged one is
    /// dropped and counted for the log line at recovery.
    fn refuse(&self, request: Request) {
        let mut health = self.health();
        let reason = match &health.outage {
            Some(outage) => format!("redis unreachable: {}", outage.reason),
            None => "redis unreachable: the link is not up yet".to_owned(),
        };
        match request.tag {
            Some(tag) => self.emit(LinkEvent::Reply { tag, result: Err(reason) }),
            None => {
                if let Some(outage) = &mut health.outage {
                    outage.dropped += 1;
                }
            }
        }
    }

    /// Redis refused an untagged request: nobody else will hear of it, so it is logged (the first, then at each
    /// power of two, so a command that is always wrong cannot flood the log).
    fn log_refused_untagged(&self, command: &[Vec<u8>], message: &str) {
        let mut health = self.health();
        health.refused_untagged += 1;
        let count = health.refused_untagged;
        if count.is_power_of_two() {
            let name = command.first().map(|name| String::from_utf8_lossy(name).into_owned()).unwrap_or_default();
            log::warn!("Redis refused an untagged {name}: {message} ({count} refused so far)");
        }
    }
}

/// The command thread: connect, then carry requests in pipelined batches until the connection fails or the
/// queue is closed; reconnect with backoff, answering requests meanwhile.
fn run_commands(shared: &Shared, requests: &Receiver<Request>) {
    let mut backoff = Backoff::new();
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_PIPELINE);
    loop {
        if shared.stopping() {
            return;
        }
        let mut connection = match shared.connect(Side::Commands) {
            Ok(connection) => connection,
            Err(reason) => {
                shared.lost(Side::Commands, reason);
                // Until the next attempt, requests are answered at once rather than held for the outage.
                if refuse_until(shared, requests, Instant::now() + backoff.next()).is_break() {
                    return;
                }
                continue;
            }
        };
        backoff.reset();
        shared.connected(Side::Commands);
        let mut last_used = Instant::now();
        let failure = loop {
            if !shared.is_up(Side::Commands) || last_used.elapsed() >= IDLE_PING_INTERVAL {
                // The link went down (the subscriber lost Redis, perhaps this connection too), or this connection
                // has been quiet: a PING finds out whether Redis is still there before a command needs it.
                match connection.call(&[b"PING"]) {
                    Ok(reply) if is_pong(&reply) => {}
                    Ok(other) => break format!("redis {}: PING: unexpected reply {other:?}", shared.url.endpoint()),
                    Err(e) => break e.to_string(),
                }
                last_used = Instant::now();
                if !shared.is_up(Side::Commands) {
                    shared.connected(Side::Commands);
                }
            }
            match requests.recv_timeout(TICK) {
                Ok(first) => batch.push(first),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while batch.len() < MAX_PIPELINE {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            shared.queued.fetch_sub(batch.len(), Ordering::SeqCst);
            if !shared.link_is_up() {
                batch.drain(..).for_each(|request| shared.refuse(request));
                continue;
            }
            last_used = Instant::now();
            if let Err(e) = carry(shared, &mut connection, &mut batch) {
                break e.to_string();
            }
        };
        shared.lost(Side::Commands, failure.clone());
        // The batch in flight may or may not have been carried out: tagged requests are told so.
        for request in batch.drain(..) {
            match request.tag {
                Some(tag) => shared.emit(LinkEvent::Reply {
                    tag,
                    result: Err(format!("redis connection lost, the command may or may not have run: {failure}")),
                }),
                None => shared.refuse(request),
            }
        }
    }
}

/// Answers requests as they arrive until `until` (see [`Shared::refuse`]). `Break` when the queue is closed.
fn refuse_until(shared: &Shared, requests: &Receiver<Request>, until: Instant) -> std::ops::ControlFlow<()> {
    loop {
        let wait = until.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            return std::ops::ControlFlow::Continue(());
        }
        match requests.recv_timeout(wait) {
            Ok(request) => {
                shared.queued.fetch_sub(1, Ordering::SeqCst);
                shared.refuse(request);
            }
            Err(RecvTimeoutError::Timeout) => return std::ops::ControlFlow::Continue(()),
            Err(RecvTimeoutError::Disconnected) => return std::ops::ControlFlow::Break(()),
        }
    }
}

/// Sends the batch in one write and reads its replies, handing each tagged reply to the loop as it is read. On
/// success the batch is emptied; on failure it keeps the requests whose replies were not read.
fn carry(shared: &Shared, connection: &mut RedisConnection, batch: &mut Vec<Request>) -> Result<(), RedisError> {
    // An empty command would get no reply at all from Redis (it skips `*0`), and every reply after it would go
    // to the wrong request: it never leaves.
    batch.retain(|request| {
        if !request.command.is_empty() {
            return true;
        }
        if let Some(tag) = request.tag {
            shared.emit(LinkEvent::Reply { tag, result: Err("an empty command was not sent".to_owned()) });
        }
        false
    });
    connection.send(batch.iter().map(|request| request.command.as_slice()))?;
    let mut answered = 0;
    let result = batch.iter().try_for_each(|request| {
        let reply = connection.read_reply()?;
        answered += 1;
        match (request.tag, reply) {
            (Some(tag), reply) => shared.emit(LinkEvent::Reply { tag, result: Ok(reply) }),
            (None, RespValue::Error(message)) => shared.log_refused_untagged(&request.command, &message),
            (None, _) => {}
        }
        Ok(())
    });
    batch.drain(..answered);
    result
}

/// The subscriber thread: connect and subscribe, hand messages over until the connection is lost, then wait
/// and try again.
fn run_subscriber(shared: &Shared, channels: &[Vec<u8>]) {
    let mut backoff = Backoff::new();
    loop {
        if shared.stopping() {
            return;
        }
        let reason = match subscribe(shared, channels) {
            Ok(mut connection) => {
                backoff.reset();
                shared.connected(Side::Subscriber);
                listen(shared, &mut connection)
            }
            Err(reason) => reason,
        };
        shared.lost(Side::Subscriber, reason);
        pause(shared, backoff.next());
    }
}

/// Connects, SUBSCRIBEs to every channel and waits for Redis to confirm each.
fn subscribe(shared: &Shared, channels: &[Vec<u8>]) -> Result<RedisConnection, String> {
    let mut connection = shared.connect(Side::Subscriber)?;
    if !channels.is_empty() {
        let mut command: Vec<&[u8]> = vec![b"SUBSCRIBE"];
        command.extend(channels.iter().map(Vec::as_slice));
        connection.send([command.as_slice()]).map_err(|e| e.to_string())?;
        let mut confirmed = 0;
        while confirmed < channels.len() {
            match connection.read_reply().map_err(|e| e.to_string())? {
                RespValue::Array(Some(items)) if is_bulk(items.first(), b"subscribe") => confirmed += 1,
                RespValue::Error(message) => {
                    return Err(format!("redis {}: SUBSCRIBE: refused: {message}", shared.url.endpoint()));
                }
                // A message on a channel already confirmed: Redis sends the confirmations together, but a
                // message is never lost for arriving early.
                other => hand_over(shared, other),
            }
        }
    }
    connection.set_read_timeout(TICK).map_err(|e| e.to_string())?;
    Ok(connection)
}

/// Reads messages until the connection is lost (or the link stops), PINGing it when it is quiet; returns why it
/// ended.
fn listen(shared: &Shared, connection: &mut RedisConnection) -> String {
    let mut last_heard = Instant::now();
    let mut ping_sent: Option<Instant> = None;
    loop {
        if shared.stopping() {
            return "shutting down".to_owned();
        }
        // Quiet for a while, or the link went down (the command connection lost Redis, perhaps this one too):
        // a PING, allowed on a subscribed connection, whose answer is ["pong", ""].
        if ping_sent.is_none() && (last_heard.elapsed() >= IDLE_PING_INTERVAL || !shared.is_up(Side::Subscriber)) {
            if let Err(e) = connection.send([&[b"PING"][..]]) {
                return e.to_string();
            }
            ping_sent = Some(Instant::now());
        }
        match connection.read_reply() {
            Ok(reply) => {
                last_heard = Instant::now();
                if is_pong(&reply) {
                    ping_sent = None;
                    if !shared.is_up(Side::Subscriber) {
                        shared.connected(Side::Subscriber);
                    }
                } else {
                    hand_over(shared, reply);
                }
            }
            Err(e) if e.is_timeout() => {
                if ping_sent.is_some_and(|sent| sent.elapsed() >= PING_TIMEOUT) {
                    return format!("redis {}: no answer to PING within {PING_TIMEOUT:?}", shared.url.endpoint());
                }
            }
            Err(e) => return e.to_string(),
        }
    }
}

/// A pub/sub message goes to the loop; anything else read on the subscribed connection is logged and ignored.
fn hand_over(shared: &Shared, reply: RespValue) {
    let RespValue::Array(Some(items)) = reply else {
        log::debug!("Redis subscriber: ignoring {reply:?}");
        return;
    };
    let mut items = items.into_iter();
    match (items.next(), items.next(), items.next(), items.next()) {
        (Some(kind), Some(RespValue::Bulk(Some(channel))), Some(RespValue::Bulk(Some(payload))), None)
            if is_bulk(Some(&kind), b"message") =>
        {
            if payload.len() > MAX_MESSAGE_BYTES {
                log::warn!(
                    "dropped a Redis message of {} bytes on channel {:?}: over the {MAX_MESSAGE_BYTES}-byte limit",
                    payload.len(),
                    String::from_utf8_lossy(&channel)
                );
                return;
            }
            shared.emit(LinkEvent::Message { channel, payload });
        }
        (kind, ..) => log::debug!("Redis subscriber: ignoring a {kind:?} notice"),
    }
}

fn is_bulk(value: Option<&RespValue>, expected: &[u8]) -> bool {
    matches!(value, Some(RespValue::Bulk(Some(bytes))) if bytes.as_slice() == expected)
}

/// `["pong", ""]` on a subscribed connection, `+PONG` on one with no channels.
fn is_pong(reply: &RespValue) -> bool {
    match reply {
        RespValue::Simple(pong) => pong == "PONG",
        RespValue::Array(Some(items)) => is_bulk(items.first(), b"pong"),
        _ => false,
    }
}

/// Waits `delay`, or less if the link is shutting down (shutdown unparks the thread).
fn pause(shared: &Shared, delay: Duration) {
    let until = Instant::now() + delay;
    while !shared.stopping() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::park_timeout(left);
    }
}

/// The waits between reconnection attempts: [`BACKOFF_MIN`], doubling after each failure up to [`BACKOFF_MAX`],
/// each drawn between half and all of that, so nodes that lost Redis together do not all come back at once.
struct Backoff {
    base: Duration,
    random: u64,
}

impl Backoff {
    fn new() -> Backoff {
        // A fresh random seed from the standard library's hasher keys; xorshift needs it non-zero.
        use std::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        Backoff { base: BACKOFF_MIN, random: seed | 1 }
    }

    fn reset(&mut self) {
        self.base = BACKOFF_MIN;
    }

    fn next(&mut self) -> Duration {
        let base = self.base;
        self.base = (base * 2).min(BACKOFF_MAX);
        // xorshift64: plenty for spreading retries.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        let fraction = (self.random >> 11) as f64 / (1u64 << 53) as f64;
        base / 2 + (base / 2).mul_f64(fraction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::cluster::test_redis::{TestRedis, free_port};

    /// A link and the poll its waker wakes, as the event loop would hold them.
    struct Harness {
        poll: mio::Poll,
        link: Option<ClusterLink>,
    }

    impl Harness {
        fn start(url: &str, channels: &[&[u8]], capacity: usize) -> Harness {
            let poll = mio::Poll::new().expect("poll");
            let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
            let url = RedisUrl::parse(url).expect("a good URL");
            let channels = channels.iter().map(|c| c.to_vec()).collect();
            Harness { poll, link: Some(ClusterLink::start(url, channels, waker, capacity)) }
        }

        fn link(&self) -> &ClusterLink {
            self.link.as_ref().expect("not shut down")
        }

        /// The next event within `within`, waiting on the waker as the loop does: a poll that times out with no
        /// wake is the end of the wait, so an event sent without waking the loop is not seen.
        fn next(&mut self, within: Duration) -> Option<LinkEvent> {
            let deadline = Instant::now() + within;
            let mut events = mio::Events::with_capacity(4);
            loop {
                if let Some(event) = self.link().try_recv() {
                    return Some(event);
                }
                let left = deadline.saturating_duration_since(Instant::now());
                self.poll.poll(&mut events, Some(left)).expect("poll");
                if events.is_empty() {
                    return None;
                }
            }
        }

        /// Waits for an event `wanted` accepts, within `within`: that event, and the others passed on the way.
        fn wait_for(
            &mut self,
            within: Duration,
            what: &str,
            wanted: impl Fn(&LinkEvent) -> bool,
        ) -> (LinkEvent, Vec<LinkEvent>) {
            let deadline = Instant::now() + within;
            let mut passed = Vec::new();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match self.next(left) {
                    Some(event) if wanted(&event) => return (event, passed),
                    Some(event) => passed.push(event),
                    None => panic!("no {what} within {within:?}; events meanwhile: {passed:?}"),
                }
            }
        }

        fn up(&mut self) {
            self.wait_for(Duration::from_secs(5), "Up", |e| *e == LinkEvent::Up);
        }

        /// Submits a tagged request and returns its reply's result, which must come within `within`.
        fn call(&mut self, tag: u64, command: &[&[u8]], within: Duration) -> Result<RespValue, String> {
            let command = command.iter().map(|a| a.to_vec()).collect();
            self.link().submit(Request { tag: Some(tag), command }).expect("room in the queue");
            let reply = |e: &LinkEvent| matches!(e, LinkEvent::Reply { tag: t, .. } if *t == tag);
            match self.wait_for(within, "the reply", reply) {
                (LinkEvent::Reply { result, .. }, _) => result,
                (other, _) => unreachable!("{other:?}"),
            }
        }

        fn shutdown(&mut self, timeout: Duration) -> Duration {
            let started = Instant::now();
            self.link.take().expect("running").shutdown(timeout);
            started.elapsed()
        }
    }

    fn publish(channel: &[u8], payload: &[u8]) -> Request {
        Request { tag: None, command: vec![b"PUBLISH".to_vec(), channel.to_vec(), payload.to_vec()] }
    }

    #[test]
    fn requests_go_round_trip_and_tagged_replies_carry_their_tag() {
        let Some(redis) = TestRedis::start() else { return };
        let mut node = Harness::start(&redis.url(), &[b"charla:events"], 64);
        node.up();
        let second = Duration::from_secs(2);
        let claim: &[&[u8]] = &[b"SET", b"charla:name:ana", b"node-1", b"NX", b"PX", b"30000"];
        assert_eq!(node.call(1, claim, second), Ok(RespValue::Simple("OK".into())));
        assert_eq!(node.call(2, claim, second), Ok(RespValue::Bulk(None)), "NX: the name is taken");
        // Untagged requests run too, in order, before the tagged one after them.
        for entry in [&b"hola"[..], b"que tal"] {
            let command = vec![b"RPUSH".to_vec(), b"charla:history".to_vec(), entry.to_vec()];
            node.link().submit(Request { tag: None, command }).expect("room");
        }
        assert_eq!(node.call(3, &[b"LLEN", b"charla:history"], second), Ok(RespValue::Integer(2)));
        // Redis's refusal is a reply for the caller to judge; an empty command never leaves.
        let refused = node.call(4, &[b"INCR", b"charla:history"], second);
        assert!(matches!(&refused, Ok(RespValue::Error(e)) if e.starts_with("WRONGTYPE")), "{refused:?}");
        assert_eq!(node.call(5, &[], second), Err("an empty command was not sent".to_owned()));
        assert_eq!(node.call(6, &[b"GET", b"charla:name:ana"], second), Ok(RespValue::Bulk(Some(b"node-1".to_vec()))));
        assert_eq!(node.link().queued(), 0);
        assert!(node.shutdown(Duration::from_secs(2)) < Duration::from_secs(1));
    }

    #[test]
    fn a_thousand_publishes_from_one_link_reach_another_links_subscriber_in_order() {
        let Some(redis) = TestRedis::start() else { return };
        let mut sender = Harness::start(&redis.url(), &[b"charla:events"], 1024);
        let mut receiver = Harness::start(&redis.url(), &[b"charla:events", b"charla:other"], 16);
        sender.up();
        receiver.up();
        for i in 0..1000 {
            let request = publish(b"charla:events", format!("event {i}").as_bytes());
            sender.link().submit(request).expect("a queue of 1024 holds 1000");
        }
        let mut got = Vec::new();
        while got.len() < 1000 {
            match receiver.next(Duration::from_secs(5)) {
                Some(LinkEvent::Message { channel, payload }) => {
                    assert_eq!(channel, b"charla:events");
                    got.push(String::from_utf8(payload).expect("UTF-8"));
                }
                Some(other) => panic!("unexpected {other:?} after {} messages", got.len()),
                None => panic!("only {} of 1000 messages arrived", got.len()),
            }
        }
        assert_eq!(got, (0..1000).map(|i| format!("event {i}")).collect::<Vec<_>>(), "in order");
        // The sender subscribes too, and hears its own.
        let mut own = 0;
        while let Some(LinkEvent::Message { .. }) = sender.next(Duration::from_millis(500)) {
            own += 1;
        }
        assert_eq!(own, 1000);
    }

    #[test]
    fn a_message_over_one_mib_is_dropped_and_the_next_one_arrives() {
        let Some(redis) = TestRedis::start() else { return };
        let mut node = Harness::start(&redis.url(), &[b"c"], 16);
        node.up();
        node.link().submit(publish(b"c", &vec![b'x'; MAX_MESSAGE_BYTES + 1])).expect("room");
        node.link().submit(publish(b"c", &vec![b'y'; MAX_MESSAGE_BYTES])).expect("room");
        node.link().submit(publish(b"c", b"small")).expect("room");
        let sizes: Vec<usize> = (0..2)
            .map(|_| match node.next(Duration::from_secs(5)) {
                Some(LinkEvent::Message { payload, .. }) => payload.len(),
                other => panic!("expected a message, got {other:?}"),
            })
            .collect();
        assert_eq!(sizes, [MAX_MESSAGE_BYTES, 5]);
        assert_eq!(node.next(Duration::from_millis(200)), None, "and the link stays up");
    }

    #[test]
    fn a_full_queue_gives_the_request_back_and_start_never_waits_for_redis() {
        // A "Redis" that accepts and never answers: the command thread hangs in its handshake's PING, taking
        // nothing from the queue.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("redis://127.0.0.1:{}", silent.local_addr().expect("address").port());
        let started = Instant::now();
        let mut node = Harness::start(&url, &[b"c"], 4);
        assert!(started.elapsed() < Duration::from_millis(100), "start returned at once");
        for i in 0..4 {
            node.link().submit(publish(b"c", &[i])).expect("room for 4");
        }
        assert_eq!(node.link().queued(), 4);
        let fifth = Request { tag: Some(5), command: vec![b"PING".to_vec()] };
        assert_eq!(node.link().submit(fifth.clone()), Err(fifth), "the same request back");
        assert_eq!(node.link().queued(), 4);
        assert_eq!(node.next(Duration::from_millis(100)), None, "no Up from a server that says nothing");
        // Shutdown ends the blocked handshakes by shutting their sockets down.
        let took = node.shutdown(Duration::from_secs(1));
        assert!(took < Duration::from_millis(500), "shutdown took {took:?}");
    }

    #[test]
    fn shutdown_is_bounded_while_redis_is_down_and_requests_fail_at_once() {
        let mut node = Harness::start(&format!("redis://127.0.0.1:{}", free_port()), &[b"c"], 16);
        let started = Instant::now();
        let result = node.call(1, &[b"PING"], Duration::from_secs(1));
        let Err(e) = result else { panic!("a reply from nowhere: {result:?}") };
        assert!(e.starts_with("redis unreachable: "), "{e}");
        assert!(started.elapsed() < Duration::from_millis(500), "answered in {:?}", started.elapsed());
        std::thread::sleep(Duration::from_millis(300)); // into the backoff
        let took = node.shutdown(Duration::from_secs(1));
        assert!(took < Duration::from_millis(1100), "shutdown took {took:?}");
    }

    #[test]
    fn redis_killed_is_down_within_3_s_and_a_new_redis_on_its_port_brings_it_back() {
        let Some(mut redis) = TestRedis::start() else { return };
        let mut node = Harness::start(&redis.url(), &[b"c"], 64);
        node.up();
        node.link().submit(publish(b"c", b"before")).expect("room");
        node.wait_for(Duration::from_secs(2), "the first message", |e| matches!(e, LinkEvent::Message { .. }));

        let killed = Instant::now();
        redis.kill();
        let down = |e: &LinkEvent| matches!(e, LinkEvent::Down { reason } if reason.starts_with("redis 127.0.0.1:"));
        let (_, passed) = node.wait_for(Duration::from_secs(3), "Down", down);
        assert!(passed.is_empty(), "{passed:?}");
        eprintln!("Down {:?} after SIGKILL", killed.elapsed());
        // Not held for the outage: answered at once.
        let asked = Instant::now();
        let result = node.call(1, &[b"GET", b"k"], Duration::from_millis(500));
        assert!(matches!(&result, Err(e) if e.starts_with("redis unreachable: redis 127.0.0.1:")), "{result:?}");
        assert!(asked.elapsed() < Duration::from_millis(300), "answered in {:?}", asked.elapsed());
        node.link().submit(publish(b"c", b"lost")).expect("room");
        std::thread::sleep(Duration::from_millis(700)); // a few reconnection attempts

        let _restarted = redis.restart();
        let back = Instant::now();
        let (_, passed) = node.wait_for(Duration::from_secs(8), "Up", |e| *e == LinkEvent::Up);
        assert!(passed.iter().all(|e| matches!(e, LinkEvent::Reply { .. })), "one Down per outage: {passed:?}");
        eprintln!("Up {:?} after the restart", back.elapsed());
        node.link().submit(publish(b"c", b"after")).expect("room");
        let is_message = |e: &LinkEvent| matches!(e, LinkEvent::Message { .. });
        let (message, _) = node.wait_for(Duration::from_secs(2), "a message after the restart", is_message);
        assert_eq!(
            message,
            LinkEvent::Message { channel: b"c".to_vec(), payload: b"after".to_vec() },
            "the dropped one is not sent late"
        );
        assert_eq!(node.call(2, &[b"PING"], Duration::from_secs(2)), Ok(RespValue::Simple("PONG".into())));
    }

    #[test]
    fn after_a_quick_restart_the_idle_command_connection_proves_itself_before_up() {
        let Some(mut redis) = TestRedis::start() else { return };
        let mut node = Harness::start(&redis.url(), &[b"c"], 64);
        node.up();
        // Killed and back before the command connection's next idle PING: the subscriber notices at once and
        // resubscribes within its first backoff, while the command connection is dead and does not know it.
        redis.kill();
        let _restarted = redis.restart();
        node.wait_for(Duration::from_secs(3), "Down", |e| matches!(e, LinkEvent::Down { .. }));
        node.up();
        assert_eq!(node.call(1, &[b"PING"], Duration::from_secs(2)), Ok(RespValue::Simple("PONG".into())));
        assert_eq!(node.next(Duration::from_millis(1200)), None, "no second outage");
    }

    #[test]
    fn a_hung_redis_is_noticed_within_3_s_and_its_recovery_too() {
        let Some(redis) = TestRedis::start() else { return };
        let mut node = Harness::start(&redis.url(), &[b"c"], 64);
        node.up();
        redis.signal(libc::SIGSTOP);
        let stopped = Instant::now();
        node.wait_for(
            Duration::from_secs(3),
            "Down",
            |e| matches!(e, LinkEvent::Down { reason } if reason.contains("no answer")),
        );
        eprintln!("Down {:?} after SIGSTOP", stopped.elapsed());
        redis.signal(libc::SIGCONT);
        node.wait_for(Duration::from_secs(8), "Up", |e| *e == LinkEvent::Up);
        let took = node.shutdown(Duration::from_secs(2));
        assert!(took < Duration::from_secs(1), "shutdown took {took:?}");
    }

    #[test]
    fn with_a_password_the_link_logs_in_and_a_wrong_one_keeps_it_down() {
        let Some(redis) = TestRedis::start_with_password(Some("s3cret")) else { return };
        let mut good = Harness::start(&redis.own_url(), &[b"c"], 16);
        good.up();
        let mut bad = Harness::start(&redis.url_with_password("nope"), &[b"c"], 16);
        let result = bad.call(1, &[b"PING"], Duration::from_secs(1));
        assert!(
            matches!(&result, Err(e) if e.contains("AUTH: refused: WRONGPASS") || e.contains("not up yet")),
            "{result:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
        let result = bad.call(2, &[b"PING"], Duration::from_secs(1));
        assert!(matches!(&result, Err(e) if e.contains("AUTH: refused: WRONGPASS")), "{result:?}; {}", redis.log());
        assert_eq!(bad.next(Duration::from_millis(100)), None, "never Up");
    }

    #[test]
    fn backoff_doubles_from_100_ms_to_5_s_each_wait_jittered_within_its_upper_half() {
        let mut backoff = Backoff::new();
        let bases = [100, 200, 400, 800, 1600, 3200, 5000, 5000];
        for base in bases {
            let wait = backoff.next();
            let base = Duration::from_millis(base);
            assert!(wait >= base / 2 && wait <= base, "{wait:?} for {base:?}");
        }
        backoff.reset();
        assert!(backoff.next() <= BACKOFF_MIN);
        let waits: Vec<Duration> = (0..8).map(|_| Backoff::new().next()).collect();
        assert!(waits.windows(2).any(|w| w[0] != w[1]), "jittered: {waits:?}");
    }
}
