//! What each line from the server becomes: the text to show (coloured or not, or nothing for a question that
//! becomes the prompt) and the event the main thread needs.

use crate::client::events::Event;
use crate::client::incoming::{Kind, Recognizer};
use crate::client::paint::Painter;

/// Turns server lines into screen lines and events, in order.
#[derive(Debug)]
pub(crate) struct Screen {
    recognizer: Recognizer,
    painter: Painter,
    /// The line editor shows the username question as its prompt, so it is not printed as a line.
    question_is_prompt: bool,
}

impl Screen {
    pub(crate) fn new(painter: Painter, question_is_prompt: bool) -> Screen {
        Screen { recognizer: Recognizer::new(), painter, question_is_prompt }
    }

    /// One line from the server, without its terminator, already decoded.
    pub(crate) fn receive(&mut self, raw: &str) -> (Option<String>, Event) {
        let line = printable(raw);
        let incoming = self.recognizer.recognize(&line);
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

/// The line without control characters other than tab. Charla servers already remove them; this keeps any
/// other server from moving the cursor or recolouring the terminal.
fn printable(line: &str) -> String {
    line.chars().filter(|&c| !c.is_control() || c == '\t').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_becomes_the_prompt_in_a_terminal_and_a_line_otherwise() {
        let mut terminal = Screen::new(Painter::new(false), true);
        assert_eq!(terminal.receive("USUARIO:"), (None, Event::AskName("USUARIO:".to_owned())));
        let mut piped = Screen::new(Painter::new(false), false);
        assert_eq!(piped.receive("USUARIO:"), (Some("USUARIO:".to_owned()), Event::AskName("USUARIO:".to_owned())));
    }

    #[test]
    fn the_welcome_tells_whose_messages_are_ours() {
        let mut screen = Screen::new(Painter::new(true), true);
        let (shown, event) = screen.receive("Bienvenido Juan!");
        assert_eq!(event, Event::Welcomed);
        assert!(shown.is_some_and(|s| s.contains("\x1b[1;")), "own name in bold");
        let (shown, event) = screen.receive("[14:35] Juan: Hola");
        assert_eq!(event, Event::Shown);
        assert!(shown.is_some_and(|s| s.contains("\x1b[1;")), "own name in bold");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut screen = Screen::new(Painter::new(false), false);
        assert_eq!(
            screen.receive("[14:35] Eve: \x1b[2Jboo\x07\tok"),
            (Some("[14:35] Eve: [2Jboo\tok".to_owned()), Event::Shown)
        );
    }
}
