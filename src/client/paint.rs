//! Colours for a terminal: each user name in its own colour, the same one every time; one's own name in bold;
//! errors in red; the `#room` tag of a line from a room other than the current one in that room's colour. Off
//! unless the output is a terminal, and off when `NO_COLOR` is set and not empty.

use std::ffi::OsStr;
use std::hash::{Hash, Hasher};

use crate::client::incoming::{Incoming, Kind};
use crate::core::names::NameKey;

/// The foreground colours names are drawn in (ANSI SGR codes): the normal and bright ones, without black,
/// white and grey, which vanish on some backgrounds.
pub(crate) const PALETTE: [u8; 12] = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];
const RED: u8 = 31;
const BOLD: u8 = 1;
const RESET: &str = "\x1b[0m";

/// Whether to colour: only for a terminal, and never when `NO_COLOR` (given here) is set and not empty.
pub(crate) fn colour_wanted(stdout_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stdout_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// The palette colour of a name. Names that are the same user (`María`, `maría`) get the same colour, on every
/// run and every machine: the hash is FNV-1a, which has no random seed. Rooms are coloured the same way, by
/// their name without the `#` (`#Cocina` and `#cocina` are one room).
pub fn colour_of(name: &str) -> u8 {
    let mut hasher = Fnv1a::default();
    NameKey::of(name).hash(&mut hasher);
    PALETTE[(hasher.finish() % PALETTE.len() as u64) as usize]
}

/// Paints recognised lines; a no-op when colour is off.
#[derive(Debug)]
pub(crate) struct Painter {
    enabled: bool,
    own: Option<NameKey>,
}

impl Painter {
    pub(crate) fn new(enabled: bool) -> Painter {
        Painter { enabled, own: None }
    }

    /// The name the server welcomed us with, or gave us with `/nick`: it is drawn in bold.
    pub(crate) fn set_own_name(&mut self, name: &str) {
        self.own = Some(NameKey::of(name));
    }

    /// The line as it should appear on screen.
    pub(crate) fn paint(&self, line: &str, incoming: &Incoming) -> String {
        if !self.enabled {
            return line.to_owned();
        }
        if incoming.kind == Kind::Error {
            return format!("\x1b[{RED}m{line}{RESET}");
        }
        let mut out = String::with_capacity(line.len() + 16 * incoming.names.len());
        let mut from = 0;
        for range in &incoming.names {
            // Names come in order and never overlap; anything else is not a name to paint.
            if range.start < from || range.end > line.len() {
                continue;
            }
            let name = &line[range.clone()];
            let colour = colour_of(name);
            out.push_str(&line[from..range.start]);
            if self.own.as_ref() == Some(&NameKey::of(name)) {
                out.push_str(&format!("\x1b[{BOLD};{colour}m{name}{RESET}"));
            } else {
                out.push_str(&format!("\x1b[{colour}m{name}{RESET}"));
            }
            from = range.end;
        }
        out.push_str(&line[from..]);
        out
    }

    /// A line from a room that is not the current one: its `#room` tag, set apart in the room's colour, then
    /// the line itself painted as usual. Without colour, exactly as the server sent it.
    pub(crate) fn paint_tagged(&self, tag: &str, line: &str, incoming: &Incoming) -> String {
        if !self.enabled {
            return format!("{tag} {line}");
        }
        let colour = colour_of(tag.strip_prefix('#').unwrap_or(tag));
        format!("\x1b[{colour}m{tag}{RESET} {}", self.paint(line, incoming))
    }
}

/// The 64-bit FNV-1a hash: tiny, seedless, good enough to spread names over a palette.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::incoming::Recognizer;

    fn paint(painter: &Painter, line: &str) -> String {
        painter.paint(line, &Recognizer::new().recognize(line))
    }

    #[test]
    fn no_color_and_pipes_turn_colour_off() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some(OsStr::new(""))));
        assert!(!colour_wanted(true, Some(OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
    }

    #[test]
    fn the_same_user_always_gets_the_same_colour() {
        assert_eq!(colour_of("María"), colour_of("maría"));
        assert_eq!(colour_of("Pedro"), colour_of("Pedro"));
        let distinct: std::collections::HashSet<u8> =
            ["Ana", "Bea", "Juan", "María", "Pedro", "Zoe", "Luis", "Eva"].iter().map(|n| colour_of(n)).collect();
        assert!(distinct.len() > 3, "names should spread over the palette: {distinct:?}");
    }

    #[test]
    fn names_are_coloured_and_ones_own_is_bold() {
        let mut painter = Painter::new(true);
        painter.set_own_name("Juan");
        let maria = colour_of("María");
        let juan = colour_of("Juan");
        assert_eq!(paint(&painter, "[14:30] María: Hola"), format!("[14:30] \x1b[{maria}mMaría\x1b[0m: Hola"));
        assert_eq!(paint(&painter, "[14:35] Juan: Hola"), format!("[14:35] \x1b[1;{juan}mJuan\x1b[0m: Hola"));
        assert_eq!(
            paint(&painter, "*** María se ha unido al chat"),
            format!("*** \x1b[{maria}mMaría\x1b[0m se ha unido al chat")
        );
        assert_eq!(paint(&painter, "Error: x"), "\x1b[31mError: x\x1b[0m");
        assert_eq!(paint(&painter, "Historial:"), "Historial:");
    }

    #[test]
    fn without_colour_lines_are_untouched() {
        let painter = Painter::new(false);
        assert_eq!(paint(&painter, "[14:30] María: Hola"), "[14:30] María: Hola");
        assert_eq!(paint(&painter, "Error: x"), "Error: x");
        let line = "[14:30] Ana: hola";
        assert_eq!(
            painter.paint_tagged("#cocina", line, &Recognizer::new().recognize(line)),
            "#cocina [14:30] Ana: hola"
        );
    }

    #[test]
    fn a_rooms_tag_takes_the_rooms_colour_and_the_rest_is_painted_as_usual() {
        let mut painter = Painter::new(true);
        painter.set_own_name("Ana");
        let (cocina, ana) = (colour_of("cocina"), colour_of("Ana"));
        let line = "[14:30] Ana: hola";
        assert_eq!(
            painter.paint_tagged("#cocina", line, &Recognizer::new().recognize(line)),
            format!("\x1b[{cocina}m#cocina\x1b[0m [14:30] \x1b[1;{ana}mAna\x1b[0m: hola")
        );
        assert_eq!(colour_of("Cocina"), cocina, "one room, one colour");
    }

    #[test]
    fn actions_and_both_names_of_a_rename_are_coloured() {
        let painter = Painter::new(true);
        let (juan, juanito) = (colour_of("Juan"), colour_of("Juanito"));
        assert_eq!(paint(&painter, "[14:30] * Juan waves"), format!("[14:30] * \x1b[{juan}mJuan\x1b[0m waves"));
        assert_eq!(
            paint(&painter, "*** Juan is now known as Juanito"),
            format!("*** \x1b[{juan}mJuan\x1b[0m is now known as \x1b[{juanito}mJuanito\x1b[0m")
        );
    }
}
