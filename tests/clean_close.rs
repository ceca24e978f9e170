//! How the server ends a connection after `/quit`: its goodbye, then a clean end of stream (FIN), never a
//! reset, even when the user sent more lines after `/quit`. A reset can destroy the goodbye before the user's
//! program reads it, and tools such as `nc` report it as an error.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{LINE_TIMEOUT, TestServer};

/// The receive buffer of a client that lets output back up: a few KiB, where the kernel's default grows to MiB.
const SMALL_RECEIVE_BUFFER: usize = 4096;

/// A raw connection, read line by line, whose end is examined exactly: end of stream or error.
struct RawClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl RawClient {
    fn connect(server: &TestServer) -> RawClient {
        RawClient::from_stream(TcpStream::connect(server.addr).expect("connect"))
    }

    /// Connects with a small receive buffer, so that what the server sends backs up while the client does not
    /// read.
    fn connect_with_small_window(server: &TestServer) -> RawClient {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("create a socket");
        socket.set_recv_buffer_size(SMALL_RECEIVE_BUFFER).expect("set the receive buffer");
        socket.connect(&server.addr.into()).expect("connect");
        RawClient::from_stream(socket.into())
    }

    fn from_stream(stream: TcpStream) -> RawClient {
        stream.set_read_timeout(Some(LINE_TIMEOUT)).expect("set read timeout");
        let writer = stream.try_clone().expect("clone the stream");
        RawClient { reader: BufReader::new(stream), writer }
    }

    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("send to the server");
    }

    /// Sends text that may arrive after the server has closed: the kernel may then refuse the write (the
    /// server's end answers with a reset once it is gone), which is no fault of the server.
    fn send_late(&mut self, text: &str) {
        let _ = self.writer.write_all(text.as_bytes());
    }

    fn expect(&mut self, expected: &str) {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap_or_else(|e| panic!("reading {expected:?}: {e}"));
        assert_eq!(line, format!("{expected}\n"));
    }

    /// The connection ends with a FIN: a read returns 0 bytes, not an error such as ECONNRESET.
    fn expect_clean_end(&mut self) {
        self.reader.get_ref().set_read_timeout(Some(LINE_TIMEOUT)).expect("set read timeout");
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert_eq!(String::from_utf8_lossy(&rest), "", "nothing after the goodbye"),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => panic!("the server reset the connection: {e}"),
            Err(e) => panic!("no end of stream within {LINE_TIMEOUT:?}: {e}"),
        }
    }
}

#[test]
fn quit_ends_with_the_goodbye_then_a_clean_end_of_stream() {
    let server = TestServer::start(&[]);
    let mut ana = RawClient::connect(&server);
    ana.expect("USERNAME:");
    ana.send("Ana\n");
    ana.expect("Welcome Ana!");
    ana.expect("Type /help for commands");
    ana.send("/quit\n");
    ana.expect("Goodbye!");
    ana.expect_clean_end();
}

#[test]
fn quit_at_the_name_prompt_ends_cleanly_too() {
    let server = TestServer::start(&[]);
    let mut nameless = RawClient::connect(&server);
    nameless.expect("USERNAME:");
    nameless.send("/quit\n");
    nameless.expect("Goodbye!");
    nameless.expect_clean_end();
}

#[test]
fn lines_sent_with_or_after_quit_do_not_turn_the_end_into_a_reset() {
    let server = TestServer::start(&[]);
    for round in 0..20 {
        let mut ana = RawClient::connect(&server);
        ana.expect("USERNAME:");
        ana.send(&format!("Ana{round}\n"));
        ana.expect(&format!("Welcome Ana{round}!"));
        ana.expect("Type /help for commands");
        // In the same packet as /quit, then just after it, as a paste or fast typing would send them.
        ana.send("/quit\nstill typing\n");
        ana.send_late("and more\n");
        if round % 2 == 1 {
            std::thread::sleep(Duration::from_millis(20));
            ana.send_late("late line\n");
        }
        ana.expect("Goodbye!");
        ana.expect_clean_end();
    }
}

/// Names Ana and has her send `/help` `helps` times then `/quit`, without reading: with a small receive window,
/// the server's answers back up behind it. Returns her, and how many lines the server owes her before the
/// goodbye.
fn quit_behind_a_backlog(server: &TestServer, helps: usize) -> (RawClient, usize) {
    let mut ana = RawClient::connect_with_small_window(server);
    ana.expect("USERNAME:");
    ana.send("Ana\n");
    ana.expect("Welcome Ana!");
    ana.expect("Type /help for commands");
    ana.send(&format!("{}/quit\ntyped after quit\n", "/help\n".repeat(helps)));
    (ana, helps * HELP_LINES)
}

/// Lines of the answer to `/help`.
const HELP_LINES: usize = 5;

/// Reads up to the goodbye, which must come after at least `owed` lines; then the end must be clean.
fn read_backlog_then_clean_end(ana: &mut RawClient, owed: usize, server: &TestServer) {
    let mut read = 0;
    loop {
        let mut line = String::new();
        if let Err(e) = ana.reader.read_line(&mut line) {
            panic!("after {read} of {owed} lines: {e}; log: {}", server.log());
        }
        if line == "Goodbye!\n" {
            break;
        }
        assert!(!line.is_empty(), "the connection ended before the goodbye, after {read} of {owed} lines");
        read += 1;
    }
    assert!(read >= owed, "only {read} of {owed} lines before the goodbye");
    ana.expect_clean_end();
}

#[test]
fn lines_sent_after_quit_while_its_output_is_still_being_written_do_not_turn_the_end_into_a_reset() {
    // The server stops reading at /quit and closes only once its output is written, which takes as long as
    // the client takes to read it. Lines sent meanwhile lie unread at the server when it closes; a socket
    // closed with unread input sends a reset, which would destroy the output still on its way. Some 8 MB of
    // answers keep the server writing until the client reads, which it does only after sending more.
    let server = TestServer::start(&["--flood-rate", "0", "--max-queue", "67108864"]);
    let (mut ana, owed) = quit_behind_a_backlog(&server, 30_000);
    std::thread::sleep(Duration::from_millis(100));
    ana.send_late(&"and more\n".repeat(100));
    read_backlog_then_clean_end(&mut ana, owed, &server);
}

#[test]
fn lines_arriving_after_the_close_while_the_output_is_in_flight_do_not_destroy_it() {
    // Some 0.5 MB of answers fit in the server's socket buffers: it writes them all, closes, and drops the
    // socket while they still wait for the client to read. Lines arriving then are answered with a reset,
    // and the client loses what it had not read yet, goodbye included.
    let server = TestServer::start(&["--flood-rate", "0"]);
    let (mut ana, owed) = quit_behind_a_backlog(&server, 2_000);
    std::thread::sleep(Duration::from_millis(300));
    ana.send_late(&"and more\n".repeat(100));
    std::thread::sleep(Duration::from_millis(100));
    read_backlog_then_clean_end(&mut ana, owed, &server);
}
