//! Line framing throughput: a stream of mixed-length lines, fed to `LineFramer` in socket-sized reads.

use std::hint::black_box;
use std::ops::ControlFlow;

use charla::server::framing::{Frame, LineFramer, MAX_LINE_BYTES};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Bytes framed per iteration.
const STREAM_BYTES: usize = 1 << 20;
/// The server's read size: one `read` call's worth of bytes per push.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Lines from a few bytes to near the limit, mostly chat-sized, some CRLF-terminated.
fn mixed_stream() -> Vec<u8> {
    let lengths = [3, 17, 40, 64, 80, 120, 200, 512, 1500, 4000];
    let mut out = Vec::with_capacity(STREAM_BYTES + MAX_LINE_BYTES);
    let mut i = 0usize;
    while out.len() < STREAM_BYTES {
        // Mostly short lines: every third pick is from the long end.
        let len = if i % 3 == 2 { lengths[5 + i % 5] } else { lengths[i % 5] };
        out.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
        out.extend_from_slice(if i.is_multiple_of(4) { b"\r\n" } else { b"\n" });
        i += 1;
    }
    out
}

fn framing(c: &mut Criterion) {
    let stream = mixed_stream();
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("mixed lines, 64 KiB reads", |b| {
        b.iter(|| {
            let mut framer = LineFramer::new(MAX_LINE_BYTES);
            let mut lines = 0usize;
            for chunk in stream.chunks(READ_CHUNK_BYTES) {
                let _ = framer.push(black_box(chunk), |frame| {
                    if let Frame::Line(line) = frame {
                        lines += black_box(line).len() & 1;
                    }
                    ControlFlow::Continue(())
                });
            }
            lines
        })
    });
    group.finish();
}

criterion_group!(benches, framing);
criterion_main!(benches);
