//! Writing to standard output and standard error without panicking. `println!` panics when its write fails,
//! and a closed pipe (`charla | head -2`) is an ordinary way for a client's output to end: Rust ignores SIGPIPE,
//! so the write returns `EPIPE`, which the caller hears about and acts on.

use std::io::{self, Write};

/// Writes one line to standard output and flushes it. An error means nobody can read what follows.
pub(crate) fn print_line(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush())
}

/// Writes one line to standard error. If even that fails, there is nowhere left to say anything, so the
/// failure is dropped.
pub(crate) fn print_error(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}
