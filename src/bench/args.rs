//! The command line: `charla-bench connect|fanout [OPTIONS]`, every default shown by `--help`, and the checks
//! that keep a run sane (loopback only, sizes the protocols allow).

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::bench::message::MIN_SIZE;
use crate::bench::plan::{Fanout, Pace, Plan, Scenario, TlsOptions, least_common_multiple};
use crate::bench::protocol::Protocol;
use crate::flags::{number, text};

/// The server to load.
pub(crate) const DEFAULT_TARGET: &str = "127.0.0.1:5555";
/// The most servers one run may load (`--target A,B,...`) or sample (`--server-pid P,Q,...`).
pub(crate) const MAX_TARGETS: usize = 64;
/// Clients opened.
pub(crate) const DEFAULT_CLIENTS: usize = 100;
/// Connections being opened or logging in at once.
pub(crate) const DEFAULT_CONCURRENCY: usize = 100;
/// Tool threads.
pub(crate) const DEFAULT_THREADS: usize = 1;
/// Seconds a client may take to connect and get into the room.
pub(crate) const DEFAULT_JOIN_TIMEOUT_SECS: f64 = 30.0;
/// Seconds `connect` holds its clients.
pub(crate) const DEFAULT_HOLD_SECS: f64 = 5.0;
/// Clients that send in `fanout`.
pub(crate) const DEFAULT_SENDERS: usize = 1;
/// Seconds `fanout` sends for.
pub(crate) const DEFAULT_DURATION_SECS: f64 = 10.0;
/// Bytes of message text in `fanout`.
pub(crate) const DEFAULT_SIZE: usize = 64;
/// Seconds receivers may take, after sending stops, to get the last messages.
pub(crate) const DEFAULT_DRAIN_TIMEOUT_SECS: f64 = 10.0;
/// The IRC channel every client joins, with one room.
pub(crate) const DEFAULT_CHANNEL: &str = "#bench";
/// Rooms the clients are spread over; one keeps everyone in Charla's lobby (or IRC's one channel).
pub(crate) const DEFAULT_ROOMS: usize = 1;
/// The longest Charla message text accepted here (the server's line limit is 4096 bytes).
pub(crate) const MAX_LINE_TEXT_SIZE: usize = 4000;
/// The longest IRC message text accepted here (an IRC line is at most 512 bytes with its prefix).
pub(crate) const MAX_IRC_TEXT_SIZE: usize = 400;

/// Every scenario the tool runs, as named on the command line; errors list them all from here.
pub(crate) const SCENARIOS: [&str; 3] = ["connect", "fanout", "floor-server"];

/// What the command line asked for.
#[derive(Debug)]
pub enum Invocation {
    /// Boxed: a plan is far larger than the other variants.
    Run(Box<Plan>),
    /// `floor-server`: serve the yardstick broadcast server on this address.
    FloorServer(SocketAddr),
    Help,
    Version,
}

