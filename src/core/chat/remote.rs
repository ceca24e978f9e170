//! The chat as one node of a cluster sees it: users on other nodes, names claimed cluster-wide, and the events
//! that keep every node's picture the same.
//!
//! Still no I/O: a name is claimed through `ClusterEffect::Claim` and the answer comes back through
//! [`Chat::claim_result`]; what this node's users do leaves as `ClusterEffect::Tell`, what other nodes' users do comes
//! in through [`Chat::cluster_event`]. A node not heard from for the node timeout is taken for dead and its users
//! leave, with the notices a local leave would give.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::{Chat, ClientId, ClusterEffect, Effect, LeaveReason, Now, stored_text};
use crate::core::catalog::Text;
use crate::core::cluster::{ClusterEvent, RosterEntry};
use crate::core::history::{History, StoredMessage};
use crate::core::names::{Name, NameKey, NameShape};
use crate::core::rooms::{Room, RoomId, RoomName};

/// Lines a client may send while its name is being claimed; they are handled once the answer comes. A person
/// types nothing in that millisecond; a script that sends its name and its first lines at once loses none.
const MAX_HELD_LINES: usize = 64;

/// The cluster side of the chat's state; `None` in [`Chat`] when the node stands alone.
#[derive(Debug)]
pub(super) struct ClusterState {
    node_timeout: Duration,
    /// Whether the link to the other nodes is up. While it is down nobody can be heard, so no node is timed
    /// out for silence.
    linked: bool,
    /// Other nodes by run, with when each was last heard from.
    nodes: HashMap<u64, Node>,
    /// Users on other nodes, in key order (the order `/users` lists them).
    users: BTreeMap<NameKey, RemoteUser>,
    /// Users on other nodes by what their name looks like.
    shapes: HashMap<NameShape, NameKey>,
    /// Names being claimed, by client.
    claims: HashMap<ClientId, PendingClaim>,
    last_claim: u64,
}

#[derive(Debug)]
struct Node {
    name: String,
    last_heard: Instant,
}

#[derive(Debug)]
struct RemoteUser {
    name: String,
    run: u64,
    rooms: Vec<RoomId>,
}

#[derive(Debug)]
struct PendingClaim {
    claim: u64,
    name: Name,
    /// Lines that arrived meanwhile, to handle in order once the claim is answered.
    held: Vec<Vec<u8>>,
}

/// What the cluster said to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The name is this node's user's now.
    Granted,
    /// Someone on another node has the name, or one that looks like it.
    Taken,
    /// The cluster could not be asked (Redis unreachable, or the queue towards it full).
    Unavailable,
}

impl ClusterState {
    pub(super) fn new(node_timeout: Duration) -> ClusterState {
        ClusterState {
            node_timeout,
            linked: false,
            nodes: HashMap::new(),
            users: BTreeMap::new(),
            shapes: HashMap::new(),
            claims: HashMap::new(),
            last_claim: 0,
        }
    }

    /// When the next node could be timed out, if any.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        if !self.linked {
            return None;
        }
        self.nodes.values().map(|node| node.last_heard + self.node_timeout).min()
    }

    /// The remote user with this key, if any: its name as typed.
    pub(super) fn user_named(&self, key: &NameKey) -> Option<&str> {
        self.users.get(key).map(|user| user.name.as_str())
    }

    /// Whether the link to the other nodes is up, so that what is told them reaches them.
    pub(super) fn linked(&self) -> bool {
        self.linked
    }

    /// The remote user whose name looks like `shape`, if any.
    pub(super) fn user_shaped(&self, shape: NameShape) -> Option<&str> {
        self.shapes.get(&shape).and_then(|key| self.user_named(key))
    }

    /// Names of remote users in `room`, in key order.
    pub(super) fn names_in(&self, room: RoomId) -> impl Iterator<Item = (&NameKey, &str)> {
        self.users
            .iter()
            .filter(move |(_, user)| user.rooms.contains(&room))
            .map(|(key, user)| (key, user.name.as_str()))
    }

    /// Whether `id` is waiting for a claim; the line is kept for later if so (or dropped past the bound).
    pub(super) fn hold_line(&mut self, id: ClientId, line: &[u8]) -> bool {
        let Some(pending) = self.claims.get_mut(&id) else { return false };
        if pending.held.len() < MAX_HELD_LINES {
            pending.held.push(line.to_vec());
        } else {
            log::debug!("client {id}: line dropped while its name is claimed ({MAX_HELD_LINES} held already)");
        }
        true
    }

    /// `id` is gone: a claim under way for it is answered for nobody.
    pub(super) fn forget_claim(&mut self, id: ClientId) {
        self.claims.remove(&id);
    }
}

