//! Message cleaning: any bytes decode and clean without panicking; the result has no control, bidi or line
//! separator characters, and cleaning it again changes nothing.
#![no_main]

use charla::core::text::{clean_message, decode_lossy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = decode_lossy(bytes);
    assert!(text.len() <= 3 * bytes.len());
    let clean = clean_message(&text);
    assert!(!clean.chars().any(|c| (c.is_control() && c != '\t')
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')));
    assert_eq!(clean_message(&clean), clean);
});
