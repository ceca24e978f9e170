//! Command parsing: any line parses to something, and what it returns is made of the line's own parts.
#![no_main]

use charla::core::command::{Command, Input, parse_input};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &str| {
    match parse_input(line) {
        Input::Blank => assert!(line.trim().is_empty()),
        Input::Message(text) => {
            assert!(!text.is_empty() && line.ends_with(text));
            if !line.starts_with('/') {
                assert_eq!(text, line, "a line not starting with / is the message itself");
            }
        }
        Input::Command(Command::Whisper { to, text }) => {
            assert!(!to.is_empty() && !to.contains(char::is_whitespace));
            assert!(!text.trim().is_empty() && line.ends_with(text));
        }
        Input::Command(Command::Unknown(word)) => assert!(word.starts_with('/') && line.starts_with(word)),
        Input::Command(_) => assert!(line.starts_with('/')),
    }
});
