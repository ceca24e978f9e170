//! What each line from the server becomes: the text to show (coloured or not, or nothing for a question that
//! becomes the prompt) and the event the main thread needs.

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
        let incoming = self.recognizer.recognize(&line);
        if self.hides_for_lang_switch(incoming.kind) {
            return (None, Event::Shown);
        }
        let event = match incoming.kind {
            Kind::AskName => Event::AskName(line.clone()),
            Kind::Welcome => {
                if let Some(range) = incoming.name.clone() {
                    self.painter.set_own_name(&line[range]);
                }
                Event::Welcomed
            }
            _ => Event::Shown,
        };
        let shown = if incoming.kind == Kind::AskName && self.question_is_prompt {
            None
        } else {
            Some(self.painter.paint(&line, &incoming))
        };
        (shown, event)
    }
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
    fn control_characters_never_reach_the_terminal() {
        let mut screen = Screen::new(Painter::new(false), false, LangSwitch::Off);
        assert_eq!(
            screen.receive("[14:35] Eve: \x1b[2Jboo\x07\tok"),
            (Some("[14:35] Eve: [2Jboo\tok".to_owned()), Event::Shown)
        );
    }
}
