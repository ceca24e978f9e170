//! Line framing: any bytes, split anywhere, with frames refused at will, give the same frames as the bytes framed
//! whole; no line is longer than the limit or holds a newline.
//!
//! The first input byte picks the length limit (small limits make over-long lines common), the next few pick
//! where the rest is cut into reads and which frames the consumer refuses.
#![no_main]

use std::ops::ControlFlow;

use charla::server::framing::{Frame, LineFramer, MAX_LINE_BYTES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&limit_byte, rest)) = data.split_first() else { return };
    let limit = if limit_byte == 0 { MAX_LINE_BYTES } else { usize::from(limit_byte % 16) };
    let (control, bytes) = rest.split_at(rest.len().min(8));

    let mut framer = LineFramer::new(limit);
    let mut whole = Vec::new();
    let _ = framer.push(bytes, |frame| {
        whole.push(own(frame, limit));
        ControlFlow::Continue(())
    });

    // The control bytes' bits: which frames are refused (until they run out), and where the input is cut.
    let mut bits = control.iter().flat_map(|b| (0..8).map(move |i| b >> i & 1 == 1));
    let mut framer = LineFramer::new(limit);
    let mut split = Vec::new();
    let mut offer = |frame: Frame<'_>, out: &mut Vec<Option<Vec<u8>>>| {
        if bits.next() == Some(true) {
            return ControlFlow::Break(());
        }
        out.push(own(frame, limit));
        ControlFlow::Continue(())
    };
    let cut = usize::from(control.first().copied().unwrap_or(0)) + 1;
    for chunk in bytes.chunks(cut) {
        let _ = framer.push(chunk, |f| offer(f, &mut split));
    }
    while framer.push(&[], |f| offer(f, &mut split)).is_break() {}
    assert_eq!(split, whole, "framing depends on how the input was split or refused");
});

fn own(frame: Frame<'_>, limit: usize) -> Option<Vec<u8>> {
    match frame {
        Frame::Line(line) => {
            assert!(line.len() <= limit, "a line of {} bytes passed a limit of {limit}", line.len());
            assert!(!line.contains(&b'\n'), "a line holds a newline");
            Some(line.to_vec())
        }
        Frame::TooLong => None,
    }
}
