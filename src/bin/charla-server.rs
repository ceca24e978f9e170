//! `charla-server`: reads its flags and `--config` file, sets up logging and limits, and runs the event loop.

use std::io::Write;
use std::process::ExitCode;

use charla::core::catalog::Text;
use charla::server::config::{self, Invocation};
use charla::server::tls::TlsCertificate;
use charla::server::{ListenerKind, Server, clock, limits};

/// File descriptors the server needs besides one per client: the standard streams, the listener, the poll
/// instance and its waker, the signal pipe, the history file and its temporary copy, with room to spare.
const FILES_BESIDES_CLIENTS: u64 = 16;

fn main() -> ExitCode {
    let config = match config::parse_args(std::env::args_os().skip(1)) {
        Ok(Invocation::Run(config)) => *config,
        Ok(Invocation::Help) => {
            println!("{}", config::help_text());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::Version) => {
            println!("charla-server {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("charla-server: {e}\nTry 'charla-server --help'.");
            return ExitCode::from(2);
        }
    };
    // A certificate that cannot be used is a mistake in the command line's files: said at once, exit 2.
    let wants_tls = config.tls_listen.is_some() || config.web_tls_listen.is_some() || config.irc_tls_listen.is_some();
    let tls = match (wants_tls, &config.tls_cert, &config.tls_key) {
        (true, Some(cert), Some(key)) => match TlsCertificate::load(cert, key) {
            Ok(certificate) => Some(certificate),
            Err(e) => {
                eprintln!("charla-server: cannot use the TLS certificate: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    init_logging(stderr_is_the_journal(std::env::var_os("JOURNAL_STREAM").as_deref()));
    clock::init_local_time();
    match limits::raise_open_files_limit() {
        Ok(limit) => {
            if let Some(warning) = open_files_warning(limit, config.max_clients as u64) {
                log::warn!("{warning}");
            }
        }
        Err(e) => log::warn!("cannot read or raise the open-files limit: {e}"),
    }
    let lang = config.chat.lang;
    let server = match Server::bind(config, tls) {
        Ok(server) => server,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let addrs = match server.local_addrs() {
        Ok(addrs) => addrs,
        Err(e) => {
            log::error!("cannot read the listening address: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (kind, addr) in addrs {
        let addr = addr.to_string();
        let line = match kind {
            ListenerKind::Plain => Text::ServerStarted { addr: &addr },
            ListenerKind::Tls => Text::ServerStartedTls { addr: &addr },
            ListenerKind::Web => Text::ServerStartedWeb { addr: &addr, scheme: "http" },
            ListenerKind::WebTls => Text::ServerStartedWeb { addr: &addr, scheme: "https" },
            ListenerKind::Irc => Text::ServerStartedIrc { addr: &addr, tls: false },
            ListenerKind::IrcTls => Text::ServerStartedIrc { addr: &addr, tls: true },
        };
        println!("{}", line.render(lang));
    }
    // Tests and scripts wait for that line; a failed flush only means nobody is reading stdout.
    let _ = std::io::stdout().flush();
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, one line per record, at the level `RUST_LOG` sets (info by default). The journal stamps each
/// line itself, so there a line carries no timestamp of ours but a `<N>` syslog priority prefix, which journald
/// reads as the record's priority (`journalctl -p warning`) and strips.
fn init_logging(to_journal: bool) {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(move |out, record| {
            if to_journal {
                writeln!(out, "<{}>{:<5} {}", syslog_priority(record.level()), record.level(), record.args())
            } else {
                let at = clock::utc_timestamp(clock::unix_ms(std::time::SystemTime::now()));
                writeln!(out, "{at} {:<5} {}", record.level(), record.args())
            }
        })
        .init();
}

/// Whether stderr is the journal: systemd sets `JOURNAL_STREAM` to the device and inode (`DEV:INODE`) of the
/// stream it connects to journald. A child whose stderr was redirected elsewhere inherits the variable too, so
/// it counts only while it still names our stderr (as `sd_journal_stream_fd`'s documentation advises).
fn stderr_is_the_journal(journal_stream: Option<&std::ffi::OsStr>) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    let Some((device, inode)) = journal_stream.and_then(|v| v.to_str()).and_then(|v| v.split_once(':')) else {
        return false;
    };
    // Cannot stat stderr (closed, say): then it is not the journal's stream either.
    let Ok(stderr) = std::io::stderr().as_fd().try_clone_to_owned() else { return false };
    let Ok(meta) = std::fs::File::from(stderr).metadata() else { return false };
    device.parse() == Ok(meta.dev()) && inode.parse() == Ok(meta.ino())
}

/// The syslog priority journald gives a line starting with `<N>`.
fn syslog_priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// The warning to log when the open-files limit cannot hold `--max-clients` connections, with the numbers.
fn open_files_warning(limit: u64, max_clients: u64) -> Option<String> {
    let needed = max_clients.saturating_add(FILES_BESIDES_CLIENTS);
    (limit < needed).then(|| {
        format!(
            "open-files limit is {limit}; --max-clients {max_clients} needs {needed} (one per client plus \
             {FILES_BESIDES_CLIENTS} for listeners, the history file and the poll instance); connections past {} \
             will be refused",
            limit.saturating_sub(FILES_BESIDES_CLIENTS)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_gives_the_numbers_and_only_when_the_limit_is_short() {
        assert_eq!(
            open_files_warning(20_000, 20_000).as_deref(),
            Some(
                "open-files limit is 20000; --max-clients 20000 needs 20016 (one per client plus 16 for listeners, \
                 the history file and the poll instance); connections past 19984 will be refused"
            )
        );
        assert_eq!(open_files_warning(20_016, 20_000), None);
        assert!(open_files_warning(8, 100).is_some_and(|w| w.ends_with("connections past 0 will be refused")));
    }
}
