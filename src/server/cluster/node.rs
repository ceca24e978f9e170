//! This node's part in a cluster: the core's cluster effects become Redis commands on the link, and what the
//! link brings back (pub/sub messages, replies, the link going up and down) becomes calls on the core.
//!
//! Redis holds four things, under keys that start with `charla:`:
//! - `charla:events`, the pub/sub channel every node publishes its [`Envelope`]s on and listens to;
//! - `charla:node:<run>`, one key per live node, set again with each heartbeat and expiring after [`NODE_TTL`]:
//!   a node that dies or is cut off loses it within that time;
//! - `charla:name:<shape>`, one key per name in use, holding the run of the node whose user has it. A name is
//!   free when its key is missing or its node's key is: so a dead node's names are free as soon as the node is,
//!   and a live node keeps thousands of names alive with one key, not one refresh per name. (Name keys also
//!   expire after [`NAME_TTL`], refreshed every [`NAME_REFRESH_INTERVAL`], only so that a cluster that stopped
//!   whole leaves nothing behind for long.)
//! - `charla:history:<room key>`, each room's recent public messages as a list capped at `--history-size`, and
//!   `charla:rooms`, the set of rooms that have one; a node loads them when it first reaches Redis.
//!
//! Claims are Lua scripts, so that "free, ours, or its node gone, then ours" and "ours, then free" are each one
//! atomic step in Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::chat::{Chat, ClaimOutcome, ClientId, ClusterEffect, Now};
use crate::core::cluster::{ClusterEvent, Envelope};
use crate::core::history::StoredMessage;
use crate::core::rooms::RoomName;
use crate::server::cluster::link::{ClusterLink, LinkEvent, Request};
use crate::server::cluster::redis::RedisUrl;
use crate::server::cluster::resp::RespValue;

/// The pub/sub channel every node publishes on and listens to.
pub(crate) const EVENTS_CHANNEL: &[u8] = b"charla:events";
/// How long a node's key outlives its last heartbeat: how long the names of a node that died stay taken.
pub(crate) const NODE_TTL: Duration = Duration::from_secs(10);
/// How often a node says it is alive: it sets its key again, then publishes a heartbeat, in that order on one
/// connection, so its key never expires later than the others time it out.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);
/// A node not heard from for this long is taken for dead and its users leave: as long as its key lasts after
/// its last heartbeat, so that its users leave everyone's lists when their names become free.
pub(crate) const NODE_TIMEOUT: Duration = NODE_TTL;
/// The expiry of a name's own key: a bound on how long names stay in Redis after every node stopped.
const NAME_TTL: Duration = Duration::from_secs(60 * 60);
/// How often a node claims its users' names again, extending [`NAME_TTL`]: three times within it.
const NAME_REFRESH_INTERVAL: Duration = Duration::from_secs(20 * 60);
/// Requests waiting for the Redis thread at most. Past it, a claim is refused as if Redis were unreachable and an
/// event is dropped (counted in the log): the loop never waits for Redis, and memory stays bounded.
pub(crate) const REQUEST_QUEUE_CAPACITY: usize = 16 * 1024;
/// How long shutdown waits for the last requests (the goodbye, the released names) to reach Redis.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// Takes `KEYS[1]` for run `ARGV[1]` for `ARGV[2]` ms if it is free, already `ARGV[1]`'s, or held by a run
/// whose node key is gone; 1 if taken, 0 if a live node has it. (It reads a key it is not given, the owner's
/// node key: fine on one Redis instance, which is what a cluster uses; see docs/CLUSTER.md on sharding.)
const CLAIM_SCRIPT: &str = "local v = redis.call('GET', KEYS[1]) \
    if v == false or v == ARGV[1] or redis.call('EXISTS', 'charla:node:' .. v) == 0 then \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end return 0";
/// Frees `KEYS[1]` if it is `ARGV[1]`'s.
const RELEASE_SCRIPT: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// What a tagged request was for.
enum Pending {
    /// A new name for a client.
    Claim { id: ClientId, claim: u64, shape: u64 },
    /// Keeping a name held by one of this node's users.
    Refresh { shape: u64 },
    /// The set of rooms with a shared history.
    RoomList,
    /// One room's shared history.
    RoomHistory { room: String },
}

