//! Parsing one line from a named user into what it asks for: a public message or a command.
//!
//! An unknown command is a value ([`Command::Unknown`]), not an error: answering it is the dispatcher's job.

/// What a named user's line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// Nothing but whitespace: ignored.
    Blank,
    /// A public message, exactly as typed (a leading `//` has become `/`).
    Message(&'a str),
    Command(Command<'a>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Help,
    Users,
    Whisper {
        to: &'a str,
        text: &'a str,
    },
    /// `/whisper` without a recipient or without text.
    WhisperUsage,
    /// `/lang CODE` switches the user's language; `/lang` alone says which it is.
    Lang(Option<&'a str>),
    /// `/join ROOM`: the room's name as typed (with or without `#`); `None` without one.
    Join(Option<&'a str>),
    /// `/leave [ROOM]`: the current room without one.
    Leave(Option<&'a str>),
    Rooms,
    /// `/me ACTION`: the action text, never empty.
    Me(&'a str),
    /// `/me` without an action.
    MeUsage,
    /// `/nick NAME`; `None` without one.
    Nick(Option<&'a str>),
    Quit,
    /// The first word of the line, as typed.
    Unknown(&'a str),
}

/// Parses one line (without its terminator). Command names ignore ASCII case; `//text` sends `/text` as a
/// public message, so a message may begin with a slash.
pub fn parse_input(line: &str) -> Input<'_> {
    if line.trim().is_empty() {
        return Input::Blank;
    }
    if line.starts_with("//") {
        return Input::Message(&line[1..]);
    }
    let Some(after_slash) = line.strip_prefix('/') else {
        return Input::Message(line);
    };
    let (word, rest) = split_word(after_slash);
    let command = if word.eq_ignore_ascii_case("help") {
        Command::Help
    } else if word.eq_ignore_ascii_case("users") {
        Command::Users
    } else if word.eq_ignore_ascii_case("quit") {
        Command::Quit
    } else if word.eq_ignore_ascii_case("whisper") {
        parse_whisper(rest)
    } else if word.eq_ignore_ascii_case("lang") {
        Command::Lang(first_word(rest))
    } else if word.eq_ignore_ascii_case("join") {
        Command::Join(first_word(rest))
    } else if word.eq_ignore_ascii_case("leave") || word.eq_ignore_ascii_case("part") {
        Command::Leave(first_word(rest))
    } else if word.eq_ignore_ascii_case("rooms") {
        Command::Rooms
    } else if word.eq_ignore_ascii_case("me") {
        if rest.trim().is_empty() { Command::MeUsage } else { Command::Me(rest.trim_end()) }
    } else if word.eq_ignore_ascii_case("nick") {
        Command::Nick(first_word(rest))
    } else {
        Command::Unknown(&line[..word.len() + 1])
    };
    Input::Command(command)
}

fn parse_whisper(args: &str) -> Command<'_> {
    let (to, text) = split_word(args.trim_start());
    if to.is_empty() || text.trim().is_empty() {
        return Command::WhisperUsage;
    }
    Command::Whisper { to, text }
}

/// The first word of a command's arguments, if there is one.
fn first_word(args: &str) -> Option<&str> {
    let (word, _) = split_word(args.trim_start());
    (!word.is_empty()).then_some(word)
}

/// Splits off the first whitespace-delimited word; the rest starts after the whitespace that ended it.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(end) => {
            let rest = &s[end..];
            (&s[..end], rest.trim_start())
        }
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_messages() {
        assert_eq!(parse_input("Hola! ¿Cómo están?"), Input::Message("Hola! ¿Cómo están?"));
        assert_eq!(parse_input("  indented"), Input::Message("  indented"));
        assert_eq!(parse_input(" \t "), Input::Blank);
        assert_eq!(parse_input(""), Input::Blank);
    }

    #[test]
    fn double_slash_escapes_a_leading_slash() {
        assert_eq!(parse_input("//help is not a command"), Input::Message("/help is not a command"));
    }

    #[test]
    fn commands_parse_ignoring_case_and_extra_words() {
        assert_eq!(parse_input("/help"), Input::Command(Command::Help));
        assert_eq!(parse_input("/HELP me"), Input::Command(Command::Help));
        assert_eq!(parse_input("/users"), Input::Command(Command::Users));
        assert_eq!(parse_input("/quit now"), Input::Command(Command::Quit));
        assert_eq!(parse_input("/dance now"), Input::Command(Command::Unknown("/dance")));
        assert_eq!(parse_input("/"), Input::Command(Command::Unknown("/")));
    }

    #[test]
    fn lang_takes_an_optional_code() {
        assert_eq!(parse_input("/lang es"), Input::Command(Command::Lang(Some("es"))));
        assert_eq!(parse_input("/LANG  en  extra"), Input::Command(Command::Lang(Some("en"))));
        assert_eq!(parse_input("/lang"), Input::Command(Command::Lang(None)));
        assert_eq!(parse_input("/lang   "), Input::Command(Command::Lang(None)));
    }

    #[test]
    fn room_commands_take_their_arguments() {
        assert_eq!(parse_input("/join #cocina"), Input::Command(Command::Join(Some("#cocina"))));
        assert_eq!(parse_input("/JOIN  cocina extra"), Input::Command(Command::Join(Some("cocina"))));
        assert_eq!(parse_input("/join"), Input::Command(Command::Join(None)));
        assert_eq!(parse_input("/leave"), Input::Command(Command::Leave(None)));
        assert_eq!(parse_input("/part cocina"), Input::Command(Command::Leave(Some("cocina"))));
        assert_eq!(parse_input("/rooms"), Input::Command(Command::Rooms));
        assert_eq!(parse_input("/me waves  at   all "), Input::Command(Command::Me("waves  at   all")));
        assert_eq!(parse_input("/me   "), Input::Command(Command::MeUsage));
        assert_eq!(parse_input("/nick Juanito"), Input::Command(Command::Nick(Some("Juanito"))));
        assert_eq!(parse_input("/nick"), Input::Command(Command::Nick(None)));
    }

    #[test]
    fn whisper_takes_a_recipient_and_the_rest_of_the_line() {
        assert_eq!(
            parse_input("/whisper María Hola María, ¿cómo estás?"),
            Input::Command(Command::Whisper { to: "María", text: "Hola María, ¿cómo estás?" })
        );
        assert_eq!(
            parse_input("/whisper   Pedro   two  spaces"),
            Input::Command(Command::Whisper { to: "Pedro", text: "two  spaces" })
        );
        assert_eq!(parse_input("/whisper"), Input::Command(Command::WhisperUsage));
        assert_eq!(parse_input("/whisper Pedro"), Input::Command(Command::WhisperUsage));
        assert_eq!(parse_input("/whisper Pedro   "), Input::Command(Command::WhisperUsage));
    }
}
