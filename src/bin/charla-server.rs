//! `charla-server`: parses flags, sets up logging and limits, and runs the event loop.

use std::io::Write;
use std::process::ExitCode;

use charla::core::catalog::Text;
use charla::server::config::{self, Invocation};
use charla::server::{Server, clock, limits};

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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|out, record| {
            let at = clock::utc_timestamp(clock::unix_ms(std::time::SystemTime::now()));
            writeln!(out, "{at} {:<5} {}", record.level(), record.args())
        })
        .init();
    clock::init_local_time();
    match limits::raise_open_files_limit() {
        Ok(limit) if (limit as usize) < config.max_clients + 16 => log::warn!(
            "open-files limit is {limit}, below --max-clients {}; connections past it will be refused",
            config.max_clients
        ),
        Ok(_) => {}
        Err(e) => log::warn!("cannot read or raise the open-files limit: {e}"),
    }
    let lang = config.chat.lang;
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match server.local_addr() {
        Ok(addr) => addr.to_string(),
        Err(e) => {
            log::error!("cannot read the listening address: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", Text::ServerStarted { addr: &addr }.render(lang));
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
