//! One run, start to finish: raise the open-files limit, start the workers, step them through the phases
//! (join; then hold, or run and drain; then leave), sample the server between phases, and build the report.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use crate::bench::plan::{Fanout, Pace, Plan, Scenario};
use crate::bench::procstat::{self, ProcSample};
use crate::bench::progress::Progress;
use crate::bench::protocol::{Dialect, Protocol};
use crate::bench::report::{
    ConnectReport, FanoutReport, Handshakes, ProcessReport, Report, RoomReport, RoomsSummary, ServerReport, Spread,
    ToolReport,
};
use crate::bench::shared::{Phase, Shared};
use crate::bench::stats::{Percentiles, Tally};
use crate::bench::tls::TlsSetup;
use crate::bench::worker::Worker;
use crate::server::flood::{DEFAULT_FLOOD_BURST, DEFAULT_FLOOD_RATE};

/// How often the main thread looks at the workers' counters while it waits for a phase to end.
const WATCH_INTERVAL: Duration = Duration::from_millis(5);
/// How far ahead of "now" the fan-out is scheduled to start, so every worker has seen the phase change first.
const RUN_START_DELAY: Duration = Duration::from_millis(50);
/// Open files the tool needs besides its client sockets (poll instances, stdio, /proc reads).
const SPARE_FILES: u64 = 64;
/// Above this share of one core, the busiest tool thread may be holding the server back.
const BUSY_THREAD_WARNING_PERCENT: f64 = 90.0;
/// Above this p99 send lag (rate mode), the tool is not keeping its schedule.
const SEND_LAG_WARNING_US: f64 = 1000.0;
/// How far above what Charla's default flood control lets through a sender may get and still count as shaped
/// by it, and how far above it a run must have asked for: a factor, for the slack of timing and rounding.
const FLOOD_SHAPED_MARGIN: f64 = 1.25;

/// Server samples taken between phases, one per `--server-pid` in its order.
struct Samples {
    before: Vec<ProcSample>,
    all_in: Vec<ProcSample>,
    end: Vec<ProcSample>,
}

