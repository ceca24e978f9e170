//! The web listener over real sockets: the page, HTTP errors, a WebSocket user chatting with `nc` users, and
//! every hostile request or frame ending only its own connection, with the right HTTP status or close code.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::tls::TestCa;
use common::ws::{client_frame, http_get, read_frame, upgrade_request};
use common::{TestClient, TestServer};

fn web_server(extra: &[&str]) -> TestServer {
    let mut args = vec!["--web-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    TestServer::start(&args)
}

/// Opens a WebSocket by hand and returns the raw stream, the 101 read.
fn raw_ws(server: &TestServer) -> TcpStream {
    let addr = server.web_addr.expect("a web listener");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(upgrade_request(addr, None).as_bytes()).expect("upgrade");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("the 101 response");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
    stream
}

/// Reads frames until the server's close; returns its code. The name question may come first.
fn close_code(stream: &mut TcpStream) -> u16 {
    loop {
        let (_, opcode, payload) = read_frame(stream).expect("a frame before the close");
        if opcode == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[test]
fn the_page_is_served_with_headers_that_keep_it_to_itself() {
    let server = web_server(&[]);
    let addr = server.web_addr.expect("web");
    let response = http_get(addr, &format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n"));
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/html; charset=utf-8"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
    assert!(head.contains("Content-Security-Policy: default-src 'none'; script-src 'sha256-"), "{head}");
    assert!(head.contains("frame-ancestors 'none'"), "{head}");
    assert!(body.starts_with("<!doctype html>") && body.contains("/ws"), "the page");
}

#[test]
fn anything_else_gets_a_short_correct_http_error() {
    let server = web_server(&[]);
    let addr = server.web_addr.expect("web");
    let cases = [
        (format!("GET /etc/passwd HTTP/1.1\r\nHost: {addr}\r\n\r\n"), "HTTP/1.1 404 Not Found\r\n"),
        (
            format!("POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"),
            "HTTP/1.1 405 Method Not Allowed\r\n",
        ),
        (format!("GET /ws HTTP/1.1\r\nHost: {addr}\r\n\r\n"), "HTTP/1.1 426 Upgrade Required\r\n"),
        ("GARBAGE\x01\r\n\r\n".to_owned(), "HTTP/1.1 400 Bad Request\r\n"),
        (
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Big: {}\r\n\r\n", "a".repeat(9000)),
            "HTTP/1.1 431 Request Header Fields Too Large\r\n",
        ),
        (
            upgrade_request(addr, None).replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
            "HTTP/1.1 426 Upgrade Required\r\n",
        ),
    ];
    for (request, status) in cases {
        let response = http_get(addr, &request);
        assert!(response.starts_with(status), "{request:?} -> {response:?}");
    }
    // The chat goes on.
    let mut ana = server.join("Ana");
    ana.send("hola");
    ana.expect_stamped("Ana: hola");
}

#[test]
fn a_websocket_user_and_an_nc_user_chat_and_whisper() {
    let server = web_server(&["--lang", "es"]);
    let web = server.web_addr.expect("web");
    let mut maria = server.join("María");
    let mut pedro = server.join_with(TestClient::connect_ws(web, None), "Pedro");
    maria.expect("*** Pedro se ha unido al chat");
    pedro.send("Qué tal?");
    maria.expect_stamped("Pedro: Qué tal?");
    pedro.expect_stamped("Pedro: Qué tal?");
    maria.send("/whisper Pedro bien, ¿y tú?");
    maria.expect("Mensaje enviado a Pedro");
    pedro.expect_stamped("(privado) María: bien, ¿y tú?");
    pedro.send("/users");
    pedro.expect_lines(&["Usuarios conectados (2):", "  María", "  Pedro"]);
    let mut newcomer = server.join_with(TestClient::connect_ws(web, None), "Nuevo");
    newcomer.expect("Historial:");
    newcomer.expect_stamped("Pedro: Qué tal?");
    pedro.expect("*** Nuevo se ha unido al chat");
    maria.expect("*** Nuevo se ha unido al chat");
    pedro.send("/quit");
    pedro.expect("Hasta pronto!");
    pedro.expect_closed();
    maria.expect("*** Pedro ha salido del chat");
}

#[test]
fn one_text_frame_is_one_line_even_with_a_newline_in_it() {
    let server = web_server(&[]);
    let mut ana = server.join("Ana");
    let mut ws = raw_ws(&server);
    ws.write_all(&client_frame(true, 0x1, b"Bea")).expect("name");
    ws.write_all(&client_frame(true, 0x1, b"one\n[14:30] Ana: forged")).expect("a message");
    ana.expect("*** Bea joined the chat");
    ana.expect_stamped("Bea: one [14:30] Ana: forged");
    // Fragmented, and with a ping between the fragments.
    ws.write_all(&client_frame(false, 0x1, b"frag")).expect("first fragment");
    ws.write_all(&client_frame(true, 0x9, b"ping?")).expect("a ping");
    ws.write_all(&client_frame(true, 0x0, b"mented")).expect("last fragment");
    ana.expect_stamped("Bea: fragmented");
    let mut pong = None;
    while pong.is_none() {
        let (_, opcode, payload) = read_frame(&mut ws).expect("frames");
        if opcode == 0xA {
            pong = Some(payload);
        }
    }
    assert_eq!(pong.as_deref(), Some(&b"ping?"[..]));
}

#[test]
fn hostile_frames_end_only_their_connection_with_the_right_close_code() {
    let server = web_server(&[]);
    let mut ana = server.join("Ana");
    let mut unmasked = client_frame(true, 0x1, b"hola");
    unmasked[1] &= 0x7f;
    let gigabytes = vec![0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (unmasked, 1002),
        (gigabytes, 1009),
        (client_frame(true, 0x1, &[b'a'; 4097]), 1009),
        (client_frame(true, 0x1, &[0xc3, 0x28]), 1007),
        (client_frame(true, 0x2, b"binary"), 1003),
        (client_frame(true, 0x8, &[0x03, 0xe8]), 1000),
    ];
    for (frame, code) in cases {
        let mut ws = raw_ws(&server);
        ws.write_all(&frame).expect("send the frame");
        assert_eq!(close_code(&mut ws), code, "{frame:02x?}");
        // Then the server ends the connection.
        let mut rest = Vec::new();
        let _ = ws.read_to_end(&mut rest);
    }
    ana.send("unharmed");
    ana.expect_stamped("Ana: unharmed");
}

#[test]
fn only_the_pages_own_origin_may_open_the_websocket_unless_others_are_allowed() {
    let server = web_server(&[]);
    let addr = server.web_addr.expect("web");
    let forbidden = http_get(addr, &upgrade_request(addr, Some("https://evil.example")));
    assert!(forbidden.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{forbidden}");
    let mut own = TestClient::connect_ws(addr, Some(&format!("http://{addr}")));
    own.expect("USERNAME:");

    let server = web_server(&["--web-origin", "https://chat.example.org"]);
    let addr = server.web_addr.expect("web");
    let mut allowed = TestClient::connect_ws(addr, Some("https://chat.example.org"));
    allowed.expect("USERNAME:");
    let other = http_get(addr, &upgrade_request(addr, Some(&format!("http://{addr}"))));
    assert!(other.starts_with("HTTP/1.1 403 Forbidden\r\n"), "only the listed origins: {other}");
}

#[test]
fn a_slow_request_head_is_closed_by_the_login_timeout() {
    let server = web_server(&["--login-timeout", "1"]);
    let addr = server.web_addr.expect("web");
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.write_all(b"GET / HTTP/1.1\r\nHo").expect("half a head, then nothing");
    slow.set_read_timeout(Some(Duration::from_secs(8))).expect("timeout");
    let mut rest = Vec::new();
    match slow.read_to_end(&mut rest) {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "closed: {e}"),
    }
}

#[test]
fn the_web_listener_works_over_https_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new();
    let files = ca.server_files(dir.path(), "server");
    let (cert, key) = (files.cert.to_str().expect("UTF-8"), files.key.to_str().expect("UTF-8"));
    let server =
        TestServer::start_in(dir.path(), &["--web-tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key]);
    let addr = server.web_tls_addr.expect("HTTPS");
    let stream = TcpStream::connect(addr).expect("connect");
    let mut tls = rustls::StreamOwned::new(common::tls::client_session(&ca.pem()), stream);
    tls.write_all(format!("GET / HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", addr.port()).as_bytes()).expect("request");
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n") && response.contains("<!doctype html>"), "{response}");
}