impl Chat {
    /// Takes a checked name for `id`: at once when the node stands alone; in a cluster, once the cluster has
    /// granted it.
    pub(super) fn take_name(&mut self, id: ClientId, name: Name, now: Now) {
        let Some(cluster) = self.cluster.as_mut() else {
            return self.apply_name(id, name, now);
        };
        cluster.last_claim += 1;
        let claim = cluster.last_claim;
        self.cluster_effects.push(ClusterEffect::Claim {
            id,
            claim,
            name: name.as_str().to_owned(),
            shape: name.shape().value(),
        });
        cluster.claims.insert(id, PendingClaim { claim, name, held: Vec::new() });
    }

    /// The cluster's answer to claim `claim` for `id`. Whether the name went into use: false for an answer
    /// that came after its client left (or asked again), whose granted name the caller must release.
    pub fn claim_result(&mut self, id: ClientId, claim: u64, outcome: ClaimOutcome, now: Now) -> bool {
        let Some(cluster) = self.cluster.as_mut() else { return false };
        let pending = match cluster.claims.remove(&id) {
            Some(pending) if pending.claim == claim => pending,
            other => {
                if let Some(pending) = other {
                    cluster.claims.insert(id, pending);
                }
                log::debug!("claim {claim} for client {id} answered after the client moved on");
                return false;
            }
        };
        let PendingClaim { name, held, .. } = pending;
        let used = outcome == ClaimOutcome::Granted && self.clients.get(&id).is_some();
        match outcome {
            ClaimOutcome::Granted => self.apply_name(id, name, now),
            ClaimOutcome::Taken => self.refuse_name(id, &[Text::NameTaken { name: name.as_str() }]),
            ClaimOutcome::Unavailable => self.refuse_name(id, &[Text::NameUnverifiable { name: name.as_str() }]),
        }
        for line in held {
            self.receive_line(id, &line, now);
        }
        used
    }

    /// The look-alike shapes of every name this node's users hold: what the cluster must keep claimed for them.
    pub fn claimed_shapes(&self) -> impl Iterator<Item = (u64, &str)> {
        self.by_shape.iter().filter_map(|(shape, id)| Some((shape.value(), self.name_of(*id)?.as_str())))
    }

    /// A refused name: a user still choosing is asked again; a named user keeps the name it has.
    fn refuse_name(&mut self, id: ClientId, texts: &[Text<'_>]) {
        let Some(client) = self.clients.get(&id) else { return };
        if client.name.is_none() && !client.is_irc() {
            let mut texts = texts.to_vec();
            texts.push(Text::AskName);
            self.reply(id, &texts);
        } else {
            self.reply(id, texts);
        }
    }

    /// The name `shape` stands for, claimed by this node, is someone else's now (the cluster lost it while this
    /// node was cut off, and another node's user took it): its user is told and let go.
    pub fn claim_lost(&mut self, shape: u64) {
        let owner = self.by_shape.iter().find(|(s, _)| s.value() == shape).map(|(_, &id)| id);
        let Some(id) = owner else { return };
        let Some(name) = self.name_of(id).map(|n| n.as_str().to_owned()) else { return };
        self.reply(id, &[Text::NameLostInCluster { name: &name }]);
        self.effects.push(Effect::Close(id));
        self.leave_chat(id, LeaveReason::Disconnected);
    }

    /// Tells the other nodes, if any.
    pub(super) fn tell_cluster(&mut self, event: ClusterEvent) {
        if self.cluster.is_some() {
            self.cluster_effects.push(ClusterEffect::Tell(event));
        }
    }

    /// The link to the other nodes is up (again): they are asked who is where, and told who is here. Nodes are
    /// given a full node timeout from now to answer.
    pub fn cluster_up(&mut self, now: Now) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        cluster.linked = true;
        for node in cluster.nodes.values_mut() {
            node.last_heard = now.mono;
        }
        self.cluster_effects.push(ClusterEffect::Tell(ClusterEvent::Hello));
        self.cluster_effects.push(ClusterEffect::Tell(ClusterEvent::Roster { users: self.roster() }));
    }

    /// The link to the other nodes is down: nobody is timed out until it is back.
    pub fn cluster_down(&mut self) {
        if let Some(cluster) = self.cluster.as_mut() {
            cluster.linked = false;
        }
    }