pub fn run(plan: Plan) -> Result<Report, String> {
    let mut warnings = Vec::new();
    let open_files_limit = crate::server::limits::raise_open_files_limit()
        .map_err(|e| format!("cannot read or raise the open-files limit: {e}"))?;
    if open_files_limit < plan.clients as u64 + SPARE_FILES {
        warnings.push(format!(
            "open-files limit {open_files_limit} is below --clients {} + {SPARE_FILES}: expect 'Too many open files'",
            plan.clients
        ));
    }
    // Before anything starts: a certificate file that cannot be used ends the run with one line.
    let tls = plan.tls.as_ref().map(|options| TlsSetup::new(options).map(Arc::new)).transpose()?;
    // Every server process, or none when not asked to sample (so the report has no server section).
    let sample = |pids: &[u32]| -> Result<Option<Vec<ProcSample>>, String> {
        if pids.is_empty() {
            return Ok(None);
        }
        let sample = |pid: u32| procstat::sample(pid).map_err(|e| format!("--server-pid {pid}: {e}"));
        pids.iter().map(|&pid| sample(pid)).collect::<Result<Vec<_>, _>>().map(Some)
    };
    let before = sample(&plan.server_pids)?;

    let plan = Arc::new(plan);
    let senders = plan.fanout().map_or(0, |f| f.senders);
    let shared = Arc::new(Shared::new(senders));
    let dialect =
        Dialect::new(plan.protocol, format!("bench-{}-", std::process::id()), plan.channel.clone(), plan.rooms);
    let wall_start = Instant::now();
    let mut workers = Vec::with_capacity(plan.threads);
    for id in 0..plan.threads {
        let worker = Worker::new(id, Arc::clone(&plan), Arc::clone(&shared), dialect.clone(), tls.clone())
            .map_err(|e| format!("worker {id}: {e}"))?;
        let handle = thread::Builder::new()
            .name(format!("bench-worker-{id}"))
            .spawn(move || worker.run())
            .map_err(|e| format!("cannot start worker thread {id}: {e}"))?;
        workers.push(handle);
    }
    let mut progress = Progress::new(plan.clients);

    // Join: until every client is in the room or has failed.
    let join_start = Instant::now();
    let everyone = plan.clients as u64;
    watch(&shared, &mut progress, |s| s.named.load(Ordering::Acquire) + s.failed.load(Ordering::Acquire) >= everyone);
    let join_wall = join_start.elapsed();
    let all_in = sample(&plan.server_pids);

    // Hold, or run and drain.
    let run_start = Instant::now();
    match &plan.scenario {
        Scenario::Connect { hold } => {
            shared.set_phase(Phase::Hold);
            let until = Instant::now() + *hold;
            watch(&shared, &mut progress, |_| Instant::now() >= until);
        }
        Scenario::Fanout(_) => {
            shared.start_run(shared.ns_at(Instant::now() + RUN_START_DELAY));
            let threads = plan.threads;
            watch(&shared, &mut progress, |s| s.drained.load(Ordering::Acquire) >= threads);
        }
    }
    let run_wall = run_start.elapsed();
    let end = sample(&plan.server_pids);
    shared.set_phase(Phase::Leave);

    let mut tally = Tally::new(plan.rooms);
    for (id, handle) in workers.into_iter().enumerate() {
        let worker_tally = handle.join().map_err(|_| format!("worker thread {id} panicked"))?;
        tally.merge(&worker_tally);
    }
    progress.finish();
    if shared.aborted.load(Ordering::Acquire) {
        warnings.push("a worker hit a fatal error and the run ended early; see stderr".to_owned());
    }
    let samples = match (before, all_in, end) {
        (Some(before), Ok(Some(all_in)), Ok(Some(end))) => Some(Samples { before, all_in, end }),
        (Some(_), Err(e), _) | (Some(_), _, Err(e)) => {
            warnings.push(format!("server no longer sampled: {e}"));
            None
        }
        _ => None,
    };
    let tool = ToolReport {
        busiest_thread_cpu_percent_join: percent(tally.join_cpu, join_wall),
        busiest_thread_cpu_percent_run: percent(tally.run_cpu, run_wall),
        process_cpu_seconds: round3(procstat::process_cpu().as_secs_f64()),
        wall_seconds: round3(wall_start.elapsed().as_secs_f64()),
        open_files_limit,
    };
    if tool.busiest_thread_cpu_percent_run > BUSY_THREAD_WARNING_PERCENT {
        warnings.push(format!(
            "the busiest tool thread was {:.0}% busy while running: the tool may be the bottleneck (try --threads)",
            tool.busiest_thread_cpu_percent_run
        ));
    }
    let fanout = fanout_report(&plan, &shared, &tally);
    if let Some(lag) = fanout.as_ref().and_then(|f| f.send_lag)
        && lag.p99_us > SEND_LAG_WARNING_US
    {
        warnings.push(format!(
            "the tool sent late (p99 send lag {:.0} µs): latencies include the tool's own delay",
            lag.p99_us
        ));
    }
    if let Some(f) = fanout.as_ref().filter(|f| f.flood_control_suspected) {
        warnings.push(format!(
            "each sender got about {:.1} lines/s through: the server's flood control (default {DEFAULT_FLOOD_RATE} \
             lines/s per client, after a burst of {DEFAULT_FLOOD_BURST}) is probably shaping this run; start \
             charla-server with --flood-rate 0 for benchmarks",
            f.lines_through_per_sender_per_second
        ));
    }
    let server = samples.map(|s| server_report(&plan.server_pids, &s, &tally));
    let rooms = room_reports(&plan, &dialect, &shared, &tally);
    let rooms_summary = RoomsSummary {
        count: rooms.len(),
        in_room: Spread::of(rooms.iter().map(|r| r.in_room as f64)),
        deliveries_per_second: Spread::of(rooms.iter().map(|r| r.deliveries_per_second)),
    };
    Ok(Report {
        scenario: plan.scenario_name(),
        protocol: plan.protocol.as_str(),
        tls: plan.tls.is_some(),
        transport: if plan.websocket { "websocket" } else { "tcp" },
        target: plan.targets.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        clients: plan.clients,
        concurrency: plan.concurrency,
        threads: plan.threads,
        source_ips: plan.source_ips.iter().map(|ip| ip.to_string()).collect(),
        connect: connect_report(&tally, &shared, plan.tls.is_some()),
        fanout,
        rooms,
        rooms_summary,
        server,
        tool,
        warnings,
    })
}

/// Waits until `done` holds (or a worker aborted), drawing the progress line meanwhile.
fn watch(shared: &Shared, progress: &mut Progress, mut done: impl FnMut(&Shared) -> bool) {
    while !done(shared) && !shared.aborted.load(Ordering::Acquire) {
        progress.tick(shared);
        thread::sleep(WATCH_INTERVAL);
    }
}

