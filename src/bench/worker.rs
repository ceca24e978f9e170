//! One tool thread: a mio loop over every `threads`-th client. It opens its clients within its share of the
//! concurrency, logs them in, sends on schedule (or when the previous message is back), reads everything the
//! server sends, and records what arrived and when.
//!
//! Each turn reads like this: look at the phase, do that phase's timed work (open, send, check the drain),
//! sleep in `poll` until the next timed work or an event, handle the events, send what closed-loop receipts
//! released, publish the progress counters.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};

use crate::bench::client::{Client, MAX_PARTIAL_LINE_BYTES, State};
use crate::bench::message::{Stamp, parse_text, write_text};
use crate::bench::plan::{Pace, Plan};
use crate::bench::procstat::thread_cpu;
use crate::bench::protocol::{Dialect, Incoming, Protocol};
use crate::bench::shared::{MAX_POLL_WAIT, Phase, Shared};
use crate::bench::sockets::{cause, connect_result, start_connect};
use crate::bench::stats::Tally;
use crate::bench::tls::{self, Fed, TlsSetup, feed};
use crate::bench::websocket;

/// Readiness events taken per `poll`.
const WORKER_EVENTS_PER_POLL: usize = 256;
/// Bytes per `read` call, in the one buffer all of a worker's clients share.
const WORKER_READ_CHUNK_BYTES: usize = 64 * 1024;
/// How often unfinished logins are checked against the login timeout.
const LOGIN_CHECK_INTERVAL_NS: u64 = 100_000_000;
/// How often receivers are checked for having everything, while draining.
const DRAIN_CHECK_INTERVAL_NS: u64 = 10_000_000;
/// Rate mode: events handled between looks at the send schedule, so a long batch of receipts does not make
/// the tool send late.
const EVENTS_BETWEEN_SCHEDULE_CHECKS: usize = 32;
/// Wake this long before a scheduled send and spin the rest: `poll` sleeps in whole milliseconds, rounded up.
const SPIN_BEFORE_SEND_NS: u64 = 1_000_000;
/// The longest refusal text kept as a failure cause.
const MAX_CAUSE_CHARS: usize = 80;

/// A sender this worker drives.
struct Sender {
    /// The sender's global index (also its client index).
    index: usize,
    /// Its client's position in this worker's table.
    local: usize,
    /// The sequence number of the next message; also the count sent.
    seq: u32,
}

/// The fan-out run, once this worker has seen it start.
struct RunClock {
    start_ns: u64,
    end_ns: u64,
    /// Closed loop: the first messages have gone out.
    kicked_off: bool,
    done_sending: bool,
    drained: bool,
    next_drain_check_ns: u64,
}

/// Everything line handling touches besides the client itself.
struct Ctx {
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    dialect: Dialect,
    tally: Tally,
    senders: Vec<Sender>,
    /// Closed loop: sender slots whose previous message is back.
    ready: Vec<usize>,
    run: Option<RunClock>,
    /// Once every worker has stopped sending: the messages said in each room, by room number.
    sent_per_room: Option<Vec<u64>>,
    in_flight: usize,
    /// Progress counters not yet added to the shared ones.
    unpublished_sent: u64,
    unpublished_received: u64,
    /// `--ws`: the lines of one read, out of their frames; reused.
    ws_lines: Vec<u8>,
}

pub(crate) struct Worker {
    id: usize,
    poll: Poll,
    events: Events,
    clients: Vec<Client>,
    scratch: Box<[u8]>,
    /// `--tls`: what every client's session is made from, and the buffer plaintext is read into (the socket's
    /// bytes are in `scratch`); empty without TLS.
    tls: Option<Arc<TlsSetup>>,
    plaintext: Box<[u8]>,
    next_to_open: usize,
    max_in_flight: usize,
    next_login_check_ns: u64,
    /// This thread's CPU time when the current phase began.
    phase_cpu_start: Duration,
    seen_phase: Phase,
    ctx: Ctx,
}