    /// Every user of this node and their rooms.
    fn roster(&self) -> Vec<RosterEntry> {
        self.by_name
            .values()
            .filter_map(|id| self.clients.get(id))
            .filter_map(|client| {
                let name = client.name.as_ref()?.as_str().to_owned();
                let rooms = client.rooms.iter().map(|&(room, _)| self.rooms[room].name.as_str().to_owned()).collect();
                Some(RosterEntry { name, rooms })
            })
            .collect()
    }

    /// Replaces a room's history with one loaded from the cluster, if this node has none of its own for it yet.
    pub fn load_cluster_history(&mut self, room: &str, messages: Vec<StoredMessage>) {
        let Ok(name) = RoomName::parse(room) else { return };
        let Some(room) = self.remote_room(&name) else { return };
        let history = &mut self.rooms[room].history;
        if !history.is_empty() {
            return;
        }
        let mut loaded = History::new(self.config.history_size);
        for message in messages {
            loaded.push(message);
        }
        self.rooms[room].last_active_ms = loaded.iter().last().map_or(i64::MIN, |m| m.ts);
        self.rooms[room].history = loaded;
        self.history_revision += 1;
    }

    /// Nodes that have been silent for the node timeout are taken for dead: their users leave.
    pub(super) fn expire_nodes(&mut self, now: Now) {
        let Some(cluster) = self.cluster.as_ref() else { return };
        if !cluster.linked {
            return;
        }
        let dead: Vec<u64> = cluster
            .nodes
            .iter()
            .filter(|(_, node)| node.last_heard + cluster.node_timeout <= now.mono)
            .map(|(&run, _)| run)
            .collect();
        for run in dead {
            if let Some(node) = self.cluster.as_mut().and_then(|c| c.nodes.remove(&run)) {
                log::warn!("cluster: node {} not heard from in {:?}; its users leave", node.name, self_timeout(self));
            }
            self.drop_node_users(run);
        }
    }

