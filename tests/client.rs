//! The `charla` client against a real server: scripted sessions through pipes, asserting every line it prints,
//! and interactive ones through a pseudo-terminal, typing as a person would.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use charla::client::paint::colour_of;
use common::tls::TestCa;
use common::{LINE_TIMEOUT, TestServer, is_stamped};
use nix::sys::wait::WaitStatus;
use rexpect::session::{Options, PtySession, spawn_with_options};

/// How long a test waits for the client to exit once it should.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The client run with piped standard input and output.
struct Piped {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Piped {
    fn start(server: &TestServer, args: &[&str]) -> Piped {
        Piped::start_on(server.addr.port(), args, &[])
    }

    /// Starts the client against the server on `port`, with `args` and the environment variables `env`.
    fn start_on(port: u16, args: &[&str], env: &[(&str, &str)]) -> Piped {
        let mut child = Command::new(env!("CARGO_BIN_EXE_charla"))
            .args(["--port", &port.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start charla");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Piped { child, stdin, lines }
    }

    /// Types a line (and a newline) on the client's standard input.
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(format!("{line}\n").as_bytes()).expect("write to charla");
        stdin.flush().expect("flush to charla");
    }

    /// Ends the client's standard input.
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line the client printed; `None` once its output has ended.
    fn read_line(&mut self) -> Option<String> {
        match self.lines.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("charla printed nothing within {LINE_TIMEOUT:?}"),
        }
    }

    fn expect(&mut self, expected: &str) {
        assert_eq!(self.read_line().as_deref(), Some(expected));
    }

    fn expect_lines(&mut self, expected: &[&str]) {
        for line in expected {
            self.expect(line);
        }
    }

    fn expect_stamped(&mut self, rest: &str) {
        let line = self.read_line();
        assert!(line.as_deref().is_some_and(|line| is_stamped(line, rest)), "got {line:?}, expected [HH:MM] {rest:?}");
    }

    /// The client's output ends and it exits; returns its status.
    fn expect_exit(&mut self) -> ExitStatus {
        assert_eq!(self.read_line(), None, "expected no more output");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll charla") {
                return status;
            }
            assert!(start.elapsed() < EXIT_TIMEOUT, "charla did not exit within {EXIT_TIMEOUT:?}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_seed_example_session_from_the_clients_side() {
    let server = TestServer::start(&["--lang", "es"]);
    let (mut maria, mut pedro) = server.seed_room();

    let mut juan = Piped::start(&server, &["--lang", "es"]);
    juan_plays_the_seed_session(&mut juan, &mut maria, &mut pedro);
}

/// The seed README's example session as Juan, a `charla` client, lives it with María and Pedro already talking
/// (`TestServer::seed_room`), in Spanish: from the name prompt to `/quit`.
fn juan_plays_the_seed_session(juan: &mut Piped, maria: &mut common::TestClient, pedro: &mut common::TestClient) {
    juan.expect("USUARIO:");
    juan.send("Juan");
    juan.expect_lines(&["Bienvenido Juan!", "Escribe /help para comandos", "Historial:"]);
    juan.expect_stamped("María: Hola a todos");
    juan.expect_stamped("Pedro: Qué tal?");
    maria.expect("*** Juan se ha unido al chat");
    pedro.expect("*** Juan se ha unido al chat");

    juan.send("Hola! ¿Cómo están?");
    juan.expect_stamped("Juan: Hola! ¿Cómo están?");
    maria.expect_stamped("Juan: Hola! ¿Cómo están?");
    pedro.expect_stamped("Juan: Hola! ¿Cómo están?");

    juan.send("/whisper María Hola María, ¿cómo estás?");
    juan.expect("Mensaje enviado a María");
    maria.expect_stamped("(privado) Juan: Hola María, ¿cómo estás?");
    maria.send("/whisper Juan Muy bien");
    maria.expect("Mensaje enviado a Juan");
    juan.expect_stamped("(privado) María: Muy bien");

    juan.send("/users");
    juan.expect_lines(&["Usuarios conectados (3):", "  Juan", "  María", "  Pedro"]);

    juan.send("/quit");
    juan.expect_lines(&["Hasta pronto!", "Desconectado del servidor"]);
    assert_eq!(juan.expect_exit().code(), Some(0));
    maria.expect("*** Juan ha salido del chat");
    pedro.expect("*** Juan ha salido del chat");
}

#[test]
fn a_spanish_client_gets_a_spanish_session_from_an_english_server() {
    // The server speaks English by default; `--lang es` asks it for Spanish before the first question.
    let server = TestServer::start(&[]);
    let mut juan = Piped::start(&server, &["--lang", "es"]);
    juan.send("Juan");
    juan.send("/quit");
    juan.close_stdin();
    // One question only, already in Spanish: the first one and the confirmation of /lang are not shown.
    juan.expect_lines(&["USUARIO:", "Bienvenido Juan!", "Escribe /help para comandos", "Hasta pronto!"]);
    juan.expect("Desconectado del servidor");
    assert_eq!(juan.expect_exit().code(), Some(0));
}

#[test]
fn lang_starting_with_es_asks_the_server_for_spanish_too() {
    let server = TestServer::start(&[]);
    let mut juan = Piped::start_on(server.addr.port(), &["--name", "Juan"], &[("LANG", "es_ES.UTF-8")]);
    juan.send("/quit");
    juan.close_stdin();
    juan.expect_lines(&["USUARIO:", "Bienvenido Juan!", "Escribe /help para comandos", "Hasta pronto!"]);
    juan.expect("Desconectado del servidor");
    assert_eq!(juan.expect_exit().code(), Some(0));
}

#[test]
fn without_lang_the_server_keeps_its_own_language() {
    let server = TestServer::start(&["--lang", "es"]);
    let mut juan = Piped::start_on(server.addr.port(), &["--name", "Juan"], &[("LANG", "C.UTF-8")]);
    juan.send("/quit");
    juan.close_stdin();
    juan.expect_lines(&["USUARIO:", "Bienvenido Juan!", "Escribe /help para comandos", "Hasta pronto!"]);
    // The client's own line is in English: nothing asked for Spanish.
    juan.expect("Disconnected from server");
    assert_eq!(juan.expect_exit().code(), Some(0));
}

/// A server from before `/lang`, played by the test over a real socket: it takes `/lang es` for a proposed
/// name and refuses it, as Charla did. Returns its port, and the lines it received once the client has left.
fn start_server_without_lang() -> (u16, thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    let serve = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept the client");
        stream.set_read_timeout(Some(LINE_TIMEOUT)).expect("set read timeout");
        let mut out = stream.try_clone().expect("clone the stream");
        let mut received = Vec::new();
        out.write_all(b"USERNAME:\n").expect("ask for a name");
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            received.push(line.clone());
            let reply = match line.as_str() {
                "/quit" => "Goodbye!\n".to_owned(),
                name if name.starts_with('/') => "Error: a name has 1 to 32 characters, no spaces or control \
                                                  characters, and does not start with /\nUSERNAME:\n"
                    .to_owned(),
                name => format!("Welcome {name}!\nType /help for commands\n"),
            };
            out.write_all(reply.as_bytes()).expect("answer the client");
            if line == "/quit" {
                break;
            }
        }
        received
    });
    (port, serve)
}

