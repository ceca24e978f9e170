//! The non-interactive client: standard input is not a terminal. It sends standard input's lines in order,
//! shows everything the server sends, plainly, and leaves when the server closes the connection or, once the
//! input has ended, when nothing has arrived for [`QUIET_PERIOD`].

use std::collections::VecDeque;
use std::io::{self, BufRead};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::{Duration, Instant};

use crate::client::events::Event;
use crate::client::leave::{self, GOODBYE_WAIT};
use crate::client::login::{Answer, Login};
use crate::client::session::{Next, Outcome, Session, TICK};
use crate::client::stdio;
use crate::core::catalog::{Lang, Text};

/// Once standard input has ended, how long nothing must arrive from the server before the client leaves.
pub(crate) const QUIET_PERIOD: Duration = Duration::from_secs(1);

/// Starts the thread that reads standard input line by line, blocking, and sends each line to the main thread.
pub(crate) fn spawn_stdin_reader(events: Sender<Event>, lang: Lang) -> io::Result<()> {
    thread::Builder::new().name("charla-stdin".to_owned()).spawn(move || {
        let mut stdin = io::stdin().lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match stdin.read_until(b'\n', &mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if events.send(Event::Input(String::from_utf8_lossy(line).into_owned())).is_err() {
                        return;
                    }
                }
                // Interrupted reads are retried by read_until; anything else ends the input.
                Err(e) => {
                    stdio::print_error(&Text::InputFailed { reason: &e.to_string() }.render(lang));
                    break;
                }
            }
        }
        let _ = events.send(Event::InputEnd);
    })?;
    Ok(())
}

/// Runs the session until it ends. Lines typed before the server asks for a name wait for the question, so
/// that `--name`, when given, is the first answer.
pub(crate) fn run(session: &mut Session, mut login: Login) -> Outcome {
    let mut asked = false;
    let mut waiting: VecDeque<String> = VecDeque::new();
    // Set once the input has ended: when the server was last heard from (or the input ended).
    let mut quiet_since: Option<Instant> = None;
    loop {
        let limit = match quiet_since {
            Some(since) => (since + QUIET_PERIOD).saturating_duration_since(Instant::now()).min(TICK),
            None => TICK,
        };
        let sent = match session.next(limit) {
            Next::Event(Event::Closed) => return session.outcome(),
            Next::Event(Event::AskName(_)) => {
                heard(&mut quiet_since);
                let answer = login.answer();
                if asked {
                    // Asked again: the name was refused, and the next line of input is the next try.
                    Ok(())
                } else {
                    asked = true;
                    let name = match answer {
                        Answer::Send(name) => session.out.send(&name),
                        Answer::AskUser => Ok(()),
                    };
                    name.and_then(|()| waiting.drain(..).try_for_each(|line| session.out.send(&line)))
                }
            }
            Next::Event(Event::Welcomed | Event::Room(_) | Event::Refused | Event::Shown) => {
                heard(&mut quiet_since);
                Ok(())
            }
            Next::Event(Event::Input(line)) if asked => session.out.send(&line),
            Next::Event(Event::Input(line)) => {
                waiting.push_back(line);
                Ok(())
            }
            Next::Event(Event::OutputClosed) => {
                leave::leave(session);
                return Outcome::OutputClosed;
            }
            Next::Event(Event::InputEnd) => {
                quiet_since = Some(Instant::now());
                Ok(())
            }
            Next::Timeout if session.interrupts.take() => {
                leave::leave(session);
                return Outcome::Left;
            }
            Next::Timeout if quiet_since.is_some_and(|since| since.elapsed() >= QUIET_PERIOD) => {
                return Outcome::Left;
            }
            Next::Timeout => Ok(()),
        };
        if sent.is_err() {
            // The connection broke under a write; the reader thread will see it too. Let it show the server's
            // last lines, then report the loss.
            leave::wait_for_close(session, GOODBYE_WAIT);
            return Outcome::Lost;
        }
    }
}

/// Something arrived from the server: the quiet period starts again.
fn heard(quiet_since: &mut Option<Instant>) {
    if let Some(since) = quiet_since {
        *since = Instant::now();
    }
}
