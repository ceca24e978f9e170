//! Property tests of the WebSocket frame decoder: whatever the messages and however their bytes are split into
//! reads, the same text messages come out, in order; and any bytes at all decode or stop without panicking.

use std::ops::ControlFlow;

use charla::server::websocket::{FrameDecoder, Incoming};
use proptest::prelude::*;

/// A masked client frame, as a browser sends it.
fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// Decodes `chunks` in order; the text messages, and the close code of a violation if any.
fn decode(chunks: &[&[u8]], cap: usize) -> (Vec<String>, Option<u16>) {
    let mut decoder = FrameDecoder::new(cap);
    let mut texts = Vec::new();
    for chunk in chunks {
        let result = decoder.push(chunk, |incoming| {
            if let Incoming::Text(text) = incoming {
                texts.push(String::from_utf8(text.to_vec()).expect("text messages are UTF-8"));
            }
            ControlFlow::Continue(())
        });
        if let Err(violation) = result {
            return (texts, Some(violation.code));
        }
    }
    (texts, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn messages_come_out_whole_however_the_bytes_are_split(
        messages in prop::collection::vec(("[a-zA-Z0-9 áéñ¿?]{0,300}", 1usize..4, any::<[u8; 4]>()), 0..8),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut bytes = Vec::new();
        for (text, parts, mask) in &messages {
            // Each message in `parts` fragments, split on character boundaries.
            let chars: Vec<char> = text.chars().collect();
            let per_part = chars.len().div_ceil(*parts).max(1);
            let pieces: Vec<String> = chars.chunks(per_part).map(|c| c.iter().collect()).collect();
            let pieces = if pieces.is_empty() { vec![String::new()] } else { pieces };
            for (i, piece) in pieces.iter().enumerate() {
                let opcode = if i == 0 { 0x1 } else { 0x0 };
                bytes.extend(client_frame(i + 1 == pieces.len(), opcode, piece.as_bytes(), *mask));
            }
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(&bytes[start..cut]);
            start = cut;
        }
        chunks.push(&bytes[start..]);
        let expected: Vec<String> = messages.iter().map(|(text, _, _)| text.clone()).collect();
        prop_assert_eq!(decode(&chunks, 4096), (expected, None));
    }

    #[test]
    fn any_bytes_decode_or_stop_the_same_way_in_one_read_or_two(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        cut in any::<usize>(),
    ) {
        let at = cut % (bytes.len() + 1);
        prop_assert_eq!(decode(&[&bytes], 256), decode(&[&bytes[..at], &bytes[at..]], 256));
    }
}