fn connect_report(t: &Tally, shared: &Shared, tls: bool) -> ConnectReport {
    let first = t.first_start_ns.unwrap_or(0);
    let connect_seconds = secs(t.last_established_ns.saturating_sub(first));
    let in_room_seconds = secs(t.last_in_room_ns.saturating_sub(first));
    let handshake_seconds = secs(t.last_handshaken_ns.saturating_sub(first));
    let handshakes = tls.then(|| Handshakes {
        done: t.handshaken,
        seconds: round3(handshake_seconds),
        per_second: round1(rate(t.handshaken, handshake_seconds)),
        latency: Percentiles::of(&t.handshake_ns),
    });
    ConnectReport {
        handshakes,
        attempted: t.attempted,
        established: t.established,
        in_room: t.in_room,
        failed: shared.failed.load(Ordering::Acquire),
        failures: t.failures.clone(),
        connect_seconds: round3(connect_seconds),
        connections_per_second: round1(rate(t.established, connect_seconds)),
        seconds_until_all_in_room: round3(in_room_seconds),
        in_room_per_second: round1(rate(t.in_room, in_room_seconds)),
        connect_latency: Percentiles::of(&t.connect_ns),
        login_latency: Percentiles::of(&t.login_ns),
    }
}

/// The time deliveries are counted over: from the start of sending to the last delivery, but at least the
/// whole sending window (in rate mode the last message is scheduled one period before the end, and dividing by
/// the time until its delivery alone would overstate the rate of a short run). `None` outside a fan-out.
fn delivery_seconds(plan: &Plan, shared: &Shared, t: &Tally) -> Option<f64> {
    let f = plan.fanout()?;
    Some(secs(t.last_delivery_ns.saturating_sub(shared.run_start_ns())).max(f.duration.as_secs_f64()))
}

fn fanout_report(plan: &Plan, shared: &Shared, t: &Tally) -> Option<FanoutReport> {
    let f = plan.fanout()?;
    let delivering = delivery_seconds(plan, shared, t)?;
    let rate_per_second = match f.pace {
        Pace::Rate(r) => Some(r),
        Pace::ClosedLoop => None,
    };
    // Each receiver gets every line said in its room: what one sender got through the server, per second, is
    // the deliveries over the (receiver, sender) pairs that share a room.
    let pairs: u64 =
        t.rooms.iter().enumerate().map(|(room, r)| r.in_room * plan.senders_in(room) as u64).sum::<u64>().max(1);
    let per_sender = t.received as f64 / pairs as f64;
    let through = if delivering > 0.0 { per_sender / delivering } else { 0.0 };
    Some(FanoutReport {
        senders: f.senders,
        pace: if rate_per_second.is_some() { "rate" } else { "closed-loop" },
        rate_per_second,
        duration_seconds: f.duration.as_secs_f64(),
        size_bytes: f.size,
        receivers: t.in_room,
        messages_sent: t.sent,
        deliveries_expected: t.expected,
        deliveries_received: t.received,
        lost: t.lost,
        reordered: t.reordered,
        receivers_dropped: t.dropped_during_run,
        deliveries_per_second: round1(rate(t.received, delivering)),
        latency: Percentiles::of(&t.latency_ns),
        send_lag: rate_per_second.map(|_| Percentiles::of(&t.send_lag_ns)),
        lines_through_per_sender_per_second: round1(through),
        flood_control_suspected: plan.protocol == Protocol::Line
            && t.received > 0
            && shaped_by_default_flood_control(f, through, delivering),
        crossed_rooms: t.crossed,
    })
}

/// Each room's clients, senders, messages and deliveries.
fn room_reports(plan: &Plan, dialect: &Dialect, shared: &Shared, t: &Tally) -> Vec<RoomReport> {
    let delivering = delivery_seconds(plan, shared, t);
    let sent = shared.sent_per_room(plan);
    t.rooms
        .iter()
        .enumerate()
        .map(|(room, r)| RoomReport {
            room: dialect.room_name(room),
            in_room: r.in_room,
            senders: plan.senders_in(room),
            messages_sent: sent.get(room).copied().unwrap_or(0),
            deliveries_expected: r.expected,
            deliveries_received: r.received,
            lost: r.lost,
            reordered: r.reordered,
            deliveries_per_second: round1(delivering.map_or(0.0, |seconds| rate(r.received, seconds))),
        })
        .collect()
}