pub fn help_text() -> String {
    let common = [
        option_row(
            "--target ADDR:PORT,...",
            "loopback only; client i connects to address i mod N",
            &default(DEFAULT_TARGET),
        ),
        option_row("--protocol line|irc", "Charla's line protocol, or IRC (NICK/USER, JOIN)", &default("line")),
        option_row("--ws", "lines in a WebSocket (GET /ws) to a web listener", ""),
        option_row("--clients N", "clients to open", &default(DEFAULT_CLIENTS)),
        option_row("--concurrency N", "connections opening or logging in at once", &default(DEFAULT_CONCURRENCY)),
        option_row("--threads N", "tool threads, each one mio loop over every Nth client", &default(DEFAULT_THREADS)),
        option_row(
            "--source-ips A,B,...",
            "loopback source addresses to spread connections over",
            &default("kernel's choice"),
        ),
        option_row(
            "--login-timeout SECS",
            "time a client may take to connect and join",
            &default(DEFAULT_JOIN_TIMEOUT_SECS),
        ),
        option_row("--server-pid PID,...", "sample servers' RSS and CPU in /proc/PID, summed", &default("not sampled")),
        option_row("--rooms N", "spread clients round-robin over rooms bench-0..N-1", &default(DEFAULT_ROOMS)),
        option_row("--channel NAME", "IRC channel to join, with one room", &default(DEFAULT_CHANNEL)),
        option_row("--tls", "every client speaks TLS; connect reports handshakes/s", ""),
        option_row("--ca FILE", "with --tls, trust FILE's certificates (PEM), not the system's", ""),
        option_row("--json", "print one JSON object instead of the table", ""),
        option_row("-h, --help", "print this help", ""),
        option_row("-V, --version", "print the version", ""),
    ];
    let connect = [
        option_row("--hold SECS", "how long to hold the named clients", &default(DEFAULT_HOLD_SECS)),
        option_row("--no-join", "irc only: stop at registration (001), join no channel", &default("join")),
    ];
    let sizes = format!("message text size, {MIN_SIZE}..{MAX_LINE_TEXT_SIZE} ({MAX_IRC_TEXT_SIZE} for irc)");
    let fanout = [
        option_row("--senders N", "clients that send (clients 0..N)", &default(DEFAULT_SENDERS)),
        option_row("--closed-loop", "each sender sends when its previous message is back", "[default]"),
        option_row("--rate MSGS_PER_SEC", "all senders together, on a fixed schedule", ""),
        option_row("--duration SECS", "how long to send", &default(DEFAULT_DURATION_SECS)),
        option_row("--size BYTES", &sizes, &default(DEFAULT_SIZE)),
        option_row(
            "--drain-timeout SECS",
            "wait after sending before missing messages are lost",
            &default(DEFAULT_DRAIN_TIMEOUT_SECS),
        ),
    ];
    format!(
        "charla-bench: load and measure a chat server over loopback TCP or TLS (Charla's line protocol, or IRC)

Usage: charla-bench connect [OPTIONS]
       charla-bench fanout  [OPTIONS]
       charla-bench floor-server [--target ADDR:PORT]

connect  opens --clients connections (--concurrency at a time), names each bench-<pid>-<i>, holds them for
         --hold seconds, then leaves. Reports connections per second, the time until all are in their room,
         and failures by cause.
fanout   names --clients clients in one room; --senders of them send stamped messages, closed-loop or at a
         fixed --rate, for --duration seconds; every client records what it receives. Reports messages sent,
         deliveries expected and received, lost, reordered, deliveries per second and delivery latency
         percentiles (HDR histogram). In --rate mode latency counts from each message's scheduled send time.
floor-server  serves on --target a yardstick to run fanout against: Charla's I/O with none of its chat (it
         relays every line to everyone named). It shows what the machine allows a single-threaded server.

With --rooms N (more than 1), client i joins room bench-<i mod N> once named (/join bench-<k>; IRC: JOIN
#bench-<k> instead of --channel) and counts as in once the server says so. Each sender talks in its own
room, so a message is expected by that room's clients only; loss and order are checked per room, a delivery
from another room counts as crossed, and the report gives each room's deliveries (min, median and max when
there are many). The server needs rooms: Charla or IRC, not floor-server.

With several --target addresses (the nodes of a cluster, say), client i connects to address i mod N, so N
servers are loaded as one chat; every address must be loopback. With several --server-pid PIDs the report
sums their memory and CPU and shows each process's own figures.

With --ws, each client opens a WebSocket at /ws on --target (charla-server's --web-listen) and sends and
receives its lines as text messages, one line each, as the chat page does; everything else is as over TCP.

Options (both scenarios):
{common}

connect:
{connect}

fanout:
{fanout}

IRC has no echo: with --protocol irc a closed-loop sender waits for its message to reach client i+threads
(i+lcm(threads, rooms) with --rooms).
With --tls, each client does a full TLS handshake (no resumption) and checks the server's certificate against
--ca FILE, or the system's authorities ($SSL_CERT_FILE, else the distribution's bundle), for the --target
address each client connects to (the certificate must name 127.0.0.1, or ::1).
The tool raises its own open-files limit to the hard limit. A live progress line goes to stderr once a
second when stderr is a terminal.",
        common = common.join("\n"),
        connect = connect.join("\n"),
        fanout = fanout.join("\n"),
    )
}

