//! The client side of the web listener for tests: an HTTP request, and a WebSocket whose text messages read
//! and write as lines, so a `TestClient` works over it unchanged.
#![allow(dead_code)] // Each test binary uses its own subset.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// Sends one HTTP request and returns the response's status line, headers and body, read to the close.
pub fn http_get(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect to the web listener");
    stream.set_read_timeout(Some(super::LINE_TIMEOUT)).expect("timeout");
    stream.write_all(request.as_bytes()).expect("send the request");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

/// A WebSocket upgrade request for `/ws`, with `origin` if given.
pub fn upgrade_request(addr: SocketAddr, origin: Option<&str>) -> String {
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
    )
}

/// Opens a WebSocket on `stream` (the request sent, the `101` read); panics on any other answer.
pub fn open(mut stream: TcpStream, addr: SocketAddr, origin: Option<&str>) -> WsLines {
    stream.write_all(upgrade_request(addr, origin).as_bytes()).expect("send the upgrade request");
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).expect("read the status line");
    assert_eq!(status, "HTTP/1.1 101 Switching Protocols\r\n", "the WebSocket opens");
    let mut accept = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).expect("read a header");
        if header == "\r\n" {
            break;
        }
        if let Some(value) = header.strip_prefix("Sec-WebSocket-Accept: ") {
            accept = Some(value.trim().to_owned());
        }
    }
    assert_eq!(accept.as_deref(), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "the accept key of RFC 6455's example");
    WsLines { reader, incoming: Vec::new(), outgoing: Vec::new(), close_code: None }
}

/// Builds a client frame, masked as RFC 6455 requires.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x4d, 0x61, 0x73, 0x6b];
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Reads one server frame: (final, opcode, payload). Server frames are never masked.
pub fn read_frame(reader: &mut impl Read) -> io::Result<(bool, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head)?;
    assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
    let len = match head[1] & 0x7f {
        126 => {
            let mut len = [0u8; 2];
            reader.read_exact(&mut len)?;
            usize::from(u16::from_be_bytes(len))
        }
        127 => {
            let mut len = [0u8; 8];
            reader.read_exact(&mut len)?;
            usize::try_from(u64::from_be_bytes(len)).expect("a length that fits")
        }
        short => usize::from(short),
    };
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload)?;
    Ok((head[0] & 0x80 != 0, head[0] & 0x0f, payload))
}

/// A WebSocket seen as lines: each text message read is a line, each line written is a text message.
pub struct WsLines {
    reader: BufReader<TcpStream>,
    /// Lines decoded and not yet read.
    incoming: Vec<u8>,
    /// Bytes written and not yet ending in a newline.
    outgoing: Vec<u8>,
    /// The close code the server sent, once it has.
    pub close_code: Option<u16>,
}

impl WsLines {
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }
}

impl Read for WsLines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.incoming.is_empty() {
            if self.close_code.is_some() {
                return Ok(0);
            }
            let (fin, opcode, payload) = match read_frame(&mut self.reader) {
                Ok(frame) => frame,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            };
            assert!(fin, "the server sends each line as one frame");
            match opcode {
                0x1 => {
                    self.incoming.extend_from_slice(&payload);
                    self.incoming.push(b'\n');
                }
                0x8 => {
                    self.close_code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                    // Answer the close, as a browser does.
                    let _ = self.reader.get_mut().write_all(&client_frame(true, 0x8, &payload[..payload.len().min(2)]));
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
        let n = self.incoming.len().min(buf.len());
        buf[..n].copy_from_slice(&self.incoming[..n]);
        self.incoming.drain(..n);
        Ok(n)
    }
}

impl Write for WsLines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        while let Some(end) = self.outgoing.iter().position(|&b| b == b'\n') {
            let frame = client_frame(true, 0x1, &self.outgoing[..end]);
            self.reader.get_mut().write_all(&frame)?;
            self.outgoing.drain(..=end);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