/// This node in the cluster.
pub(crate) struct ClusterNode {
    link: ClusterLink,
    node_name: String,
    /// This run of the node: a random number, the value of its claims and the sender of its envelopes.
    run: u64,
    history_size: usize,
    pending: HashMap<u64, Pending>,
    last_tag: u64,
    up: bool,
    /// Whether the shared history has been loaded (once, at the first time the link is up).
    history_loaded: bool,
    next_heartbeat: Instant,
    next_refresh: Instant,
    /// Effects taken from the core, reused.
    effects: Vec<ClusterEffect>,
    /// Events that could not be queued towards Redis since the last warning.
    dropped: u64,
}

impl ClusterNode {
    /// Starts the link to Redis (in the background: this returns at once) for a node called `node_name`.
    pub(crate) fn start(
        url: RedisUrl,
        node_name: String,
        history_size: usize,
        waker: Arc<mio::Waker>,
        now: Instant,
    ) -> ClusterNode {
        let link = ClusterLink::start(url, vec![EVENTS_CHANNEL.to_vec()], waker, REQUEST_QUEUE_CAPACITY);
        ClusterNode {
            link,
            node_name,
            run: new_run(),
            history_size,
            pending: HashMap::new(),
            last_tag: 0,
            up: false,
            history_loaded: false,
            next_heartbeat: now + HEARTBEAT_INTERVAL,
            next_refresh: now + NAME_REFRESH_INTERVAL,
            effects: Vec::new(),
            dropped: 0,
        }
    }