#[test]
fn a_server_without_lang_refuses_it_silently_and_the_session_goes_on_in_its_language() {
    let (port, server) = start_server_without_lang();
    let mut juan = Piped::start_on(port, &["--lang", "es"], &[]);
    juan.send("Juan");
    juan.send("/quit");
    juan.close_stdin();
    // Its refusal of `/lang es` as a name and the question before it are not shown.
    juan.expect_lines(&["USERNAME:", "Welcome Juan!", "Type /help for commands", "Goodbye!"]);
    juan.expect("Desconectado del servidor");
    assert_eq!(juan.expect_exit().code(), Some(0));
    assert_eq!(server.join().expect("the server thread"), ["/lang es", "Juan", "/quit"]);
}

#[test]
fn a_whole_script_on_standard_input_is_a_session() {
    // printf 'Juan\nHola\n/quit\n' | charla
    let server = TestServer::start(&["--lang", "es"]);
    let mut juan = Piped::start(&server, &["--lang", "es"]);
    juan.send("Juan");
    juan.send("Hola");
    juan.send("/quit");
    juan.close_stdin();
    juan.expect_lines(&["USUARIO:", "Bienvenido Juan!", "Escribe /help para comandos"]);
    juan.expect_stamped("Juan: Hola");
    juan.expect_lines(&["Hasta pronto!", "Desconectado del servidor"]);
    assert_eq!(juan.expect_exit().code(), Some(0));
}

#[test]
fn a_taken_name_falls_back_to_the_next_line_and_the_end_of_input_leaves_after_a_quiet_second() {
    let server = TestServer::start(&["--lang", "es"]);
    let mut maria = server.join("María");
    let mut client = Piped::start(&server, &["--lang", "es", "--name", "maría"]);
    client.send("Juana");
    client.send("Hola");
    client.close_stdin();
    client.expect_lines(&[
        "USUARIO:",
        "Error: el nombre maría ya está en uso",
        "USUARIO:",
        "Bienvenido Juana!",
        "Escribe /help para comandos",
    ]);
    client.expect_stamped("Juana: Hola");
    let quiet_from = Instant::now();
    client.expect("Desconectado del servidor");
    assert!(quiet_from.elapsed() >= Duration::from_millis(900), "left before the quiet period");
    assert_eq!(client.expect_exit().code(), Some(0));
    maria.expect("*** Juana se ha unido al chat");
    maria.expect_stamped("Juana: Hola");
    maria.expect("*** Juana ha salido del chat");
}

#[test]
fn a_refused_connection_is_one_clear_line_and_status_2() {
    // Bind a port, then free it: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("bind a loopback port")
        .port();
    let output = Command::new(env!("CARGO_BIN_EXE_charla"))
        .args(["--port", &port.to_string(), "--lang", "en"])
        .stdin(Stdio::null())
        .output()
        .expect("run charla");
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "Cannot connect to 127.0.0.1:{port}: connection refused; is charla-server running on 127.0.0.1:{port}?\n"
        )
    );
}

