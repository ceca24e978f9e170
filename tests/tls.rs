//! TLS over real sockets: the chat behaves as over plain TCP, with every limit; outside clients (`openssl
//! s_client`) interoperate; SIGHUP swaps the certificate for new connections only; hostile or broken handshakes
//! end only their own connection. Certificates are made by each test (see common/tls.rs).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tls::{ServerFiles, TestCa};
use common::{TestClient, TestServer};

/// A server with a plain listener and a TLS one, using `files`.
fn start(dir: &std::path::Path, files: &ServerFiles, extra: &[&str]) -> TestServer {
    let (cert, key) = (files.cert.to_str().expect("UTF-8"), files.key.to_str().expect("UTF-8"));
    let mut args = vec!["--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key];
    args.extend_from_slice(extra);
    TestServer::start_in(dir, &args)
}

/// The certificate a fresh TLS connection is given, DER.
fn presented_certificate(server: &TestServer, ca: &str) -> Vec<u8> {
    let addr = server.tls_addr.expect("a TLS listener");
    let mut stream = TcpStream::connect(addr).expect("connect");
    let mut session = common::tls::client_session(ca);
    let mut tls = rustls::Stream::new(&mut session, &mut stream);
    let mut prompt = [0u8; 10];
    tls.read_exact(&mut prompt).expect("the name question over TLS");
    let certs = session.peer_certificates().expect("a certificate");
    certs[0].to_vec()
}

#[test]
fn the_seed_session_works_over_tls_and_tls_and_plain_users_talk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    let server = start(dir.path(), &files, &["--lang", "es"]);
    let mut maria = server.join_tls("María", &ca.pem());
    let mut pedro = server.join("Pedro");
    maria.expect("*** Pedro se ha unido al chat");
    maria.send("Hola a todos");
    maria.expect_stamped("María: Hola a todos");
    pedro.expect_stamped("María: Hola a todos");
    pedro.send("Qué tal?");
    maria.expect_stamped("Pedro: Qué tal?");
    pedro.expect_stamped("Pedro: Qué tal?");

    let mut juan = TestClient::connect_tls(server.tls_addr.expect("TLS"), &ca.pem());
    juan.expect("USUARIO:");
    juan.send("Juan");
    juan.expect_lines(&["Bienvenido Juan!", "Escribe /help para comandos", "Historial:"]);
    juan.expect_stamped("María: Hola a todos");
    juan.expect_stamped("Pedro: Qué tal?");
    maria.expect("*** Juan se ha unido al chat");
    pedro.expect("*** Juan se ha unido al chat");
    juan.send("Hola! ¿Cómo están?");
    juan.expect_stamped("Juan: Hola! ¿Cómo están?");
    juan.send("/whisper María Hola María, ¿cómo estás?");
    juan.expect("Mensaje enviado a María");
    maria.expect_stamped("Juan: Hola! ¿Cómo están?");
    maria.expect_stamped("(privado) Juan: Hola María, ¿cómo estás?");
    juan.send("/users");
    juan.expect_lines(&["Usuarios conectados (3):", "  Juan", "  María", "  Pedro"]);
    juan.send("/quit");
    juan.expect("Hasta pronto!");
    juan.expect_closed();
    pedro.expect_stamped("Juan: Hola! ¿Cómo están?");
    pedro.expect("*** Juan ha salido del chat");
}

#[test]
fn openssl_s_client_is_a_client_like_any_other() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    let ca_file = ca.write(dir.path(), "ca.pem");
    let server = start(dir.path(), &files, &[]);
    let mut ana = server.join("Ana");
    let addr = server.tls_addr.expect("TLS").to_string();
    let mut openssl = Command::new("openssl")
        .args(["s_client", "-connect", &addr, "-CAfile"])
        .arg(&ca_file)
        .args(["-verify_return_error", "-verify_hostname", "localhost", "-quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client (install the openssl package)");
    let mut stdin = openssl.stdin.take().expect("stdin");
    stdin.write_all(b"Ossl\nhello from openssl\n").expect("type into openssl");
    ana.expect("*** Ossl joined the chat");
    ana.expect_stamped("Ossl: hello from openssl");
    ana.send("hi openssl");
    stdin.write_all(b"/quit\n").expect("type /quit");
    let mut out = String::new();
    openssl.stdout.take().expect("stdout").read_to_string(&mut out).expect("read openssl's output");
    let _ = openssl.wait();
    assert!(out.starts_with("USERNAME:\nWelcome Ossl!\nType /help for commands\n"), "{out}");
    assert!(out.contains("] Ossl: hello from openssl\n") && out.ends_with("Goodbye!\n"), "{out}");
}