    /// When [`ClusterNode::turn`] next has timed work (a heartbeat, a refresh).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.up.then(|| self.next_heartbeat.min(self.next_refresh))
    }

    /// Everything owed this turn: what the link brought in, the timers, and the core's cluster effects (which
    /// the first two may have caused). The caller then carries out the core's connection effects.
    pub(crate) fn turn(&mut self, chat: &mut Chat, now: Now) {
        while let Some(event) = self.link.try_recv() {
            self.on_link_event(event, chat, now);
        }
        if self.up && now.mono >= self.next_heartbeat {
            self.next_heartbeat = now.mono + HEARTBEAT_INTERVAL;
            self.keep_node_key();
            self.publish(ClusterEvent::Heartbeat);
        }
        if self.up && now.mono >= self.next_refresh {
            self.next_refresh = now.mono + NAME_REFRESH_INTERVAL;
            self.refresh_claims(chat);
        }
        self.send_effects(chat, now);
        if self.dropped > 0 && self.up {
            log::warn!(
                "cluster: {} events not sent: the queue towards Redis was full ({} waiting now)",
                self.dropped,
                self.link.queued()
            );
            self.dropped = 0;
        }
    }

    /// The node is stopping: the others hear it go and its names are freed, as far as Redis can be reached
    /// within [`SHUTDOWN_TIMEOUT`].
    pub(crate) fn shutdown(mut self, chat: &mut Chat, now: Now) {
        self.send_effects(chat, now);
        if self.up {
            self.publish(ClusterEvent::Bye);
            let shapes: Vec<u64> = chat.claimed_shapes().map(|(shape, _)| shape).collect();
            for shape in shapes {
                self.release(shape);
            }
            self.submit(Request { tag: None, command: vec![b"DEL".to_vec(), self.node_key()] });
        }
        self.link.shutdown(SHUTDOWN_TIMEOUT);
    }

    fn on_link_event(&mut self, event: LinkEvent, chat: &mut Chat, now: Now) {
        match event {
            LinkEvent::Up => {
                log::info!("cluster: connected to Redis as node {}", self.node_name);
                self.up = true;
                // The node's key first, then its names: claimed again at once, since Redis may have restarted
                // empty, or the node may have been cut off long enough for its key to expire.
                self.keep_node_key();
                self.next_heartbeat = now.mono;
                self.refresh_claims(chat);
                self.next_refresh = now.mono + NAME_REFRESH_INTERVAL;
                chat.cluster_up(now);
                if !self.history_loaded {
                    self.history_loaded = true;
                    self.ask(Pending::RoomList, vec![b"SMEMBERS".to_vec(), b"charla:rooms".to_vec()]);
                }
            }
            LinkEvent::Down { reason } => {
                log::warn!("cluster: lost Redis ({reason}); users here keep chatting among themselves");
                self.up = false;
                chat.cluster_down();
            }
            LinkEvent::Message { payload, .. } => match Envelope::from_json(&payload) {
                Ok(envelope) if envelope.run == self.run => {}
                Ok(Envelope { node, run, event, .. }) => chat.cluster_event(&node, run, event, now),
                Err(e) => log::warn!("cluster: an envelope was dropped: {e}"),
            },
            LinkEvent::Reply { tag, result } => match self.pending.remove(&tag) {
                Some(pending) => self.on_reply(pending, result, chat, now),
                None => log::debug!("cluster: reply to unknown request {tag}"),
            },
        }
    }

    fn on_reply(&mut self, pending: Pending, result: Result<RespValue, String>, chat: &mut Chat, now: Now) {
        match pending {
            Pending::Claim { id, claim, shape } => {
                let outcome = match &result {
                    Ok(RespValue::Integer(1)) => ClaimOutcome::Granted,
                    Ok(RespValue::Integer(0)) => ClaimOutcome::Taken,
                    Ok(other) => {
                        log::warn!("cluster: unexpected answer to a claim: {other:?}");
                        ClaimOutcome::Unavailable
                    }
                    Err(_) => ClaimOutcome::Unavailable,
                };
                let used = chat.claim_result(id, claim, outcome, now);
                if outcome == ClaimOutcome::Granted && !used {
                    self.release(shape);
                }
            }
            Pending::Refresh { shape } => match result {
                Ok(RespValue::Integer(1)) | Err(_) => {}
                Ok(RespValue::Integer(0)) => chat.claim_lost(shape),
                Ok(other) => log::warn!("cluster: unexpected answer to a claim refresh: {other:?}"),
            },
            Pending::RoomList => match result {
                Ok(RespValue::Array(Some(rooms))) => {
                    for room in rooms {
                        if let RespValue::Bulk(Some(room)) = room
                            && let Ok(room) = String::from_utf8(room)
                            && let Ok(name) = RoomName::parse(&room)
                        {
                            let key = history_key(&name);
                            let last = format!("-{}", self.history_size.max(1));
                            let command = vec![b"LRANGE".to_vec(), key, last.into_bytes(), b"-1".to_vec()];
                            self.ask(Pending::RoomHistory { room }, command);
                        }
                    }
                }
                other => {
                    log::warn!("cluster: the shared history could not be listed: {other:?}");
                    self.history_loaded = false;
                }
            },
            Pending::RoomHistory { room } => match result {
                Ok(RespValue::Array(Some(entries))) => {
                    let messages: Vec<StoredMessage> = entries
                        .into_iter()
                        .filter_map(|entry| match entry {
                            RespValue::Bulk(Some(json)) => serde_json::from_slice(&json).ok(),
                            _ => None,
                        })
                        .collect();
                    chat.load_cluster_history(&room, messages);
                }
                other => log::warn!("cluster: the shared history of #{room} could not be read: {other:?}"),
            },
        }
    }

    /// Carries out the core's cluster effects, and any its answers cause in turn (a claim refused at once).
    fn send_effects(&mut self, chat: &mut Chat, now: Now) {
        loop {
            chat.take_cluster_effects(&mut self.effects);
            if self.effects.is_empty() {
                return;
            }
            let mut effects = std::mem::take(&mut self.effects);
            for effect in effects.drain(..) {
                match effect {
                    ClusterEffect::Claim { id, claim, shape, .. } => {
                        let command = script(CLAIM_SCRIPT, &name_key(shape), &self.claim_value(), Some(NAME_TTL));
                        if !self.up || !self.ask(Pending::Claim { id, claim, shape }, command) {
                            chat.claim_result(id, claim, ClaimOutcome::Unavailable, now);
                        }
                    }
                    ClusterEffect::Release { shape, .. } => self.release(shape),
                    ClusterEffect::Tell(event) => {
                        if let ClusterEvent::Said { room, message } = &event {
                            self.append_history(room, message);
                        }
                        self.publish(event);
                    }
                }
            }
            // Empty, its capacity kept for the next turn.
            self.effects = effects;
        }
    }

    fn claim_value(&self) -> Vec<u8> {
        format!("{:016x}", self.run).into_bytes()
    }

    /// This node's key: alive while it is.
    fn node_key(&self) -> Vec<u8> {
        let mut key = b"charla:node:".to_vec();
        key.extend_from_slice(&self.claim_value());
        key
    }

    /// Sets this node's key again for [`NODE_TTL`]: what keeps all its users' names taken.
    fn keep_node_key(&mut self) {
        let ttl = NODE_TTL.as_millis().to_string().into_bytes();
        let command = vec![b"SET".to_vec(), self.node_key(), b"1".to_vec(), b"PX".to_vec(), ttl];
        self.submit(Request { tag: None, command });
    }

    /// Claims every name this node's users hold again, extending their expiry.
    fn refresh_claims(&mut self, chat: &Chat) {
        let shapes: Vec<u64> = chat.claimed_shapes().map(|(shape, _)| shape).collect();
        for shape in shapes {
            let command = script(CLAIM_SCRIPT, &name_key(shape), &self.claim_value(), Some(NAME_TTL));
            self.ask(Pending::Refresh { shape }, command);
        }
    }

    fn release(&mut self, shape: u64) {
        let command = script(RELEASE_SCRIPT, &name_key(shape), &self.claim_value(), None);
        self.submit(Request { tag: None, command });
    }

    fn append_history(&mut self, room: &str, message: &StoredMessage) {
        let Ok(name) = RoomName::parse(room) else { return };
        let Ok(json) = serde_json::to_vec(message) else { return };
        let key = history_key(&name);
        let first_kept = format!("-{}", self.history_size.max(1));
        self.submit(Request { tag: None, command: vec![b"RPUSH".to_vec(), key.clone(), json] });
        self.submit(Request {
            tag: None,
            command: vec![b"LTRIM".to_vec(), key, first_kept.into_bytes(), b"-1".to_vec()],
        });
        let room = name.as_str().as_bytes().to_vec();
        self.submit(Request { tag: None, command: vec![b"SADD".to_vec(), b"charla:rooms".to_vec(), room] });
    }

    fn publish(&mut self, event: ClusterEvent) {
        if !self.up {
            // Nobody would hear it: the link drops it anyway, and the others catch up through Hello and Roster.
            return;
        }
        let envelope = Envelope::new(&self.node_name, self.run, event).to_json();
        self.submit(Request { tag: None, command: vec![b"PUBLISH".to_vec(), EVENTS_CHANNEL.to_vec(), envelope] });
    }

    /// A request whose reply the node waits for; false if it could not be queued.
    fn ask(&mut self, pending: Pending, command: Vec<Vec<u8>>) -> bool {
        self.last_tag += 1;
        let tag = self.last_tag;
        if self.link.submit(Request { tag: Some(tag), command }).is_err() {
            self.dropped += 1;
            return false;
        }
        self.pending.insert(tag, pending);
        true
    }

    fn submit(&mut self, request: Request) {
        if self.link.submit(request).is_err() {
            self.dropped += 1;
        }
    }
}

