//! The reader thread: reads the server's lines off the socket, shows them, and tells the main thread.
//!
//! Why a thread and not mio: in a terminal the main thread sits inside rustyline's `readline`, which blocks in
//! its own `select` on standard input and cannot be folded into a mio poll loop. rustyline's answer for output
//! that arrives meanwhile is its `ExternalPrinter`, meant to be fed from another thread, so the socket gets a
//! blocking reader thread of its own. The non-interactive mode uses the same thread (and a second one for
//! standard input) so both modes show the server's lines through one path. The client holds one connection,
//! so two threads cost nothing worth an event loop.
//!
//! Over TLS the stream read here also sends the main thread's lines (see [`crate::client::tls`]), so the same
//! loop serves both transports.

use std::io::{self, BufRead, BufReader, ErrorKind, Read};
use std::sync::mpsc::Sender;
use std::thread;

use crate::client::events::Event;
use crate::client::screen::Screen;
use crate::client::stdio;

/// The longest line taken from the server at once, in bytes; a longer one is shown in pieces of this size.
/// Charla's own lines are at most a few KiB; this only bounds memory against a misbehaving server.
pub(crate) const MAX_SERVER_LINE_BYTES: u64 = 64 * 1024;

/// Where the reader thread puts the lines it shows.
pub(crate) trait Sink: Send {
    /// Shows one line; `line` has no terminator. An error means the output is gone: nothing more can be shown.
    fn show(&mut self, line: &str) -> io::Result<()>;
}

/// Standard output, line by line, for the non-interactive mode.
pub(crate) struct StdoutSink;

impl Sink for StdoutSink {
    fn show(&mut self, line: &str) -> io::Result<()> {
        stdio::print_line(line)
    }
}

/// Starts the reader thread. It sends [`Event::Closed`] last, then runs `after_close`. If the sink fails, it
/// sends [`Event::OutputClosed`] once and shows nothing more, but goes on reading until the server closes.
pub(crate) fn spawn(
    stream: Box<dyn Read + Send>,
    mut screen: Screen,
    mut sink: Box<dyn Sink>,
    events: Sender<Event>,
    after_close: Box<dyn FnOnce() + Send>,
) -> io::Result<()> {
    thread::Builder::new().name("charla-reader".to_owned()).spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        let mut output_open = true;
        loop {
            buf.clear();
            match (&mut reader).take(MAX_SERVER_LINE_BYTES).read_until(b'\n', &mut buf) {
                // The server closed the connection.
                Ok(0) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(trim_terminator(&buf));
                    let (shown, event) = screen.receive(&line);
                    if let Some(shown) = shown
                        && output_open
                        && sink.show(&shown).is_err()
                    {
                        output_open = false;
                        if events.send(Event::OutputClosed).is_err() {
                            return;
                        }
                    }
                    if events.send(event).is_err() {
                        // The main thread is gone: the process is ending.
                        return;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // Reset, or any other error: the connection is over, and the main thread says so.
                Err(_) => break,
            }
        }
        let _ = events.send(Event::Closed);
        after_close();
    })?;
    Ok(())
}

/// The line without its `\n` or `\r\n`.
fn trim_terminator(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminators_are_removed() {
        assert_eq!(trim_terminator(b"a\n"), b"a");
        assert_eq!(trim_terminator(b"a\r\n"), b"a");
        assert_eq!(trim_terminator(b"a"), b"a");
    }
}
