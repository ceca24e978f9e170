//! Server configuration: one table of settings (flag, file key, default, how a value is read and checked, help
//! line), and the command-line parser, the `--config` file loader and `--help` built on it.
//!
//! A new setting is one entry in [`SETTINGS`]; the flag, the file key, `--help` and the check of
//! `contrib/charla.toml` all follow from it.

use std::ffi::OsString;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::chat::{ChatConfig, DEFAULT_IRC_PING_AFTER, DEFAULT_LOGIN_TIMEOUT, DEFAULT_NOTICE_LIMIT};
use crate::core::history::DEFAULT_HISTORY_SIZE;
use crate::core::rooms::{DEFAULT_MAX_ROOMS, DEFAULT_MAX_ROOMS_PER_USER};
use crate::server::config_file::{self, Entry};
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

/// The largest count any setting accepts. Below 2^31, so every count fits a `usize` on 32-bit ARM too, and
/// far above what one process can hold (connections, rooms) or replay (history).
const MANY: u64 = 1_000_000;
/// The longest any time setting may be, in seconds: 30 days.
const LONGEST_SECS: u64 = 30 * 24 * 3600;

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
    /// The Redis this node shares the chat through with other nodes (`--cluster`), if any.
    pub cluster: Option<ClusterAddress>,
    /// This node's name in the cluster, for the logs; `None`: the host name and the process id.
    pub node_name: Option<String>,
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
            cluster: None,
            node_name: None,
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

/// A Redis URL as given (`redis://[[USER]:PASSWORD@]HOST:PORT[/DB]`), checked when the cluster starts. Its
/// `Debug` hides it whole, so a password in it never reaches a log through the configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterAddress(pub String);

impl fmt::Debug for ClusterAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterAddress(..)")
    }
}

/// The environment variable that gives `--cluster` when the flag and the file do not, so a password need not be
/// on a command line (where `ps` shows it) or in a file others may read.
pub const CLUSTER_ENV: &str = "CHARLA_CLUSTER";

/// A value given for a setting: on the command line always text, in the file typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A command-line value: text, which may spell a number. Not necessarily UTF-8 (a path need not be).
    Arg(OsString),
    /// A TOML integer.
    Integer(i64),
    /// A TOML string.
    Text(String),
    /// A TOML array, or the values of a repeatable flag given several times.
    List(Vec<Value>),
    /// Any other TOML value (boolean, float, date, table), by the name of its type, for the error message.
    Other(&'static str),
}

impl Value {
    /// The value as a line of `contrib/charla.toml` writes it: `10000`, `"en"`, `["127.0.0.1/32", "::1/128"]`.
    pub fn to_toml(&self) -> String {
        match self {
            Value::Arg(text) => format!("{:?}", text.to_string_lossy()),
            Value::Integer(n) => n.to_string(),
            Value::Text(text) => format!("{text:?}"),
            Value::List(items) => format!("[{}]", items.iter().map(Value::to_toml).collect::<Vec<_>>().join(", ")),
            Value::Other(kind) => format!("<{kind}>"),
        }
    }
}

/// How `--help` shows a default: bare, lists separated by spaces.
impl fmt::Display for Value {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Arg(text) => write!(out, "{}", text.to_string_lossy()),
            Value::Integer(n) => write!(out, "{n}"),
            Value::Text(text) => write!(out, "{text}"),
            Value::List(items) => {
                let shown: Vec<String> = items.iter().map(Value::to_string).collect();
                write!(out, "{}", shown.join(" "))
            }
            Value::Other(kind) => write!(out, "<{kind}>"),
        }
    }
}

/// A setting's default, as `--help` and `contrib/charla.toml` show it.
#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// The setting holds this value unless it is given.
    Value(Value),
    /// The setting is off or empty unless it is given; `--help` shows this word (`off`, `none`).
    Unset(&'static str),
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DefaultValue::Value(value) => write!(out, "{value}"),
            DefaultValue::Unset(word) => write!(out, "{word}"),
        }
    }
}