/// The Redis key of a name's claim: by its look-alike shape, so that look-alikes collide across nodes too.
fn name_key(shape: u64) -> Vec<u8> {
    format!("charla:name:{shape:016x}").into_bytes()
}

/// The Redis key of a room's shared history: by the room's case-insensitive key.
fn history_key(room: &RoomName) -> Vec<u8> {
    format!("charla:history:{}", room.key().as_str()).into_bytes()
}

/// `EVAL script 1 key value [ttl-ms]`.
fn script(script: &str, key: &[u8], value: &[u8], ttl: Option<Duration>) -> Vec<Vec<u8>> {
    let mut command = vec![b"EVAL".to_vec(), script.as_bytes().to_vec(), b"1".to_vec(), key.to_vec(), value.to_vec()];
    if let Some(ttl) = ttl {
        command.push(ttl.as_millis().to_string().into_bytes());
    }
    command
}

/// A number for this run of the node, different from any other run's with near certainty: std's random hasher
/// keys, mixed with the time and the process id.
fn new_run() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher
        .write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// The node's name when `--node-name` is not given: the host name and the process id.
pub(crate) fn default_node_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer it is given.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let host = if ok { String::from_utf8_lossy(&buf[..end]).into_owned() } else { "charla".to_owned() };
    format!("{host}-{}", std::process::id())
}
