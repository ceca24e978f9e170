//! Server configuration: every limit and setting, its default, and the command-line flags that change them.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::core::chat::{ChatConfig, DEFAULT_IRC_PING_AFTER, DEFAULT_LOGIN_TIMEOUT, DEFAULT_NOTICE_LIMIT};
use crate::core::history::DEFAULT_HISTORY_SIZE;
use crate::core::rooms::{DEFAULT_MAX_ROOMS, DEFAULT_MAX_ROOMS_PER_USER};
use crate::flags::{number, text};
use crate::server::flood::{DEFAULT_FLOOD_BURST, DEFAULT_FLOOD_RATE, FloodLimit};
use crate::server::per_ip::{Cidr, DEFAULT_MAX_PER_IP, DEFAULT_TRUSTED};

/// Where the server listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5555";
/// The history file, relative to the working directory.
pub const DEFAULT_HISTORY_FILE: &str = "chat_history.json";
/// How often changed history is written to disk, in seconds.
pub const DEFAULT_SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// The most connections held at once, named or not; one more is told the server is full and closed.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;
/// The most bytes queued for one slow client before it is disconnected: 1 MiB.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 1 << 20;

/// The server's settings: where it listens, the files it writes, the limits its loop enforces, and the chat's
/// own settings, which it hands to the core whole.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where plain connections are accepted; `None` (`--listen none`) turns the plain listener off.
    pub listen: Option<SocketAddr>,
    /// Where TLS connections are accepted, if anywhere.
    pub tls_listen: Option<SocketAddr>,
    /// The certificate chain (PEM) TLS connections get.
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Where the web page and its WebSocket are served over HTTP, if anywhere.
    pub web_listen: Option<SocketAddr>,
    /// Where they are served over HTTPS (with the TLS certificate), if anywhere.
    pub web_tls_listen: Option<SocketAddr>,
    /// Origins allowed to open the WebSocket; empty means the page's own origin only.
    pub web_origins: Vec<String>,
    /// Where IRC clients are served, if anywhere.
    pub irc_listen: Option<SocketAddr>,
    /// Where IRC clients are served over TLS (with the TLS certificate), if anywhere.
    pub irc_tls_listen: Option<SocketAddr>,
    pub history_file: PathBuf,
    pub save_interval: Duration,
    pub max_clients: usize,
    pub max_queue_bytes: usize,
    /// Connections from one untrusted address; 0 means no cap.
    pub max_per_ip: u32,
    /// Networks exempt from `max_per_ip`.
    pub trusted: Vec<Cidr>,
    pub flood: FloodLimit,
    /// Everything the chat core is told: language, timeouts, notices, history size, line length.
    pub chat: ChatConfig,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 5555))),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
            web_listen: None,
            web_tls_listen: None,
            web_origins: Vec::new(),
            irc_listen: None,
            irc_tls_listen: None,
            history_file: PathBuf::from(DEFAULT_HISTORY_FILE),
            save_interval: DEFAULT_SAVE_INTERVAL,
            max_clients: DEFAULT_MAX_CLIENTS,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            max_per_ip: DEFAULT_MAX_PER_IP,
            trusted: default_trusted(),
            flood: FloodLimit { rate: DEFAULT_FLOOD_RATE, burst: DEFAULT_FLOOD_BURST },
            chat: ChatConfig::default(),
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Invocation {
    Run(Box<ServerConfig>),
    Help,
    Version,
}

