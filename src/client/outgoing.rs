//! What the client sends: the user's lines, one protocol line each, and whether one of them was `/quit`.

use std::io::{self, Write};

use crate::client::connect::Wire;
use crate::core::command::{Command, Input, parse_input};

/// The writing half of the connection.
#[derive(Debug)]
pub(crate) struct Outgoing {
    stream: Wire,
    quit_sent: bool,
}

impl Outgoing {
    pub(crate) fn new(stream: Wire) -> Outgoing {
        Outgoing { stream, quit_sent: false }
    }

    /// Sends what the user typed. Text with line breaks in it (a paste) goes as one line per piece. Nothing is
    /// sent after a `/quit`: the server closes the connection after it and would discard the rest.
    pub(crate) fn send(&mut self, text: &str) -> io::Result<()> {
        if self.quit_sent {
            return Ok(());
        }
        let mut wire = String::with_capacity(text.len() + 1);
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            wire.push_str(line);
            wire.push('\n');
            if is_quit(line) {
                self.quit_sent = true;
                break;
            }
        }
        self.stream.write_all(wire.as_bytes())
    }

    /// Leaves the chat as `/quit` does, unless that was sent already.
    pub(crate) fn quit(&mut self) -> io::Result<()> {
        self.send("/quit")
    }

    /// Whether the user has left: a `/quit` went out.
    pub(crate) fn quit_sent(&self) -> bool {
        self.quit_sent
    }
}

/// Whether the server will read this line as `/quit` (it does so before and after login alike).
fn is_quit(line: &str) -> bool {
    matches!(parse_input(line), Input::Command(Command::Quit))
}

/// How many of the lines [`Outgoing::send`] makes of `text` ask a named user's server to join or leave a room:
/// each is answered with where the user is now, or an error.
pub(crate) fn room_commands(text: &str) -> usize {
    let lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
    lines.filter(|line| matches!(parse_input(line), Input::Command(Command::Join(_) | Command::Leave(_)))).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};

    fn pair() -> (Outgoing, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let client = TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (Outgoing::new(Wire::Plain(client)), server)
    }

    #[test]
    fn joins_and_leaves_are_counted_for_their_answers() {
        assert_eq!(room_commands("/join cocina"), 1);
        assert_eq!(room_commands("/JOIN\r\nhola\n/leave\n/part #x"), 3);
        assert_eq!(room_commands("//join cocina"), 0, "a message");
        assert_eq!(room_commands("/rooms"), 0);
    }

    #[test]
    fn lines_go_out_in_order_and_nothing_after_quit() {
        let (mut out, mut server) = pair();
        out.send("Juan").expect("send");
        out.send("one\r\ntwo").expect("send");
        assert!(!out.quit_sent());
        out.send("/QUIT now\nlost").expect("send");
        assert!(out.quit_sent());
        out.send("after").expect("send");
        out.quit().expect("send");
        drop(out);
        let mut got = String::new();
        server.read_to_string(&mut got).expect("read");
        assert_eq!(got, "Juan\none\ntwo\n/QUIT now\n");
    }
}