#[test]
fn sighup_gives_new_connections_a_new_certificate_and_keeps_the_old_on_a_broken_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let first = ca.server_files(dir.path(), "server");
    let mut server = start(dir.path(), &first, &[]);
    let mut old = server.join_tls("Old", &ca.pem());
    assert_eq!(presented_certificate(&server, &ca.pem()), first.der);

    // Renewed in place, as a Let's Encrypt deploy hook does, then SIGHUP.
    let second = ca.server_files(dir.path(), "renewed");
    std::fs::copy(&second.cert, &first.cert).expect("replace the certificate");
    std::fs::copy(&second.key, &first.key).expect("replace the key");
    hang_up(&mut server, "reloaded the TLS certificate");
    assert_eq!(presented_certificate(&server, &ca.pem()), second.der, "a new connection gets the new one");
    old.send("still here");
    old.expect_stamped("Old: still here");

    // A broken file: an error in the log, and the certificate in use stays.
    std::fs::write(&first.key, "not a key").expect("break the key");
    hang_up(&mut server, "cannot reload the TLS certificate");
    assert!(server.log().contains(&format!("{}: ", first.key.display())), "{}", server.log());
    assert_eq!(presented_certificate(&server, &ca.pem()), second.der);
    old.send("and still");
    old.expect_stamped("Old: and still");
}

/// Sends SIGHUP and waits for `logged` to appear in the log (once more than before).
fn hang_up(server: &mut TestServer, logged: &str) {
    let before = server.log().matches(logged).count();
    // SAFETY: kill(2) on the PID of the server this test started.
    unsafe { libc::kill(server.pid(), libc::SIGHUP) };
    let start = Instant::now();
    while server.log().matches(logged).count() == before {
        assert!(start.elapsed() < Duration::from_secs(10), "no {logged:?} in the log: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn broken_and_hostile_handshakes_end_only_their_own_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    let server = start(dir.path(), &files, &["--login-timeout", "2"]);
    let tls_addr = server.tls_addr.expect("TLS");
    let mut ana = server.join_tls("Ana", &ca.pem());
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");

    // A plaintext client on the TLS port, garbage instead of a ClientHello, a handshake cut short, and one that
    // stalls in the middle: each is closed, and only it.
    let mut plaintext = TcpStream::connect(tls_addr).expect("connect");
    plaintext.write_all(b"Juan\nhola\n").expect("send");
    let mut garbage = TcpStream::connect(tls_addr).expect("connect");
    garbage.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00]).expect("send");
    let mut hello = Vec::new();
    let mut session = common::tls::client_session(&ca.pem());
    session.write_tls(&mut hello).expect("a ClientHello");
    let mut truncated = TcpStream::connect(tls_addr).expect("connect");
    truncated.write_all(&hello[..hello.len() / 2]).expect("send half");
    truncated.shutdown(std::net::Shutdown::Write).expect("and stop");
    let mut stalled = TcpStream::connect(tls_addr).expect("connect");
    stalled.write_all(&hello[..hello.len() / 2]).expect("send half, then nothing");
    for (name, stream) in [("plaintext", &mut plaintext), ("garbage", &mut garbage), ("truncated", &mut truncated)] {
        assert_closed(stream, name, Duration::from_secs(5));
    }
    // The stalled one is closed by the login timeout, which counts the handshake.
    assert_closed(&mut stalled, "stalled", Duration::from_secs(6));

    ana.send("unharmed");
    ana.expect_stamped("Ana: unharmed");
    bea.expect_stamped("Ana: unharmed");
}

/// Reads until the server closes `stream` (end of stream or reset), for at most `within`.
fn assert_closed(stream: &mut TcpStream, name: &str, within: Duration) {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut sink = [0u8; 4096];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("{name}: not closed within {within:?}: {e}"),
        }
    }
}

#[test]
fn tls_connections_are_held_to_the_same_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    let server = start(dir.path(), &files, &["--max-per-ip", "1", "--trusted", "10.0.0.0/8"]);
    let tls_addr = server.tls_addr.expect("TLS");
    let mut first = TestClient::connect_tls(tls_addr, &ca.pem());
    first.expect("USERNAME:");
    // A second connection from the same address is over --max-per-ip: closed without a handshake.
    let mut second = TcpStream::connect(tls_addr).expect("connect");
    assert_closed(&mut second, "second", Duration::from_secs(5));
    // Lines over 4096 bytes are refused over TLS as over TCP.
    first.send("Ana");
    first.expect_lines(&["Welcome Ana!", "Type /help for commands"]);
    first.send(&"x".repeat(5000));
    first.expect("Error: line too long (over 4096 bytes); it was discarded");
}

#[test]
fn a_bad_certificate_file_stops_start_up_with_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    std::fs::write(&files.cert, "garbage").expect("break the certificate");
    let out = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&files.cert)
        .arg("--tls-key")
        .arg(&files.key)
        .arg("--history-file")
        .arg(dir.path().join("h.json"))
        .output()
        .expect("run charla-server");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&files.cert.display().to_string()), "names the file: {stderr}");
    let missing = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .args(["--tls-listen", "127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem", "--tls-key"])
        .arg(&files.key)
        .output()
        .expect("run charla-server");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/cert.pem"));
}
