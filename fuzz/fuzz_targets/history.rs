//! History loading: any bytes either load or are refused, never panic; what loads holds at most the capacity
//! and saves back to a file that loads to the same messages.
#![no_main]

use charla::core::history::{History, StoredMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&capacity, bytes)) = data.split_first() else { return };
    let capacity = usize::from(capacity);
    let Ok(history) = History::from_json(bytes, capacity) else { return };
    assert!(history.len() <= capacity);
    let saved: Vec<StoredMessage> = history.iter().cloned().collect();
    let reloaded = History::from_json(&history.to_json().expect("serialise"), capacity).expect("our own output loads");
    assert_eq!(reloaded.iter().cloned().collect::<Vec<_>>(), saved);
});
