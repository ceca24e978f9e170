//! The messages the client's helper threads send its main thread, over one channel, in the order things
//! happened.

/// Something the main thread must know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The server asks for a username; its question, e.g. `USUARIO:`.
    AskName(String),
    /// The server accepted our name: the chat has begun.
    Welcomed,
    /// The server says which room the user is in now (`None`: in no room), after `/join` or `/leave`; the line
    /// has been shown.
    Room(Option<String>),
    /// The server refused something the user sent (an `Error: ...` line, shown already).
    Refused,
    /// Any other line arrived from the server (it has been shown already).
    Shown,
    /// Standard output cannot be written any more (its reader has gone, as with `charla | head`): the user
    /// sees nothing more, so the client leaves.
    OutputClosed,
    /// The connection has ended, for whatever reason; everything the server sent has been shown.
    Closed,
    /// A line of standard input, without its terminator (non-interactive mode only).
    Input(String),
    /// Standard input has ended (non-interactive mode only).
    InputEnd,
}