/// The `--help` text, with every default.
pub fn help_text() -> String {
    /// One line of the option table. Padded by characters, so the `[default: ...]` column stays put whatever
    /// the values are.
    fn row(flag: &str, meaning: &str, default: impl std::fmt::Display) -> String {
        format!("  {flag:<24} {meaning:<51} [default: {default}]")
    }
    let rows = [
        row("--listen ADDR:PORT", "where plain TCP is served ([::1]:5555); none = off", DEFAULT_LISTEN),
        row("--tls-listen ADDR:PORT", "where TLS is served (needs --tls-cert, --tls-key)", "off"),
        row("--tls-cert FILE", "certificate chain for TLS, PEM; re-read on SIGHUP", "none"),
        row("--tls-key FILE", "private key for TLS, PEM; re-read on SIGHUP", "none"),
        row("--web-listen ADDR:PORT", "where the web page and its WebSocket are served", "off"),
        row("--web-tls-listen ADDR", "the same over HTTPS (needs --tls-cert, --tls-key)", "off"),
        row("--web-origin ORIGIN", "origins allowed to open the WebSocket; repeatable", "the page's"),
        row("--irc-listen ADDR:PORT", "where IRC clients are served", "off"),
        row("--irc-tls-listen ADDR", "IRC over TLS (needs --tls-cert, --tls-key)", "off"),
        row("--irc-ping SECS", "ping a silent IRC client; drop it after twice that", DEFAULT_IRC_PING_AFTER.as_secs()),
        row("--history-file PATH", "where public history is saved as JSON", DEFAULT_HISTORY_FILE),
        row("--history-size N", "public messages kept per room, replayed on joining", DEFAULT_HISTORY_SIZE),
        row("--save-interval SECS", "how often changed history is saved", DEFAULT_SAVE_INTERVAL.as_secs()),
        row("--lang en|es", "language of the lines sent to users", "en"),
        row("--max-clients N", "connections held at once; more are turned away", DEFAULT_MAX_CLIENTS),
        row("--max-queue BYTES", "output queued for one client before it is dropped", DEFAULT_MAX_QUEUE_BYTES),
        row("--login-timeout SECS", "time a connection has to choose a name", DEFAULT_LOGIN_TIMEOUT.as_secs()),
        row("--idle-timeout SECS", "disconnect named users silent this long; 0 = never", "0"),
        row("--max-per-ip N", "connections from one address; 0 = no cap", DEFAULT_MAX_PER_IP),
        format!(
            "  {:<24} networks exempt from --max-per-ip; repeatable; the first use replaces the default",
            "--trusted CIDR"
        ),
        row("", "", DEFAULT_TRUSTED.join(" ")),
        row("--flood-rate LINES/SEC", "lines read per second per client; 0 = unlimited", DEFAULT_FLOOD_RATE),
        row("--flood-burst LINES", "lines a client may send at once after a pause", DEFAULT_FLOOD_BURST),
        row("--notice-limit N", "join/leave notices only in rooms of at most N users", DEFAULT_NOTICE_LIMIT),
        row("--max-rooms N", "rooms that may exist at once", DEFAULT_MAX_ROOMS),
        row("--max-rooms-per-user N", "rooms one user may be in at once", DEFAULT_MAX_ROOMS_PER_USER),
    ];
    format!(
        "charla-server: a multi-user chat over TCP, in one single-threaded event loop

Usage: charla-server [OPTIONS]

Options:
{options}
  -h, --help               print this help
  -V, --version            print the version

Environment:
{logging}",
        options = rows.join("\n"),
        logging = row("RUST_LOG LEVEL", "log level (stderr): error, warn, info, debug, trace", "info"),
    )
}

/// Parses the server's command line (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Invocation, String> {
    use lexopt::prelude::*;

    let mut config = ServerConfig::default();
    let mut trusted_given = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("listen") => {
                let value = text(&mut parser, "--listen")?;
                config.listen = if value == "none" { None } else { Some(parse_addr(&value)?) };
            }
            Long("tls-listen") => config.tls_listen = Some(parse_addr(&text(&mut parser, "--tls-listen")?)?),
            Long("tls-cert") => config.tls_cert = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("tls-key") => config.tls_key = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long("web-listen") => config.web_listen = Some(parse_addr(&text(&mut parser, "--web-listen")?)?),
            Long("web-tls-listen") => {
                config.web_tls_listen = Some(parse_addr(&text(&mut parser, "--web-tls-listen")?)?)
            }
            Long("web-origin") => config.web_origins.push(text(&mut parser, "--web-origin")?),
            Long("irc-listen") => config.irc_listen = Some(parse_addr(&text(&mut parser, "--irc-listen")?)?),
            Long("irc-tls-listen") => {
                config.irc_tls_listen = Some(parse_addr(&text(&mut parser, "--irc-tls-listen")?)?)
            }
            Long("irc-ping") => config.chat.irc_ping_after = seconds(&mut parser, "--irc-ping", 1)?,
            Long("history-file") => config.history_file = parser.value().map_err(|e| e.to_string())?.into(),
            Long("history-size") => config.chat.history_size = number(&mut parser, "--history-size")?,
            Long("save-interval") => config.save_interval = seconds(&mut parser, "--save-interval", 1)?,
            Long("lang") => config.chat.lang = text(&mut parser, "--lang")?.parse()?,
            Long("max-clients") => config.max_clients = number(&mut parser, "--max-clients")?,
            Long("max-queue") => config.max_queue_bytes = number(&mut parser, "--max-queue")?,
            Long("login-timeout") => config.chat.login_timeout = seconds(&mut parser, "--login-timeout", 1)?,
            Long("idle-timeout") => {
                let idle = seconds(&mut parser, "--idle-timeout", 0)?;
                config.chat.idle_timeout = (!idle.is_zero()).then_some(idle);
            }
            Long("max-per-ip") => config.max_per_ip = number(&mut parser, "--max-per-ip")?,
            Long("trusted") => {
                if !trusted_given {
                    config.trusted.clear();
                    trusted_given = true;
                }
                config.trusted.push(text(&mut parser, "--trusted")?.parse()?);
            }
            Long("flood-rate") => config.flood.rate = number(&mut parser, "--flood-rate")?,
            Long("flood-burst") => config.flood.burst = number(&mut parser, "--flood-burst")?,
            Long("notice-limit") => config.chat.notice_limit = number(&mut parser, "--notice-limit")?,
            Long("max-rooms") => config.chat.max_rooms = at_least_one(&mut parser, "--max-rooms")?,
            Long("max-rooms-per-user") => {
                config.chat.max_rooms_per_user = at_least_one(&mut parser, "--max-rooms-per-user")?
            }
            Short('h') | Long("help") => return Ok(Invocation::Help),
            Short('V') | Long("version") => return Ok(Invocation::Version),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let wants_tls = config.tls_listen.is_some() || config.web_tls_listen.is_some() || config.irc_tls_listen.is_some();
    if wants_tls && (config.tls_cert.is_none() || config.tls_key.is_none()) {
        return Err("--tls-listen and --web-tls-listen need --tls-cert FILE and --tls-key FILE".to_owned());
    }
    let listeners = [
        config.listen,
        config.tls_listen,
        config.web_listen,
        config.web_tls_listen,
        config.irc_listen,
        config.irc_tls_listen,
    ];
    if listeners.iter().all(Option::is_none) {
        return Err("--listen none leaves nothing to listen on: give --tls-listen or --web-listen too".to_owned());
    }
    // No single reply (a welcome with its history, a /users list) may fill a queue that a reader keeps up with.
    config.chat.max_reply_bytes = config.max_queue_bytes / 2;
    Ok(Invocation::Run(Box::new(config)))
}

