//! One connection as the main thread sees it: what it sends, the events it hears, Ctrl+C, and how it ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::client::events::Event;
use crate::client::interrupt::Interrupts;
use crate::client::outgoing::Outgoing;
use crate::core::rooms::LOBBY;

/// How often the main thread, while waiting for the server, looks at Ctrl+C and its deadlines.
pub(crate) const TICK: Duration = Duration::from_millis(50);

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The user left: `/quit`, Ctrl+D or Ctrl+C, or the end of scripted input. Exit status 0.
    Left,
    /// The user left with Ctrl+D or Ctrl+C in a terminal, and the server closed after its goodbye: that goodbye
    /// is the last line, since the user knows they are leaving. Exit status 0.
    LeftByKey,
    /// Standard output was closed, so the client left (sending `/quit`) without another word. Exit status 0,
    /// as for any Unix tool whose reader stopped reading.
    OutputClosed,
    /// The connection ended without the user leaving: the server went away. Exit status 1.
    Lost,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) out: Outgoing,
    events: Receiver<Event>,
    pub(crate) interrupts: Interrupts,
    /// Set once the main thread has seen [`Event::Closed`]; the reader thread stops waking the editor then.
    closed: Arc<AtomicBool>,
    /// Set once the main thread has seen [`Event::OutputClosed`].
    output_closed: bool,
    /// The user's current room, as the server last said: the lobby after the welcome, then what `/join` and
    /// `/leave` answered. `None` before the welcome, and in no room.
    room: Option<String>,
}

/// The next event, if one came in time.
pub(crate) enum Next {
    Event(Event),
    Timeout,
}

impl Session {
    pub(crate) fn new(out: Outgoing, events: Receiver<Event>, interrupts: Interrupts) -> Session {
        Session { out, events, interrupts, closed: Arc::new(AtomicBool::new(false)), output_closed: false, room: None }
    }

    /// The user's current room, if any.
    pub(crate) fn room(&self) -> Option<&str> {
        self.room.as_deref()
    }

    /// The flag the reader thread watches while it wakes the editor.
    pub(crate) fn closed_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.closed)
    }

    /// Whether the connection has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Whether standard output has been found closed.
    pub(crate) fn output_closed(&self) -> bool {
        self.output_closed
    }

    /// How the session ended, once the connection has closed: whether the user had left decides.
    pub(crate) fn outcome(&self) -> Outcome {
        if self.out.quit_sent() { Outcome::Left } else { Outcome::Lost }
    }

    /// Waits up to `limit` for the next event. A vanished reader thread counts as a closed connection.
    pub(crate) fn next(&mut self, limit: Duration) -> Next {
        let event = match self.events.recv_timeout(limit) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => return Next::Timeout,
            Err(RecvTimeoutError::Disconnected) => Event::Closed,
        };
        match &event {
            Event::Closed => self.closed.store(true, Ordering::SeqCst),
            Event::OutputClosed => self.output_closed = true,
            Event::Welcomed => self.room = Some(LOBBY.to_owned()),
            Event::Room(room) => self.room.clone_from(room),
            _ => {}
        }
        Next::Event(event)
    }

    /// Takes the events already waiting, without blocking; tells whether the connection has ended.
    pub(crate) fn drain(&mut self) -> bool {
        while let Next::Event(event) = self.next(Duration::ZERO) {
            if event == Event::Closed {
                break;
            }
        }
        self.is_closed()
    }
}
