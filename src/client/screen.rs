//! What each line from the server becomes: the text to show (coloured or not, or nothing for a question that
//! becomes the prompt) and the event the main thread needs. A line from a room that is not the user's current
//! one comes tagged (`#cocina [14:30] Ana: hola`): the tag is set apart, and the line after it recognised as
//! any other; such a line never moves the user between rooms or renames them.

use crate::client::events::Event;
use crate::client::incoming::{Kind, Recognizer};
use crate::client::paint::Painter;

/// Where the client is in switching the server's language: it sends `/lang CODE` right after connecting, and
/// the server's first question and its answer to `/lang` are its business, not the user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LangSwitch {
    /// No switch asked for, or the switch is over: every line is shown.
    Off,
    /// `/lang` was sent: the first username question, asked before the server read it, is hidden.
    AwaitFirstQuestion,
    /// The first question went by: the answer to `/lang` is hidden, whether the confirmation (in the new
    /// language) or an older server's error (it took `/lang es` for a name). The question after it is the
    /// user's.
    AwaitAnswer,
}

/// Turns server lines into screen lines and events, in order.
#[derive(Debug)]
pub(crate) struct Screen {
    recognizer: Recognizer,
    painter: Painter,
    /// The line editor shows the username question as its prompt, so it is not printed as a line.
    question_is_prompt: bool,
    lang_switch: LangSwitch,
}

impl Screen {
    /// `lang_switch` is [`LangSwitch::AwaitFirstQuestion`] when the client has sent `/lang`, else `Off`.
    pub(crate) fn new(painter: Painter, question_is_prompt: bool, lang_switch: LangSwitch) -> Screen {
        Screen { recognizer: Recognizer::new(), painter, question_is_prompt, lang_switch }
    }

    /// One line from the server, without its terminator, already decoded.
    pub(crate) fn receive(&mut self, raw: &str) -> (Option<String>, Event) {
        let line = printable(raw);
        let (tag, body) = split_room_tag(&line);
        let incoming = self.recognizer.recognize(body);
        // A room's broadcast is never part of the language switch, nor an answer to the user.
        let kind = if tag.is_some() { Kind::Other } else { incoming.kind };
        if self.hides_for_lang_switch(kind) {
            return (None, Event::Shown);
        }
        let first_name = incoming.names.first().map(|range| &body[range.clone()]);
        let event = match kind {
            Kind::AskName => Event::AskName(line.clone()),
            Kind::Welcome => {
                if let Some(name) = first_name {
                    self.painter.set_own_name(name);
                }
                Event::Welcomed
            }
            Kind::Renamed => {
                if let Some(name) = first_name {
                    self.painter.set_own_name(name);
                }
                Event::Shown
            }
            Kind::CurrentRoom => Event::Room(incoming.room.clone().map(|range| body[range].to_owned())),
            Kind::NoRoom => Event::Room(None),
            Kind::Error => Event::Refused,
            _ => Event::Shown,
        };
        let shown = match tag {
            _ if kind == Kind::AskName && self.question_is_prompt => None,
            Some(tag) => Some(self.painter.paint_tagged(tag, body, &incoming)),
            None => Some(self.painter.paint(&line, &incoming)),
        };
        (shown, event)
    }
}

/// Splits `#room rest` into the room's tag and the rest; a line without a tag is all rest. Only a room's lines
/// start with `#`: everything else the server sends starts with a letter, `[`, `*` or a space.
fn split_room_tag(line: &str) -> (Option<&str>, &str) {
    let Some((tag, rest)) = line.split_once(' ') else { return (None, line) };
    if tag.len() > 1 && tag.starts_with('#') && !rest.is_empty() { (Some(tag), rest) } else { (None, line) }
}

impl Screen {
    /// Whether a line of this kind is part of the language switch, and so not the user's; advances the switch.
    fn hides_for_lang_switch(&mut self, kind: Kind) -> bool {
        match (self.lang_switch, kind) {
            (LangSwitch::AwaitFirstQuestion, Kind::AskName) => {
                self.lang_switch = LangSwitch::AwaitAnswer;
                true
            }
            (LangSwitch::AwaitAnswer, Kind::LangSet | Kind::Error) => {
                self.lang_switch = LangSwitch::Off;
                true
            }
            // Anything else before the first question (the server is full, say) is the user's to see. After
            // it, a line that is not the answer means the switch is over; the user sees the line and what follows.
            (LangSwitch::AwaitFirstQuestion, _) => false,
            (LangSwitch::AwaitAnswer | LangSwitch::Off, _) => {
                self.lang_switch = LangSwitch::Off;
                false
            }
        }
    }
}

