//! `--ws`: the client side of a WebSocket (RFC 6455) carrying Charla's lines, one text message per line, as the
//! chat page does. A [`Link`] holds what one client needs: the upgrade request goes out first, lines are framed
//! (masked, as a client must) on their way out, and the server's frames become lines again on their way in, so
//! everything else in the tool handles lines exactly as over plain TCP.
//!
//! The server never fragments a message nor pings, and sends each line as one text frame; anything else from
//! it ends the client with a cause, as a refusal would.

use std::net::SocketAddr;

/// The longest response head to the upgrade request accepted, in bytes.
const MAX_RESPONSE_HEAD_BYTES: usize = 8 * 1024;
/// Frame opcodes (RFC 6455, section 5.2).
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The request that opens the WebSocket at `/ws` on the web listener `target`. A tool sends no `Origin`, as
/// only browsers do; the key is RFC 6455's example, as nothing here checks the server's answer to it.
pub(crate) fn upgrade_request(target: SocketAddr, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!(
            "GET /ws HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    );
}

/// One client's WebSocket state.
#[derive(Debug, Default)]
pub(crate) struct Link {
    /// The `101 Switching Protocols` has been read: what follows is frames.
    open: bool,
    /// The response head while it arrives, then an unfinished frame. No memory when empty.
    partial: Vec<u8>,
    /// Lines written by the dialect and not yet framed.
    staged: Vec<u8>,
    /// Changes the masking key from frame to frame. RFC 6455 asks a browser for unpredictable keys, against
    /// proxies a hostile page could confuse; this tool's load goes to loopback only, so a counter will do.
    mask_counter: u32,
}

/// What a read brought, besides its lines.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Arrived {
    /// More to come.
    Open,
    /// The server's close frame: the lines before it count, then the client is done.
    Closed,
}

impl Link {
    pub(crate) fn new(seed: u32) -> Link {
        Link { mask_counter: seed, ..Link::default() }
    }

    /// Where the dialect writes lines (each ending in `\n`) for [`Link::frame_staged`] to frame.
    pub(crate) fn staged(&mut self) -> &mut Vec<u8> {
        &mut self.staged
    }

    /// Moves every staged line to `out` as one masked text frame.
    pub(crate) fn frame_staged(&mut self, out: &mut Vec<u8>) {
        if self.staged.is_empty() {
            return;
        }
        let staged = std::mem::take(&mut self.staged);
        let mut rest = &staged[..];
        while let Some(end) = memchr::memchr(b'\n', rest) {
            self.mask_counter = self.mask_counter.wrapping_add(0x9E37_79B9);
            encode_text(&rest[..end], self.mask_counter.to_be_bytes(), out);
            rest = &rest[end + 1..];
        }
        // The dialect always ends what it writes with a newline; a tail without one is a line too.
        if !rest.is_empty() {
            encode_text(rest, self.mask_counter.to_be_bytes(), out);
        }
        // Keeps the allocation: a sender stages a line per message.
        self.staged = staged;
        self.staged.clear();
    }

    /// Takes bytes the server sent: the upgrade response, then frames. Each text message is appended to `lines`
    /// with a `\n`, as it would have arrived over plain TCP; a ping's pong is staged in `out`. `Err` is why the
    /// client must end.
    pub(crate) fn take(&mut self, mut data: &[u8], lines: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<Arrived, String> {
        if !self.open {
            data = match self.take_response_head(data)? {
                Some(rest) => rest,
                None => return Ok(Arrived::Open),
            };
        }
        if !self.partial.is_empty() {
            // Finish the frame an earlier read began, a byte at a time while even its header is incomplete.
            let mut frame = std::mem::take(&mut self.partial);
            while !data.is_empty() {
                let take = match frame_len(&frame)? {
                    Some(len) => (len - frame.len()).min(data.len()),
                    None => 1,
                };
                frame.extend_from_slice(&data[..take]);
                data = &data[take..];
                if frame_len(&frame)? == Some(frame.len()) {
                    break;
                }
            }
            if frame_len(&frame)? != Some(frame.len()) {
                self.partial = frame;
                return Ok(Arrived::Open);
            }
            if on_frame(&frame, lines, out)? == Arrived::Closed {
                return Ok(Arrived::Closed);
            }
        }
        while let Some(len) = frame_len(data)? {
            if len > data.len() {
                break;
            }
            if on_frame(&data[..len], lines, out)? == Arrived::Closed {
                return Ok(Arrived::Closed);
            }
            data = &data[len..];
        }
        if data.len() > crate::bench::client::MAX_PARTIAL_LINE_BYTES {
            return Err("the server sent a frame over the line limit".to_owned());
        }
        self.partial.extend_from_slice(data);
        Ok(Arrived::Open)
    }

    /// Gathers the response head; once whole, checks it opened the WebSocket and returns what follows it.
    fn take_response_head<'a>(&mut self, data: &'a [u8]) -> Result<Option<&'a [u8]>, String> {
        let before = self.partial.len();
        self.partial.extend_from_slice(data);
        let Some(end) = memchr::memmem::find(&self.partial, b"\r\n\r\n") else {
            if self.partial.len() > MAX_RESPONSE_HEAD_BYTES {
                return Err("the upgrade response head is too long".to_owned());
            }
            return Ok(None);
        };
        let head = std::mem::take(&mut self.partial);
        let status = head.split(|&b| b == b'\r').next().unwrap_or_default();
        if !status.starts_with(b"HTTP/1.1 101 ") {
            return Err(format!("refused: {}", String::from_utf8_lossy(status)));
        }
        self.open = true;
        Ok(Some(&data[end + 4 - before..]))
    }
}

