//! History persistence: serialise and atomically save (write, fsync, rename, fsync the directory), and load
//! and parse, for the default 50 messages and for 10,000.

use std::hint::black_box;

use charla::core::history::{History, StoredMessage};
use charla::server::history_file;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn filled(messages: usize) -> History {
    let mut history = History::new(messages);
    for i in 0..messages {
        history.push(StoredMessage {
            ts: 1_700_000_000_000 + i as i64 * 1000,
            user: format!("user{}", i % 37),
            text: format!("message number {i}, with some ordinary chat text in it"),
            action: false,
        });
    }
    history
}

fn history(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory for the history file");
    let path = dir.path().join("chat_history.json");
    let mut group = c.benchmark_group("history");
    for messages in [50, 10_000] {
        let history = filled(messages);
        group.bench_with_input(BenchmarkId::new("save", messages), &history, |b, history| {
            b.iter(|| history_file::save(&path, &history.to_json().expect("serialise history")).expect("save history"))
        });
        history_file::save(&path, &history.to_json().expect("serialise history")).expect("save history");
        group.bench_with_input(BenchmarkId::new("load", messages), &messages, |b, &messages| {
            b.iter(|| {
                let (loaded, _) = history_file::load(&path, messages, 0).expect("load history");
                black_box(loaded.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, history);
criterion_main!(benches);
