//! WebSocket frame decoding: any bytes, in any split, decode without panicking; what comes out is valid UTF-8
//! text within the cap, the same however the input was split, and decoding stops at the first violation.
#![no_main]

use std::ops::ControlFlow;

use charla::server::websocket::{FrameDecoder, Incoming};
use libfuzzer_sys::fuzz_target;

const CAP: usize = 512;

fn decode(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Option<u16>) {
    let mut decoder = FrameDecoder::new(CAP);
    let mut texts = Vec::new();
    for chunk in chunks {
        let result = decoder.push(chunk, |incoming| {
            match incoming {
                Incoming::Text(text) => {
                    assert!(text.len() <= CAP && std::str::from_utf8(text).is_ok());
                    texts.push(text.to_vec());
                }
                Incoming::Ping(payload) => assert!(payload.len() <= 125),
                Incoming::Close(_) => return ControlFlow::Break(()),
            }
            ControlFlow::Continue(())
        });
        match result {
            Ok(ControlFlow::Continue(())) => {}
            Ok(ControlFlow::Break(())) => return (texts, Some(1000)),
            Err(violation) => return (texts, Some(violation.code)),
        }
    }
    (texts, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    let whole = decode(&[bytes]);
    let at = usize::from(cut) % (bytes.len() + 1);
    let split = decode(&[&bytes[..at], &bytes[at..]]);
    assert_eq!(whole, split, "the same frames however the bytes arrive");
});