/// One setting: everything the flag parser, the file loader, `--help` and the contrib file's test know of it.
pub struct Setting {
    /// The long flag without its dashes: `max-clients`. The file's key is the same with `_` for `-`.
    pub flag: &'static str,
    /// What the flag's value is, as `--help` names it: `N`, `SECS`, `ADDR:PORT`.
    pub value_name: &'static str,
    /// The `--help` line.
    pub help: &'static str,
    /// The default, typed as in the file. A unit test checks that it is what [`ServerConfig::default`] holds.
    pub default: fn() -> DefaultValue,
    /// Given more than once on the command line, its values make one list (the first use replaces the default)
    /// instead of the last one winning.
    pub repeatable: bool,
    /// Reads and checks a value and stores it; the error says what was expected and what was given.
    set: fn(&mut ServerConfig, &Value) -> Result<(), String>,
}

impl Setting {
    /// The setting's key in the `--config` file: `max_clients`.
    pub fn key(&self) -> String {
        self.flag.replace('-', "_")
    }
}

/// Every setting, in `--help`'s order.
pub const SETTINGS: &[Setting] = &[
    Setting {
        flag: "listen",
        value_name: "ADDR:PORT",
        help: "where plain TCP is served ([::1]:5555); none = off",
        default: || DefaultValue::Value(Value::Text(DEFAULT_LISTEN.into())),
        repeatable: false,
        set: |config, value| {
            let text = text(value)?;
            config.listen = if text == "none" { None } else { Some(parse_addr(&text)?) };
            Ok(())
        },
    },
    Setting {
        flag: "tls-listen",
        value_name: "ADDR:PORT",
        help: "where TLS is served (needs --tls-cert, --tls-key)",
        default: || DefaultValue::Unset("off"),
        repeatable: false,
        set: |config, value| {
            config.tls_listen = Some(parse_addr(&text(value)?)?);
            Ok(())
        },
    },
    Setting {
        flag: "tls-cert",
        value_name: "FILE",
        help: "certificate chain for TLS, PEM; re-read on SIGHUP",
        default: || DefaultValue::Unset("none"),
        repeatable: false,
        set: |config, value| {
            config.tls_cert = Some(path(value)?);
            Ok(())
        },
    },
    Setting {
        flag: "tls-key",
        value_name: "FILE",
        help: "private key for TLS, PEM; re-read on SIGHUP",
        default: || DefaultValue::Unset("none"),
        repeatable: false,
        set: |config, value| {
            config.tls_key = Some(path(value)?);
            Ok(())
        },
    },
    Setting {
        flag: "web-listen",
        value_name: "ADDR:PORT",
        help: "where the web page and its WebSocket are served",
        default: || DefaultValue::Unset("off"),
        repeatable: false,
        set: |config, value| {
            config.web_listen = Some(parse_addr(&text(value)?)?);
            Ok(())
        },
    },
    Setting {
        flag: "web-tls-listen",
        value_name: "ADDR",
        help: "the same over HTTPS (needs --tls-cert, --tls-key)",
        default: || DefaultValue::Unset("off"),
        repeatable: false,
        set: |config, value| {
            config.web_tls_listen = Some(parse_addr(&text(value)?)?);
            Ok(())
        },
    },
    Setting {
        flag: "web-origin",
        value_name: "ORIGIN",
        help: "origins allowed to open the WebSocket; repeatable",
        default: || DefaultValue::Unset("the page's"),
        repeatable: true,
        set: |config, value| {
            config.web_origins = texts(value, "origins like [\"https://chat.example.org\"]")?;
            Ok(())
        },
    },
    Setting {
        flag: "irc-listen",
        value_name: "ADDR:PORT",
        help: "where IRC clients are served",
        default: || DefaultValue::Unset("off"),
        repeatable: false,
        set: |config, value| {
            config.irc_listen = Some(parse_addr(&text(value)?)?);
            Ok(())
        },
    },
    Setting {
        flag: "irc-tls-listen",
        value_name: "ADDR",
        help: "IRC over TLS (needs --tls-cert, --tls-key)",
        default: || DefaultValue::Unset("off"),
        repeatable: false,
        set: |config, value| {
            config.irc_tls_listen = Some(parse_addr(&text(value)?)?);
            Ok(())
        },
    },
    Setting {
        flag: "irc-ping",
        value_name: "SECS",
        help: "ping a silent IRC client; drop it after twice that",
        default: || DefaultValue::Value(integer(DEFAULT_IRC_PING_AFTER.as_secs())),
        repeatable: false,
        set: |config, value| {
            config.chat.irc_ping_after = seconds(value, 1, 86_400)?;
            Ok(())
        },
    },
    Setting {
        flag: "cluster",
        value_name: "URL",
        help: "share the chat with other nodes through Redis",
        default: || DefaultValue::Unset("off"),
        repeatable: false,
        set: |config, value| {
            config.cluster = Some(ClusterAddress(text(value)?));
            Ok(())
        },
    },
    Setting {
        flag: "node-name",
        value_name: "NAME",
        help: "this node's name in a cluster's logs",
        default: || DefaultValue::Unset("host-pid"),
        repeatable: false,
        set: |config, value| {
            let name = text(value)?;
            if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(format!("expected 1 to 64 characters without spaces, got {}", shown(value)));
            }
            config.node_name = Some(name);
            Ok(())
        },
    },
    Setting {
        flag: "history-file",
        value_name: "PATH",
        help: "where public history is saved as JSON",
        default: || DefaultValue::Value(Value::Text(DEFAULT_HISTORY_FILE.into())),
        repeatable: false,
        set: |config, value| {
            config.history_file = path(value)?;
            Ok(())
        },
    },
    Setting {
        flag: "history-size",
        value_name: "N",
        help: "public messages kept per room, replayed on joining",
        default: || DefaultValue::Value(integer(DEFAULT_HISTORY_SIZE as u64)),
        repeatable: false,
        set: |config, value| {
            config.chat.history_size = whole(value, 0, 100_000)? as usize;
            Ok(())
        },
    },
    Setting {
        flag: "save-interval",
        value_name: "SECS",
        help: "how often changed history is saved",
        default: || DefaultValue::Value(integer(DEFAULT_SAVE_INTERVAL.as_secs())),
        repeatable: false,
        set: |config, value| {
            config.save_interval = seconds(value, 1, 3600)?;
            Ok(())
        },
    },
    Setting {
        flag: "lang",
        value_name: "en|es",
        help: "language of the lines sent to users",
        default: || DefaultValue::Value(Value::Text("en".into())),
        repeatable: false,
        set: |config, value| {
            config.chat.lang = text(value)?.parse()?;
            Ok(())
        },
    },
    Setting {
        flag: "max-clients",
        value_name: "N",
        help: "connections held at once; more are turned away",
        default: || DefaultValue::Value(integer(DEFAULT_MAX_CLIENTS as u64)),
        repeatable: false,
        set: |config, value| {
            config.max_clients = whole(value, 1, MANY)? as usize;
            Ok(())
        },
    },
    Setting {
        flag: "max-queue",
        value_name: "BYTES",
        help: "output queued for one client before it is dropped",
        default: || DefaultValue::Value(integer(DEFAULT_MAX_QUEUE_BYTES as u64)),
        repeatable: false,
        // At least 16 KiB: half of it bounds one reply (a welcome with its history), which must hold a line.
        set: |config, value| {
            config.max_queue_bytes = whole(value, 16 * 1024, 1 << 30)? as usize;
            Ok(())
        },
    },
    Setting {
        flag: "login-timeout",
        value_name: "SECS",
        help: "time a connection has to choose a name",
        default: || DefaultValue::Value(integer(DEFAULT_LOGIN_TIMEOUT.as_secs())),
        repeatable: false,
        set: |config, value| {
            config.chat.login_timeout = seconds(value, 1, LONGEST_SECS)?;
            Ok(())
        },
    },
    Setting {
        flag: "idle-timeout",
        value_name: "SECS",
        help: "disconnect named users silent this long; 0 = never",
        default: || DefaultValue::Value(integer(0)),
        repeatable: false,
        set: |config, value| {
            let idle = seconds(value, 0, LONGEST_SECS)?;
            config.chat.idle_timeout = (!idle.is_zero()).then_some(idle);
            Ok(())
        },
    },
    Setting {
        flag: "max-per-ip",
        value_name: "N",
        help: "connections from one address; 0 = no cap",
        default: || DefaultValue::Value(integer(u64::from(DEFAULT_MAX_PER_IP))),
        repeatable: false,
        set: |config, value| {
            config.max_per_ip = whole(value, 0, MANY)? as u32;
            Ok(())
        },
    },
    Setting {
        flag: "trusted",
        value_name: "CIDR",
        help: "networks exempt from --max-per-ip; repeatable; the first use replaces the default",
        default: || {
            DefaultValue::Value(Value::List(DEFAULT_TRUSTED.iter().map(|block| Value::Text((*block).into())).collect()))
        },
        repeatable: true,
        set: |config, value| {
            config.trusted = cidrs(value)?;
            Ok(())
        },
    },
    Setting {
        flag: "flood-rate",
        value_name: "LINES/SEC",
        help: "lines read per second per client; 0 = unlimited",
        default: || DefaultValue::Value(integer(u64::from(DEFAULT_FLOOD_RATE))),
        repeatable: false,
        set: |config, value| {
            config.flood.rate = whole(value, 0, MANY)? as u32;
            Ok(())
        },
    },
    Setting {
        flag: "flood-burst",
        value_name: "LINES",
        help: "lines a client may send at once after a pause",
        default: || DefaultValue::Value(integer(u64::from(DEFAULT_FLOOD_BURST))),
        repeatable: false,
        set: |config, value| {
            config.flood.burst = whole(value, 1, MANY)? as u32;
            Ok(())
        },
    },
    Setting {
        flag: "notice-limit",
        value_name: "N",
        help: "join/leave notices only in rooms of at most N users",
        default: || DefaultValue::Value(integer(DEFAULT_NOTICE_LIMIT as u64)),
        repeatable: false,
        set: |config, value| {
            config.chat.notice_limit = whole(value, 0, MANY)? as usize;
            Ok(())
        },
    },
    Setting {
        flag: "max-rooms",
        value_name: "N",
        help: "rooms that may exist at once",
        default: || DefaultValue::Value(integer(DEFAULT_MAX_ROOMS as u64)),
        repeatable: false,
        set: |config, value| {
            config.chat.max_rooms = whole(value, 1, MANY)? as usize;
            Ok(())
        },
    },
    Setting {
        flag: "max-rooms-per-user",
        value_name: "N",
        help: "rooms one user may be in at once",
        default: || DefaultValue::Value(integer(DEFAULT_MAX_ROOMS_PER_USER as u64)),
        repeatable: false,
        set: |config, value| {
            config.chat.max_rooms_per_user = whole(value, 1, 10_000)? as usize;
            Ok(())
        },
    },
];

