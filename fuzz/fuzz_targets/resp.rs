//! RESP2 reply parsing: any bytes parse, ask for more, or are refused, never panic; a reply that parses was
//! "need more bytes" at every shorter length, parses the same on its own, and parses back to itself once
//! encoded again; a stream cut at any point gives the same replies as the stream whole.
#![no_main]

use charla::server::cluster::resp::{RespValue, encode_value, parse};
use libfuzzer_sys::fuzz_target;

/// Every reply at the start of `bytes`, fed in two pieces cut at `cut`, and how the stream ended.
fn replies(bytes: &[u8], cut: usize) -> (Vec<RespValue>, bool) {
    let mut buffer = Vec::new();
    let mut values = Vec::new();
    for piece in [&bytes[..cut], &bytes[cut..]] {
        buffer.extend_from_slice(piece);
        loop {
            match parse(&buffer) {
                Ok(Some((value, taken))) => {
                    assert!(taken > 0 && taken <= buffer.len());
                    values.push(value);
                    buffer.drain(..taken);
                }
                Ok(None) => break,
                Err(_) => return (values, true),
            }
        }
    }
    (values, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else { return };
    if let Ok(Some((value, taken))) = parse(bytes) {
        for shorter in [0, taken / 2, taken - 1] {
            assert_eq!(parse(&bytes[..shorter]), Ok(None), "a prefix of a whole reply is not whole");
        }
        assert_eq!(parse(&bytes[..taken]), Ok(Some((value.clone(), taken))));
        let mut again = Vec::new();
        encode_value(&value, &mut again);
        assert_eq!(parse(&again), Ok(Some((value, again.len()))), "encoded again, it parses to itself");
    }
    let at = usize::from(cut) % (bytes.len() + 1);
    assert_eq!(replies(bytes, bytes.len()), replies(bytes, at), "the same replies however the bytes arrive");
});