impl Worker {
    /// Worker `id` of `plan.threads`, with clients `id`, `id + threads`, ...; `tls` with `--tls`.
    pub(crate) fn new(
        id: usize,
        plan: Arc<Plan>,
        shared: Arc<Shared>,
        dialect: Dialect,
        tls: Option<Arc<TlsSetup>>,
    ) -> io::Result<Worker> {
        let poll = Poll::new().map_err(|e| io::Error::new(e.kind(), format!("cannot create a poll instance: {e}")))?;
        let clients: Vec<Client> =
            (id..plan.clients).step_by(plan.threads).map(|index| Client::new(index, plan.room_of(index))).collect();
        let senders = match plan.fanout() {
            Some(f) => (id..f.senders)
                .step_by(plan.threads)
                .map(|index| Sender { index, local: index / plan.threads, seq: 0 })
                .collect(),
            None => Vec::new(),
        };
        let share = plan.concurrency / plan.threads + usize::from(id < plan.concurrency % plan.threads);
        let tally = Tally::new(plan.rooms);
        Ok(Worker {
            id,
            poll,
            events: Events::with_capacity(WORKER_EVENTS_PER_POLL),
            clients,
            scratch: vec![0; WORKER_READ_CHUNK_BYTES].into_boxed_slice(),
            plaintext: vec![0; if tls.is_some() { WORKER_READ_CHUNK_BYTES } else { 0 }].into_boxed_slice(),
            tls,
            next_to_open: 0,
            max_in_flight: share.max(1),
            next_login_check_ns: 0,
            phase_cpu_start: thread_cpu(),
            seen_phase: Phase::Join,
            ctx: Ctx {
                plan,
                shared,
                dialect,
                tally,
                senders,
                ready: Vec::new(),
                run: None,
                sent_per_room: None,
                in_flight: 0,
                unpublished_sent: 0,
                unpublished_received: 0,
                ws_lines: Vec::new(),
            },
        })
    }

    /// Runs every phase until [`Phase::Leave`], then closes all clients and returns what was measured.
    pub(crate) fn run(mut self) -> Tally {
        loop {
            let now = self.ctx.shared.now_ns();
            self.observe_phase(now);
            match self.seen_phase {
                Phase::Join => {
                    self.open_more(now);
                    self.expire_logins(now);
                }
                Phase::Hold => {}
                Phase::Run => self.drive_run(now),
                Phase::Leave => break,
            }
            let wait = self.poll_wait(now);
            if let Err(e) = self.poll.poll(&mut self.events, Some(wait)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.abort(&format!("poll failed: {e}"));
                break;
            }
            let now = self.ctx.shared.now_ns();
            self.observe_phase(now);
            let ready: Vec<(usize, bool)> = self.events.iter().map(|e| (e.token().0, e.is_writable())).collect();
            for (n, (local, writable)) in ready.into_iter().enumerate() {
                self.on_event(local, writable);
                if n % EVENTS_BETWEEN_SCHEDULE_CHECKS == EVENTS_BETWEEN_SCHEDULE_CHECKS - 1 {
                    self.send_due_now();
                }
            }
            self.send_released();
            self.publish_progress();
        }
        self.leave();
        self.ctx.tally
    }

    /// Notices a phase change, and books this thread's CPU time per phase.
    fn observe_phase(&mut self, now: u64) {
        let phase = self.ctx.shared.phase();
        if phase == self.seen_phase {
            return;
        }
        let cpu = thread_cpu();
        if self.seen_phase == Phase::Join {
            self.ctx.tally.join_cpu = cpu.saturating_sub(self.phase_cpu_start);
        } else if self.ctx.run.as_ref().is_none_or(|r| !r.drained) {
            // Holding, or a run that ended before draining.
            self.ctx.tally.run_cpu = cpu.saturating_sub(self.phase_cpu_start);
        }
        self.phase_cpu_start = cpu;
        if phase == Phase::Run && self.ctx.run.is_none() {
            self.start_run(now);
        }
        self.seen_phase = phase;
    }

    /// Marks the clients now in the room as receivers and sets the sending schedule.
    fn start_run(&mut self, now: u64) {
        let Some(fanout) = self.ctx.plan.fanout() else { return };
        let start_ns = self.ctx.shared.run_start_ns();
        let end_ns = start_ns.saturating_add(u64::try_from(fanout.duration.as_nanos()).unwrap_or(u64::MAX));
        for client in &mut self.clients {
            if client.state == State::InRoom {
                client.receiver = true;
                client.next_seq = vec![0; fanout.senders];
            }
        }
        self.ctx.run = Some(RunClock {
            start_ns,
            end_ns,
            kicked_off: false,
            done_sending: false,
            drained: false,
            next_drain_check_ns: now,
        });
    }