/// What the command line asked for.
#[derive(Debug)]
pub enum Invocation {
    Run(Box<ServerConfig>),
    Help,
    Version,
}

/// Width of `--help`'s flag column, in characters.
const FLAG_COLUMN: usize = 24;
/// Width of `--help`'s meaning column: a longer meaning gets a line of its own, its default the row below.
const MEANING_COLUMN: usize = 51;

/// The `--help` text, with every default.
pub fn help_text() -> String {
    /// One line of the option table. Padded by characters, so the `[default: ...]` column stays put whatever
    /// the values are.
    fn row(flag: &str, meaning: &str, default: impl fmt::Display) -> String {
        format!("  {flag:<FLAG_COLUMN$} {meaning:<MEANING_COLUMN$} [default: {default}]")
    }
    let mut rows = vec![row("--config FILE", "read settings from this TOML file; flags win", "none")];
    for setting in SETTINGS {
        let flag = format!("--{} {}", setting.flag, setting.value_name);
        let default = (setting.default)();
        if setting.help.chars().count() > MEANING_COLUMN {
            rows.push(format!("  {flag:<FLAG_COLUMN$} {}", setting.help));
            rows.push(row("", "", default));
        } else {
            rows.push(row(&flag, setting.help, default));
        }
    }
    format!(
        "charla-server: a multi-user chat over TCP, in one single-threaded event loop

Usage: charla-server [--config FILE] [OPTIONS]

Options:
{options}
  -h, --help               print this help
  -V, --version            print the version

Every option but --config may also be set in the --config file, under its name with _ for -
(max_clients = 100, trusted = [\"10.0.0.0/8\"]); flags override the file. contrib/charla.toml lists them all.

Environment:
{logging}
  CHARLA_CLUSTER URL       --cluster when neither the flag nor the file gives it (keeps a password off ps)
  JOURNAL_STREAM           set by systemd: log lines then go to the journal without a timestamp of their own",
        options = rows.join("\n"),
        logging = row("RUST_LOG LEVEL", "log level (stderr): error, warn, info, debug, trace", "info"),
    )
}

/// Parses the server's command line (without the program name), reading the `--config` file if one is named.
/// Flags override the file, which overrides the defaults. The error is one line, for `charla-server: ...`.
pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Invocation, String> {
    use lexopt::Arg::{Long, Short};

    let mut config_file: Option<PathBuf> = None;
    let mut given: Vec<(&Setting, Value)> = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Invocation::Help),
            Short('V') | Long("version") => return Ok(Invocation::Version),
            Long("config") => config_file = Some(parser.value().map_err(|e| e.to_string())?.into()),
            Long(flag) => {
                let Some(setting) = SETTINGS.iter().find(|s| s.flag == flag) else {
                    return Err(arg.unexpected().to_string());
                };
                let value = Value::Arg(parser.value().map_err(|e| e.to_string())?);
                match given.iter_mut().find(|(earlier, _)| setting.repeatable && std::ptr::eq(*earlier, setting)) {
                    Some((_, Value::List(values))) => values.push(value),
                    _ if setting.repeatable => given.push((setting, Value::List(vec![value]))),
                    _ => given.push((setting, value)),
                }
            }
            _ => return Err(arg.unexpected().to_string()),
        }
    }
    let mut config = ServerConfig::default();
    if let Some(file) = config_file {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        apply_file(&mut config, &file, &text)?;
    }
    for (setting, value) in given {
        (setting.set)(&mut config, &value).map_err(|e| format!("--{}: {e}", setting.flag))?;
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
    if config.cluster.is_none()
        && let Some(url) = std::env::var_os(CLUSTER_ENV).filter(|url| !url.is_empty())
    {
        let url = url.into_string().map_err(|_| format!("${CLUSTER_ENV} is not UTF-8"))?;
        config.cluster = Some(ClusterAddress(url));
    }
    Ok(Invocation::Run(Box::new(config)))
}