/// One line of an option table: the flag, what it does and a note (its default). Padded by characters, so the
/// note column stays put whatever the values are.
fn option_row(flag: &str, meaning: &str, note: &str) -> String {
    let row = format!("  {flag:<24} {meaning:<53} {note}");
    row.trim_end().to_owned()
}

/// `[default: VALUE]`, the note of an option with a default.
fn default(value: impl std::fmt::Display) -> String {
    format!("[default: {value}]")
}

/// Parses the command line (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Invocation, String> {
    use lexopt::prelude::*;

    let args: Vec<OsString> = args.into_iter().collect();
    if args.first().is_some_and(|a| a == "floor-server") {
        return parse_floor_server(args.into_iter().skip(1));
    }
    let mut parser = lexopt::Parser::from_args(args);
    let mut scenario_name: Option<String> = None;
    let mut target = DEFAULT_TARGET.to_owned();
    let mut protocol = Protocol::Line;
    let mut websocket = false;
    let mut clients = DEFAULT_CLIENTS;
    let mut concurrency = DEFAULT_CONCURRENCY;
    let mut threads = DEFAULT_THREADS;
    let mut source_ips = Vec::new();
    let mut join_timeout = secs(DEFAULT_JOIN_TIMEOUT_SECS);
    let mut server_pids = Vec::new();
    let mut channel = None;
    let mut rooms = DEFAULT_ROOMS;
    let mut json = false;
    let mut tls = false;
    let mut ca = None;
    let mut hold = None;
    let mut no_join = false;
    let mut senders = None;
    let mut closed_loop = false;
    let mut rate = None;
    let mut duration = None;
    let mut size = None;
    let mut drain_timeout = None;

    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Value(v) if scenario_name.is_none() => {
                scenario_name = Some(v.into_string().map_err(|_| "the scenario must be UTF-8".to_owned())?)
            }
            Long("target") => target = text(&mut parser, "--target")?,
            Long("protocol") => protocol = text(&mut parser, "--protocol")?.parse()?,
            Long("ws") => websocket = true,
            Long("clients") => clients = number(&mut parser, "--clients")?,
            Long("concurrency") => concurrency = number(&mut parser, "--concurrency")?,
            Long("threads") => threads = number(&mut parser, "--threads")?,
            Long("source-ips") => source_ips = parse_ips(&text(&mut parser, "--source-ips")?)?,
            Long("login-timeout") => join_timeout = seconds(&mut parser, "--login-timeout")?,
            Long("server-pid") => server_pids = parse_pids(&text(&mut parser, "--server-pid")?)?,
            Long("channel") => channel = Some(text(&mut parser, "--channel")?),
            Long("rooms") => rooms = number(&mut parser, "--rooms")?,
            Long("json") => json = true,
            Long("tls") => tls = true,
            Long("ca") => ca = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Long("hold") => hold = Some(seconds(&mut parser, "--hold")?),
            Long("no-join") => no_join = true,
            Long("senders") => senders = Some(number(&mut parser, "--senders")?),
            Long("closed-loop") => closed_loop = true,
            Long("rate") => rate = Some(positive(&mut parser, "--rate")?),
            Long("duration") => duration = Some(seconds(&mut parser, "--duration")?),
            Long("size") => size = Some(number(&mut parser, "--size")?),
            Long("drain-timeout") => drain_timeout = Some(seconds(&mut parser, "--drain-timeout")?),
            Short('h') | Long("help") => return Ok(Invocation::Help),
            Short('V') | Long("version") => return Ok(Invocation::Version),
            other => return Err(other.unexpected().to_string()),
        }
    }

    let targets = parse_targets(&target)?;
    for &target in &targets {
        check_loopback(target, &source_ips)?;
    }
    if ca.is_some() && !tls {
        return Err("--ca is for TLS: add --tls".into());
    }
    if websocket && protocol != Protocol::Line {
        return Err("--ws carries Charla's line protocol; it does not go with --protocol irc".into());
    }
    if clients == 0 || concurrency == 0 || threads == 0 {
        return Err("--clients, --concurrency and --threads must be at least 1".into());
    }
    if threads > clients {
        return Err(format!("--threads {threads} is more than --clients {clients}"));
    }
    if rooms == 0 || rooms > clients {
        return Err(format!("--rooms must be between 1 and --clients ({clients})"));
    }
    if rooms > 1 && (no_join || channel.is_some()) {
        return Err(format!(
            "--rooms {rooms} puts client i in #bench-<i mod {rooms}>; --channel and --no-join are for one room"
        ));
    }
    let scenario = match scenario_name.as_deref() {
        Some("connect") => {
            if no_join && protocol != Protocol::Irc {
                return Err("--no-join is for --protocol irc (a Charla name is always in the room)".into());
            }
            let fanout_flags = [senders.is_some(), closed_loop, rate.is_some(), duration.is_some(), size.is_some()];
            if fanout_flags.contains(&true) || drain_timeout.is_some() {
                return Err(
                    "--senders, --closed-loop, --rate, --duration, --size and --drain-timeout are for fanout".into()
                );
            }
            Scenario::Connect { hold: hold.unwrap_or(secs(DEFAULT_HOLD_SECS)) }
        }
        Some("fanout") => {
            if hold.is_some() || no_join {
                return Err("--hold and --no-join are for connect".into());
            }
            let pace = match (closed_loop, rate) {
                (true, Some(_)) => return Err("choose one of --closed-loop and --rate".into()),
                (_, Some(rate)) => Pace::Rate(rate),
                (_, None) => Pace::ClosedLoop,
            };
            let fanout = Fanout {
                senders: senders.unwrap_or(DEFAULT_SENDERS),
                pace,
                duration: duration.unwrap_or(secs(DEFAULT_DURATION_SECS)),
                size: size.unwrap_or(DEFAULT_SIZE),
                drain_timeout: drain_timeout.unwrap_or(secs(DEFAULT_DRAIN_TIMEOUT_SECS)),
            };
            check_fanout(&fanout, protocol, Spread { clients, threads, rooms })?;
            Scenario::Fanout(fanout)
        }
        Some(other) => return Err(format!("unknown scenario {other:?} (expected {})", scenario_list())),
        None => return Err(format!("name a scenario: {}", scenario_list())),
    };
    Ok(Invocation::Run(Box::new(Plan {
        scenario,
        protocol,
        websocket,
        targets,
        clients,
        concurrency,
        threads,
        source_ips,
        server_pids,
        join_timeout,
        channel: (!no_join).then(|| channel.unwrap_or_else(|| DEFAULT_CHANNEL.to_owned())),
        rooms,
        tls: tls.then_some(TlsOptions { ca }),
        json,
    })))
}

