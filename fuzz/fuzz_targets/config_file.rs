//! The `--config` file reader: any text gives entries or an error on one of its lines, never a panic, and every
//! entry it gives is written back by `Value::to_toml` as text it reads the same way (strings, numbers, arrays).
#![no_main]

use charla::server::config::Value;
use charla::server::config_file::parse;
use libfuzzer_sys::fuzz_target;

/// Whether `to_toml` writes `value` as TOML: no value of another type inside, no escapes (which it writes as
/// Rust does).
fn plain(value: &Value) -> bool {
    match value {
        Value::List(items) => items.iter().all(plain),
        Value::Other(_) => false,
        other => !other.to_toml().contains('\\'),
    }
}

fuzz_target!(|text: &str| {
    let lines = text.matches('\n').count() + 1;
    match parse(text) {
        Ok(entries) => {
            for entry in entries {
                assert!(entry.line >= 1 && entry.line <= lines);
                if plain(&entry.value) {
                    let again = parse(&format!("k = {}\n", entry.value.to_toml())).expect("written back, read again");
                    assert_eq!(again[0].value, entry.value);
                }
            }
        }
        Err(e) => assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line),
    }
});
