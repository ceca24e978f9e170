//! `charla`: the command-line chat client. Parses flags and runs the client (see `charla::client`).

use std::io::Write;
use std::process::ExitCode;

use charla::client::options::{self, Invocation};
use charla::client::{self, EXIT_CANNOT_START};

fn main() -> ExitCode {
    let env_lang = options::lang_from_env(std::env::var_os("LANG").as_deref());
    match options::parse_args(std::env::args_os().skip(1), env_lang) {
        Ok(Invocation::Run(options)) => ExitCode::from(client::run(&options)),
        Ok(Invocation::Help) => {
            // A failed write (`charla --help | head -1`) is the reader's choice, not an error: no panic.
            let _ = writeln!(std::io::stdout(), "{}", options::help_text());
            ExitCode::SUCCESS
        }
        Ok(Invocation::Version) => {
            let _ = writeln!(std::io::stdout(), "charla {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "charla: {e}\nTry 'charla --help'.");
            ExitCode::from(EXIT_CANNOT_START)
        }
    }
}
