//! The interactive client: standard input and output are a terminal. A line editor (rustyline) holds what the
//! user types; the server's lines are printed above it, so a half-typed line is never mangled. The server's
//! username question is the editor's prompt; once named, the prompt is the current room (`#general> `).
//!
//! rustyline cannot change a prompt while it reads a line, and the room changes only when the server answers
//! the user's own `/join` or `/leave`; so after sending one, the client waits for the answer (briefly, on any
//! server worth the name) before it shows the next prompt.

use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, Instant};

use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Cmd, Config, Context, Editor, ExternalPrinter, Helper, KeyCode, KeyEvent, Modifiers};

use crate::client::events::Event;
use crate::client::leave;
use crate::client::login::{Answer, Login};
use crate::client::outgoing::room_commands;
use crate::client::reader::{Sink, StdoutSink};
use crate::client::session::{Next, Outcome, Session, TICK};
use crate::client::stdio;
use crate::core::catalog::{Lang, Text};

/// The longest the client waits for the server to answer a `/join` or `/leave` before showing the next prompt,
/// which then shows the room the user was in. A Charla server answers within milliseconds.
pub(crate) const ROOM_ANSWER_WAIT: Duration = Duration::from_secs(2);

/// The line editor, used by the main thread.
pub(crate) struct Terminal {
    editor: Editor<TypedLength, DefaultHistory>,
}

impl Terminal {
    /// Sets up the editor, and the printer the reader thread shows lines through. Fails when the terminal cannot
    /// be driven (e.g. `TERM=dumb`); the caller then falls back to the non-interactive mode.
    pub(crate) fn open() -> rustyline::Result<(Terminal, Box<dyn Sink>)> {
        // In-session history only: nothing is read from or written to a history file.
        let config = Config::builder().auto_add_history(false).build();
        let mut editor = Editor::with_config(config)?;
        editor.set_helper(Some(TypedLength::default()));
        // Nothing to complete: Tab stays silent, as it is without a helper (with one, it would beep).
        editor.bind_sequence(KeyEvent(KeyCode::Tab, Modifiers::NONE), Cmd::Noop);
        let printer = editor.create_external_printer()?;
        Ok((Terminal { editor }, Box::new(PrinterSink(printer))))
    }

    /// Reads one line with `prompt`.
    fn read_line(&mut self, prompt: &str) -> rustyline::Result<String> {
        if let Some(typed) = self.editor.helper_mut() {
            typed.0.set(0);
        }
        self.editor.readline(prompt)
    }

    /// Erases the prompt the editor left on screen when its reading was cut short, with whatever had been typed
    /// after it. rustyline ends such a line where its text ends and moves to the next row, so the prompt's rows
    /// are just above the cursor.
    fn erase_abandoned_prompt(&mut self, prompt: &str) {
        let typed = self.editor.helper().map_or(0, |typed| typed.0.get());
        let Some((columns, _)) = self.editor.dimensions() else { return };
        let width = prompt.chars().count() + typed;
        // The cursor sat after the last character, which is on a new row when the text fills its rows exactly.
        let rows = width / usize::from(columns.max(1)) + 1;
        let mut out = std::io::stdout().lock();
        // Cursor up, to the start of the row, erase to the end of the screen. A failed write leaves the prompt.
        let _ = write!(out, "\x1b[{rows}A\r\x1b[J").and_then(|()| out.flush());
    }
}

/// How many characters the line being edited has. rustyline gives no view of a line whose reading was cut short
/// (by Ctrl+C, or by the wake-up when the connection ends), but tells its hinter of every change; this hinter
/// only counts and never hints.
#[derive(Default)]
struct TypedLength(Cell<usize>);

impl Hinter for TypedLength {
    type Hint = String;

    fn hint(&self, line: &str, _pos: usize, _ctx: &Context<'_>) -> Option<String> {
        self.0.set(line.chars().count());
        None
    }
}

impl Completer for TypedLength {
    type Candidate = String;
}

impl Highlighter for TypedLength {}

impl Validator for TypedLength {}

impl Helper for TypedLength {}

/// Shows lines through rustyline: above the input line while the editor runs, directly otherwise.
struct PrinterSink<P>(P);

impl<P: ExternalPrinter + Send> Sink for PrinterSink<P> {
    fn show(&mut self, line: &str) -> std::io::Result<()> {
        if self.0.print(format!("{line}\n")).is_err() {
            // The printer's pipe is gone (the editor is shutting down): plain output is the best left.
            return StdoutSink.show(line);
        }
        Ok(())
    }
}

/// Where the conversation is.
enum Phase {
    /// Waiting for the server to ask for a name, or to accept one.
    Waiting,
    /// The user types a name; the server's question is the prompt.
    Naming { question: String },
    /// The user types messages and commands.
    Chatting,
}

/// What to do after a phase.
enum Step {
    Go(Phase),
    /// Ctrl+D, Ctrl+C: send `/quit` and wait for the goodbye.
    Leave,
    /// Standard output is gone: send `/quit`, wait for the server to close, and print nothing more.
    LeaveUnseen,
    /// `/quit` went out: wait for the goodbye.
    AwaitGoodbye,
    Done(Outcome),
}