/// Appends `payload` as one masked, final text frame.
pub(crate) fn encode_text(payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    out.push(0x80 | OP_TEXT);
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
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
}

/// The whole length of the server frame that `bytes` starts with, header included, once its header is there.
fn frame_len(bytes: &[u8]) -> Result<Option<usize>, String> {
    let (Some(&first), Some(&second)) = (bytes.first(), bytes.get(1)) else { return Ok(None) };
    if second & 0x80 != 0 {
        return Err("the server sent a masked frame".to_owned());
    }
    if first & 0x70 != 0 {
        return Err("the server set reserved frame bits".to_owned());
    }
    let (header, payload) = match second & 0x7f {
        126 => match bytes.get(2..4) {
            Some(len) => (4, usize::from(u16::from_be_bytes([len[0], len[1]]))),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(len) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(len);
                (10, usize::try_from(u64::from_be_bytes(be)).unwrap_or(usize::MAX))
            }
            None => return Ok(None),
        },
        short => (2, usize::from(short)),
    };
    if payload > crate::bench::client::MAX_PARTIAL_LINE_BYTES {
        return Err("the server sent a frame over the line limit".to_owned());
    }
    Ok(Some(header + payload))
}

/// One whole server frame.
fn on_frame(frame: &[u8], lines: &mut Vec<u8>, out: &mut Vec<u8>) -> Result<Arrived, String> {
    let header = match frame[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    let (fin, opcode, payload) = (frame[0] & 0x80 != 0, frame[0] & 0x0f, &frame[header..]);
    match opcode {
        OP_TEXT if fin => {
            lines.extend_from_slice(payload);
            lines.push(b'\n');
        }
        OP_TEXT | OP_CONTINUATION => return Err("the server fragmented a message".to_owned()),
        OP_CLOSE => return Ok(Arrived::Closed),
        OP_PING if payload.len() > 125 => return Err("the server sent a ping over 125 bytes".to_owned()),
        OP_PING => {
            // Answered with the same bytes, masked with a zero key (masking is required, the key is ours).
            out.push(0x80 | OP_PONG);
            out.push(0x80 | payload.len() as u8);
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(payload);
        }
        OP_PONG => {}
        other => return Err(format!("the server sent frame opcode {other:#x}")),
    }
    Ok(Arrived::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | opcode];
        match payload.len() {
            len @ 0..=125 => out.push(len as u8),
            len => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    const OK: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

    #[test]
    fn text_frames_become_lines_whatever_the_reads_cut() {
        let mut bytes = OK.to_vec();
        bytes.extend(server_frame(OP_TEXT, b"USERNAME:"));
        bytes.extend(server_frame(OP_TEXT, &[b'x'; 300]));
        bytes.extend(server_frame(OP_TEXT, b"[14:05] bench-7-1: 3 99 xx"));
        let mut expected = b"USERNAME:\n".to_vec();
        expected.extend_from_slice(&[b'x'; 300]);
        expected.extend_from_slice(b"\n[14:05] bench-7-1: 3 99 xx\n");
        for cut in [1, 2, 3, 7, 50, 1000] {
            let (mut link, mut lines, mut out) = (Link::new(0), Vec::new(), Vec::new());
            for chunk in bytes.chunks(cut) {
                assert_eq!(link.take(chunk, &mut lines, &mut out), Ok(Arrived::Open), "chunks of {cut}");
            }
            assert_eq!(lines, expected, "chunks of {cut}");
            assert!(out.is_empty());
        }
    }

    #[test]
    fn a_refusal_a_close_and_a_fragment_end_the_client() {
        let (mut lines, mut out) = (Vec::new(), Vec::new());
        let refused = Link::new(0).take(b"HTTP/1.1 403 Forbidden\r\n\r\n", &mut lines, &mut out);
        assert_eq!(refused, Err("refused: HTTP/1.1 403 Forbidden".to_owned()));
        let mut closing = OK.to_vec();
        closing.extend(server_frame(OP_TEXT, b"Goodbye!"));
        closing.extend(server_frame(OP_CLOSE, &1000u16.to_be_bytes()));
        assert_eq!(Link::new(0).take(&closing, &mut lines, &mut out), Ok(Arrived::Closed));
        assert_eq!(lines, b"Goodbye!\n", "the lines before the close count");
        let mut fragment = OK.to_vec();
        fragment.extend([OP_TEXT, 1, b'a']);
        assert!(Link::new(0).take(&fragment, &mut lines, &mut out).is_err());
    }

    #[test]
    fn staged_lines_go_out_as_masked_text_frames() {
        let mut link = Link::new(7);
        link.staged().extend_from_slice(b"bench-7-0\n/join bench-1\n");
        let mut out = Vec::new();
        link.frame_staged(&mut out);
        let mut lines = Vec::new();
        let mut rest = &out[..];
        while !rest.is_empty() {
            assert_eq!(rest[0], 0x81, "final text frame");
            assert_eq!(rest[1] & 0x80, 0x80, "masked");
            let len = usize::from(rest[1] & 0x7f);
            let mask = &rest[2..6];
            lines.extend(rest[6..6 + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            lines.push(b'\n');
            rest = &rest[6 + len..];
        }
        assert_eq!(lines, b"bench-7-0\n/join bench-1\n");
        assert!(link.staged().is_empty());
    }
}