/// `connect, fanout or floor-server`.
fn scenario_list() -> String {
    match SCENARIOS.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// How the clients are spread: over threads and over rooms.
struct Spread {
    clients: usize,
    threads: usize,
    rooms: usize,
}

fn check_fanout(f: &Fanout, protocol: Protocol, spread: Spread) -> Result<(), String> {
    let Spread { clients, threads, rooms } = spread;
    if f.senders == 0 || f.senders > clients {
        return Err(format!("--senders must be between 1 and --clients ({clients})"));
    }
    let max_size = match protocol {
        Protocol::Line => MAX_LINE_TEXT_SIZE,
        Protocol::Irc => MAX_IRC_TEXT_SIZE,
    };
    if f.size < MIN_SIZE || f.size > max_size {
        return Err(format!("--size must be between {MIN_SIZE} and {max_size} bytes"));
    }
    // The next client of the same thread that is in the same room: `threads` and `rooms` apart at once.
    let step = least_common_multiple(threads, rooms);
    if protocol == Protocol::Irc && f.pace == Pace::ClosedLoop && clients < f.senders + step {
        let watcher = if rooms == 1 { "client i+threads" } else { "the next client of its thread and room" };
        return Err(format!(
            "IRC does not echo: closed-loop sender i waits for {watcher}, i+{step}, so --clients must be at least \
             --senders + {step} ({})",
            f.senders + step
        ));
    }
    if f.duration.is_zero() {
        return Err("--duration must be more than 0".into());
    }
    Ok(())
}

/// `floor-server [--target ADDR:PORT]`: where to listen (port 0 picks a free one); loopback only.
fn parse_floor_server(args: impl IntoIterator<Item = OsString>) -> Result<Invocation, String> {
    use lexopt::prelude::*;

    let mut parser = lexopt::Parser::from_args(args);
    let mut target = DEFAULT_TARGET.to_owned();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("target") => target = text(&mut parser, "--target")?,
            Short('h') | Long("help") => return Ok(Invocation::Help),
            other => return Err(format!("floor-server takes only --target: {}", other.unexpected())),
        }
    }
    let target = parse_target(&target)?;
    check_loopback(target, &[])?;
    Ok(Invocation::FloorServer(target))
}