    /// An event from another node (`run`, called `node`).
    pub fn cluster_event(&mut self, node: &str, run: u64, event: ClusterEvent, now: Now) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        let known = cluster.nodes.insert(run, Node { name: node.to_owned(), last_heard: now.mono }).is_some();
        if !known {
            log::info!("cluster: node {node} joined");
            if !matches!(event, ClusterEvent::Hello | ClusterEvent::Roster { .. }) {
                // A node heard from for the first time mid-stream (this node started after it): ask who it has.
                self.cluster_effects.push(ClusterEffect::Tell(ClusterEvent::Hello));
            }
        }
        match event {
            ClusterEvent::Online { name, rooms } => {
                if self.add_remote_user(run, &name) {
                    for room in rooms {
                        self.remote_enter(&name, &room);
                    }
                }
            }
            ClusterEvent::Offline { name } => self.remove_remote_user(run, &name, true),
            ClusterEvent::Renamed { old, new } => self.rename_remote_user(run, &old, &new),
            ClusterEvent::Joined { name, room } => self.remote_enter(&name, &room),
            ClusterEvent::Parted { name, room } => self.remote_part(&name, &room),
            ClusterEvent::Said { room, message } => self.remote_said(&room, message),
            ClusterEvent::Whisper { from, to, text, ts } => self.remote_whisper(&from, &to, &text, ts),
            ClusterEvent::Hello => {
                let users = self.roster();
                self.cluster_effects.push(ClusterEffect::Tell(ClusterEvent::Roster { users }));
            }
            ClusterEvent::Roster { users } => self.apply_roster(run, users),
            ClusterEvent::Heartbeat => {}
            ClusterEvent::Bye => {
                log::info!("cluster: node {node} stopped; its users leave");
                if let Some(cluster) = self.cluster.as_mut() {
                    cluster.nodes.remove(&run);
                }
                self.drop_node_users(run);
            }
        }
    }

    /// Adds a user of node `run`, unless the name is in use here (which claims prevent; logged if it happens).
    fn add_remote_user(&mut self, run: u64, name: &str) -> bool {
        let key = NameKey::of(name);
        if self.by_name.contains_key(&key) {
            log::warn!("cluster: {name} is online on another node and here; the other node's user is not listed");
            return false;
        }
        let Some(cluster) = self.cluster.as_mut() else { return false };
        if cluster.users.contains_key(&key) {
            return false;
        }
        cluster.shapes.insert(NameShape::of(name), key.clone());
        cluster.users.insert(key, RemoteUser { name: name.to_owned(), run, rooms: Vec::new() });
        true
    }

    fn remove_remote_user(&mut self, run: u64, name: &str, notify: bool) {
        let key = NameKey::of(name);
        let Some(cluster) = self.cluster.as_mut() else { return };
        if cluster.users.get(&key).is_none_or(|user| user.run != run) {
            return;
        }
        let Some(user) = cluster.users.remove(&key) else { return };
        cluster.shapes.remove(&NameShape::of(&user.name));
        if notify {
            self.notify_user_change(&user.rooms, None, &[Text::Left { name: &user.name }]);
        }
        for room in user.rooms {
            if let Some(r) = self.rooms.get_mut(room) {
                r.remove_remote();
            }
            self.drop_if_vacant(room);
        }
    }

    fn drop_node_users(&mut self, run: u64) {
        let Some(cluster) = self.cluster.as_ref() else { return };
        let names: Vec<String> =
            cluster.users.values().filter(|user| user.run == run).map(|user| user.name.clone()).collect();
        for name in names {
            self.remove_remote_user(run, &name, true);
        }
    }

    fn rename_remote_user(&mut self, run: u64, old: &str, new: &str) {
        let Some(cluster) = self.cluster.as_mut() else { return };
        let Some(mut user) = cluster.users.remove(&NameKey::of(old)) else { return };
        if user.run != run {
            cluster.users.insert(NameKey::of(old), user);
            return;
        }
        cluster.shapes.remove(&NameShape::of(old));
        cluster.shapes.insert(NameShape::of(new), NameKey::of(new));
        user.name = new.to_owned();
        let rooms = user.rooms.clone();
        cluster.users.insert(NameKey::of(new), user);
        for &room in &rooms {
            if let Some(r) = self.rooms.get_mut(room) {
                r.users_reply = Default::default();
            }
        }
        self.notify_user_change(&rooms, None, &[Text::NickNotice { old, new }]);
    }

    /// The room called `name` for a remote user or message: found, or created while under the room cap (a node
    /// keeps to its own cap; past it, a remote room is left out of this node's lists).
    fn remote_room(&mut self, name: &RoomName) -> Option<RoomId> {
        if let Some(&room) = self.room_by_key.get(&name.key()) {
            return Some(room);
        }
        if self.rooms.len() >= self.config.max_rooms && !self.evict_quietest_empty_room() {
            log::warn!("cluster: room {} left out: this node is at its --max-rooms", name.as_str());
            return None;
        }
        let room = self.rooms.insert(Room::new(name.clone(), History::new(self.config.history_size)));
        self.room_by_key.insert(name.key(), room);
        Some(room)
    }

    fn remote_enter(&mut self, name: &str, room: &str) {
        let Ok(room_name) = RoomName::parse(room) else { return };
        let key = NameKey::of(name);
        if !self.cluster.as_ref().is_some_and(|c| c.users.contains_key(&key)) {
            return;
        }
        let Some(room) = self.remote_room(&room_name) else { return };
        let Some(user) = self.cluster.as_mut().and_then(|c| c.users.get_mut(&key)) else { return };
        if user.rooms.contains(&room) {
            return;
        }
        user.rooms.push(room);
        let name = user.name.clone();
        self.rooms[room].add_remote();
        let notice = if room == self.lobby {
            Text::Joined { name: &name }
        } else {
            Text::JoinedRoom { name: &name, room: room_name.as_str() }
        };
        self.notify_room(room, None, &[notice]);
    }

    fn remote_part(&mut self, name: &str, room: &str) {
        let Ok(room_name) = RoomName::parse(room) else { return };
        let Some(&room) = self.room_by_key.get(&room_name.key()) else { return };
        let Some(user) = self.cluster.as_mut().and_then(|c| c.users.get_mut(&NameKey::of(name))) else { return };
        let Some(position) = user.rooms.iter().position(|&r| r == room) else { return };
        user.rooms.remove(position);
        let name = user.name.clone();
        let room_name = self.rooms[room].name.as_str().to_owned();
        self.notify_room(room, None, &[Text::LeftRoom { name: &name, room: &room_name }]);
        self.rooms[room].remove_remote();
        self.drop_if_vacant(room);
    }

    fn remote_said(&mut self, room: &str, message: StoredMessage) {
        let Ok(room_name) = RoomName::parse(room) else { return };
        let Some(room) = self.remote_room(&room_name) else { return };
        let said = stored_text(&message, self.local_clock);
        self.notify_room(room, None, &[said]);
        let room = &mut self.rooms[room];
        room.last_active_ms = message.ts;
        room.history.push(message);
        self.history_revision += 1;
    }

    fn remote_whisper(&mut self, from: &str, to: &str, text: &str, ts: i64) {
        let Some(&target) = self.by_name.get(&NameKey::of(to)) else {
            return log::debug!("cluster: whisper from {from} to {to}, who is not here (any more)");
        };
        let at = (self.local_clock)(ts);
        self.reply(target, &[Text::Private { at, from, text }]);
    }

    /// A node's full list of users: those this node did not know arrive quietly (they may have been there a
    /// long time), those it lists no more leave with the usual notices, rooms are brought in line.
    fn apply_roster(&mut self, run: u64, users: Vec<RosterEntry>) {
        let listed: HashMap<NameKey, RosterEntry> =
            users.into_iter().map(|entry| (NameKey::of(&entry.name), entry)).collect();
        let gone: Vec<String> = self.cluster.as_ref().map_or_else(Vec::new, |cluster| {
            cluster
                .users
                .iter()
                .filter(|(key, user)| user.run == run && !listed.contains_key(*key))
                .map(|(_, user)| user.name.clone())
                .collect()
        });
        for name in gone {
            self.remove_remote_user(run, &name, true);
        }
        for (key, entry) in listed {
            let known = self.cluster.as_ref().is_some_and(|c| c.users.get(&key).is_some_and(|u| u.run == run));
            if !known && !self.add_remote_user(run, &entry.name) {
                continue;
            }
            let rooms: Vec<RoomId> = entry
                .rooms
                .iter()
                .filter_map(|room| RoomName::parse(room).ok())
                .filter_map(|room| self.remote_room(&room))
                .collect();
            let Some(user) = self.cluster.as_mut().and_then(|c| c.users.get_mut(&key)) else { continue };
            let before = std::mem::replace(&mut user.rooms, rooms.clone());
            for &room in before.iter().filter(|room| !rooms.contains(room)) {
                if let Some(r) = self.rooms.get_mut(room) {
                    r.remove_remote();
                }
                self.drop_if_vacant(room);
            }
            for &room in rooms.iter().filter(|room| !before.contains(room)) {
                self.rooms[room].add_remote();
            }
        }
    }
}

