//! The WebSocket protocol (RFC 6455) as a sans-I/O codec: client frames in, chat lines out; chat lines in,
//! server frames out. No sockets here: `web.rs` drives it.
//!
//! One chat line is one text message, both ways. Client frames must be masked; fragmented messages are put back
//! together; pings are answered; a close is answered with a close. A frame or message longer than the line cap,
//! invalid UTF-8, a binary message, an unmasked frame, reserved bits or opcodes: each ends the connection with
//! the close code RFC 6455 names for it. Only an unfinished frame is held between reads, bounded by the line cap.

use std::ops::ControlFlow;

/// The GUID RFC 6455 (section 1.3) appends to a client's key to make the accept key.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// The most a control frame (close, ping, pong) may carry (RFC 6455, section 5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
const MAX_HEADER_BYTES: usize = 14;

/// Close status codes (RFC 6455, section 7.4.1).
pub(crate) mod close_code {
    pub(crate) const NORMAL: u16 = 1000;
    pub(crate) const PROTOCOL_ERROR: u16 = 1002;
    pub(crate) const UNSUPPORTED_DATA: u16 = 1003;
    pub(crate) const INVALID_PAYLOAD: u16 = 1007;
    pub(crate) const MESSAGE_TOO_BIG: u16 = 1009;
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`: base64 of SHA-1 of the key and the GUID.
pub fn accept_key(client_key: &str) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(client_key.trim().as_bytes());
    context.update(ACCEPT_GUID.as_bytes());
    base64(context.finish().as_ref())
}

/// Standard base64 with padding (RFC 4648, section 4): 20 bytes of SHA-1 need nothing more.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What a client sent, once a frame or message is whole.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A whole text message: one chat line, valid UTF-8, within the line cap.
    Text(&'a [u8]),
    /// A ping, to be answered with a pong carrying the same bytes.
    Ping(&'a [u8]),
    /// The client closes, with this status code if it gave one.
    Close(Option<u16>),
}

/// Why the connection must end: the close code to send, and a reason for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
}

impl Violation {
    fn protocol(reason: &'static str) -> Violation {
        Violation { code: close_code::PROTOCOL_ERROR, reason }
    }
}

/// A frame's fixed part.
struct Header {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Header bytes, then payload bytes.
    header_len: usize,
    payload_len: usize,
}

/// Decoding state for one connection's client frames.
#[derive(Debug)]
pub struct FrameDecoder {
    /// The longest message accepted, in bytes.
    max_message: usize,
    /// Bytes of a frame not yet whole. Empty (and without memory) between frames.
    pending: Vec<u8>,
    /// A text message being put together from fragments. Empty (and without memory) between messages.
    message: Vec<u8>,
    /// Whether fragments of a text message are arriving.
    in_message: bool,
}

impl FrameDecoder {
    pub fn new(max_message: usize) -> FrameDecoder {
        FrameDecoder { max_message, pending: Vec::new(), message: Vec::new(), in_message: false }
    }

    /// Decodes `input` after what is pending, calling `each` for every whole message and control frame, in
    /// order. Stops at the first violation, or when `each` returns `Break` (after a close).
    pub fn push(
        &mut self,
        input: &[u8],
        mut each: impl FnMut(Incoming<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, Violation> {
        let mut data = std::mem::take(&mut self.pending);
        let bytes: &[u8] = if data.is_empty() {
            input
        } else {
            data.extend_from_slice(input);
            &data
        };
        let mut used = 0;
        let result = loop {
            let Some(header) = parse_header(&bytes[used..])? else { break Ok(ControlFlow::Continue(())) };
            self.check(&header)?;
            let frame_len = header.header_len + header.payload_len;
            if bytes.len() - used < frame_len {
                break Ok(ControlFlow::Continue(()));
            }
            let mut payload = bytes[used + header.header_len..used + frame_len].to_vec();
            unmask(&mut payload, header.mask);
            used += frame_len;
            if self.handle(&header, &payload, &mut each)?.is_break() {
                break Ok(ControlFlow::Break(()));
            }
        };
        let rest = &bytes[used..];
        if result.as_ref().is_ok_and(|flow| flow.is_continue()) && !rest.is_empty() {
            self.pending = rest.to_vec();
        }
        result
    }

    /// Refuses a frame as soon as its header is known to be one this server does not take.
    fn check(&self, header: &Header) -> Result<(), Violation> {
        let control = header.opcode & 0x8 != 0;
        if control && (!header.fin || header.payload_len > MAX_CONTROL_PAYLOAD) {
            return Err(Violation::protocol("a control frame fragmented or over 125 bytes"));
        }
        if !control && self.message.len().saturating_add(header.payload_len) > self.max_message {
            return Err(Violation { code: close_code::MESSAGE_TOO_BIG, reason: "a message longer than the line cap" });
        }
        Ok(())
    }

    fn handle(
        &mut self,
        header: &Header,
        payload: &[u8],
        each: &mut impl FnMut(Incoming<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, Violation> {
        match header.opcode {
            // Text, or a continuation of one.
            0x1 | 0x0 => {
                if (header.opcode == 0x1) == self.in_message {
                    return Err(Violation::protocol("a continuation without a message, or a message inside one"));
                }
                self.in_message = !header.fin;
                if header.fin && self.message.is_empty() {
                    // The common case, one frame per line: no copy into the message buffer.
                    return text(payload, each);
                }
                self.message.extend_from_slice(payload);
                if !header.fin {
                    return Ok(ControlFlow::Continue(()));
                }
                let message = std::mem::take(&mut self.message);
                text(&message, each)
            }
            0x2 => Err(Violation { code: close_code::UNSUPPORTED_DATA, reason: "a binary message" }),
            0x8 => {
                let code = match payload {
                    [] => None,
                    [_] => return Err(Violation::protocol("a close frame with a one-byte body")),
                    [high, low, reason @ ..] => {
                        if std::str::from_utf8(reason).is_err() {
                            return Err(Violation {
                                code: close_code::INVALID_PAYLOAD,
                                reason: "a close reason not UTF-8",
                            });
                        }
                        Some(u16::from_be_bytes([*high, *low]))
                    }
                };
                Ok(each(Incoming::Close(code)))
            }
            0x9 => Ok(each(Incoming::Ping(payload))),
            // A pong answers nothing the server sent; it is allowed and ignored.
            0xA => Ok(ControlFlow::Continue(())),
            _ => Err(Violation::protocol("a reserved opcode")),
        }
    }
}

fn text(message: &[u8], each: &mut impl FnMut(Incoming<'_>) -> ControlFlow<()>) -> Result<ControlFlow<()>, Violation> {
    if std::str::from_utf8(message).is_err() {
        return Err(Violation { code: close_code::INVALID_PAYLOAD, reason: "a text message not UTF-8" });
    }
    Ok(each(Incoming::Text(message)))
}

/// Reads a frame header, if all of it has arrived. Client frames must be masked, with no reserved bits set.
fn parse_header(bytes: &[u8]) -> Result<Option<Header>, Violation> {
    let [first, second, ..] = *bytes else { return Ok(None) };
    if first & 0x70 != 0 {
        return Err(Violation::protocol("reserved bits set"));
    }
    if second & 0x80 == 0 {
        return Err(Violation::protocol("an unmasked client frame"));
    }
    let (payload_len, at) = match second & 0x7f {
        126 => match bytes.get(2..4) {
            Some(len) => (usize::from(u16::from_be_bytes([len[0], len[1]])), 4),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(len) => {
                let mut eight = [0u8; 8];
                eight.copy_from_slice(len);
                // A length past what any chat line could be is refused by `check`; saturate rather than wrap.
                (usize::try_from(u64::from_be_bytes(eight)).unwrap_or(usize::MAX), 10)
            }
            None => return Ok(None),
        },
        short => (usize::from(short), 2),
    };
    let Some(mask) = bytes.get(at..at + 4) else { return Ok(None) };
    let header_len = at + 4;
    debug_assert!(header_len <= MAX_HEADER_BYTES);
    Ok(Some(Header {
        fin: first & 0x80 != 0,
        opcode: first & 0x0f,
        mask: [mask[0], mask[1], mask[2], mask[3]],
        header_len,
        payload_len: payload_len.min(usize::MAX - header_len),
    }))
}

fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
}

/// Appends one server frame (unmasked, final) to `out`.
pub fn encode_frame(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xffff => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` to `out`.
pub(crate) fn encode_close(code: u16, out: &mut Vec<u8>) {
    encode_frame(0x8, &code.to_be_bytes(), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame, masked with a fixed key.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
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

    fn decode_all(decoder: &mut FrameDecoder, input: &[u8]) -> (Vec<String>, Result<ControlFlow<()>, Violation>) {
        let mut seen = Vec::new();
        let result = decoder.push(input, |incoming| {
            seen.push(match incoming {
                Incoming::Text(t) => format!("text {}", String::from_utf8_lossy(t)),
                Incoming::Ping(p) => format!("ping {}", String::from_utf8_lossy(p)),
                Incoming::Close(code) => format!("close {code:?}"),
            });
            ControlFlow::Continue(())
        });
        (seen, result)
    }

    #[test]
    fn the_accept_key_is_the_one_rfc_6455_gives() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn masked_text_frames_split_anywhere_come_out_whole() {
        let mut input = client_frame(true, 0x1, "hola ñandú".as_bytes());
        input.extend(client_frame(true, 0x9, b"are you there"));
        input.extend(client_frame(false, 0x1, b"frag"));
        input.extend(client_frame(true, 0x0, b"mented"));
        for cut in 0..input.len() {
            let mut decoder = FrameDecoder::new(4096);
            let (mut seen, first) = decode_all(&mut decoder, &input[..cut]);
            assert!(first.is_ok());
            let (rest, second) = decode_all(&mut decoder, &input[cut..]);
            assert!(second.is_ok());
            seen.extend(rest);
            assert_eq!(seen, ["text hola ñandú", "ping are you there", "text fragmented"], "cut at {cut}");
            assert!(decoder.pending.is_empty() && decoder.message.capacity() == 0);
        }
    }

    #[test]
    fn violations_get_the_close_code_rfc_6455_names() {
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (
                {
                    let mut f = client_frame(true, 0x1, b"x");
                    f[1] &= 0x7f;
                    f
                },
                close_code::PROTOCOL_ERROR,
            ),
            (
                {
                    let mut f = client_frame(true, 0x1, b"x");
                    f[0] |= 0x40;
                    f
                },
                close_code::PROTOCOL_ERROR,
            ),
            (client_frame(true, 0x3, b"x"), close_code::PROTOCOL_ERROR),
            (client_frame(true, 0x2, b"bin"), close_code::UNSUPPORTED_DATA),
            (client_frame(true, 0x1, &[0xff, 0xfe]), close_code::INVALID_PAYLOAD),
            (client_frame(true, 0x1, &[b'a'; 4097]), close_code::MESSAGE_TOO_BIG),
            (client_frame(false, 0x9, b"p"), close_code::PROTOCOL_ERROR),
            (client_frame(true, 0x0, b"orphan"), close_code::PROTOCOL_ERROR),
            (client_frame(true, 0x9, &[0; 126]), close_code::PROTOCOL_ERROR),
        ];
        for (input, code) in cases {
            let mut decoder = FrameDecoder::new(4096);
            let (_, result) = decode_all(&mut decoder, &input);
            assert_eq!(result.map_err(|v| v.code), Err(code), "{input:02x?}");
        }
    }

    #[test]
    fn a_header_announcing_gigabytes_is_refused_before_any_payload_arrives() {
        let header = [0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
        let mut decoder = FrameDecoder::new(4096);
        let (_, result) = decode_all(&mut decoder, &header);
        assert_eq!(result.map_err(|v| v.code), Err(close_code::MESSAGE_TOO_BIG));
    }

    #[test]
    fn a_fragment_announcing_almost_everything_cannot_wrap_past_the_cap() {
        // Found by fuzzing: a continuation whose length, added to the message so far, overflows.
        let mut input = client_frame(false, 0x1, b"start");
        input.extend_from_slice(&[0x80, 0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0, 1, 2, 3, 4]);
        let mut decoder = FrameDecoder::new(4096);
        let (_, result) = decode_all(&mut decoder, &input);
        assert_eq!(result.map_err(|v| v.code), Err(close_code::MESSAGE_TOO_BIG));
    }

    #[test]
    fn fragments_count_together_against_the_cap() {
        let mut input = client_frame(false, 0x1, &[b'a'; 3000]);
        input.extend(client_frame(true, 0x0, &[b'b'; 3000]));
        let mut decoder = FrameDecoder::new(4096);
        let (_, result) = decode_all(&mut decoder, &input);
        assert_eq!(result.map_err(|v| v.code), Err(close_code::MESSAGE_TOO_BIG));
    }

    #[test]
    fn a_close_is_reported_with_its_code() {
        let mut decoder = FrameDecoder::new(4096);
        let (seen, _) = decode_all(&mut decoder, &client_frame(true, 0x8, &[0x03, 0xe8, b'b', b'y', b'e']));
        assert_eq!(seen, ["close Some(1000)"]);
        let (seen, _) = decode_all(&mut decoder, &client_frame(true, 0x8, &[]));
        assert_eq!(seen, ["close None"]);
    }

    #[test]
    fn server_frames_are_unmasked_with_the_shortest_length() {
        let mut out = Vec::new();
        encode_frame(0x1, b"hola", &mut out);
        assert_eq!(out, [0x81, 4, b'h', b'o', b'l', b'a']);
        out.clear();
        encode_frame(0x1, &[b'x'; 300], &mut out);
        assert_eq!(&out[..4], &[0x81, 126, 0x01, 0x2c]);
        out.clear();
        encode_close(1001, &mut out);
        assert_eq!(out, [0x88, 2, 0x03, 0xe9]);
    }
}