fn at_least_one(parser: &mut lexopt::Parser, flag: &str) -> Result<usize, String> {
    match number(parser, flag)? {
        0 => Err(format!("{flag} needs at least 1")),
        n => Ok(n),
    }
}

fn default_trusted() -> Vec<Cidr> {
    DEFAULT_TRUSTED.iter().filter_map(|block| block.parse().ok()).collect()
}

fn seconds(parser: &mut lexopt::Parser, flag: &str, min: u64) -> Result<Duration, String> {
    let text = text(parser, flag)?;
    match text.parse::<u64>() {
        Ok(secs) if secs >= min => Ok(Duration::from_secs(secs)),
        _ => Err(format!("{flag} needs a whole number of seconds, at least {min}, not {text:?}")),
    }
}

/// Accepts `1.2.3.4:5555`, `[::1]:5555` or `localhost:5555` (the first address the name resolves to).
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .map_err(|e| format!("--listen {text:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--listen {text:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::catalog::Lang;

    fn parse(args: &[&str]) -> Result<Invocation, String> {
        parse_args(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn defaults_without_flags() {
        let Ok(Invocation::Run(config)) = parse(&[]) else { panic!("no flags must run") };
        assert_eq!(config.listen, Some("127.0.0.1:5555".parse().expect("literal")));
        assert_eq!(config.chat.history_size, 50);
        assert_eq!(config.chat.lang, Lang::En);
        assert_eq!(config.max_queue_bytes, 1 << 20);
        assert_eq!(config.max_per_ip, 16);
        assert_eq!(config.trusted.len(), 2, "127.0.0.1/32 and ::1/128");
        assert_eq!(config.flood, FloodLimit { rate: DEFAULT_FLOOD_RATE, burst: DEFAULT_FLOOD_BURST });
        assert_eq!(config.chat.idle_timeout, None);
    }

    #[test]
    fn trusted_replaces_the_default_and_repeats() {
        let Ok(Invocation::Run(config)) = parse(&["--trusted", "10.0.0.0/8", "--trusted", "192.168.0.0/16"]) else {
            panic!("valid flags must run")
        };
        assert_eq!(config.trusted, vec!["10.0.0.0/8".parse().expect("cidr"), "192.168.0.0/16".parse().expect("cidr")]);
        assert!(parse(&["--trusted", "10.0.0.0/99"]).is_err());
    }

    #[test]
    fn flags_change_settings() {
        let Ok(Invocation::Run(config)) = parse(&[
            "--listen",
            "[::1]:0",
            "--lang=es",
            "--history-size",
            "7",
            "--save-interval",
            "3",
            "--history-file",
            "/tmp/h.json",
            "--max-clients",
            "9",
            "--max-queue",
            "4096",
            "--login-timeout",
            "5",
            "--idle-timeout",
            "600",
            "--max-per-ip",
            "0",
            "--flood-rate",
            "0",
            "--flood-burst",
            "3",
        ]) else {
            panic!("valid flags must run")
        };
        assert_eq!(config.listen, Some("[::1]:0".parse().expect("literal")));
        assert_eq!(config.chat.lang, Lang::Es);
        assert_eq!(config.chat.history_size, 7);
        assert_eq!(config.save_interval, Duration::from_secs(3));
        assert_eq!(config.history_file, PathBuf::from("/tmp/h.json"));
        assert_eq!(config.max_clients, 9);
        assert_eq!(config.max_queue_bytes, 4096);
        assert_eq!(config.chat.login_timeout, Duration::from_secs(5));
        assert_eq!(config.chat.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(config.max_per_ip, 0);
        assert_eq!(config.flood, FloodLimit { rate: 0, burst: 3 });
    }

    #[test]
    fn bad_flags_are_explained() {
        assert!(parse(&["--lang", "fr"]).unwrap_err().contains("fr"));
        assert!(parse(&["--history-size", "many"]).unwrap_err().contains("--history-size"));
        assert!(parse(&["--save-interval", "0"]).unwrap_err().contains("at least 1"));
        assert!(parse(&["--bogus"]).is_err());
        assert!(matches!(parse(&["--help"]), Ok(Invocation::Help)));
    }
}
