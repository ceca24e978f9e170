//! The `charla` command-line client: connects to a server, lets the user chat, and says when it is over.
//!
//! Two threads feed the main thread over one channel (see [`reader`] for why threads and not mio): the reader
//! thread shows the server's lines as they come, and in the non-interactive mode a second one reads standard
//! input. The main thread answers the username question, sends what the user types, and decides when to leave.
//! Over TLS ([`tls`]) the reader thread owns the connection and sends the main thread's lines too.

pub(crate) mod connect;
pub(crate) mod events;
pub(crate) mod incoming;
pub(crate) mod interactive;
pub(crate) mod interrupt;
pub(crate) mod leave;
pub(crate) mod login;
pub mod options;
pub(crate) mod outgoing;
pub mod paint;
pub(crate) mod reader;
pub(crate) mod screen;
pub(crate) mod scripted;
pub(crate) mod session;
pub(crate) mod stdio;
pub(crate) mod tls;
pub(crate) mod trust;

use std::io::{self, IsTerminal};
use std::sync::mpsc;

use crate::client::interactive::Terminal;
use crate::client::interrupt::Interrupts;
use crate::client::login::Login;
use crate::client::options::ClientOptions;
use crate::client::outgoing::Outgoing;
use crate::client::paint::Painter;
use crate::client::reader::{Sink, StdoutSink};
use crate::client::screen::{LangSwitch, Screen};
use crate::client::session::{Outcome, Session};
use crate::core::catalog::Text;

/// Exit status after the user left (`/quit`, Ctrl+D, Ctrl+C, the end of scripted input), or after standard
/// output closed.
pub(crate) const EXIT_LEFT: u8 = 0;
/// Exit status after the connection was lost.
pub(crate) const EXIT_LOST: u8 = 1;
/// Exit status when the client could not connect, or its command line is wrong.
pub const EXIT_CANNOT_START: u8 = 2;

/// Runs the client; returns its exit status.
pub fn run(options: &ClientOptions) -> u8 {
    let lang = options.lang;
    let connect::Connection { outgoing, incoming: reading_half } = match connect::open(options) {
        Ok(connection) => connection,
        Err(e) => {
            stdio::print_error(&e.render(lang));
            return EXIT_CANNOT_START;
        }
    };
    let interrupts = Interrupts::install();
    let (events_in, events) = mpsc::channel();
    let mut session = Session::new(Outgoing::new(outgoing), events, interrupts);
    // Asked before anything else, so that the first question the user sees is already in that language. A
    // failed send means the connection is gone; the reader thread finds that out and says so.
    let lang_switch = match options.server_lang {
        Some(server_lang) if session.out.send(&format!("/lang {}", server_lang.code())).is_ok() => {
            LangSwitch::AwaitFirstQuestion
        }
        _ => LangSwitch::Off,
    };
    let login = Login::new(options.name.clone());
    let colour = paint::colour_wanted(io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref());

    let terminal = if io::stdin().is_terminal() && io::stdout().is_terminal() { Terminal::open().ok() } else { None };
    let started = match terminal {
        Some((mut terminal, printer)) => {
            let closed = session.closed_flag();
            let screen = Screen::new(Painter::new(colour), true, lang_switch);
            let wake = Box::new(move || interrupt::wake_editor(&closed));
            reader::spawn(reading_half, screen, printer, events_in, wake)
                .map(|()| interactive::run(&mut terminal, &mut session, login, lang))
        }
        None => {
            let screen = Screen::new(Painter::new(colour), false, lang_switch);
            let sink: Box<dyn Sink> = Box::new(StdoutSink);
            scripted::spawn_stdin_reader(events_in.clone(), lang)
                .and_then(|()| reader::spawn(reading_half, screen, sink, events_in, Box::new(|| {})))
                .map(|()| scripted::run(&mut session, login))
        }
    };
    let outcome = started.unwrap_or_else(|e| {
        // No thread could be started: the session never began, and the connection is dropped.
        stdio::print_error(&Text::InputFailed { reason: &e.to_string() }.render(lang));
        Outcome::Lost
    });
    match outcome {
        Outcome::Left => {
            // The output may have closed meanwhile; the user has left either way.
            let _ = stdio::print_line(&Text::Disconnected.render(lang));
            EXIT_LEFT
        }
        Outcome::LeftByKey | Outcome::OutputClosed => EXIT_LEFT,
        Outcome::Lost => {
            let _ = stdio::print_line(&Text::Disconnected.render(lang));
            EXIT_LOST
        }
    }
}
