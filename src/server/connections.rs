//! The connection table: every open connection in a slab keyed by its mio token, the limits they share, and the
//! bookkeeping that carries out the chat core's effects on them: queueing output, flushing before the loop
//! sleeps, throttling, closing.
//!
//! Connections are only removed in [`Connections::reap`], at the end of a loop iteration, so a key stays valid
//! (and is not reused) while one iteration's events and effects are being handled.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::{Registry, Token};
use slab::Slab;

use crate::core::chat::{Chat, ClientId, Effect, LeaveReason, Payload};
use crate::core::deadlines::DeadlineHeap;
use crate::server::connection::{Connection, ReadOutcome};
use crate::server::flood::{FloodLimit, TokenBucket};
use crate::server::framing::LineBatch;
use crate::server::output::Flush;
use crate::server::per_ip::PerIpLimit;
use crate::server::transport::Transport;

/// How long a closing connection may take to accept its last output and close its own side before it is dropped
/// regardless.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// A queue this long is written at once instead of at the end of the loop turn: a burst leaves as it is made,
/// and a client that keeps reading never sees its queue near the cap.
const EARLY_FLUSH_BYTES: usize = 64 * 1024;

/// The limits every connection is held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Output queued for one client before it is dropped as not reading.
    pub(crate) max_queue_bytes: usize,
    /// Lines per second read from one client.
    pub(crate) flood: FloodLimit,
}

pub(crate) struct Connections {
    slab: Slab<Connection>,
    registry: Registry,
    limits: ConnectionLimits,
    /// Open connections per source address.
    per_ip: PerIpLimit,
    /// Keys whose output became pending during this iteration; flushed before the loop sleeps.
    to_flush: Vec<usize>,
    /// Keys marked dead, removed by `reap`.
    to_reap: Vec<usize>,
    /// When each closing connection is dropped even if its output has not drained.
    closing: DeadlineHeap,
    /// When each throttled connection may be read again.
    throttled: DeadlineHeap,
    /// Bytes of payloads the core asked to send this loop turn, counting a broadcast once: a bound on how much
    /// any one queue grew before the loop's next round of writes.
    turn_output_bytes: usize,
}

impl Connections {
    pub(crate) fn new(registry: Registry, limits: ConnectionLimits, per_ip: PerIpLimit) -> Connections {
        Connections {
            slab: Slab::new(),
            registry,
            limits,
            per_ip,
            to_flush: Vec::new(),
            to_reap: Vec::new(),
            closing: DeadlineHeap::new(),
            throttled: DeadlineHeap::new(),
            turn_output_bytes: 0,
        }
    }

    /// Bytes of output the core produced since [`Connections::start_turn`].
    pub(crate) fn turn_output_bytes(&self) -> usize {
        self.turn_output_bytes
    }