/// Load goes to this machine only.
fn check_loopback(target: SocketAddr, source_ips: &[IpAddr]) -> Result<(), String> {
    if !target.ip().is_loopback() {
        return Err(format!("--target {target} is not a loopback address; charla-bench only loads this machine"));
    }
    for ip in source_ips {
        if !ip.is_loopback() {
            return Err(format!("--source-ips: {ip} is not a loopback address"));
        }
        if ip.is_ipv4() != target.is_ipv4() {
            return Err(format!("--source-ips: {ip} is not of the same family as --target {target}"));
        }
    }
    Ok(())
}

/// `A,B,...`: one address or several, each as [`parse_target`] reads it, none twice.
fn parse_targets(text: &str) -> Result<Vec<SocketAddr>, String> {
    let targets = text.split(',').map(|one| parse_target(one.trim())).collect::<Result<Vec<_>, _>>()?;
    if targets.len() > MAX_TARGETS {
        return Err(format!("--target: at most {MAX_TARGETS} addresses"));
    }
    if let Some(twice) = targets.iter().enumerate().find_map(|(i, t)| targets[..i].contains(t).then_some(t)) {
        return Err(format!("--target names {twice} twice"));
    }
    Ok(targets)
}

/// `P,Q,...`: process IDs, none twice.
fn parse_pids(text: &str) -> Result<Vec<u32>, String> {
    let pids = text
        .split(',')
        .map(|pid| pid.trim().parse().map_err(|_| format!("--server-pid: {pid:?} is not a process ID")))
        .collect::<Result<Vec<u32>, _>>()?;
    if pids.len() > MAX_TARGETS {
        return Err(format!("--server-pid: at most {MAX_TARGETS} processes"));
    }
    if let Some(twice) = pids.iter().enumerate().find_map(|(i, p)| pids[..i].contains(p).then_some(p)) {
        return Err(format!("--server-pid names {twice} twice"));
    }
    Ok(pids)
}