#[test]
fn a_server_crash_is_a_lost_connection() {
    let mut server = TestServer::start(&[]);
    let mut ana = Piped::start(&server, &["--lang", "en"]);
    ana.send("Ana");
    ana.expect_lines(&["USERNAME:", "Welcome Ana!", "Type /help for commands"]);
    server.crash();
    ana.expect("Disconnected from server");
    assert_eq!(ana.expect_exit().code(), Some(1));
}

/// The client with piped standard streams whose output is read by a stand-in for `head -2`: a thread that
/// reads two lines, hands them over, and closes its end of the pipe. Returns the child and those lines.
fn start_into_head_2(server: &TestServer) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla"))
        .args(["--port", &server.addr.port().to_string(), "--lang", "en"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start charla");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    thread::spawn(move || {
        let head: Vec<String> = BufReader::new(stdout).lines().take(2).map_while(Result::ok).collect();
        // The pipe's read end closes here, as when `head` exits.
        let _ = tx.send(head);
    });
    let stdin = child.stdin.as_mut().expect("piped stdin");
    stdin.write_all(b"Pepe\n").expect("write to charla");
    let head = lines.recv_timeout(LINE_TIMEOUT).expect("two lines from charla");
    (child, head)
}

/// Waits (bounded) for a child to exit, and returns its status and standard error.
fn exit_and_stderr(mut child: Child) -> (ExitStatus, String) {
    let start = Instant::now();
    while child.try_wait().expect("poll charla").is_none() {
        if start.elapsed() > EXIT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("charla did not exit within {EXIT_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect charla's stderr");
    (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_closed_output_pipe_after_the_input_ends_is_no_panic() {
    // printf 'Pepe\n' | charla | head -2
    let server = TestServer::start(&[]);
    let (mut child, head) = start_into_head_2(&server);
    assert_eq!(head, ["USERNAME:", "Welcome Pepe!"]);
    child.stdin = None;
    let (status, stderr) = exit_and_stderr(child);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}");
}

#[test]
fn a_closed_output_pipe_ends_the_client_and_it_leaves_the_room() {
    let server = TestServer::start(&[]);
    let mut maria = server.join("María");
    let (child, head) = start_into_head_2(&server);
    assert_eq!(head, ["USERNAME:", "Welcome Pepe!"]);
    maria.expect("*** Pepe joined the chat");
    // Standard input stays open: only the closed output can end the client now. Its third line may already
    // have found the pipe closed; if not, María's line is something it must print, and cannot. Either way it
    // leaves, before or after her line.
    maria.send("Hola");
    let mut next_two = [maria.read_line(), maria.read_line()].map(Option::unwrap_or_default);
    next_two.sort_by_key(|line| line.starts_with("***"));
    assert!(is_stamped(&next_two[0], "María: Hola"), "{next_two:?}");
    assert_eq!(next_two[1], "*** Pepe left the chat");
    let (status, stderr) = exit_and_stderr(child);
    assert_eq!(stderr, "");
    assert_eq!(status.code(), Some(0));
}

/// The client in a pseudo-terminal, as a person runs it.
fn spawn_in_terminal(server: &TestServer, args: &[&str]) -> PtySession {
    spawn_in_terminal_with(server, args, &[])
}

/// The client in a pseudo-terminal, with the environment variables `env` (and without `NO_COLOR` unless given).
fn spawn_in_terminal_with(server: &TestServer, args: &[&str], env: &[(&str, &str)]) -> PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_charla"));
    command.args(["--port", &server.addr.port().to_string()]).args(args).env("TERM", "xterm").env_remove("NO_COLOR");
    command.envs(env.iter().copied());
    let options = Options::new().timeout_ms(Some(LINE_TIMEOUT.as_millis() as u64));
    spawn_with_options(command, options).expect("start charla in a pseudo-terminal")
}

/// Waits (bounded) for the client in the terminal to exit; returns its exit code.
fn exit_code(session: &mut PtySession) -> i32 {
    exit_code_and_rest(session).0
}

/// Waits (bounded) for the client in the terminal to exit; returns its exit code and what the terminal showed
/// after the last text seen.
fn exit_code_and_rest(session: &mut PtySession) -> (i32, String) {
    let rest = session.exp_eof().expect("the terminal closes when charla exits");
    let start = Instant::now();
    loop {
        match session.process().status() {
            Some(WaitStatus::Exited(_, code)) => return (code, rest),
            Some(WaitStatus::StillAlive) | None => {}
            Some(other) => panic!("charla ended with {other:?}; last output {rest:?}"),
        }
        assert!(start.elapsed() < EXIT_TIMEOUT, "charla did not exit within {EXIT_TIMEOUT:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the terminal shows `text`; `why` says what it is. rexpect reads the terminal byte by byte as
/// Latin-1 characters, so the text is compared in that form.
fn see(session: &mut PtySession, text: &str, why: &str) {
    let latin1: String = text.bytes().map(char::from).collect();
    if let Err(e) = session.exp_string(&latin1) {
        panic!("{why}: {text:?} not shown: {e}");
    }
}

/// Waits until the line editor is reading keys, by typing a marker, seeing it echoed, and erasing it (Ctrl+U).
/// Between two lines the terminal is briefly back in cooked mode, where the line discipline itself would act
/// on Ctrl+W or Ctrl+D; a person cannot type that fast, a test can.
fn editor_ready(session: &mut PtySession) {
    type_keys(session, "~ready~");
    see(session, "~ready~", "the editor echoes what is typed");
    type_keys(session, "\x15");
}

/// Types keys into the terminal (rexpect buffers until a flush).
fn type_keys(session: &mut PtySession, keys: &str) {
    session.send(keys).expect("type into the terminal");
    session.flush().expect("type into the terminal");
}

fn coloured(name: &str) -> String {
    format!("\x1b[{}m{name}\x1b[0m", colour_of(name))
}

fn coloured_bold(name: &str) -> String {
    format!("\x1b[1;{}m{name}\x1b[0m", colour_of(name))
}

#[test]
fn in_a_terminal_arriving_lines_never_mangle_what_is_being_typed() {
    let server = TestServer::start(&["--lang", "es"]);
    let mut maria = server.join("María");
    let mut juan = spawn_in_terminal(&server, &["--lang", "es"]);
    see(&mut juan, "USUARIO: ", "the question is the prompt");
    type_keys(&mut juan, "Juan\r");
    see(&mut juan, &format!("Bienvenido {}!", coloured_bold("Juan")), "welcome, our name in bold");
    see(&mut juan, "Escribe /help para comandos", "hint");
    maria.expect("*** Juan se ha unido al chat");

    // Half a line typed, then María speaks: her line appears, in her colour, and the half line is drawn again.
    type_keys(&mut juan, "Hola a med");
    see(&mut juan, "Hola a med", "the editor echoes what is typed");
    maria.send("Qué tal?");
    maria.expect_stamped("María: Qué tal?");
    see(&mut juan, &format!("{}: Qué tal?", coloured("María")), "María's line, coloured");
    see(&mut juan, "Hola a med", "the half-typed line is drawn again below");
    type_keys(&mut juan, "io\r");
    maria.expect_stamped("Juan: Hola a medio");
    see(&mut juan, &format!("{}: Hola a medio", coloured_bold("Juan")), "our own line, in bold");

    // Editing keys: Ctrl+W removes a word, Home goes to the start; Up brings back the previous line.
    editor_ready(&mut juan);
    type_keys(&mut juan, "uno dos\x17tres\x1b[H¡\r");
    maria.expect_stamped("Juan: ¡uno tres");
    type_keys(&mut juan, "\x1b[A\r");
    maria.expect_stamped("Juan: ¡uno tres");

    // Ctrl+D leaves as /quit does; the goodbye is the last line, as the user chose to leave.
    editor_ready(&mut juan);
    juan.send_control('d').expect("Ctrl+D");
    see(&mut juan, "Hasta pronto!", "goodbye");
    let (code, rest) = exit_code_and_rest(&mut juan);
    assert_eq!(code, 0);
    assert!(!rest.contains("Desconectado"), "nothing after the goodbye: {rest:?}");
    maria.expect("*** Juan ha salido del chat");
}

#[test]
fn in_a_terminal_a_server_crash_interrupts_the_editor() {
    let mut server = TestServer::start(&[]);
    let mut watcher = server.join("Eve");
    let mut ana = spawn_in_terminal(&server, &["--lang", "en", "--name", "Ana", "--host", "127.0.0.1"]);
    see(&mut ana, "USERNAME: Ana", "--name answers the question");
    see(&mut ana, &format!("Welcome {}!", coloured_bold("Ana")), "welcome");
    watcher.expect("*** Ana joined the chat");
    type_keys(&mut ana, "never sent");
    see(&mut ana, "never sent", "echo");
    server.crash();
    see(&mut ana, "Disconnected from server", "the loss is reported");
    assert_eq!(exit_code(&mut ana), 1);
}

#[test]
fn in_a_terminal_ctrl_c_at_the_name_prompt_leaves() {
    let server = TestServer::start(&[]);
    let mut client = spawn_in_terminal(&server, &["--lang", "en"]);
    see(&mut client, "USERNAME: ", "the question is the prompt");
    client.send_control('c').expect("Ctrl+C");
    see(&mut client, "Goodbye!", "the server answers the /quit");
    let (code, rest) = exit_code_and_rest(&mut client);
    assert_eq!(code, 0);
    assert!(!rest.contains("Disconnected"), "nothing after the goodbye: {rest:?}");
}

/// Waits until the terminal shows `text`, and adds everything shown up to and including it to `transcript`.
fn see_into(session: &mut PtySession, text: &str, transcript: &mut String) {
    let latin1: String = text.bytes().map(char::from).collect();
    match session.exp_string(&latin1) {
        Ok(before) => transcript.push_str(&(before + &latin1)),
        Err(e) => panic!("{text:?} not shown: {e}"),
    }
}

/// The width rustyline assumes for a pseudo-terminal that has no size set, as rexpect's has not.
const TERMINAL_COLUMNS: usize = 80;

/// The rows of text a terminal would show after `output` (rexpect's Latin-1 form of the bytes), trailing
/// blanks trimmed and empty rows dropped. A small emulator of what the client and rustyline send: text (wrapped
/// at [`TERMINAL_COLUMNS`]), CR, LF, backspace, and the CSI sequences that move the cursor (A, B, C, D, G) and
/// erase (J, K); colours and modes are ignored.
fn screen_rows(output: &str) -> Vec<String> {
    let bytes: Vec<u8> = output.chars().map(|c| u8::try_from(u32::from(c)).expect("a byte")).collect();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let mut rows: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => row += 1,
            '\x08' => col = col.saturating_sub(1),
            '\x1b' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut params = String::new();
                let mut command = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() || c == '@' || c == '~' {
                        command = c;
                        break;
                    }
                    params.push(c);
                }
                let n = params.trim_start_matches('?').parse::<usize>().unwrap_or(1).max(1);
                if rows.len() <= row {
                    rows.resize(row + 1, Vec::new());
                }
                match command {
                    'A' => row = row.saturating_sub(n),
                    'B' => row += n,
                    'C' => col += n,
                    'D' => col = col.saturating_sub(n),
                    'G' => col = n - 1,
                    'K' => rows[row].truncate(col),
                    'J' => {
                        rows[row].truncate(col);
                        rows.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            c if c.is_control() => {}
            c => {
                if col >= TERMINAL_COLUMNS {
                    row += 1;
                    col = 0;
                }
                if rows.len() <= row {
                    rows.resize(row + 1, Vec::new());
                }
                let line = &mut rows[row];
                if line.len() < col {
                    line.resize(col, ' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    rows.iter()
        .map(|line| line.iter().collect::<String>().trim_end().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn in_a_terminal_a_login_timeout_leaves_no_question_behind() {
    let server = TestServer::start(&["--login-timeout", "1"]);
    let mut client = spawn_in_terminal(&server, &["--lang", "en"]);
    let mut transcript = String::new();
    see_into(&mut client, "USERNAME: ", &mut transcript);
    // Something half typed when the time runs out, long enough to wrap onto a second row.
    type_keys(&mut client, &format!("{}END", "x".repeat(TERMINAL_COLUMNS)));
    see_into(&mut client, "END", &mut transcript);
    let (code, rest) = exit_code_and_rest(&mut client);
    transcript.push_str(&rest);
    assert_eq!(
        screen_rows(&transcript),
        ["Error: timed out waiting for a username", "Disconnected from server"],
        "the terminal got {transcript:?}"
    );
    assert_eq!(code, 1, "the server ended the session");
}

#[test]
fn a_scripted_session_shows_the_lines_of_rooms_exactly_as_the_server_sends_them() {
    let server = TestServer::start(&[]);
    let mut pedro = server.join("Pedro");
    let mut juan = Piped::start(&server, &["--lang", "en", "--name", "Juan"]);
    juan.send("/join cocina");
    juan.expect_lines(&["USERNAME:", "Welcome Juan!", "Type /help for commands", "Now in #cocina"]);
    pedro.expect("*** Juan joined the chat");
    // Pedro talks in #general, which is no longer Juan's current room: his lines come tagged, as they are.
    pedro.send("hola");
    pedro.expect_stamped("Pedro: hola");
    pedro.send("/me waves");
    pedro.expect_stamped("* Pedro waves");
    for rest in ["Pedro: hola", "* Pedro waves"] {
        let line = juan.read_line().unwrap_or_default();
        let untagged = line.strip_prefix("#general ").unwrap_or_else(|| panic!("{line:?} has no #general tag"));
        assert!(is_stamped(untagged, rest), "got {line:?}, expected #general [HH:MM] {rest}");
    }
    juan.send("/leave");
    juan.expect("You left #cocina; now in #general");
    juan.send("/quit");
    juan.close_stdin();
    juan.expect_lines(&["Goodbye!", "Disconnected from server"]);
    assert_eq!(juan.expect_exit().code(), Some(0));
}

#[test]
fn in_a_terminal_the_prompt_is_the_current_room_and_follows_join_and_leave() {
    // In Spanish, and without colour: the tag of another room's line is then shown exactly as received.
    let server = TestServer::start(&[]);
    let mut pedro = server.join("Pedro");
    let mut ana = spawn_in_terminal_with(&server, &["--lang", "es", "--name", "Ana"], &[("NO_COLOR", "1")]);
    see(&mut ana, "Bienvenido Ana!", "the welcome, uncoloured");
    see(&mut ana, "#general> ", "the lobby is the first room");
    pedro.expect("*** Ana joined the chat");

    editor_ready(&mut ana);
    type_keys(&mut ana, "/join cocina\r");
    see(&mut ana, "Ahora estás en #cocina", "the server's answer");
    see(&mut ana, "#cocina> ", "the prompt follows the room");
    pedro.send("hola");
    pedro.expect_stamped("Pedro: hola");
    if let Err(e) = ana.exp_regex(r"#general \[\d\d:\d\d\] Pedro: hola") {
        panic!("Pedro's line from #general, tagged as received: {e}");
    }

    editor_ready(&mut ana);
    type_keys(&mut ana, "/leave\r");
    see(&mut ana, "Has salido de #cocina; ahora estás en #general", "the server's answer");
    see(&mut ana, "#general> ", "back in the lobby");

    editor_ready(&mut ana);
    type_keys(&mut ana, "/leave\r");
    see(&mut ana, "Has salido de #general; no estás en ninguna sala", "the server's answer");
    // In no room there is no room to show: the editor reads with an empty prompt.
    type_keys(&mut ana, "~ready~");
    let before = ana.exp_string("~ready~").expect("the editor echoes what is typed");
    assert!(!before.contains("#general>") && !before.contains("#cocina>"), "a room prompt in {before:?}");

    type_keys(&mut ana, "\x15");
    ana.send_control('d').expect("Ctrl+D");
    see(&mut ana, "Hasta pronto!", "goodbye");
    assert_eq!(exit_code(&mut ana), 0);
}

/// How the client draws the `#room` tag of a line from a room that is not the current one.
fn room_tag(room: &str) -> String {
    format!("\x1b[{}m#{room}\x1b[0m", colour_of(room))
}

#[test]
fn in_a_terminal_other_rooms_lines_carry_their_tag_in_its_colour_and_names_stay_coloured() {
    let server = TestServer::start(&[]);
    let mut pedro = server.join("Pedro");
    let mut ana = spawn_in_terminal(&server, &["--lang", "en", "--name", "Ana"]);
    see(&mut ana, &format!("Welcome {}!", coloured_bold("Ana")), "welcome");
    pedro.expect("*** Ana joined the chat");
    editor_ready(&mut ana);
    type_keys(&mut ana, "/join cocina\r");
    see(&mut ana, "Now in #cocina", "the server's answer");

    pedro.send("hola");
    pedro.expect_stamped("Pedro: hola");
    see(&mut ana, &format!("{} [", room_tag("general")), "the tag, in #general's colour");
    see(&mut ana, &format!("] {}: hola", coloured("Pedro")), "the rest, names coloured as usual");
    pedro.send("/me waves");
    pedro.expect_stamped("* Pedro waves");
    see(&mut ana, &format!("{} [", room_tag("general")), "an action's tag");
    see(&mut ana, &format!("] * {} waves", coloured("Pedro")), "the actor's name coloured");

    // A new name is ours from then on: bold in the server's answer and in our own lines.
    editor_ready(&mut ana);
    type_keys(&mut ana, "/nick Anita\r");
    see(&mut ana, &format!("You are now known as {}", coloured_bold("Anita")), "the new name, bold");
    pedro.expect("*** Ana is now known as Anita");
    editor_ready(&mut ana);
    type_keys(&mut ana, "ya\r");
    see(&mut ana, &format!("] {}: ya", coloured_bold("Anita")), "our own line, in bold");

    editor_ready(&mut ana);
    ana.send_control('d').expect("Ctrl+D");
    see(&mut ana, "Goodbye!", "goodbye");
    assert_eq!(exit_code(&mut ana), 0);
}

// --- TLS ------------------------------------------------------------------------------------------------------

/// A server with a plain listener and a TLS one using a certificate of `ca` (in the server's directory), and
/// `ca`'s certificate written there as `ca.pem`, for `--ca`.
fn start_tls_server(ca: &TestCa, extra: &[&str]) -> (TestServer, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = ca.server_files(dir.path(), "server");
    let ca_file = ca.write(dir.path(), "ca.pem").to_str().expect("UTF-8 path").to_owned();
    let (cert, key) = (files.cert.to_str().expect("UTF-8"), files.key.to_str().expect("UTF-8"));
    let mut args = vec!["--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key];
    args.extend_from_slice(extra);
    let server = TestServer::start_in(dir.path(), &args);
    (server, dir, ca_file)
}

/// The certificate of an authority that signed nothing here, under a name of its own (one named like the
/// server's issuer would fail on its signature instead), written to `dir/name`.
fn stranger_ca(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, "Some other CA");
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = params.self_signed(&key).expect("a CA certificate");
    let path = dir.join(name);
    std::fs::write(&path, cert.pem()).expect("write the CA certificate");
    path
}

fn tls_port(server: &TestServer) -> u16 {
    server.tls_addr.expect("a TLS listener").port()
}

/// Runs the client to its end with standard input closed; returns its exit code, output and error output.
fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run charla");
    let start = Instant::now();
    while child.try_wait().expect("poll charla").is_none() {
        if start.elapsed() > EXIT_TIMEOUT {
            let _ = child.kill();
            panic!("charla {args:?} did not exit within {EXIT_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect charla's output");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn the_seed_example_session_over_tls_with_ca() {
    let ca = TestCa::new();
    let (server, _dir, ca_file) = start_tls_server(&ca, &["--lang", "es"]);
    // María and Pedro on the plain port, Juan through `charla --tls --ca`.
    let (mut maria, mut pedro) = server.seed_room();

    let port = tls_port(&server).to_string();
    let mut juan =
        Piped::start_on(server.addr.port(), &["--tls", "--ca", &ca_file, "--port", &port, "--lang", "es"], &[]);
    juan_plays_the_seed_session(&mut juan, &mut maria, &mut pedro);
}

#[test]
fn a_tls_client_and_a_plain_client_chat() {
    let ca = TestCa::new();
    let (server, _dir, ca_file) = start_tls_server(&ca, &[]);
    let port = tls_port(&server).to_string();
    let mut secure = Piped::start_on(server.addr.port(), &["--tls", "--ca", &ca_file, "--port", &port], &[]);
    secure.expect("USERNAME:");
    secure.send("Segura");
    secure.expect_lines(&["Welcome Segura!", "Type /help for commands"]);
    let mut plain = Piped::start(&server, &[]);
    plain.expect("USERNAME:");
    plain.send("Llana");
    plain.expect_lines(&["Welcome Llana!", "Type /help for commands"]);
    secure.expect("*** Llana joined the chat");

    // Lines typed one after another leave at once over TLS: none waits for the server to speak first.
    secure.send("hello over TLS");
    secure.send("and again");
    plain.expect_stamped("Segura: hello over TLS");
    plain.expect_stamped("Segura: and again");
    secure.expect_stamped("Segura: hello over TLS");
    secure.expect_stamped("Segura: and again");
    plain.send("hello in the clear");
    secure.expect_stamped("Llana: hello in the clear");
    plain.expect_stamped("Llana: hello in the clear");
    secure.send("/whisper Llana psst");
    secure.expect("Message sent to Llana");
    plain.expect_stamped("(private) Segura: psst");

    secure.send("/quit");
    secure.expect_lines(&["Goodbye!", "Disconnected from server"]);
    assert_eq!(secure.expect_exit().code(), Some(0));
    plain.expect("*** Segura left the chat");
}

#[test]
fn a_certificate_from_another_ca_is_one_line_and_status_2() {
    let ca = TestCa::new();
    let (server, dir, _ca_file) = start_tls_server(&ca, &[]);
    let stranger = stranger_ca(dir.path(), "stranger.pem");
    let port = tls_port(&server).to_string();
    let args = ["--tls", "--ca", stranger.to_str().expect("UTF-8"), "--port", &port, "--name", "Eve"];
    let (code, out, err) = run_to_end(&[&args[..], &["--lang", "en"]].concat(), &[]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert_eq!(
        err,
        format!(
            "Cannot connect to 127.0.0.1:{port} over TLS: the server's certificate is not trusted (UnknownIssuer); \
             give --ca FILE for a private or self-signed certificate\n"
        )
    );
    let (code, _, err) = run_to_end(&[&args[..], &["--lang", "es", "--host", "localhost"]].concat(), &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!(
            "No se puede conectar a localhost:{port} por TLS: el certificado del servidor no es de confianza \
             (UnknownIssuer); indica --ca FICHERO para un certificado privado o autofirmado\n"
        )
    );
    assert!(!server.log().contains("login:"), "nobody logged in: {}", server.log());
}

#[test]
fn without_ca_the_system_store_decides_and_ssl_cert_file_names_it() {
    let ca = TestCa::new();
    let (server, dir, ca_file) = start_tls_server(&ca, &[]);
    let port = tls_port(&server).to_string();
    // A system store that holds only another authority: not trusted.
    let elsewhere = stranger_ca(dir.path(), "system.pem");
    let args = ["--tls", "--port", &port, "--name", "Ana", "--lang", "en"];
    let (code, _, err) = run_to_end(&args, &[("SSL_CERT_FILE", elsewhere.to_str().expect("UTF-8"))]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with(&format!(
            "Cannot connect to 127.0.0.1:{port} over TLS: the server's certificate is not trusted (UnknownIssuer)"
        )),
        "{err}"
    );
    // A system store that holds the server's authority: in.
    let mut ana = Piped::start_on(tls_port(&server), &["--tls", "--name", "Ana"], &[("SSL_CERT_FILE", &ca_file)]);
    ana.expect_lines(&["USERNAME:", "Welcome Ana!", "Type /help for commands"]);
    ana.send("/quit");
    ana.expect_lines(&["Goodbye!", "Disconnected from server"]);
    assert_eq!(ana.expect_exit().code(), Some(0));
}

/// A server serving TLS with a certificate made from `params` and signed by its own key, both written in `dir`;
/// and the certificate's path, for `--ca`.
fn self_signed_tls_server(dir: &std::path::Path, params: rcgen::CertificateParams) -> (TestServer, String) {
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    let (cert_file, key_file) = (dir.join("self.pem"), dir.join("self.key"));
    std::fs::write(&cert_file, cert.pem()).expect("write the certificate");
    std::fs::write(&key_file, key.serialize_pem()).expect("write the key");
    let (cert_file, key_file) = (cert_file.to_str().expect("UTF-8"), key_file.to_str().expect("UTF-8"));
    let server =
        TestServer::start_in(dir, &["--tls-listen", "127.0.0.1:0", "--tls-cert", cert_file, "--tls-key", key_file]);
    (server, cert_file.to_owned())
}

#[test]
fn a_self_signed_certificate_given_to_ca_is_trusted_even_when_it_says_it_is_a_ca() {
    // As `openssl req -x509` makes it by default (basicConstraints CA:TRUE), which webpki refuses as a server
    // certificate unless it is trusted as it is.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("certificate parameters");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let (server, cert_file) = self_signed_tls_server(dir.path(), params);
    let cert_file = cert_file.as_str();
    let port = tls_port(&server).to_string();

    let mut ana = Piped::start_on(tls_port(&server), &["--tls", "--ca", cert_file, "--name", "Ana"], &[]);
    ana.expect_lines(&["USERNAME:", "Welcome Ana!", "Type /help for commands"]);
    ana.send("/quit");
    ana.expect_lines(&["Goodbye!", "Disconnected from server"]);
    assert_eq!(ana.expect_exit().code(), Some(0));

    // Not given: untrusted, and the line says what to do.
    let (code, _, err) = run_to_end(
        &["--tls", "--port", &port, "--lang", "en"],
        &[("SSL_CERT_FILE", cert_file.replace("self.pem", "none.pem").as_str())],
    );
    assert_eq!(code, Some(2));
    assert!(err.starts_with("Cannot read the system's certificate authorities in "), "{err}");
    let other = stranger_ca(dir.path(), "other.pem");
    let (code, _, err) =
        run_to_end(&["--tls", "--port", &port, "--lang", "en"], &[("SSL_CERT_FILE", other.to_str().expect("UTF-8"))]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!(
            "Cannot connect to 127.0.0.1:{port} over TLS: the server's certificate is not trusted \
             (CaUsedAsEndEntity); give --ca FILE for a private or self-signed certificate\n"
        )
    );
}

#[test]
fn tls_to_a_plain_port_or_a_bad_ca_file_is_one_line_and_status_2() {
    let ca = TestCa::new();
    let (server, dir, ca_file) = start_tls_server(&ca, &[]);
    let plain_port = server.addr.port().to_string();
    let (code, out, err) = run_to_end(&["--tls", "--ca", &ca_file, "--port", &plain_port, "--lang", "en"], &[]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert_eq!(
        err,
        format!(
            "Cannot connect to 127.0.0.1:{plain_port} over TLS: the handshake failed (received corrupt message of \
             type InvalidContentType); is 127.0.0.1:{plain_port} a TLS port?\n"
        )
    );
    let not_pem = dir.path().join("notes.txt");
    std::fs::write(&not_pem, "just words\n").expect("write");
    let not_pem = not_pem.to_str().expect("UTF-8");
    let (code, _, err) = run_to_end(&["--tls", "--ca", not_pem, "--port", &plain_port, "--lang", "en"], &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        err,
        format!("Cannot use --ca {not_pem}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)\n")
    );
}

#[test]
fn in_a_terminal_over_tls_lines_go_out_and_a_server_crash_interrupts_the_editor() {
    let ca = TestCa::new();
    let (mut server, _dir, ca_file) = start_tls_server(&ca, &[]);
    let mut watcher = server.join("Eve");
    let port = tls_port(&server).to_string();
    let mut ana =
        spawn_in_terminal(&server, &["--tls", "--ca", &ca_file, "--port", &port, "--lang", "en", "--name", "Ana"]);
    see(&mut ana, "USERNAME: Ana", "--name answers the question");
    see(&mut ana, &format!("Welcome {}!", coloured_bold("Ana")), "welcome");
    watcher.expect("*** Ana joined the chat");
    type_keys(&mut ana, "typed over TLS\r");
    watcher.expect_stamped("Ana: typed over TLS");
    watcher.send("seen");
    see(&mut ana, &format!("{}: seen", coloured("Eve")), "Eve's line arrives while the editor waits");
    editor_ready(&mut ana);
    type_keys(&mut ana, "never sent");
    see(&mut ana, "never sent", "echo");
    server.crash();
    see(&mut ana, "Disconnected from server", "the loss is reported");
    assert_eq!(exit_code(&mut ana), 1);
}

#[test]
fn a_certificate_for_another_host_is_one_line_and_status_2() {
    // Trusted (given to --ca), but issued for chat.example.org only, and asked for as 127.0.0.1.
    let dir = tempfile::tempdir().expect("temp dir");
    let params = rcgen::CertificateParams::new(vec!["chat.example.org".to_owned()]).expect("certificate parameters");
    let (server, cert_file) = self_signed_tls_server(dir.path(), params);
    let cert_file = cert_file.as_str();
    let port = tls_port(&server).to_string();
    let (code, out, err) = run_to_end(&["--tls", "--ca", cert_file, "--port", &port, "--lang", "en"], &[]);
    assert_eq!((code, out.as_str()), (Some(2), ""));
    assert_eq!(
        err,
        format!(
            "Cannot connect to 127.0.0.1:{port} over TLS: the server's certificate is not valid for 127.0.0.1 \
             (NotValidForName); use the host name it was issued for\n"
        )
    );
}