    /// A new loop turn begins: its output is counted from zero.
    pub(crate) fn start_turn(&mut self) {
        self.turn_output_bytes = 0;
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    pub(crate) fn is_open(&self, key: usize) -> bool {
        self.slab.get(key).is_some_and(Connection::is_open)
    }

    /// Gives back a slot taken by `try_admit_ip` for a connection that was not inserted after all.
    pub(crate) fn release_ip(&mut self, ip: IpAddr) {
        self.per_ip.release(ip);
    }

    /// Counts a new connection from `ip` against the per-address cap; false if it is over.
    pub(crate) fn try_admit_ip(&mut self, ip: IpAddr) -> bool {
        self.per_ip.try_admit(ip)
    }

    /// Adds a connection (already counted by `try_admit_ip`) and registers it for reading; returns its key.
    /// `max_line_bytes` is the framer's limit for this connection: the chat's line cap, or IRC's with its tags.
    pub(crate) fn insert(
        &mut self,
        transport: Transport,
        peer: SocketAddr,
        max_line_bytes: usize,
        now: Instant,
    ) -> std::io::Result<usize> {
        let bucket = TokenBucket::new(self.limits.flood, now);
        let mut connection = Connection::new(transport, peer, max_line_bytes, bucket);
        let entry = self.slab.vacant_entry();
        let key = entry.key();
        if let Err(e) = connection.register(&self.registry, Token(key)) {
            self.per_ip.release(peer.ip());
            return Err(e);
        }
        entry.insert(connection);
        Ok(key)
    }

    /// Reads and frames at most `budget` bytes of what `key` sent (see [`Connection::read_lines`]); a
    /// throttled connection gets a timer.
    pub(crate) fn read_lines(
        &mut self,
        key: usize,
        scratch: &mut [u8],
        batch: &mut LineBatch,
        budget: usize,
        now: Instant,
    ) -> ReadOutcome {
        let Some(conn) = self.slab.get_mut(key) else { return ReadOutcome::NotReading };
        if conn.is_lingering() {
            if conn.discard_input() {
                self.kill(key);
            }
            return ReadOutcome::NotReading;
        }
        let outcome = conn.read_lines(scratch, batch, self.limits.flood, budget, now);
        if conn.needs_flush() {
            self.to_flush.push(key);
        }
        if let ReadOutcome::Throttled(until) = outcome {
            log::debug!("throttling {}: over {} lines/s", conn.peer(), self.limits.flood.rate);
            self.throttled.schedule(key, until);
        }
        outcome
    }

    /// A throttled connection whose bucket has refilled by `now`, now readable again; the caller reads it.
    pub(crate) fn pop_unthrottled(&mut self, now: Instant) -> Option<usize> {
        let key = self.throttled.pop_due(now)?;
        if let Some(conn) = self.slab.get_mut(key) {
            conn.unthrottle();
        }
        Some(key)
    }

    /// Carries out the core's effects, in order, and empties `effects`.
    pub(crate) fn apply(&mut self, chat: &Chat, effects: &mut Vec<Effect>, now: Instant) {
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to, payload } => {
                    self.turn_output_bytes += payload.len();
                    self.queue(to, &payload);
                }
                Effect::Broadcast { to, payload } => {
                    self.turn_output_bytes += payload.longest();
                    chat.for_each_recipient(to, |id, lang| {
                        if let Some(bytes) = payload.get(lang) {
                            self.queue(id, bytes);
                        }
                    });
                }
                Effect::Close(id) => self.close_after_flush(id, now),
                Effect::Joined { id, name } => log::info!("login: {name} from {}", self.peer_of(id)),
                Effect::Renamed { id, old, new } => log::info!("nick: {old} is now {new}, from {}", self.peer_of(id)),
                Effect::Left { id, name, reason } => {
                    let why = match reason {
                        LeaveReason::Quit => "quit",
                        LeaveReason::Idle => "idle timeout",
                        LeaveReason::Disconnected => "connection closed",
                    };
                    log::info!("leave: {name} from {} ({why})", self.peer_of(id));
                }
            }
        }
    }

    /// The peer address of a connection still in the table, for the log.
    fn peer_of(&self, id: ClientId) -> String {
        self.slab.get(id).map_or_else(|| "an unknown address".to_owned(), |conn| conn.peer().to_string())
    }

    /// Queues output for one connection, writing early once its queue is long. A client is dropped only for
    /// not reading: when its queue would pass the cap even after the server has just written to it all the
    /// kernel would take. Then it cannot hold the server's memory or delay anyone else.
    fn queue(&mut self, id: ClientId, payload: &Payload) {
        let Some(conn) = self.slab.get_mut(id) else { return };
        if conn.is_dead() {
            return;
        }
        if conn.queued_bytes() + payload.len() > self.limits.max_queue_bytes {
            self.flush(id);
            let Some(conn) = self.slab.get_mut(id).filter(|conn| !conn.is_dead()) else { return };
            if conn.queued_bytes() + payload.len() > self.limits.max_queue_bytes {
                log::warn!(
                    "disconnecting {}: {} bytes of output queued, over the {} byte cap (client not reading)",
                    conn.peer(),
                    conn.queued_bytes() + payload.len(),
                    self.limits.max_queue_bytes
                );
                self.kill(id);
                return;
            }
        }
        let Some(conn) = self.slab.get_mut(id) else { return };
        let was_idle = !conn.has_output();
        conn.queue(payload);
        if conn.waiting_for_room() {
            // A WRITABLE event will say when there is room.
        } else if conn.queued_bytes() >= EARLY_FLUSH_BYTES {
            self.flush(id);
        } else if was_idle {
            self.to_flush.push(id);
        }
    }

    /// Stops reading from `id` and closes it once its output is written (or [`CLOSE_FLUSH_TIMEOUT`] passes).
    pub(crate) fn close_after_flush(&mut self, id: ClientId, now: Instant) {
        let Some(conn) = self.slab.get_mut(id) else { return };
        if conn.begin_closing() {
            self.closing.schedule(id, now + CLOSE_FLUSH_TIMEOUT);
            self.to_flush.push(id);
        }
    }

    /// Marks a connection for removal at the end of this iteration, without writing anything more.
    pub(crate) fn kill(&mut self, id: ClientId) {
        if let Some(conn) = self.slab.get_mut(id)
            && conn.mark_dead()
        {
            self.to_reap.push(id);
        }
    }

    /// Writes what one connection has pending; a closing connection that is done is ended.
    pub(crate) fn flush(&mut self, id: ClientId) {
        let Some(conn) = self.slab.get_mut(id) else { return };
        if conn.is_dead() {
            return;
        }
        match conn.flush(&self.registry, Token(id)) {
            // The closing deadline set in `close_after_flush` still bounds the lingering.
            Ok(Flush::Done) if conn.is_closing() => {
                // The peer has all it will get: its address's slot is free for its next connection.
                if conn.release_address_slot() {
                    self.per_ip.release(conn.peer().ip());
                }
                if conn.begin_lingering() {
                    self.kill(id);
                }
            }
            Ok(_) => {}
            Err(e) => {
                log::debug!("write to {} failed: {e}; closing", conn.peer());
                self.kill(id);
            }
        }
    }

    /// Flushes every connection that got output since the last call: many replies leave in one write.
    pub(crate) fn flush_pending(&mut self) {
        let mut pending = std::mem::take(&mut self.to_flush);
        for id in pending.drain(..) {
            self.flush(id);
        }
        // Keep the allocation for the next iteration.
        if self.to_flush.is_empty() {
            self.to_flush = pending;
        }
    }

    /// Removes every dead connection, telling the core each one is gone. Returns how many were removed.
    pub(crate) fn reap(&mut self, chat: &mut Chat, effects: &mut Vec<Effect>, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(id) = self.to_reap.pop() {
            // The core hears first, while the connection (dead: nothing is queued for it) is still in the table
            // for the log line. Leave notices may overflow other slow clients, who join `to_reap` and are
            // removed in this loop.
            chat.disconnect(id);
            chat.take_effects(effects);
            self.apply(chat, effects, now);
            let Some(mut conn) = self.slab.try_remove(id) else {
                continue;
            };
            if let Err(e) = conn.deregister(&self.registry) {
                log::debug!("deregistering {} failed: {e}", conn.peer());
            }
            log::debug!("connection {id} from {} closed", conn.peer());
            if conn.release_address_slot() {
                self.per_ip.release(conn.peer().ip());
            }
            self.closing.cancel(id);
            self.throttled.cancel(id);
            removed += 1;
        }
        removed
    }

    /// Drops closing connections whose output did not drain, or whose peer did not close, in time.
    pub(crate) fn expire_closing(&mut self, now: Instant) {
        while let Some(id) = self.closing.pop_due(now) {
            if let Some(conn) = self.slab.get(id) {
                if conn.is_closing() {
                    log::debug!("{} did not take its last output in time; dropping it", conn.peer());
                } else if conn.is_lingering() {
                    log::debug!("{} did not close its side in time; dropping it", conn.peer());
                }
                self.kill(id);
            }
        }
    }

    /// The next moment a closing connection expires or a throttled one may be read again.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [self.closing.next(), self.throttled.next()].into_iter().flatten().min()
    }

    /// Whether any live connection still has output waiting.
    pub(crate) fn any_output_pending(&self) -> bool {
        self.slab.iter().any(|(_, c)| !c.is_dead() && c.has_output())
    }
}
