//! History loading: any bytes either load or are refused, never panic; what loads holds at most the capacity,
//! only messages live input could have sent, and saves back to a file that loads to the same messages.
#![no_main]

use charla::core::chat::MAX_LINE_BYTES;
use charla::core::history::{History, StoredMessage};
use charla::core::names::Name;
use charla::core::text::clean_message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&capacity, bytes)) = data.split_first() else { return };
    let capacity = usize::from(capacity);
    let Ok(history) = History::from_json(bytes, capacity) else { return };
    assert!(history.len() <= capacity);
    for message in history.iter() {
        assert_eq!(Name::parse(&message.user).map(|n| n.as_str().to_owned()), Ok(message.user.clone()));
        assert_eq!(clean_message(&message.text), message.text.as_str());
        assert!(!message.text.trim().is_empty() && message.text.len() <= MAX_LINE_BYTES);
    }
    let saved: Vec<StoredMessage> = history.iter().cloned().collect();
    let reloaded = History::from_json(&history.to_json().expect("serialise"), capacity).expect("our own output loads");
    assert_eq!(reloaded.iter().cloned().collect::<Vec<_>>(), saved);
});