fn self_timeout(chat: &Chat) -> Duration {
    chat.cluster.as_ref().map_or(Duration::ZERO, |c| c.node_timeout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::catalog::Lang;
    use crate::core::chat::ChatConfig;
    use crate::core::chat::tests::utc_clock;
    use std::collections::VecDeque;

    const NODE_TIMEOUT: Duration = Duration::from_secs(10);

    struct Node {
        chat: Chat,
        run: u64,
        name: &'static str,
        /// Whether its events reach the others (false: it is cut off, or dead).
        connected: bool,
        seen: HashMap<ClientId, String>,
        closed: Vec<ClientId>,
    }

    /// Nodes joined by a simulated Redis: events published by one reach the others in order, and name claims
    /// are settled in one table, as `SET NX` would.
    struct Cluster {
        nodes: Vec<Node>,
        claims: HashMap<u64, u64>,
        bus: VecDeque<(usize, ClusterEvent)>,
        /// Claims not yet answered, when `defer_claims` holds them back.
        deferred: Vec<(usize, ClientId, u64, u64)>,
        defer_claims: bool,
        redis_up: bool,
        start: Instant,
        elapsed: Duration,
    }

    impl Cluster {
        fn new(names: &[&'static str]) -> Cluster {
            let config = ChatConfig { cluster_node_timeout: Some(NODE_TIMEOUT), ..ChatConfig::default() };
            let nodes = names
                .iter()
                .enumerate()
                .map(|(i, &name)| Node {
                    chat: Chat::new(config.clone(), utc_clock, History::new(50)),
                    run: 100 + i as u64,
                    name,
                    connected: true,
                    seen: HashMap::new(),
                    closed: Vec::new(),
                })
                .collect();
            let mut cluster = Cluster {
                nodes,
                claims: HashMap::new(),
                bus: VecDeque::new(),
                deferred: Vec::new(),
                defer_claims: false,
                redis_up: true,
                start: Instant::now(),
                elapsed: Duration::ZERO,
            };
            let now = cluster.now();
            for node in &mut cluster.nodes {
                node.chat.cluster_up(now);
            }
            cluster.pump();
            cluster
        }

        fn now(&self) -> Now {
            Now { mono: self.start + self.elapsed, unix_ms: 1_700_000_000_000 + self.elapsed.as_millis() as i64 }
        }

        fn line(&mut self, node: usize, id: ClientId, line: &str) {
            let now = self.now();
            self.nodes[node].chat.receive_line(id, line.as_bytes(), now);
            self.pump();
        }

        fn join(&mut self, node: usize, id: ClientId, name: &str) {
            let now = self.now();
            self.nodes[node].chat.connect(id, now);
            self.line(node, id, name);
            self.take(node, id);
        }

        fn take(&mut self, node: usize, id: ClientId) -> String {
            self.nodes[node].seen.remove(&id).unwrap_or_default()
        }

        fn answer(&mut self, node: usize, id: ClientId, claim: u64, shape: u64) {
            let run = self.nodes[node].run;
            let outcome = if !self.redis_up || !self.nodes[node].connected {
                ClaimOutcome::Unavailable
            } else if self.claims.get(&shape).is_some_and(|&owner| owner != run) {
                ClaimOutcome::Taken
            } else {
                self.claims.insert(shape, run);
                ClaimOutcome::Granted
            };
            let now = self.now();
            if !self.nodes[node].chat.claim_result(id, claim, outcome, now) && outcome == ClaimOutcome::Granted {
                self.claims.remove(&shape);
            }
        }

        /// Carries out every node's effects until none are left.
        fn pump(&mut self) {
            loop {
                let mut busy = false;
                for i in 0..self.nodes.len() {
                    let mut effects = Vec::new();
                    self.nodes[i].chat.take_effects(&mut effects);
                    busy |= !effects.is_empty();
                    for effect in effects {
                        self.apply(i, effect);
                    }
                    let mut cluster_effects = Vec::new();
                    self.nodes[i].chat.take_cluster_effects(&mut cluster_effects);
                    busy |= !cluster_effects.is_empty();
                    for effect in cluster_effects {
                        self.apply_cluster(i, effect);
                    }
                }
                while let Some((from, event)) = self.bus.pop_front() {
                    busy = true;
                    let now = self.now();
                    let (name, run) = (self.nodes[from].name, self.nodes[from].run);
                    for (i, node) in self.nodes.iter_mut().enumerate() {
                        if i != from && node.connected {
                            node.chat.cluster_event(name, run, event.clone(), now);
                        }
                    }
                }
                if !busy {
                    return;
                }
            }
        }

        fn apply(&mut self, i: usize, effect: Effect) {
            match effect {
                Effect::Send { to, payload } => {
                    self.nodes[i].seen.entry(to).or_default().push_str(&String::from_utf8_lossy(&payload));
                }
                Effect::Broadcast { to, payload } => {
                    let mut recipients = Vec::new();
                    self.nodes[i].chat.for_each_recipient(to, |id, variant| recipients.push((id, variant)));
                    for (id, variant) in recipients {
                        let bytes = payload.get(variant).expect("rendered for every recipient");
                        self.nodes[i].seen.entry(id).or_default().push_str(&String::from_utf8_lossy(bytes));
                    }
                }
                Effect::Close(id) => self.nodes[i].closed.push(id),
                Effect::Joined { .. } | Effect::Left { .. } | Effect::Renamed { .. } => {}
            }
        }

        fn apply_cluster(&mut self, i: usize, effect: ClusterEffect) {
            match effect {
                ClusterEffect::Claim { id, claim, shape, .. } if self.defer_claims => {
                    self.deferred.push((i, id, claim, shape))
                }
                ClusterEffect::Claim { id, claim, shape, .. } => self.answer(i, id, claim, shape),
                ClusterEffect::Release { shape, .. } => {
                    if self.claims.get(&shape) == Some(&self.nodes[i].run) {
                        self.claims.remove(&shape);
                    }
                }
                ClusterEffect::Tell(event) if self.redis_up && self.nodes[i].connected => {
                    self.bus.push_back((i, event))
                }
                ClusterEffect::Tell(_) => {}
            }
        }
    }

    #[test]
    fn users_on_two_nodes_see_one_chat() {
        let mut cluster = Cluster::new(&["a", "b"]);
        cluster.join(0, 1, "Ana");
        cluster.join(1, 1, "Luis");
        assert_eq!(cluster.take(0, 1), "*** Luis joined the chat\n");
        cluster.line(0, 1, "hola");
        assert_eq!(cluster.take(1, 1), "[22:13] Ana: hola\n");
        assert_eq!(cluster.take(0, 1), "[22:13] Ana: hola\n", "the sender sees its line as ever");
        cluster.line(1, 1, "/me saluda");
        assert_eq!(cluster.take(0, 1), "[22:13] * Luis saluda\n");
        cluster.take(1, 1);

        cluster.line(1, 1, "/users");
        assert_eq!(cluster.take(1, 1), "Connected users (2):\n  Ana\n  Luis\n");
        cluster.line(1, 1, "/whisper ana psst");
        assert_eq!(cluster.take(1, 1), "Message sent to Ana\n");
        assert_eq!(cluster.take(0, 1), "[22:13] (private) Luis: psst\n");

        cluster.line(0, 1, "/join cocina");
        cluster.take(0, 1);
        cluster.line(1, 1, "/rooms");
        assert_eq!(cluster.take(1, 1), "Rooms (2):\n  #cocina (1)\n  #general (2, you are here)\n");

        cluster.line(0, 1, "/nick Anita");
        cluster.take(0, 1);
        assert_eq!(cluster.take(1, 1), "*** Ana is now known as Anita\n");
        cluster.line(0, 1, "/quit");
        assert_eq!(cluster.take(1, 1), "*** Anita left the chat\n");
        assert!(cluster.claims.len() == 1, "Anita's and Ana's claims are released, Luis's is kept");
    }

    #[test]
    fn a_name_held_on_one_node_is_refused_on_the_other_and_so_is_a_look_alike() {
        let mut cluster = Cluster::new(&["a", "b"]);
        cluster.join(0, 1, "Ana");
        let now = cluster.now();
        cluster.nodes[1].chat.connect(2, now);
        cluster.pump();
        cluster.take(1, 2);
        cluster.line(1, 2, "ANA");
        assert_eq!(cluster.take(1, 2), "Error: the name ANA is already taken\nUSERNAME:\n");
        cluster.join(0, 3, "Ian");
        cluster.line(1, 2, "lan");
        assert_eq!(cluster.take(1, 2), "Error: the name lan looks too much like Ian, who is connected\nUSERNAME:\n");

        // A node that has not heard of Ana yet still cannot take the name: the claim settles it.
        cluster.nodes[1].chat = Chat::new(
            ChatConfig { cluster_node_timeout: Some(NODE_TIMEOUT), ..ChatConfig::default() },
            utc_clock,
            History::new(50),
        );
        let now = cluster.now();
        cluster.nodes[1].chat.connect(3, now);
        cluster.pump();
        cluster.take(1, 3);
        cluster.line(1, 3, "Ana");
        assert_eq!(cluster.take(1, 3), "Error: the name Ana is already taken\nUSERNAME:\n");
    }

    #[test]
    fn a_silent_node_is_taken_for_dead_and_its_users_leave() {
        let mut cluster = Cluster::new(&["a", "b"]);
        cluster.join(0, 1, "Ana");
        cluster.join(1, 1, "Luis");
        cluster.take(0, 1);
        cluster.nodes[1].connected = false;
        cluster.elapsed += NODE_TIMEOUT - Duration::from_secs(1);
        let now = cluster.now();
        cluster.nodes[0].chat.handle_timeout(now);
        cluster.pump();
        assert_eq!(cluster.take(0, 1), "", "not yet");
        let deadline = cluster.nodes[0].chat.poll_timeout().expect("a node deadline");
        assert_eq!(deadline, cluster.start + NODE_TIMEOUT);
        cluster.elapsed += Duration::from_secs(1);
        let now = cluster.now();
        cluster.nodes[0].chat.handle_timeout(now);
        cluster.pump();
        assert_eq!(cluster.take(0, 1), "*** Luis left the chat\n");
        cluster.line(0, 1, "/users");
        assert_eq!(cluster.take(0, 1), "Connected users (1):\n  Ana\n");
    }

    #[test]
    fn while_the_cluster_is_unreachable_names_are_refused_clearly_and_nobody_times_out() {
        let mut cluster = Cluster::new(&["a", "b"]);
        cluster.join(0, 1, "Ana");
        cluster.join(1, 1, "Luis");
        cluster.take(0, 1);
        cluster.redis_up = false;
        for node in &mut cluster.nodes {
            node.chat.cluster_down();
        }
        let now = cluster.now();
        cluster.nodes[0].chat.connect(2, now);
        cluster.pump();
        cluster.take(0, 2);
        cluster.line(0, 2, "Eva");
        assert_eq!(
            cluster.take(0, 2),
            "Error: the name Eva cannot be checked with the other servers right now; try again in a moment\n\
             USERNAME:\n"
        );
        cluster.elapsed += NODE_TIMEOUT * 3;
        let now = cluster.now();
        cluster.nodes[0].chat.handle_timeout(now);
        cluster.line(0, 1, "only here");
        assert_eq!(cluster.take(0, 1), "[22:13] Ana: only here\n", "local chat goes on");
        assert_eq!(cluster.take(1, 1), "", "the other node does not hear it");
        cluster.line(0, 1, "/whisper Luis hola");
        assert_eq!(
            cluster.take(0, 1),
            "Error: Luis is on another server, which cannot be reached right now; the message was not sent\n",
            "a whisper that would be lost says so"
        );

        cluster.redis_up = true;
        let now = cluster.now();
        for node in &mut cluster.nodes {
            node.chat.cluster_up(now);
        }
        cluster.pump();
        cluster.line(1, 1, "/users");
        assert_eq!(cluster.take(1, 1), "Connected users (2):\n  Ana\n  Luis\n", "nobody was dropped");
        cluster.line(1, 1, "back");
        assert_eq!(cluster.take(0, 1), "[22:13] Luis: back\n");
        cluster.take(1, 1);
        cluster.line(0, 1, "/whisper Luis hola");
        assert_eq!(cluster.take(0, 1), "Message sent to Luis\n");
        assert_eq!(cluster.take(1, 1), "[22:13] (private) Ana: hola\n");
    }

    #[test]
    fn lines_sent_while_a_name_is_claimed_are_handled_once_it_is_granted() {
        let mut cluster = Cluster::new(&["a"]);
        cluster.defer_claims = true;
        let now = cluster.now();
        cluster.nodes[0].chat.connect(1, now);
        cluster.pump();
        cluster.take(0, 1);
        cluster.line(0, 1, "Ana");
        cluster.line(0, 1, "first");
        cluster.line(0, 1, "/users");
        assert_eq!(cluster.take(0, 1), "", "nothing happens until the claim is answered");
        let (node, id, claim, shape) = cluster.deferred.pop().expect("a claim");
        cluster.defer_claims = false;
        cluster.answer(node, id, claim, shape);
        cluster.pump();
        let seen = cluster.take(0, 1);
        assert!(seen.starts_with("Welcome Ana!"), "{seen}");
        assert!(seen.ends_with("[22:13] Ana: first\nConnected users (1):\n  Ana\n"), "{seen}");
    }

    #[test]
    fn an_answer_for_a_client_that_left_releases_the_name() {
        let mut cluster = Cluster::new(&["a"]);
        cluster.defer_claims = true;
        let now = cluster.now();
        cluster.nodes[0].chat.connect(1, now);
        cluster.line(0, 1, "Ana");
        cluster.nodes[0].chat.disconnect(1);
        let (node, id, claim, shape) = cluster.deferred.pop().expect("a claim");
        cluster.answer(node, id, claim, shape);
        assert!(cluster.claims.is_empty(), "the granted name is given back");
    }

    #[test]
    fn a_node_that_starts_later_learns_who_is_where_and_hears_the_history() {
        let mut cluster = Cluster::new(&["a", "b"]);
        cluster.join(0, 1, "Ana");
        cluster.line(0, 1, "/join cocina");
        cluster.line(0, 1, "before b restarted");
        // b starts afresh and joins the cluster: it asks, a answers with its roster.
        cluster.nodes[1].chat = Chat::new(
            ChatConfig { cluster_node_timeout: Some(NODE_TIMEOUT), ..ChatConfig::default() },
            utc_clock,
            History::new(50),
        );
        let now = cluster.now();
        cluster.nodes[1].chat.cluster_up(now);
        cluster.pump();
        cluster.join(1, 1, "Luis");
        cluster.line(1, 1, "/rooms");
        assert_eq!(cluster.take(1, 1), "Rooms (2):\n  #cocina (1)\n  #general (2, you are here)\n");
        cluster.nodes[1].chat.load_cluster_history(
            "cocina",
            vec![StoredMessage { ts: 1_700_000_000_000, user: "Ana".into(), text: "from redis".into(), action: false }],
        );
        cluster.line(1, 1, "/join cocina");
        assert_eq!(cluster.take(1, 1), "Now in #cocina\nHistory:\n[22:13] Ana: from redis\n");
    }

    #[test]
    fn a_user_whose_name_the_cluster_gave_away_is_told_and_let_go() {
        let mut cluster = Cluster::new(&["a", "b"]);
        cluster.join(0, 1, "Ana");
        let shape = NameShape::of("Ana").value();
        cluster.nodes[0].chat.claim_lost(shape);
        cluster.pump();
        assert_eq!(
            cluster.take(0, 1),
            "*** Another server gave your name Ana to someone else while this one was cut off; reconnect to choose a \
             name\n"
        );
        assert_eq!(cluster.nodes[0].closed, vec![1]);
        let _ = Lang::En;
    }
}
