//! `charla-bench`: parses flags, runs one load scenario against a loopback server, prints a table or JSON.

use std::process::ExitCode;

use charla::bench::args::{self, Invocation};
use charla::bench::run;

fn main() -> ExitCode {
    let plan = match args::parse_args(std::env::args_os().skip(1)) {
        Ok(Invocation::Run(plan)) => *plan,
        Ok(Invocation::Help) => {
            println!("{}", args::help_text());
            return ExitCode::SUCCESS;
        }
        Ok(Invocation::FloorServer(listen)) => {
            let Err(e) = charla::server::floor::serve(listen);
            eprintln!("charla-bench floor-server: {e}");
            return ExitCode::FAILURE;
        }
        Ok(Invocation::Version) => {
            println!("charla-bench {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("charla-bench: {e}\nTry 'charla-bench --help'.");
            return ExitCode::from(2);
        }
    };
    let json = plan.json;
    match run::run(plan) {
        Ok(report) => {
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("charla-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
