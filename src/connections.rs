//! The connection table: every open connection in a slab keyed by its mio token, and the bookkeeping that
//! carries out the chat core's effects on them: queueing output, flushing before the loop sleeps, closing.
//!
//! Connections are only removed in [`Connections::reap`], at the end of a loop iteration, so a key stays valid
//! (and is not reused) while one iteration's events and effects are being handled.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mio::{Registry, Token};
use slab::Slab;

use crate::chat::{Chat, ClientId, Effect, Payload, Recipients};
use crate::connection::{Connection, Phase};
use crate::output::Flush;
use crate::per_ip::PerIpLimit;

/// How long a closing connection may take to accept its last output before it is dropped regardless.
pub const CLOSE_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Connections {
    slab: Slab<Connection>,
    registry: Registry,
    max_queue_bytes: usize,
    /// Open connections per source address.
    per_ip: PerIpLimit,
    /// Keys whose output became pending during this iteration; flushed before the loop sleeps.
    to_flush: Vec<usize>,
    /// Keys marked dead, removed by `reap`.
    to_reap: Vec<usize>,
    /// When each closing connection is dropped even if its output has not drained, oldest first.
    close_deadlines: VecDeque<(Instant, usize, u64)>,
}

impl Connections {
    pub fn new(registry: Registry, max_queue_bytes: usize, per_ip: PerIpLimit) -> Connections {
        Connections {
            slab: Slab::new(),
            registry,
            max_queue_bytes,
            per_ip,
            to_flush: Vec::new(),
            to_reap: Vec::new(),
            close_deadlines: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    pub fn get_mut(&mut self, key: usize) -> Option<&mut Connection> {
        self.slab.get_mut(key)
    }

    pub fn is_open(&self, key: usize) -> bool {
        matches!(self.slab.get(key), Some(c) if c.phase == Phase::Open)
    }

    /// Counts a new connection from `ip` against the per-address cap; false if it is over.
    pub fn try_admit_ip(&mut self, ip: std::net::IpAddr) -> bool {
        self.per_ip.try_admit(ip)
    }

    /// Adds a connection (already counted by `try_admit_ip`) and registers it for reading; returns its key.
    pub fn insert(&mut self, mut connection: Connection) -> std::io::Result<usize> {
        let entry = self.slab.vacant_entry();
        let key = entry.key();
        if let Err(e) = connection.register(&self.registry, Token(key)) {
            self.per_ip.release(connection.peer.ip());
            return Err(e);
        }
        entry.insert(connection);
        Ok(key)
    }

    /// Carries out the core's effects, in order, and empties `effects`.
    pub fn apply(&mut self, chat: &Chat, effects: &mut Vec<Effect>, now: Instant) {
        for effect in effects.drain(..) {
            match effect {
                Effect::Send { to: Recipients::One(id), payload } => self.queue(id, &payload),
                Effect::Send { to: Recipients::Members, payload } => {
                    chat.members().for_each(|id| self.queue(id, &payload));
                }
                Effect::Send { to: Recipients::MembersExcept(except), payload } => {
                    chat.members().filter(|&id| id != except).for_each(|id| self.queue(id, &payload));
                }
                Effect::Send { to: Recipients::Everyone, payload } => {
                    chat.clients().for_each(|id| self.queue(id, &payload));
                }
                Effect::Close(id) => self.close_after_flush(id, now),
            }
        }
    }

    /// Queues output for one connection. Past the per-connection cap the client is too slow to keep: it is
    /// dropped, so it cannot hold the server's memory or delay anyone else.
    fn queue(&mut self, id: ClientId, payload: &Payload) {
        let Some(conn) = self.slab.get_mut(id) else { return };
        if conn.phase == Phase::Dead {
            return;
        }
        let queued = conn.output.queued_bytes();
        if queued + payload.len() > self.max_queue_bytes {
            log::warn!(
                "disconnecting {}: {} bytes of output queued, over the {} byte cap (client not reading)",
                conn.peer,
                queued + payload.len(),
                self.max_queue_bytes
            );
            self.kill(id);
            return;
        }
        let was_idle = conn.output.is_empty();
        conn.output.push(payload.clone());
        if was_idle && !conn.waiting_for_room() {
            self.to_flush.push(id);
        }
    }

    /// Stops reading from `id` and closes it once its output is written (or [`CLOSE_FLUSH_TIMEOUT`] passes).
    pub fn close_after_flush(&mut self, id: ClientId, now: Instant) {
        let Some(conn) = self.slab.get_mut(id) else { return };
        if conn.phase != Phase::Open {
            return;
        }
        conn.phase = Phase::Closing;
        self.close_deadlines.push_back((now + CLOSE_FLUSH_TIMEOUT, id, conn.serial));
        self.to_flush.push(id);
    }

    /// Marks a connection for removal at the end of this iteration, without writing anything more.
    pub fn kill(&mut self, id: ClientId) {
        let Some(conn) = self.slab.get_mut(id) else { return };
        if conn.phase != Phase::Dead {
            conn.phase = Phase::Dead;
            self.to_reap.push(id);
        }
    }

    /// Writes what one connection has pending; a closing connection that is done is ended.
    pub fn flush(&mut self, id: ClientId) {
        let Some(conn) = self.slab.get_mut(id) else { return };
        if conn.phase == Phase::Dead {
            return;
        }
        match conn.flush(&self.registry, Token(id)) {
            Ok(Flush::Done) if conn.phase == Phase::Closing => {
                conn.finish_close();
                self.kill(id);
            }
            Ok(_) => {}
            Err(e) => {
                log::debug!("write to {} failed: {e}; closing", conn.peer);
                self.kill(id);
            }
        }
    }

    /// Flushes every connection that got output since the last call: many replies leave in one write.
    pub fn flush_pending(&mut self) {
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
    pub fn reap(&mut self, chat: &mut Chat, effects: &mut Vec<Effect>, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(id) = self.to_reap.pop() {
            let Some(mut conn) = self.slab.try_remove(id) else {
                continue;
            };
            if let Err(e) = self.registry.deregister(&mut conn.socket) {
                log::debug!("deregistering {} failed: {e}", conn.peer);
            }
            log::debug!("connection {id} from {} closed", conn.peer);
            self.per_ip.release(conn.peer.ip());
            removed += 1;
            chat.disconnect(id);
            chat.take_effects(effects);
            // Leave notices may overflow other slow clients, who join `to_reap` and are removed in this loop.
            self.apply(chat, effects, now);
        }
        removed
    }

    /// Drops closing connections whose output did not drain in time.
    pub fn expire_closing(&mut self, now: Instant) {
        while let Some(&(deadline, id, serial)) = self.close_deadlines.front() {
            if deadline > now {
                break;
            }
            self.close_deadlines.pop_front();
            if let Some(conn) = self.slab.get(id)
                && conn.serial == serial
                && conn.phase == Phase::Closing
            {
                log::debug!("{} did not take its last output in time; dropping it", conn.peer);
                self.kill(id);
            }
        }
    }

    /// The next time [`Connections::expire_closing`] has work to do.
    pub fn next_close_deadline(&self) -> Option<Instant> {
        self.close_deadlines.front().map(|&(deadline, _, _)| deadline)
    }

    /// Whether any live connection still has output waiting.
    pub fn any_output_pending(&self) -> bool {
        self.slab.iter().any(|(_, c)| c.phase != Phase::Dead && !c.output.is_empty())
    }
}