/// Applies the settings of a `--config` file's text to `config`. An unknown key, a value of the wrong type or
/// out of range, or a TOML syntax error is refused, naming the file, the line and the key.
pub fn apply_file(config: &mut ServerConfig, file: &Path, text: &str) -> Result<(), String> {
    let at_line = |line: usize| format!("{} line {line}", file.display());
    let entries = config_file::parse(text).map_err(|e| format!("{}: {}", at_line(e.line), e.message))?;
    for Entry { key, line, value } in entries {
        let Some(setting) = SETTINGS.iter().find(|s| s.key() == key) else {
            return Err(format!("{}: {key}: unknown setting (charla-server --help lists them)", at_line(line)));
        };
        (setting.set)(config, &value).map_err(|e| format!("{}: {key}: {e}", at_line(line)))?;
    }
    Ok(())
}

fn integer(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// How an error quotes what was given: `"many"`, `7`, `an array`.
fn shown(value: &Value) -> String {
    match value {
        Value::Arg(_) | Value::Text(_) | Value::Integer(_) => value.to_toml(),
        Value::List(_) => "an array".into(),
        Value::Other(kind) => format!("a {kind}"),
    }
}

/// A whole number from `min` to `max`, from a flag's text or a TOML integer (not a TOML string: `"10"` in the
/// file is a mistake worth pointing at).
fn whole(value: &Value, min: u64, max: u64) -> Result<u64, String> {
    let number = match value {
        Value::Arg(text) => text.to_str().and_then(|text| text.parse::<u64>().ok()),
        Value::Integer(n) => u64::try_from(*n).ok(),
        _ => None,
    };
    match number {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}, got {}", shown(value))),
    }
}