    /// Opens clients while this worker has concurrency to spare.
    fn open_more(&mut self, now: u64) {
        while self.ctx.in_flight < self.max_in_flight && self.next_to_open < self.clients.len() {
            let local = self.next_to_open;
            self.next_to_open += 1;
            self.open(local, now);
        }
    }

    fn open(&mut self, local: usize, now: u64) {
        let plan = &self.ctx.plan;
        let client = &mut self.clients[local];
        let source = (!plan.source_ips.is_empty()).then(|| plan.source_ips[client.index % plan.source_ips.len()]);
        let tally = &mut self.ctx.tally;
        tally.attempted += 1;
        tally.first_start_ns.get_or_insert(now);
        client.started_ns = now;
        let registered = start_connect(plan.target_of(client.index), source).and_then(|mut socket| {
            self.poll
                .registry()
                .register(&mut socket, Token(local), Interest::READABLE | Interest::WRITABLE)
                .map(|()| socket)
        });
        match registered {
            Ok(socket) => {
                client.socket = Some(socket);
                client.state = State::Connecting;
                self.ctx.in_flight += 1;
            }
            Err(e) => {
                client.state = State::Closed;
                tally.fail(cause("connect", &e));
                self.ctx.shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Gives up on clients that have not got into the room within the login timeout.
    fn expire_logins(&mut self, now: u64) {
        if now < self.next_login_check_ns {
            return;
        }
        self.next_login_check_ns = now + LOGIN_CHECK_INTERVAL_NS;
        let limit = u64::try_from(self.ctx.plan.join_timeout.as_nanos()).unwrap_or(u64::MAX);
        for local in 0..self.next_to_open {
            let client = &self.clients[local];
            if client.in_flight() && now.saturating_sub(client.started_ns) > limit {
                let what = match client.state {
                    State::Connecting => "timed out connecting",
                    State::Handshaking => "timed out in the TLS handshake",
                    _ => "timed out logging in",
                };
                self.drop_client(local, what.to_owned());
            }
        }
    }

    /// The fan-out's timed work: kick off or schedule sends, stop at the end, check the drain.
    fn drive_run(&mut self, now: u64) {
        let Some(fanout) = self.ctx.plan.fanout().cloned() else {
            return;
        };
        let Some(run) = self.ctx.run.as_mut() else { return };
        if now < run.start_ns || run.drained {
            return;
        }
        if !run.done_sending {
            if now >= run.end_ns {
                run.done_sending = true;
                for sender in &self.ctx.senders {
                    self.ctx.shared.sent_by_sender[sender.index].store(u64::from(sender.seq), Ordering::Release);
                }
                self.ctx.shared.senders_done.fetch_add(1, Ordering::AcqRel);
            } else {
                match fanout.pace {
                    Pace::ClosedLoop if !run.kicked_off => {
                        run.kicked_off = true;
                        self.ctx.ready.extend(0..self.ctx.senders.len());
                        self.send_released();
                    }
                    Pace::ClosedLoop => {}
                    Pace::Rate(rate) => self.send_due(now, rate),
                }
                return;
            }
        }
        self.check_drain(now, fanout.drain_timeout);
    }

    /// Rate mode, in the middle of a batch of events: sends whatever has come due.
    fn send_due_now(&mut self) {
        let Some(Pace::Rate(rate)) = self.ctx.plan.fanout().map(|f| f.pace) else {
            return;
        };
        let now = self.ctx.shared.now_ns();
        let sending = self.ctx.run.as_ref().is_some_and(|r| !r.done_sending && now >= r.start_ns && now < r.end_ns);
        if sending {
            self.send_due(now, rate);
        }
    }

    /// Rate mode: sends every message whose scheduled time has come, stamped with that time.
    fn send_due(&mut self, now: u64, rate: f64) {
        let Some(run) = self.ctx.run.as_ref() else { return };
        let (start, end) = (run.start_ns, run.end_ns);
        for slot in 0..self.ctx.senders.len() {
            loop {
                let sender = &self.ctx.senders[slot];
                let due = self.ctx.due_ns(start, sender.index, sender.seq, rate);
                if due > now || due >= end {
                    break;
                }
                let local = sender.local;
                if !self.send_one(slot, local, due) {
                    break;
                }
                self.ctx.tally.send_lag_ns.saturating_record(now.saturating_sub(due).max(1));
            }
        }
    }

    /// Closed loop: sends the next message of every sender whose previous one came back.
    fn send_released(&mut self) {
        if self.ctx.ready.is_empty() {
            return;
        }
        let sending = self.ctx.run.as_ref().is_some_and(|r| !r.done_sending && self.ctx.shared.now_ns() < r.end_ns);
        let ready = std::mem::take(&mut self.ctx.ready);
        if sending {
            for &slot in &ready {
                let local = self.ctx.senders[slot].local;
                let now = self.ctx.shared.now_ns();
                self.send_one(slot, local, now);
            }
        }
        self.ctx.ready = ready;
        self.ctx.ready.clear();
    }

    /// Sends sender `slot`'s next message stamped `stamp_ns`; false if its client is not in the room.
    fn send_one(&mut self, slot: usize, local: usize, stamp_ns: u64) -> bool {
        let size = self.ctx.plan.fanout().map_or(0, |f| f.size);
        let client = &mut self.clients[local];
        if client.state != State::InRoom {
            return false;
        }
        let sender = &mut self.ctx.senders[slot];
        let stamp = Stamp { seq: sender.seq, sent_ns: stamp_ns };
        sender.seq += 1;
        let room = self.ctx.plan.room_of(sender.index);
        self.ctx.dialect.public_message(room, client.out(), |out| write_text(out, stamp, size));
        self.ctx.tally.sent += 1;
        self.ctx.unpublished_sent += 1;
        if let Err(e) = client.flush() {
            self.drop_client(local, cause("write", &e));
        }
        true
    }

    /// Once every worker has stopped sending: done when every receiver has all it should, or time is up.
    fn check_drain(&mut self, now: u64, drain_timeout: Duration) {
        let Some(run) = self.ctx.run.as_ref() else { return };
        let all_stopped = self.ctx.shared.senders_done.load(Ordering::Acquire) >= self.ctx.plan.threads;
        if !all_stopped || now < run.next_drain_check_ns {
            return;
        }
        let deadline = run.end_ns.saturating_add(u64::try_from(drain_timeout.as_nanos()).unwrap_or(u64::MAX));
        if self.ctx.sent_per_room.is_none() {
            self.ctx.sent_per_room = Some(self.ctx.shared.sent_per_room(&self.ctx.plan));
        }
        let complete = self
            .clients
            .iter()
            .filter(|c| c.receiver && c.state != State::Closed)
            .all(|c| c.received >= self.ctx.expected_for(c.index));
        if let Some(run) = self.ctx.run.as_mut() {
            run.next_drain_check_ns = now + DRAIN_CHECK_INTERVAL_NS;
            run.drained = complete || now >= deadline;
            if !run.drained {
                return;
            }
        }
        for client in self.clients.iter().filter(|c| c.receiver) {
            let expected = self.ctx.expected_for(client.index);
            let lost = expected.saturating_sub(client.received);
            let tally = &mut self.ctx.tally;
            tally.expected += expected;
            tally.lost += lost;
            let room = &mut tally.rooms[client.room];
            room.expected += expected;
            room.lost += lost;
        }
        self.ctx.tally.run_cpu = thread_cpu().saturating_sub(self.phase_cpu_start);
        self.ctx.shared.drained.fetch_add(1, Ordering::AcqRel);
    }

    /// How long `poll` may sleep: until the next scheduled send (minus a spin margin), at most
    /// [`MAX_POLL_WAIT`].
    fn poll_wait(&self, now: u64) -> Duration {
        let mut next = None;
        if let (Some(run), Some(fanout)) = (&self.ctx.run, self.ctx.plan.fanout())
            && !run.done_sending
        {
            next = Some(
                run.start_ns.max(
                    run.end_ns.min(match fanout.pace {
                        Pace::Rate(rate) => self
                            .ctx
                            .senders
                            .iter()
                            .map(|s| self.ctx.due_ns(run.start_ns, s.index, s.seq, rate))
                            .min()
                            .unwrap_or(run.end_ns),
                        Pace::ClosedLoop if !run.kicked_off => run.start_ns,
                        Pace::ClosedLoop => run.end_ns,
                    }),
                ),
            );
        }
        match next {
            Some(at) if at <= now + SPIN_BEFORE_SEND_NS => Duration::ZERO,
            Some(at) => MAX_POLL_WAIT.min(Duration::from_nanos(at - now - SPIN_BEFORE_SEND_NS)),
            None => MAX_POLL_WAIT,
        }
    }

    fn on_event(&mut self, local: usize, writable: bool) {
        let Some(client) = self.clients.get_mut(local) else {
            return;
        };
        let Some(socket) = client.socket.as_ref() else { return };
        let mut just_connected = false;
        if client.state == State::Connecting {
            match connect_result(socket) {
                Ok(true) => {
                    let now = self.ctx.shared.now_ns();
                    client.state = State::LoggingIn;
                    let tally = &mut self.ctx.tally;
                    tally.established += 1;
                    tally.last_established_ns = tally.last_established_ns.max(now);
                    tally.connect_ns.saturating_record(now.saturating_sub(client.started_ns).max(1));
                    self.ctx.shared.established.fetch_add(1, Ordering::Relaxed);
                    if let Some(tls) = &self.tls {
                        match tls.session(self.ctx.plan.target_of(client.index)) {
                            Ok(session) => client.tls = Some(Box::new(session)),
                            Err(e) => return self.drop_client(local, format!("tls: {e}")),
                        }
                        client.state = State::Handshaking;
                        just_connected = true;
                    }
                    if self.ctx.plan.websocket {
                        client.open_websocket(self.ctx.plan.target_of(client.index));
                    }
                    // Over TLS, rustls holds these until the handshake is done.
                    self.ctx.dialect.greet(client.index, client.out());
                }
                Ok(false) => return,
                Err(e) => return self.drop_client(local, cause("connect", &e)),
            }
        }
        // The ClientHello leaves at once, whatever event brought the connect's end.
        if (writable || just_connected)
            && let Err(e) = self.clients[local].flush()
        {
            return self.drop_client(local, cause("write", &e));
        }
        self.read_from(local);
    }

    /// Reads until `WouldBlock`, handling every complete line, then sends any replies (and, with `--tls`,
    /// handshake messages). Over TLS each read is fed to the client's session first, and what it yields is
    /// handled as plain bytes are.
    fn read_from(&mut self, local: usize) {
        loop {
            let client = &mut self.clients[local];
            let Some(socket) = client.socket.as_mut() else { return };
            let read = match socket.read(&mut self.scratch) {
                Ok(0) => return self.drop_client(local, "closed by the server".to_owned()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.drop_client(local, cause("read", &e)),
            };
            let wire = &self.scratch[..read];
            let taken = match client.tls.take() {
                None => self.ctx.take_bytes(client, wire, self.ctx.shared.now_ns()).map(|()| Fed::Taken),
                // Taken out for the feed, so that lines can be handed to the client meanwhile.
                Some(mut session) => {
                    let ctx = &mut self.ctx;
                    let fed = feed(&mut session, wire, &mut self.plaintext, |arrived| {
                        let now = ctx.shared.now_ns();
                        match arrived {
                            tls::Arrived::HandshakeDone => {
                                ctx.handshake_done(client, now);
                                Ok(())
                            }
                            tls::Arrived::Plaintext(bytes) => ctx.take_bytes(client, bytes, now),
                        }
                    });
                    client.tls = Some(session);
                    fed
                }
            };
            match taken {
                Ok(Fed::Taken) => {}
                Ok(Fed::Closed) => return self.drop_client(local, "closed by the server".to_owned()),
                Err(why) => return self.drop_client(local, why),
            }
            // A short read from a TCP socket means its receive queue is empty now; data arriving later raises a
            // new edge. Skipping the read that would only say WouldBlock saves a syscall per event (nginx's
            // `ngx_unix_recv` does the same under edge-triggered epoll).
            if read < self.scratch.len() {
                break;
            }
        }
        if let Err(e) = self.clients[local].flush() {
            self.drop_client(local, cause("write", &e));
        }
    }

    /// A client failed or was closed by the server: count it by cause and let it go.
    fn drop_client(&mut self, local: usize, why: String) {
        let client = &mut self.clients[local];
        if client.state == State::Closed {
            return;
        }
        if let Some(socket) = client.socket.as_mut() {
            // The socket is closed next; a failed deregistration changes nothing.
            let _ = self.poll.registry().deregister(socket);
        }
        let ctx = &mut self.ctx;
        if client.in_flight() {
            ctx.in_flight -= 1;
            ctx.shared.failed.fetch_add(1, Ordering::Relaxed);
            ctx.tally.fail(why);
        } else {
            ctx.tally.fail(format!("{why} (after joining)"));
            if client.receiver && ctx.run.as_ref().is_some_and(|r| !r.drained) {
                ctx.tally.dropped_during_run += 1;
            }
        }
        client.close();
    }

    /// A fatal error: every client still unresolved counts as failed, and the run is told to end.
    fn abort(&mut self, why: &str) {
        let unresolved = self.clients.iter().filter(|c| c.state == State::Idle || c.in_flight()).count();
        self.ctx.tally.fail(why.to_owned());
        self.ctx.shared.failed.fetch_add(unresolved as u64, Ordering::Relaxed);
        self.ctx.shared.aborted.store(true, Ordering::Release);
        let run_over = self.ctx.run.as_ref().is_some_and(|r| r.drained);
        if !run_over {
            self.ctx.shared.senders_done.fetch_add(1, Ordering::AcqRel);
            self.ctx.shared.drained.fetch_add(1, Ordering::AcqRel);
        }
        log_worker_error(self.id, why);
    }

    fn publish_progress(&mut self) {
        if self.ctx.unpublished_sent > 0 {
            self.ctx.shared.sent.fetch_add(std::mem::take(&mut self.ctx.unpublished_sent), Ordering::Relaxed);
        }
        if self.ctx.unpublished_received > 0 {
            self.ctx.shared.received.fetch_add(std::mem::take(&mut self.ctx.unpublished_received), Ordering::Relaxed);
        }
    }

    /// Says goodbye on every open connection and closes it.
    fn leave(&mut self) {
        if self.ctx.tally.run_cpu.is_zero() {
            self.ctx.tally.run_cpu = thread_cpu().saturating_sub(self.phase_cpu_start);
        }
        for client in &mut self.clients {
            if client.socket.is_some() {
                self.ctx.dialect.quit(client.out());
                // Best effort: the server sees the connection close either way.
                let _ = client.flush();
                client.close();
            }
        }
    }
}

impl Ctx {
    /// When sender `index`'s message `seq` is due: all senders together send `rate` messages per second,
    /// each on its own fixed period, evenly staggered.
    fn due_ns(&self, start: u64, index: usize, seq: u32, rate: f64) -> u64 {
        let senders = self.plan.fanout().map_or(1, |f| f.senders) as f64;
        let offset = index as f64 * 1e9 / rate;
        let period = senders * 1e9 / rate;
        start.saturating_add((offset + f64::from(seq) * period) as u64)
    }

    /// Deliveries client `index` should get, once every worker has stopped sending: every message said in its
    /// room, but its own where the server does not echo.
    fn expected_for(&self, index: usize) -> u64 {
        let said = self.sent_per_room.as_ref().and_then(|sent| sent.get(self.plan.room_of(index))).copied();
        let said = said.unwrap_or(0);
        let own = match self.plan.protocol {
            Protocol::Line => 0,
            Protocol::Irc => self.shared.sent_by_sender.get(index).map_or(0, |s| s.load(Ordering::Acquire)),
        };
        said.saturating_sub(own)
    }

    /// Frames freshly read bytes into lines (out of their WebSocket frames first, with `--ws`) and handles each;
    /// `Err` gives the reason to drop the client.
    fn take_bytes(&mut self, client: &mut Client, data: &[u8], now: u64) -> Result<(), String> {
        let Some((link, wire)) = client.link_and_wire() else {
            return self.take_lines(client, data, now);
        };
        let mut lines = std::mem::take(&mut self.ws_lines);
        let arrived = link.take(data, &mut lines, wire);
        let result = arrived.and_then(|arrived| {
            self.take_lines(client, &lines, now)?;
            match arrived {
                websocket::Arrived::Open => Ok(()),
                websocket::Arrived::Closed => Err("closed by the server".to_owned()),
            }
        });
        lines.clear();
        self.ws_lines = lines;
        result
    }

    /// Splits bytes into lines and handles each.
    fn take_lines(&mut self, client: &mut Client, mut data: &[u8], now: u64) -> Result<(), String> {
        if !client.partial.is_empty() {
            let Some(end) = memchr::memchr(b'\n', data) else {
                return keep_partial(client, data);
            };
            let mut line = std::mem::take(&mut client.partial);
            line.extend_from_slice(&data[..end]);
            self.on_line(client, &line, now)?;
            line.clear();
            client.partial = line;
            data = &data[end + 1..];
        }
        while let Some(end) = memchr::memchr(b'\n', data) {
            self.on_line(client, &data[..end], now)?;
            data = &data[end + 1..];
        }
        keep_partial(client, data)
    }

    fn on_line(&mut self, client: &mut Client, line: &[u8], now: u64) -> Result<(), String> {
        match self.dialect.parse(line) {
            Incoming::Message { client: from, text } if client.receiver => self.delivery(client, from, text, now),
            Incoming::Ping(token) => self.dialect.pong(token, client.out()),
            Incoming::NamePrompt if client.state == State::LoggingIn => {
                self.dialect.answer_prompt(client.index, client.out())
            }
            Incoming::Registered if client.state == State::LoggingIn => {
                if self.dialect.after_registered(client.index, client.out()) {
                    self.enter_room(client, now);
                } else {
                    client.state = State::Joining;
                }
            }
            Incoming::InRoom(room) if client.state == State::Joining && self.dialect.is_room_of(client.index, room) => {
                self.enter_room(client, now)
            }
            Incoming::Refused(text) if client.in_flight() => {
                let text = String::from_utf8_lossy(text);
                return Err(format!("refused: {}", text.chars().take(MAX_CAUSE_CHARS).collect::<String>()));
            }
            _ => {}
        }
        Ok(())
    }

    /// `--tls`: the handshake is done; the login can begin.
    fn handshake_done(&mut self, client: &mut Client, now: u64) {
        if client.state != State::Handshaking {
            return;
        }
        client.state = State::LoggingIn;
        self.tally.handshaken += 1;
        self.tally.last_handshaken_ns = self.tally.last_handshaken_ns.max(now);
        self.tally.handshake_ns.saturating_record(now.saturating_sub(client.started_ns).max(1));
    }

    fn enter_room(&mut self, client: &mut Client, now: u64) {
        client.state = State::InRoom;
        self.in_flight -= 1;
        self.tally.in_room += 1;
        self.tally.last_in_room_ns = self.tally.last_in_room_ns.max(now);
        self.tally.login_ns.saturating_record(now.saturating_sub(client.started_ns).max(1));
        self.tally.rooms[client.room].in_room += 1;
        self.shared.named.fetch_add(1, Ordering::Relaxed);
    }

    /// One of this run's messages reached `client`.
    fn delivery(&mut self, client: &mut Client, from: usize, text: &[u8], now: u64) {
        let (Some(stamp), Some(next)) = (parse_text(text), client.next_seq.get_mut(from)) else {
            return;
        };
        // With one room nothing can cross, and the hot path keeps its cost: no division per delivery.
        if self.plan.rooms > 1 && self.plan.room_of(from) != client.room {
            self.tally.crossed += 1;
            return;
        }
        let room = &mut self.tally.rooms[client.room];
        if stamp.seq >= *next {
            *next = stamp.seq + 1;
        } else {
            self.tally.reordered += 1;
            room.reordered += 1;
        }
        room.received += 1;
        client.received += 1;
        self.tally.received += 1;
        self.unpublished_received += 1;
        self.tally.latency_ns.saturating_record(now.saturating_sub(stamp.sent_ns).max(1));
        self.tally.last_delivery_ns = self.tally.last_delivery_ns.max(now);
        let closed_loop = self.plan.fanout().is_some_and(|f| f.pace == Pace::ClosedLoop);
        if closed_loop && self.plan.observer_of(from) == client.index {
            let slot = from / self.plan.threads;
            if self.senders.get(slot).is_some_and(|s| s.seq == stamp.seq + 1) {
                self.ready.push(slot);
            }
        }
    }
}

/// Keeps an unfinished line for the next read, refusing to buffer without bound.
fn keep_partial(client: &mut Client, tail: &[u8]) -> Result<(), String> {
    if client.partial.len() + tail.len() > MAX_PARTIAL_LINE_BYTES {
        return Err(format!("the server sent a line over {MAX_PARTIAL_LINE_BYTES} bytes"));
    }
    client.partial.extend_from_slice(tail);
    Ok(())
}

fn log_worker_error(id: usize, why: &str) {
    eprintln!("charla-bench: worker {id}: {why}; ending the run");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::plan::{Fanout, Scenario};

    /// A worker of a closed-loop fan-out of 4 clients over 2 rooms, with clients 0 and 1 as senders.
    fn worker() -> Worker {
        let plan = Plan {
            scenario: Scenario::Fanout(Fanout {
                senders: 2,
                pace: Pace::ClosedLoop,
                duration: Duration::from_secs(1),
                size: 40,
                drain_timeout: Duration::from_secs(1),
            }),
            protocol: Protocol::Line,
            websocket: false,
            targets: vec![std::net::SocketAddr::from(([127, 0, 0, 1], 5555))],
            clients: 4,
            concurrency: 4,
            threads: 1,
            source_ips: Vec::new(),
            server_pids: Vec::new(),
            join_timeout: Duration::from_secs(1),
            channel: None,
            rooms: 2,
            tls: None,
            json: false,
        };
        let dialect = Dialect::new(Protocol::Line, "bench-7-".into(), None, plan.rooms);
        Worker::new(0, Arc::new(plan), Arc::new(Shared::new(2)), dialect, None).expect("a worker")
    }

    fn lines(worker: &mut Worker, local: usize, text: &str) {
        let Worker { ctx, clients, .. } = worker;
        ctx.take_bytes(&mut clients[local], text.as_bytes(), 1_000).expect("lines taken");
    }

    #[test]
    fn a_client_is_in_once_its_own_room_answers_its_join() {
        let mut w = worker();
        w.clients[2].state = State::LoggingIn;
        w.ctx.in_flight = 1;
        lines(&mut w, 2, "USERNAME:\nWelcome bench-7-2!\n");
        assert_eq!(w.clients[2].state, State::Joining, "still in the lobby only");
        assert_eq!(w.clients[2].out(), b"bench-7-2\n/join bench-0\n");
        lines(&mut w, 2, "Now in #bench-1\n");
        assert_eq!(w.clients[2].state, State::Joining, "another room's answer");
        lines(&mut w, 2, "Now in #bench-0\nHistory:\n");
        assert_eq!(w.clients[2].state, State::InRoom);
        assert_eq!(w.ctx.tally.rooms[0].in_room, 1);
        assert_eq!(w.ctx.tally.rooms[1].in_room, 0);
    }

    #[test]
    fn deliveries_count_in_their_room_and_another_rooms_lines_count_as_crossed() {
        let mut w = worker();
        let receiver = &mut w.clients[0];
        receiver.state = State::InRoom;
        receiver.receiver = true;
        receiver.next_seq = vec![0; 2];
        lines(&mut w, 0, "[14:00] bench-7-0: 0 5 xx\n[14:00] bench-7-0: 1 5 xx\n[14:00] bench-7-0: 0 6 xx\n");
        lines(&mut w, 0, "[14:00] bench-7-1: 0 5 xx\n#bench-1 [14:00] bench-7-1: 1 5 xx\n");
        let tally = &w.ctx.tally;
        assert_eq!((tally.received, tally.reordered, tally.crossed), (3, 1, 2));
        assert_eq!((tally.rooms[0].received, tally.rooms[0].reordered), (3, 1));
        assert_eq!(tally.rooms[1], Default::default());
        assert_eq!(w.clients[0].received, 3);
    }
}