fn parse_target(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    if let Some(port) = text.strip_prefix("localhost:") {
        let port: u16 = port.parse().map_err(|_| format!("--target {text:?}: bad port"))?;
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    Err(format!("--target {text:?} is not ADDR:PORT (for example 127.0.0.1:5555 or [::1]:5555)"))
}

fn parse_ips(text: &str) -> Result<Vec<IpAddr>, String> {
    text.split(',')
        .map(|ip| ip.trim().parse().map_err(|_| format!("--source-ips: {ip:?} is not an IP address")))
        .collect()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn positive(parser: &mut lexopt::Parser, flag: &str) -> Result<f64, String> {
    let value = text(parser, flag)?;
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{flag} needs a number above 0, not {value:?}")),
    }
}

fn seconds(parser: &mut lexopt::Parser, flag: &str) -> Result<Duration, String> {
    let value = text(parser, flag)?;
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(secs(v)),
        _ => Err(format!("{flag} needs a number of seconds between 0 and 86400, not {value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, String> {
        parse_args(args.iter().map(OsString::from))
    }

    fn plan(args: &[&str]) -> Plan {
        match parse(args) {
            Ok(Invocation::Run(plan)) => *plan,
            other => panic!("expected a plan, got {other:?}"),
        }
    }

    #[test]
    fn fanout_defaults_to_closed_loop() {
        let p = plan(&["fanout", "--clients", "20", "--senders", "2"]);
        let f = p.fanout().expect("fanout");
        assert_eq!(f.pace, Pace::ClosedLoop);
        assert_eq!((f.senders, f.size), (2, DEFAULT_SIZE));
        assert_eq!(p.targets, [DEFAULT_TARGET.parse().expect("default target")]);
        assert_eq!(p.server_pids, [] as [u32; 0], "not sampled");
        let p = plan(&["fanout", "--rate", "50", "--duration", "2", "--json"]);
        assert_eq!(p.fanout().map(|f| f.pace), Some(Pace::Rate(50.0)));
        assert!(p.json);
    }

    #[test]
    fn connect_takes_hold_and_source_ips() {
        let p = plan(&["connect", "--hold", "1.5", "--source-ips", "127.0.0.1,127.0.0.2"]);
        assert!(matches!(p.scenario, Scenario::Connect { hold } if hold == Duration::from_millis(1500)));
        assert_eq!(p.source_ips.len(), 2);
    }

    #[test]
    fn refuses_what_makes_no_sense() {
        assert!(parse(&["connect", "--target", "10.0.0.1:5555"]).is_err(), "not loopback");
        assert!(parse(&["connect", "--source-ips", "192.168.1.1"]).is_err(), "not loopback");
        assert!(parse(&["connect", "--rate", "5"]).is_err(), "fanout flag");
        assert!(parse(&["fanout", "--closed-loop", "--rate", "5"]).is_err());
        assert!(parse(&["fanout", "--size", "5"]).is_err());
        assert!(parse(&["fanout", "--protocol", "irc", "--size", "1000"]).is_err());
        assert!(parse(&["fanout", "--clients", "2", "--senders", "2", "--protocol", "irc"]).is_err());
        assert!(parse(&["connect", "--no-join"]).is_err(), "line protocol");
        assert!(parse(&["connect", "--no-join", "--protocol", "irc"]).is_ok());
        assert!(parse(&["dance"]).is_err());
        assert!(parse(&[]).is_err());
        assert!(matches!(parse(&["--help"]), Ok(Invocation::Help)));
    }

    #[test]
    fn several_targets_and_server_pids_are_comma_separated() {
        let p = plan(&["connect", "--target", "127.0.0.1:5555,127.0.0.1:5556, [::1]:5557", "--server-pid", "10,20"]);
        let expected: Vec<SocketAddr> =
            ["127.0.0.1:5555", "127.0.0.1:5556", "[::1]:5557"].iter().map(|a| a.parse().expect("address")).collect();
        assert_eq!(p.targets, expected);
        assert_eq!(p.server_pids, [10, 20]);
        assert_eq!(plan(&["connect", "--server-pid", "7"]).server_pids, [7]);
        let error = |args: &[&str]| parse(args).expect_err("refused");
        assert!(error(&["connect", "--target", "127.0.0.1:5555,10.0.0.1:5555"]).contains("not a loopback address"));
        assert!(error(&["connect", "--target", "127.0.0.1:5555,"]).contains("is not ADDR:PORT"));
        assert!(error(&["connect", "--target", "127.0.0.1:1,127.0.0.1:1"]).contains("names 127.0.0.1:1 twice"));
        assert!(error(&["connect", "--server-pid", "10,x"]).contains("\"x\" is not a process ID"));
        assert!(error(&["connect", "--server-pid", "10,10"]).contains("names 10 twice"));
        // Source addresses must suit every target.
        assert!(error(&["connect", "--target", "127.0.0.1:1,[::1]:2", "--source-ips", "127.0.0.2"]).contains("family"));
        assert!(error(&["floor-server", "--target", "127.0.0.1:1,127.0.0.1:2"]).contains("is not ADDR:PORT"));
    }

    #[test]
    fn tls_takes_a_ca_file_and_ca_needs_tls() {
        assert_eq!(plan(&["connect"]).tls, None);
        assert_eq!(plan(&["connect", "--tls"]).tls, Some(TlsOptions { ca: None }));
        assert_eq!(
            plan(&["fanout", "--tls", "--ca", "ca.pem"]).tls,
            Some(TlsOptions { ca: Some(PathBuf::from("ca.pem")) })
        );
        assert!(parse(&["connect", "--ca", "ca.pem"]).is_err());
    }

    #[test]
    fn rooms_default_to_one_and_are_checked() {
        assert_eq!(plan(&["connect"]).rooms, 1);
        assert_eq!(plan(&["connect"]).channel.as_deref(), Some(DEFAULT_CHANNEL));
        assert_eq!(plan(&["fanout", "--clients", "8", "--rooms", "4"]).rooms, 4);
        assert!(parse(&["connect", "--rooms", "0"]).is_err());
        assert!(parse(&["connect", "--clients", "3", "--rooms", "4"]).is_err(), "an empty room");
        assert!(parse(&["connect", "--protocol", "irc", "--rooms", "2", "--no-join"]).is_err());
        assert!(parse(&["connect", "--protocol", "irc", "--rooms", "2", "--channel", "#x"]).is_err());
        // IRC closed loop: sender 1 of 2 threads over 3 rooms waits for client 1 + 6.
        let irc = ["fanout", "--protocol", "irc", "--threads", "2", "--rooms", "3", "--senders", "2"];
        assert!(parse(&[&irc[..], &["--clients", "7"]].concat()).is_err());
        assert!(parse(&[&irc[..], &["--clients", "8"]].concat()).is_ok());
    }

    #[test]
    fn ws_is_for_the_line_protocol() {
        assert!(!plan(&["connect"]).websocket);
        assert!(plan(&["fanout", "--ws"]).websocket);
        assert!(parse(&["connect", "--ws", "--protocol", "irc"]).is_err(), "IRC has no WebSocket here");
    }

    #[test]
    fn without_a_scenario_every_scenario_is_named() {
        let Err(e) = parse(&[]) else { panic!("no scenario must be refused") };
        assert_eq!(e, "name a scenario: connect, fanout or floor-server");
        let Err(e) = parse(&["dance"]) else { panic!("an unknown scenario must be refused") };
        assert_eq!(e, "unknown scenario \"dance\" (expected connect, fanout or floor-server)");
    }

    #[test]
    fn the_help_keeps_its_defaults_in_one_column() {
        let help = help_text();
        let columns: Vec<usize> =
            help.lines().filter_map(|line| line.find("[default").map(|at| line[..at].chars().count())).collect();
        assert_eq!(columns.len(), 17, "{help}");
        assert!(columns.iter().all(|&column| column == columns[0]), "{columns:?}\n{help}");
    }

    #[test]
    fn floor_server_listens_on_a_loopback_target_only() {
        let listen = |args: &[&str]| match parse(args) {
            Ok(Invocation::FloorServer(addr)) => addr.to_string(),
            other => panic!("expected floor-server, got {other:?}"),
        };
        assert_eq!(listen(&["floor-server"]), DEFAULT_TARGET);
        assert_eq!(listen(&["floor-server", "--target", "[::1]:0"]), "[::1]:0");
        assert!(parse(&["floor-server", "--target", "10.0.0.1:5555"]).is_err(), "not loopback");
        assert!(parse(&["floor-server", "--clients", "5"]).is_err(), "a load flag");
    }
}
