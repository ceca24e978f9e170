//! Leaving the chat: sending `/quit` and waiting, for a bounded time, for the server's goodbye.

use std::time::{Duration, Instant};

use crate::client::events::Event;
use crate::client::session::{Next, Session, TICK};

/// How long the client waits for the server to say goodbye and close after a `/quit`, Ctrl+D or Ctrl+C.
pub(crate) const GOODBYE_WAIT: Duration = Duration::from_secs(2);

/// Sends `/quit` (unless it was sent) and waits for the server to close, up to [`GOODBYE_WAIT`]. The user has
/// left either way; tells whether the server closed in time.
pub(crate) fn leave(session: &mut Session) -> bool {
    match session.out.quit() {
        Ok(()) => wait_for_close(session, GOODBYE_WAIT),
        // The connection is already gone: nothing is left to wait for.
        Err(_) => true,
    }
}

/// Waits until the connection closes, at most `limit`; another Ctrl+C stops waiting. Tells whether it closed.
pub(crate) fn wait_for_close(session: &mut Session, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !session.is_closed() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match session.next(left.min(TICK)) {
            Next::Event(Event::Closed) => return true,
            Next::Event(_) => {}
            Next::Timeout if session.interrupts.take() => return false,
            Next::Timeout => {}
        }
    }
    true
}
