//! The web listener's transport: one HTTP request, answered with the chat page, an HTTP error, or a WebSocket
//! whose text messages are chat lines, both ways (see `websocket.rs` for the frames).
//!
//! It sits on plain TCP or on TLS (`--web-listen`, `--web-tls-listen`). The request head is bounded
//! ([`MAX_REQUEST_HEAD_BYTES`]), and its time by the login timeout, as every connection's is. Nothing is read
//! from disk: the page is compiled in. A WebSocket is opened only for the origins allowed (by default the page's
//! own), so another site cannot connect its visitors' browsers to the chat.

use std::io::{self, IoSlice, Read, Write};
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::server::transport::Transport;
use crate::server::websocket::{self, FrameDecoder, Incoming, close_code};

/// The longest request head accepted, in bytes; past it the answer is 431.
pub(crate) const MAX_REQUEST_HEAD_BYTES: usize = 8 * 1024;
/// Headers parsed in a request; more is refused as a bad request.
const MAX_HEADERS: usize = 32;
/// The chat page, served at `/`.
const PAGE: &str = include_str!("page.html");

/// What every web connection shares: who may open a WebSocket, and the page with its headers.
#[derive(Debug)]
pub(crate) struct WebSite {
    /// Origins allowed to open the WebSocket (`--web-origin`); empty means the page's own origin only.
    allowed_origins: Vec<String>,
    /// The page's response, headers and body, made once.
    page_response: Vec<u8>,
}

impl WebSite {
    pub(crate) fn new(allowed_origins: Vec<String>) -> WebSite {
        WebSite { allowed_origins, page_response: page_response() }
    }

    fn origin_allowed(&self, origin: Option<&str>, host: Option<&str>, tls: bool) -> bool {
        // Browsers always send an Origin with a WebSocket request; tools that send none are not a browser
        // someone else's page could drive.
        let Some(origin) = origin else { return true };
        if !self.allowed_origins.is_empty() {
            return self.allowed_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin));
        }
        let scheme = if tls { "https" } else { "http" };
        host.is_some_and(|host| origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")))
    }
}

/// The page, with headers that keep it to itself: its script runs because the policy names its hash, nothing
/// is loaded from elsewhere, and no other site may frame it.
fn page_response() -> Vec<u8> {
    let script = PAGE.split_once("<script>").and_then(|(_, rest)| rest.split_once("</script>")).map_or("", |(s, _)| s);
    let hash = ring::digest::digest(&ring::digest::SHA256, script.as_bytes());
    let policy = format!(
        "default-src 'none'; script-src 'sha256-{}'; style-src 'unsafe-inline'; connect-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        websocket::base64(hash.as_ref())
    );
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: {policy}\r\nConnection: close\r\n\r\n",
        PAGE.len()
    )
    .into_bytes();
    response.extend_from_slice(PAGE.as_bytes());
    response
}

/// A short HTTP error, and the connection ends after it.
fn error_response(status: &str, extra_headers: &str) -> Vec<u8> {
    let body = format!("{status}\n");
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra_headers}\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The request head is arriving.
    Head,
    /// A WebSocket: frames both ways.
    Open,
    /// The request was answered over HTTP (the page or an error), or the WebSocket is closing: nothing more is
    /// read, chat output is dropped, and the connection ends once the last bytes are written.
    Ending,
}

/// One web connection over its inner transport (TCP or TLS).
pub(crate) struct WebStream {
    inner: Transport,
    site: Arc<WebSite>,
    tls: bool,
    phase: Phase,
    /// The request head while it arrives; no memory afterwards.
    head: Vec<u8>,
    decoder: FrameDecoder,
    /// Bytes for the socket not yet taken: the HTTP response, frames. No memory when empty.
    outgoing: Vec<u8>,
    /// Chat lines decoded and not yet taken by the framer. No memory when empty.
    lines: Vec<u8>,
}

impl WebStream {
    pub(crate) fn new(inner: Transport, site: Arc<WebSite>, tls: bool, max_line_bytes: usize) -> WebStream {
        WebStream {
            inner,
            site,
            tls,
            phase: Phase::Head,
            head: Vec::new(),
            decoder: FrameDecoder::new(max_line_bytes),
            outgoing: Vec::new(),
            lines: Vec::new(),
        }
    }

    pub(crate) fn inner_mut(&mut self) -> &mut Transport {
        &mut self.inner
    }

    /// Chat output may flow once the WebSocket is open (and, after the end, is dropped).
    pub(crate) fn ready_for_output(&self) -> bool {
        self.phase != Phase::Head && self.inner.ready_for_output()
    }

    pub(crate) fn has_pending_output(&self) -> bool {
        !self.outgoing.is_empty() || self.inner.has_pending_output()
    }