fn seconds(value: &Value, min: u64, max: u64) -> Result<Duration, String> {
    whole(value, min, max)
        .map(Duration::from_secs)
        .map_err(|_| format!("expected a whole number of seconds from {min} to {max}, got {}", shown(value)))
}

/// Text, from a flag or a TOML string.
fn text(value: &Value) -> Result<String, String> {
    match value {
        Value::Arg(text) => {
            text.to_str().map(str::to_owned).ok_or_else(|| format!("expected UTF-8 text, got {}", shown(value)))
        }
        Value::Text(text) => Ok(text.clone()),
        _ => Err(format!("expected text in quotes, got {}", shown(value))),
    }
}

/// A path, from a flag (any bytes, as Unix paths may be) or a TOML string.
fn path(value: &Value) -> Result<PathBuf, String> {
    let path = match value {
        Value::Arg(text) => PathBuf::from(text),
        _ => PathBuf::from(text(value)?),
    };
    if path.as_os_str().is_empty() { Err("expected a file name, got \"\"".into()) } else { Ok(path) }
}

/// Texts: the values of a repeated flag, or a TOML array of strings; `what` names them for the error.
fn texts(value: &Value, what: &str) -> Result<Vec<String>, String> {
    let Value::List(items) = value else {
        return Err(format!("expected an array of {what}, got {}", shown(value)));
    };
    items.iter().map(text).collect()
}