/// Whether a sender's lines got through at about what Charla's default flood control allows over `seconds`
/// (its burst, then its rate), while the run asked for clearly more: closed loop asks for as much as the server
/// takes; `--rate` for its share per sender.
fn shaped_by_default_flood_control(f: &Fanout, through_per_sender: f64, seconds: f64) -> bool {
    let seconds = seconds.max(f64::MIN_POSITIVE);
    let allowed = (f64::from(DEFAULT_FLOOD_BURST) + f64::from(DEFAULT_FLOOD_RATE) * seconds) / seconds;
    let asked = match f.pace {
        Pace::ClosedLoop => f64::INFINITY,
        Pace::Rate(rate) => rate / f.senders.max(1) as f64,
    };
    through_per_sender <= allowed * FLOOD_SHAPED_MARGIN && asked > allowed * FLOOD_SHAPED_MARGIN
}

/// The servers' figures, summed over their processes (the nodes of a cluster count as one server), and each
/// process's own.
fn server_report(pids: &[u32], s: &Samples, t: &Tally) -> ServerReport {
    let processes: Vec<ProcessReport> = pids
        .iter()
        .zip(s.before.iter().zip(&s.all_in).zip(&s.end))
        .map(|(&pid, ((before, all_in), end))| ProcessReport {
            pid,
            rss_kib_before: before.rss_kib,
            rss_kib_all_in: all_in.rss_kib,
            rss_kib_end: end.rss_kib,
            cpu_seconds_join: round3(all_in.cpu.saturating_sub(before.cpu).as_secs_f64()),
            cpu_seconds_run: round3(end.cpu.saturating_sub(all_in.cpu).as_secs_f64()),
        })
        .collect();
    let total = |of: fn(&ProcSample) -> Duration, samples: &[ProcSample]| samples.iter().map(of).sum::<Duration>();
    let rss = |samples: &[ProcSample]| samples.iter().map(|p| p.rss_kib).sum::<u64>();
    let cpu = |p: &ProcSample| p.cpu;
    let (rss_before, rss_all_in, rss_end) = (rss(&s.before), rss(&s.all_in), rss(&s.end));
    let grown_bytes = rss_all_in.saturating_sub(rss_before) as f64 * 1024.0;
    let run_cpu = total(cpu, &s.end).saturating_sub(total(cpu, &s.all_in)).as_secs_f64();
    let join_cpu = total(cpu, &s.all_in).saturating_sub(total(cpu, &s.before)).as_secs_f64();
    ServerReport {
        pids: pids.to_vec(),
        processes,
        rss_kib_before: rss_before,
        rss_kib_all_in: rss_all_in,
        rss_kib_end: rss_end,
        rss_bytes_per_client: round1(if t.in_room > 0 { grown_bytes / t.in_room as f64 } else { 0.0 }),
        cpu_seconds_join: round3(join_cpu),
        cpu_us_per_join: (t.in_room > 0).then(|| round1(join_cpu / t.in_room as f64 * 1e6)),
        cpu_seconds_run: round3(run_cpu),
        cpu_seconds_per_1000_deliveries: (t.received > 0).then(|| round6(run_cpu / t.received as f64 * 1000.0)),
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 { count as f64 / seconds } else { 0.0 }
}

fn percent(busy: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    round1(busy.as_secs_f64() / wall.as_secs_f64() * 100.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fanout(senders: usize, pace: Pace) -> Fanout {
        Fanout { senders, pace, duration: Duration::from_secs(10), size: 64, drain_timeout: Duration::from_secs(10) }
    }

    #[test]
    fn a_pace_near_the_default_flood_limit_is_suspected_only_when_more_was_asked() {
        // 10 s at the default limit: a burst of 20, then 5 a second, is 7 lines/s.
        assert!(shaped_by_default_flood_control(&fanout(10, Pace::ClosedLoop), 7.0, 10.0));
        assert!(!shaped_by_default_flood_control(&fanout(10, Pace::ClosedLoop), 900.0, 10.0));
        assert!(shaped_by_default_flood_control(&fanout(2, Pace::Rate(100.0)), 7.0, 10.0));
        // 4 lines/s per sender asked, and got: the limit never bit.
        assert!(!shaped_by_default_flood_control(&fanout(2, Pace::Rate(8.0)), 4.0, 10.0));
    }
}