    /// Writes the bytes waiting for the socket; true once none are left.
    pub(crate) fn flush_pending(&mut self) -> io::Result<bool> {
        while !self.outgoing.is_empty() {
            match self.inner.write(&self.outgoing) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes")),
                Ok(n) => {
                    self.outgoing.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.outgoing = Vec::new();
        self.inner.flush_pending()
    }

    /// Ends our side: a close frame if the WebSocket is open, the last bytes, then the inner transport's end.
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        if self.phase == Phase::Open {
            websocket::encode_close(close_code::NORMAL, &mut self.outgoing);
            self.phase = Phase::Ending;
        }
        // Best effort: what the socket does not take now is lost with the connection.
        let _ = self.flush_pending();
        self.inner.shutdown_write()
    }

    /// Chat lines from the client, `\n`-terminated; `Ok(0)` once it has ended (or been answered over HTTP).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.lines.is_empty() {
                let n = self.lines.len().min(buf.len());
                buf[..n].copy_from_slice(&self.lines[..n]);
                self.lines.drain(..n);
                if self.lines.is_empty() {
                    self.lines = Vec::new();
                }
                return Ok(n);
            }
            if self.phase == Phase::Ending {
                return Ok(0);
            }
            let read = self.inner.read(buf)?;
            if read == 0 {
                self.phase = Phase::Ending;
                return Ok(0);
            }
            let raw = buf[..read].to_vec();
            match self.phase {
                Phase::Head => self.take_head(&raw),
                Phase::Open => self.take_frames(&raw),
                Phase::Ending => {}
            }
            // The answer goes out now if the socket takes it.
            self.flush_pending()?;
        }
    }

    /// Gathers the request head; once whole, answers it.
    fn take_head(&mut self, raw: &[u8]) {
        let mut head = std::mem::take(&mut self.head);
        head.extend_from_slice(raw);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head) {
            Ok(httparse::Status::Partial) if head.len() > MAX_REQUEST_HEAD_BYTES => {
                self.answer(error_response("431 Request Header Fields Too Large", ""))
            }
            Ok(httparse::Status::Partial) => self.head = head,
            Ok(httparse::Status::Complete(head_len)) if head_len > MAX_REQUEST_HEAD_BYTES => {
                self.answer(error_response("431 Request Header Fields Too Large", ""))
            }
            Ok(httparse::Status::Complete(head_len)) => {
                if let Some(accept) = self.respond(&request) {
                    self.outgoing.extend_from_slice(accept.as_bytes());
                    self.phase = Phase::Open;
                    // Frames sent right behind the request are the WebSocket's first.
                    if head.len() > head_len {
                        self.take_frames(&head[head_len..]);
                    }
                }
            }
            Err(_) => self.answer(error_response("400 Bad Request", "")),
        }
    }

    /// Answers a whole request: the page, an error, or (returned) the response that opens the WebSocket.
    fn respond(&mut self, request: &httparse::Request<'_, '_>) -> Option<String> {
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .and_then(|h| std::str::from_utf8(h.value).ok())
        };
        let has_token = |name: &str, token: &str| {
            header(name).is_some_and(|value| value.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        if request.method != Some("GET") {
            self.answer(error_response("405 Method Not Allowed", "Allow: GET\r\n"));
            return None;
        }
        let path = request.path.unwrap_or("").split('?').next().unwrap_or("");
        match path {
            "/" => {
                self.answer(self.site.page_response.clone());
                None
            }
            "/ws" => {
                if !has_token("Upgrade", "websocket") || !has_token("Connection", "upgrade") {
                    self.answer(error_response(
                        "426 Upgrade Required",
                        "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
                    ));
                    return None;
                }
                if header("Sec-WebSocket-Version").map(str::trim) != Some("13") {
                    self.answer(error_response("426 Upgrade Required", "Sec-WebSocket-Version: 13\r\n"));
                    return None;
                }
                let Some(key) = header("Sec-WebSocket-Key").filter(|k| k.trim().len() == 24) else {
                    self.answer(error_response("400 Bad Request", ""));
                    return None;
                };
                if !self.site.origin_allowed(header("Origin"), header("Host"), self.tls) {
                    self.answer(error_response("403 Forbidden", ""));
                    return None;
                }
                Some(format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: {}\r\n\r\n",
                    websocket::accept_key(key)
                ))
            }
            _ => {
                self.answer(error_response("404 Not Found", ""));
                None
            }
        }
    }

    /// An HTTP answer that ends the connection once written.
    fn answer(&mut self, response: Vec<u8>) {
        self.outgoing.extend_from_slice(&response);
        self.head = Vec::new();
        self.phase = Phase::Ending;
    }

    /// Decodes WebSocket frames: text messages become lines; pings are answered; a close is returned, and a
    /// violation closes with its code.
    fn take_frames(&mut self, raw: &[u8]) {
        let (lines, outgoing) = (&mut self.lines, &mut self.outgoing);
        let mut closed = false;
        let result = self.decoder.push(raw, |incoming| match incoming {
            Incoming::Text(text) => {
                // One message is one line: a newline inside it cannot make a second.
                lines.extend(text.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
                lines.push(b'\n');
                ControlFlow::Continue(())
            }
            Incoming::Ping(payload) => {
                websocket::encode_frame(0xA, payload, outgoing);
                ControlFlow::Continue(())
            }
            Incoming::Close(code) => {
                websocket::encode_close(code.unwrap_or(close_code::NORMAL), outgoing);
                closed = true;
                ControlFlow::Break(())
            }
        });
        match result {
            Ok(_) if closed => self.phase = Phase::Ending,
            Ok(_) => {}
            Err(violation) => {
                log::debug!("closing a WebSocket with {}: {}", violation.code, violation.reason);
                websocket::encode_close(violation.code, &mut self.outgoing);
                self.phase = Phase::Ending;
            }
        }
    }

    /// Chat output: each whole line becomes one text frame. Returns the bytes taken (whole lines), or
    /// `WouldBlock` while earlier bytes still wait for the socket. After the end, output is dropped.
    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if self.phase == Phase::Ending {
            return Ok(total);
        }
        if !self.flush_pending()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut taken = 0;
        for buf in bufs {
            let mut rest: &[u8] = buf;
            while let Some(end) = memchr::memchr(b'\n', rest) {
                websocket::encode_frame(0x1, &rest[..end], &mut self.outgoing);
                taken += end + 1;
                rest = &rest[end + 1..];
            }
            if !rest.is_empty() {
                // Payloads are whole lines; a tail without a newline is a line too.
                websocket::encode_frame(0x1, rest, &mut self.outgoing);
                taken += rest.len();
            }
        }
        self.flush_pending()?;
        Ok(taken)
    }
}
