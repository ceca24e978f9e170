//! One public message through the sans-I/O core to 1,000 named users: the core renders it and stores it in
//! history, then its recipients are resolved and the shared payload queued for each, as `Connections::apply`
//! does. Emptying the queues between messages is not timed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use charla::core::catalog::HourMinute;
use charla::core::chat::{Chat, ChatConfig, Effect, Now};
use charla::core::history::History;
use charla::server::output::OutputQueue;
use criterion::{Criterion, criterion_group, criterion_main};

const USERS: usize = 1000;

fn fixed_clock(_unix_ms: i64) -> HourMinute {
    HourMinute { hour: 14, minute: 30 }
}

fn now() -> Now {
    Now { mono: Instant::now(), unix_ms: 1_700_000_000_000 }
}

/// A chat with `USERS` named users, ids 0..USERS, and every join notice already taken.
fn full_room() -> Chat {
    let config = ChatConfig::default();
    let mut chat = Chat::new(config.clone(), fixed_clock, History::new(config.history_size));
    let mut effects = Vec::new();
    for id in 0..USERS {
        chat.connect(id, now());
        chat.receive_line(id, format!("user{id}").as_bytes(), now());
        effects.clear();
        chat.take_effects(&mut effects);
    }
    chat
}

/// Carries out send effects the way the connection table does: one shared payload, queued per recipient.
fn apply(chat: &Chat, effects: &mut Vec<Effect>, queues: &mut [OutputQueue]) {
    for effect in effects.drain(..) {
        let Effect::Broadcast { to, payload } = effect else { continue };
        chat.for_each_recipient(to, |id, lang| {
            if let Some(bytes) = payload.get(lang) {
                queues[id].push(bytes.clone());
            }
        });
    }
}

fn broadcast(c: &mut Criterion) {
    let mut chat = full_room();
    let mut queues: Vec<OutputQueue> = (0..USERS).map(|_| OutputQueue::default()).collect();
    let mut effects = Vec::new();
    let line = b"0 123456789 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    // What is timed really reaches everyone: one message, one queued payload per user.
    chat.receive_line(7, line, now());
    chat.take_effects(&mut effects);
    apply(&chat, &mut effects, &mut queues);
    assert!(queues.iter().all(|q| q.queued_bytes() > 0), "every user got the broadcast");
    for queue in &mut queues {
        let _ = queue.flush_to(&mut std::io::sink());
    }
    c.bench_function("broadcast to 1000 named users", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                chat.receive_line(7, black_box(line), now());
                chat.take_effects(&mut effects);
                apply(&chat, &mut effects, &mut queues);
                timed += start.elapsed();
                for queue in &mut queues {
                    // Writing to a sink cannot fail.
                    let _ = queue.flush_to(&mut std::io::sink());
                }
            }
            timed
        })
    });
}

criterion_group!(benches, broadcast);
criterion_main!(benches);
