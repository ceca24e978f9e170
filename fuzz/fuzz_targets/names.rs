//! Name validation: any string is accepted or refused without panicking, and an accepted name is canonical (it
//! parses again to itself) and obeys the documented rules.
#![no_main]

use charla::core::names::{MAX_NAME_CHARS, Name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|proposed: &str| {
    if let Ok(name) = Name::parse(proposed) {
        let s = name.as_str();
        assert!((1..=MAX_NAME_CHARS).contains(&s.chars().count()));
        assert!(s.chars().next().is_some_and(char::is_alphabetic));
        assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control()));
        let again = Name::parse(s).expect("an accepted name parses again");
        assert_eq!(again.as_str(), s);
        assert_eq!(again.shape(), name.shape());
    }
});