/// The line without control characters other than tab. Charla servers already remove them; this keeps any
/// other server from moving the cursor or recolouring the terminal.
fn printable(line: &str) -> String {
    line.chars().filter(|&c| !c.is_control() || c == '\t').collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::paint::colour_of;

    fn shown(screen: &mut Screen, line: &str) -> Option<String> {
        screen.receive(line).0
    }

    #[test]
    fn a_language_switch_hides_the_first_question_and_its_confirmation() {
        let mut screen = Screen::new(Painter::new(false), false, LangSwitch::AwaitFirstQuestion);
        assert_eq!(screen.receive("USERNAME:"), (None, Event::Shown), "not a question for the user");
        assert_eq!(screen.receive("Idioma cambiado a español"), (None, Event::Shown));
        assert_eq!(screen.receive("USUARIO:"), (Some("USUARIO:".to_owned()), Event::AskName("USUARIO:".to_owned())));
        assert_eq!(
            shown(&mut screen, "Error: el nombre Juan ya está en uso").as_deref(),
            Some("Error: el nombre Juan ya está en uso")
        );
        assert_eq!(shown(&mut screen, "USUARIO:").as_deref(), Some("USUARIO:"));
    }

    #[test]
    fn an_older_servers_refusal_of_lang_is_hidden_too() {
        let mut screen = Screen::new(Painter::new(false), false, LangSwitch::AwaitFirstQuestion);
        assert_eq!(shown(&mut screen, "USERNAME:"), None);
        let refusal =
            "Error: a name has 1 to 32 characters, no spaces or control characters, and does not start with /";
        assert_eq!(shown(&mut screen, refusal), None);
        assert_eq!(screen.receive("USERNAME:"), (Some("USERNAME:".to_owned()), Event::AskName("USERNAME:".to_owned())));
    }

    #[test]
    fn a_refusal_before_any_question_is_shown() {
        let mut screen = Screen::new(Painter::new(false), false, LangSwitch::AwaitFirstQuestion);
        let full = "Error: the server is full; try again later";
        assert_eq!(shown(&mut screen, full).as_deref(), Some(full));
    }

    #[test]
    fn the_question_becomes_the_prompt_in_a_terminal_and_a_line_otherwise() {
        let mut terminal = Screen::new(Painter::new(false), true, LangSwitch::Off);
        assert_eq!(terminal.receive("USUARIO:"), (None, Event::AskName("USUARIO:".to_owned())));
        let mut piped = Screen::new(Painter::new(false), false, LangSwitch::Off);
        assert_eq!(piped.receive("USUARIO:"), (Some("USUARIO:".to_owned()), Event::AskName("USUARIO:".to_owned())));
    }

    #[test]
    fn the_welcome_tells_whose_messages_are_ours() {
        let mut screen = Screen::new(Painter::new(true), true, LangSwitch::Off);
        let (shown, event) = screen.receive("Bienvenido Juan!");
        assert_eq!(event, Event::Welcomed);
        assert!(shown.is_some_and(|s| s.contains("\x1b[1;")), "own name in bold");
        let (shown, event) = screen.receive("[14:35] Juan: Hola");
        assert_eq!(event, Event::Shown);
        assert!(shown.is_some_and(|s| s.contains("\x1b[1;")), "own name in bold");
    }

    #[test]
    fn the_answers_to_join_and_leave_say_where_the_user_is() {
        let mut screen = Screen::new(Painter::new(false), true, LangSwitch::Off);
        assert_eq!(screen.receive("Welcome Ana!").1, Event::Welcomed);
        assert_eq!(
            screen.receive("Now in #cocina"),
            (Some("Now in #cocina".to_owned()), Event::Room(Some("cocina".to_owned())))
        );
        assert_eq!(screen.receive("History:").1, Event::Shown);
        assert_eq!(screen.receive("Ahora estás en #Patio").1, Event::Room(Some("Patio".to_owned())));
        assert_eq!(screen.receive("You left #patio; now in #cocina").1, Event::Room(Some("cocina".to_owned())));
        assert_eq!(
            screen.receive("Has salido de #cocina; no estás en ninguna sala: entra en una con /join para hablar").1,
            Event::Room(None)
        );
        assert_eq!(screen.receive("Error: you are not in #x").1, Event::Refused);
    }

    #[test]
    fn a_rooms_lines_are_tagged_apart_and_never_move_the_user() {
        let mut painter = Painter::new(true);
        painter.set_own_name("Ana");
        let mut screen = Screen::new(painter, true, LangSwitch::Off);
        let (shown, event) = screen.receive("#cocina [14:30] Pedro: hola");
        assert_eq!(event, Event::Shown);
        let (cocina, pedro) = (colour_of("cocina"), colour_of("Pedro"));
        assert_eq!(shown, Some(format!("\x1b[{cocina}m#cocina\x1b[0m [14:30] \x1b[{pedro}mPedro\x1b[0m: hola")));
        // Not even a line that reads like an answer: only the user's own answers are untagged.
        assert_eq!(screen.receive("#cocina Now in #patio").1, Event::Shown);
        assert_eq!(screen.receive("#cocina You are now known as Eve").1, Event::Shown);
        let (shown, _) = screen.receive("[14:31] Ana: sigo aquí");
        assert!(shown.is_some_and(|s| s.contains("\x1b[1;")), "still Ana, in bold");
        let mut plain = Screen::new(Painter::new(false), false, LangSwitch::Off);
        let line = "#cocina *** Pedro joined #cocina";
        assert_eq!(plain.receive(line), (Some(line.to_owned()), Event::Shown), "without colour, as received");
    }

    #[test]
    fn a_new_name_from_nick_is_ours_from_then_on() {
        let mut screen = Screen::new(Painter::new(true), true, LangSwitch::Off);
        screen.receive("Welcome Ana!");
        let (shown, event) = screen.receive("You are now known as Anita");
        assert_eq!(event, Event::Shown);
        assert!(shown.is_some_and(|s| s.contains(&format!("\x1b[1;{}mAnita", colour_of("Anita")))), "bold");
        let (shown, _) = screen.receive("[14:35] Anita: hola");
        assert!(shown.is_some_and(|s| s.contains("\x1b[1;")), "own name in bold");
        let (shown, _) = screen.receive("[14:35] Ana: ¿quién?");
        assert!(shown.is_some_and(|s| !s.contains("\x1b[1;")), "the old name is someone else's now");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut screen = Screen::new(Painter::new(false), false, LangSwitch::Off);
        assert_eq!(
            screen.receive("[14:35] Eve: \x1b[2Jboo\x07\tok"),
            (Some("[14:35] Eve: [2Jboo\tok".to_owned()), Event::Shown)
        );
    }
}