/// Address blocks: the values of a repeated flag, or a TOML array of strings.
fn cidrs(value: &Value) -> Result<Vec<Cidr>, String> {
    texts(value, "address blocks like [\"10.0.0.0/8\"]")?.iter().map(|block| block.parse()).collect()
}

fn default_trusted() -> Vec<Cidr> {
    DEFAULT_TRUSTED.iter().filter_map(|block| block.parse().ok()).collect()
}

/// Accepts `1.2.3.4:5555`, `[::1]:5555` or `localhost:5555` (the first address the name resolves to).
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    text.to_socket_addrs()
        .map_err(|e| format!("expected an address and port like 0.0.0.0:5555, got {text:?} ({e})"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::catalog::Lang;

    fn parse(args: &[&str]) -> Result<Invocation, String> {
        parse_args(args.iter().map(OsString::from))
    }

    fn run(args: &[&str]) -> ServerConfig {
        match parse(args) {
            Ok(Invocation::Run(config)) => *config,
            other => panic!("{args:?} must run, got {other:?}"),
        }
    }

    fn from_file(text: &str) -> Result<ServerConfig, String> {
        let mut config = ServerConfig::default();
        apply_file(&mut config, Path::new("/etc/charla/charla.toml"), text).map(|()| config)
    }

    #[test]
    fn defaults_without_flags() {
        let config = run(&[]);
        assert_eq!(config.listen, Some("127.0.0.1:5555".parse().expect("literal")));
        assert_eq!((config.tls_listen, config.web_listen, config.irc_listen), (None, None, None));
        assert_eq!(config.chat.history_size, 50);
        assert_eq!(config.chat.lang, Lang::En);
        assert_eq!(config.max_queue_bytes, 1 << 20);
        assert_eq!(config.max_per_ip, 16);
        assert_eq!(config.trusted.len(), 2, "127.0.0.1/32 and ::1/128");
        assert_eq!(config.flood, FloodLimit { rate: DEFAULT_FLOOD_RATE, burst: DEFAULT_FLOOD_BURST });
        assert_eq!(config.chat.idle_timeout, None);
    }

    #[test]
    fn the_table_defaults_are_the_defaults() {
        // Each setting's default, written in a file, leaves the default configuration as it was.
        let file: String = SETTINGS
            .iter()
            .filter_map(|s| match (s.default)() {
                DefaultValue::Value(value) => Some(format!("{} = {}\n", s.key(), value.to_toml())),
                DefaultValue::Unset(_) => None,
            })
            .collect();
        let from_table = from_file(&file).expect("the defaults are valid");
        assert_eq!(format!("{from_table:?}"), format!("{:?}", ServerConfig::default()));
    }

    #[test]
    fn keys_are_the_flags_in_snake_case_and_unique() {
        let mut keys: Vec<String> = SETTINGS.iter().map(Setting::key).collect();
        assert!(keys.contains(&"max_clients".to_string()) && keys.contains(&"flood_rate".to_string()));
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), SETTINGS.len());
    }

    #[test]
    fn trusted_replaces_the_default_and_repeats() {
        let config = run(&["--trusted", "10.0.0.0/8", "--trusted", "192.168.0.0/16"]);
        assert_eq!(config.trusted, vec!["10.0.0.0/8".parse().expect("cidr"), "192.168.0.0/16".parse().expect("cidr")]);
        assert!(parse(&["--trusted", "10.0.0.0/99"]).is_err());
    }

    #[test]
    fn flags_change_settings() {
        let config = run(&[
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
            "65536",
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
            "--notice-limit",
            "4",
            "--max-rooms",
            "6",
            "--max-rooms-per-user",
            "2",
        ]);
        assert_eq!(config.listen, Some("[::1]:0".parse().expect("literal")));
        assert_eq!(config.chat.lang, Lang::Es);
        assert_eq!(config.chat.history_size, 7);
        assert_eq!(config.save_interval, Duration::from_secs(3));
        assert_eq!(config.history_file, PathBuf::from("/tmp/h.json"));
        assert_eq!(config.max_clients, 9);
        assert_eq!(config.max_queue_bytes, 65536);
        assert_eq!(config.chat.max_reply_bytes, 32768);
        assert_eq!(config.chat.login_timeout, Duration::from_secs(5));
        assert_eq!(config.chat.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(config.max_per_ip, 0);
        assert_eq!(config.flood, FloodLimit { rate: 0, burst: 3 });
        assert_eq!(config.chat.notice_limit, 4);
        assert_eq!((config.chat.max_rooms, config.chat.max_rooms_per_user), (6, 2));
    }

    #[test]
    fn bad_flags_are_explained() {
        assert!(parse(&["--lang", "fr"]).unwrap_err().contains("unknown language \"fr\""));
        assert_eq!(
            parse(&["--history-size", "many"]).unwrap_err(),
            "--history-size: expected a whole number from 0 to 100000, got \"many\""
        );
        assert_eq!(
            parse(&["--save-interval", "0"]).unwrap_err(),
            "--save-interval: expected a whole number of seconds from 1 to 3600, got \"0\""
        );
        assert!(parse(&["--max-rooms", "0"]).unwrap_err().contains("from 1 to"));
        assert!(parse(&["--bogus"]).is_err());
        assert!(matches!(parse(&["--help"]), Ok(Invocation::Help)));
    }

    #[test]
    fn a_file_sets_what_it_names() {
        let config = from_file(
            "# a comment\nlisten = \"0.0.0.0:5555\"\nmax_clients = 100\nlang = \"es\"\nidle_timeout = 600\n\
             trusted = [\"10.0.0.0/8\"]\nhistory_file = \"/var/lib/charla/chat_history.json\"\n",
        )
        .expect("valid file");
        assert_eq!(config.listen, Some("0.0.0.0:5555".parse().expect("literal")));
        assert_eq!(config.max_clients, 100);
        assert_eq!(config.chat.lang, Lang::Es);
        assert_eq!(config.chat.idle_timeout, Some(Duration::from_secs(600)));
        assert_eq!(config.trusted, vec!["10.0.0.0/8".parse().expect("cidr")]);
        assert_eq!(config.history_file, PathBuf::from("/var/lib/charla/chat_history.json"));
    }

    #[test]
    fn listeners_tls_and_origins_from_a_file_and_flags() {
        let config = from_file(
            "listen = \"none\"\nirc_listen = \"127.0.0.1:6667\"\nweb_origin = [\"https://a.example\", \"https://b.example\"]\n\
             tls_cert = \"/etc/charla/cert.pem\"\ntls_key = \"/etc/charla/key.pem\"\nirc_ping = 60\n",
        )
        .expect("valid file");
        assert_eq!(config.listen, None);
        assert_eq!(config.irc_listen, Some("127.0.0.1:6667".parse().expect("literal")));
        assert_eq!(config.web_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(config.tls_key, Some(PathBuf::from("/etc/charla/key.pem")));
        assert_eq!(config.chat.irc_ping_after, Duration::from_secs(60));
        let config = run(&["--web-origin", "https://a.example", "--web-origin", "https://b.example"]);
        assert_eq!(config.web_origins, ["https://a.example", "https://b.example"]);
        assert!(parse(&["--tls-listen", "127.0.0.1:0"]).unwrap_err().contains("need --tls-cert"));
        assert!(parse(&["--listen", "none"]).unwrap_err().contains("nothing to listen on"));
    }

    #[test]
    fn file_mistakes_name_the_file_the_line_and_the_key() {
        let at = "/etc/charla/charla.toml";
        let cases = [
            (
                "\n\nmax_clients = \"many\"\n",
                format!("{at} line 3: max_clients: expected a whole number from 1 to 1000000, got \"many\""),
            ),
            (
                "max_clients = 0\n",
                format!("{at} line 1: max_clients: expected a whole number from 1 to 1000000, got 0"),
            ),
            (
                "lang = \"en\"\nmax_client = 5\n",
                format!("{at} line 2: max_client: unknown setting (charla-server --help lists them)"),
            ),
            ("listen = 5555\n", format!("{at} line 1: listen: expected text in quotes, got 5555")),
            (
                "trusted = \"10.0.0.0/8\"\n",
                format!(
                    "{at} line 1: trusted: expected an array of address blocks like [\"10.0.0.0/8\"], got \"10.0.0.0/8\""
                ),
            ),
            (
                "flood_rate = true\n",
                format!("{at} line 1: flood_rate: expected a whole number from 0 to 1000000, got a boolean"),
            ),
            (
                "[server]\nlisten = \"0.0.0.0:1\"\n",
                format!("{at} line 1: tables ([name]) are not used in this file: every setting is a top-level key"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(from_file(text).err().as_deref(), Some(expected.as_str()), "{text:?}");
        }
        // The first mistake in the file's order, whatever the key's name.
        assert!(from_file("zzz = 1\naaa = 2\n").unwrap_err().contains("line 1: zzz"));
        let syntax = from_file("lang = \"en\"\nmax_clients = \n").unwrap_err();
        assert!(syntax.starts_with(&format!("{at} line 2: ")), "{syntax}");
    }
}