/// Runs the session until it ends.
pub(crate) fn run(terminal: &mut Terminal, session: &mut Session, mut login: Login, lang: Lang) -> Outcome {
    let mut phase = Phase::Waiting;
    loop {
        let step = match phase {
            Phase::Waiting => wait_for_server(session, &mut login),
            Phase::Naming { question } => edit(terminal, session, Typing::Name { question: &question }, lang),
            Phase::Chatting => edit(terminal, session, Typing::Chat, lang),
        };
        phase = match step {
            Step::Go(next) => next,
            Step::Leave => {
                let closed = leave::leave(session);
                // Without a close (no goodbye came in time), "Disconnected" still says how it ended.
                return if closed { Outcome::LeftByKey } else { Outcome::Left };
            }
            Step::LeaveUnseen => {
                leave::leave(session);
                return Outcome::OutputClosed;
            }
            Step::AwaitGoodbye => {
                leave::wait_for_close(session, leave::GOODBYE_WAIT);
                return Outcome::Left;
            }
            Step::Done(outcome) => return outcome,
        };
    }
}

/// Waits for the server's question or welcome; answers with `--name` when it may.
fn wait_for_server(session: &mut Session, login: &mut Login) -> Step {
    loop {
        match session.next(TICK) {
            Next::Event(Event::AskName(question)) => match login.answer() {
                Answer::Send(name) => {
                    // Shown as if typed at the prompt: `USUARIO: Juan`.
                    if stdio::print_line(&format!("{question} {name}")).is_err() {
                        return Step::LeaveUnseen;
                    }
                    if session.out.send(&name).is_err() {
                        return lost(session);
                    }
                }
                Answer::AskUser => return Step::Go(Phase::Naming { question }),
            },
            Next::Event(Event::Welcomed) => return Step::Go(Phase::Chatting),
            Next::Event(Event::Closed) => return Step::Done(session.outcome()),
            Next::Event(Event::OutputClosed) => return Step::LeaveUnseen,
            Next::Event(_) => {}
            Next::Timeout if session.interrupts.take() => return Step::Leave,
            Next::Timeout => {}
        }
    }
}

/// What the user is typing.
#[derive(Clone, Copy)]
enum Typing<'a> {
    /// A name, answering the server's question.
    Name { question: &'a str },
    /// Messages and commands, in the current room.
    Chat,
}

/// The prompt while chatting: the current room, or nothing in no room.
fn room_prompt(room: Option<&str>) -> String {
    room.map(|room| format!("#{room}> ")).unwrap_or_default()
}

/// Reads one line from the user and sends it.
fn edit(terminal: &mut Terminal, session: &mut Session, typing: Typing<'_>, lang: Lang) -> Step {
    if session.drain() {
        return Step::Done(session.outcome());
    }
    if session.output_closed() {
        return Step::LeaveUnseen;
    }
    let chatting = matches!(typing, Typing::Chat);
    // Made after the drain, which may have brought the answer that changed the room.
    let prompt = match typing {
        Typing::Name { question } => format!("{question} "),
        Typing::Chat => room_prompt(session.room()),
    };
    let prompt = prompt.as_str();
    match terminal.read_line(prompt) {
        Ok(line) => {
            if chatting && !line.trim().is_empty() {
                // Only fails for a history file, which this editor does not have.
                let _ = terminal.editor.add_history_entry(line.as_str());
            }
            if session.out.send(&line).is_err() {
                return lost(session);
            }
            if session.out.quit_sent() {
                Step::AwaitGoodbye
            } else if chatting {
                await_room_answers(session, room_commands(&line))
            } else {
                Step::Go(Phase::Waiting)
            }
        }
        // Ctrl+D on an empty line, Ctrl+C, or the reader thread's wake-up because the connection ended.
        Err(ReadlineError::Eof | ReadlineError::Interrupted) => {
            if session.drain() {
                if !chatting {
                    // The server ended the conversation before it had a name (it timed out, or closed): its
                    // last word is above, and a question nobody may answer must not stay below it.
                    terminal.erase_abandoned_prompt(prompt);
                }
                Step::Done(session.outcome())
            } else {
                Step::Leave
            }
        }
        Err(e) => {
            stdio::print_error(&Text::InputFailed { reason: &e.to_string() }.render(lang));
            Step::Leave
        }
    }
}

/// After `/join` or `/leave` (`count` of them): waits until the server has answered each, with where the user
/// is now or an error, so that the next prompt shows the right room; at most [`ROOM_ANSWER_WAIT`].
fn await_room_answers(session: &mut Session, count: usize) -> Step {
    let deadline = Instant::now() + ROOM_ANSWER_WAIT;
    let mut left = count;
    while left > 0 {
        let time_left = deadline.saturating_duration_since(Instant::now());
        if time_left.is_zero() {
            break;
        }
        match session.next(time_left.min(TICK)) {
            Next::Event(Event::Room(_) | Event::Refused) => left -= 1,
            Next::Event(Event::Closed) => return Step::Done(session.outcome()),
            Next::Event(Event::OutputClosed) => return Step::LeaveUnseen,
            Next::Event(_) => {}
            Next::Timeout if session.interrupts.take() => return Step::Leave,
            Next::Timeout => {}
        }
    }
    Step::Go(Phase::Chatting)
}

/// A write failed: the connection is gone. The reader thread shows the server's last lines; then it is over.
fn lost(session: &mut Session) -> Step {
    leave::wait_for_close(session, leave::GOODBYE_WAIT);
    Step::Done(Outcome::Lost)
}
