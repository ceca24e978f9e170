//! The `--config` file: TOML with one level of `key = value` lines, the part of TOML a flat list of settings
//! needs, read by hand.
//!
//! Values are strings (basic `"..."` with escapes, literal `'...'`), integers (decimal with `_`, `0x`, `0o`,
//! `0b`) and arrays of them, on one line or several, with comments anywhere TOML allows them. Floats, booleans
//! and dates are recognised, to be refused by name by the setting that gets one; tables, inline tables and
//! multi-line strings are refused here, with the line. A TOML parser crate did the same in 51 KiB of the
//! stripped server, a quarter of what is left under its 2 MiB budget.

use crate::server::config::Value;

/// Arrays nested deeper than this are refused (no setting takes even one level of nesting).
const MAX_ARRAY_DEPTH: usize = 8;

/// One `key = value` line of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    /// The 1-based line the key is on.
    pub line: usize,
    pub value: Value,
}

/// A mistake in the file: its 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Reads the file's entries in order; a key given twice is refused, as TOML does.
pub fn parse(text: &str) -> Result<Vec<Entry>, SyntaxError> {
    let mut reader = Reader { bytes: text.as_bytes(), text, at: 0 };
    let mut entries: Vec<Entry> = Vec::new();
    loop {
        reader.skip_blank_lines_and_comments();
        if reader.at_end() {
            return Ok(entries);
        }
        if reader.peek() == Some(b'[') {
            return Err(reader.error("tables ([name]) are not used in this file: every setting is a top-level key"));
        }
        let line = reader.line();
        let key = reader.key()?;
        reader.skip_spaces();
        if !reader.eat(b'=') {
            return Err(reader.error(&format!("expected = after the key {key}")));
        }
        reader.skip_spaces();
        let value = reader.value(0)?;
        reader.skip_spaces();
        reader.skip_comment();
        if !reader.at_end() && !reader.eat_newline() {
            return Err(reader.error("expected the end of the line after the value"));
        }
        if entries.iter().any(|entry| entry.key == key) {
            return Err(SyntaxError { line, message: format!("{key} is given twice") });
        }
        entries.push(Entry { key, line, value });
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn at_end(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        if matched {
            self.at += 1;
        }
        matched
    }

    fn eat_newline(&mut self) -> bool {
        if self.bytes[self.at..].starts_with(b"\r\n") {
            self.at += 2;
            true
        } else {
            self.eat(b'\n')
        }
    }

    fn line(&self) -> usize {
        self.bytes[..self.at.min(self.bytes.len())].iter().filter(|&&b| b == b'\n').count() + 1
    }

    fn error(&self, message: &str) -> SyntaxError {
        SyntaxError { line: self.line(), message: message.to_owned() }
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn skip_comment(&mut self) {
        if self.peek() == Some(b'#') {
            while !matches!(self.peek(), None | Some(b'\n' | b'\r')) {
                self.at += 1;
            }
        }
    }

    fn skip_blank_lines_and_comments(&mut self) {
        loop {
            self.skip_spaces();
            self.skip_comment();
            if !self.eat_newline() {
                return;
            }
        }
    }

    /// Spaces, comments and line breaks, as allowed between the items of an array.
    fn skip_array_space(&mut self) {
        self.skip_blank_lines_and_comments();
    }

    fn key(&mut self) -> Result<String, SyntaxError> {
        if self.peek() == Some(b'"') {
            return self.basic_string();
        }
        let start = self.at;
        while matches!(self.peek(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-')) {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("expected a key (letters, digits, _ and -)"));
        }
        if self.peek() == Some(b'.') {
            return Err(self.error("dotted keys are not used in this file: every setting is a top-level key"));
        }
        Ok(self.text[start..self.at].to_owned())
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        match self.peek() {
            Some(b'"') if self.bytes[self.at..].starts_with(b"\"\"\"") => {
                Err(self.error("multi-line strings are not used in this file"))
            }
            Some(b'\'') if self.bytes[self.at..].starts_with(b"'''") => {
                Err(self.error("multi-line strings are not used in this file"))
            }
            Some(b'"') => self.basic_string().map(Value::Text),
            Some(b'\'') => self.literal_string().map(Value::Text),
            Some(b'[') => self.array(depth),
            Some(b'{') => Err(self.error("inline tables are not used in this file")),
            Some(_) => self.scalar(),
            None => Err(self.error("expected a value after =")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.error("arrays nested too deep"));
        }
        self.at += 1; // [
        let mut items = Vec::new();
        loop {
            self.skip_array_space();
            if self.eat(b']') {
                return Ok(Value::List(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_array_space();
            if self.eat(b']') {
                return Ok(Value::List(items));
            }
            if !self.eat(b',') {
                return Err(self.error("expected , or ] in the array"));
            }
        }
    }

    fn basic_string(&mut self) -> Result<String, SyntaxError> {
        self.at += 1; // "
        let mut out = String::new();
        loop {
            let rest = &self.text[self.at..];
            let Some(c) = rest.chars().next() else {
                return Err(self.error("a string is not closed with \""));
            };
            if c == '\n' || c == '\r' {
                return Err(self.error("a string is not closed with \" on its line"));
            }
            self.at += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.escape()?),
                c if c.is_control() && c != '\t' => {
                    return Err(self.error("a control character in a string must be written as an escape"));
                }
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self) -> Result<char, SyntaxError> {
        let Some(c) = self.peek() else { return Err(self.error("a string ends in \\")) };
        self.at += 1;
        let hex_digits = match c {
            b'"' => return Ok('"'),
            b'\\' => return Ok('\\'),
            b'b' => return Ok('\u{8}'),
            b't' => return Ok('\t'),
            b'n' => return Ok('\n'),
            b'f' => return Ok('\u{c}'),
            b'r' => return Ok('\r'),
            b'e' => return Ok('\u{1b}'),
            b'u' => 4,
            b'U' => 8,
            _ => return Err(self.error("unknown escape in a string")),
        };
        let digits = self.text.get(self.at..self.at + hex_digits).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let code = digits.and_then(|d| u32::from_str_radix(d, 16).ok()).and_then(char::from_u32);
        let Some(c) = code else { return Err(self.error("a \\u or \\U escape is not a Unicode scalar value")) };
        self.at += hex_digits;
        Ok(c)
    }

    fn literal_string(&mut self) -> Result<String, SyntaxError> {
        self.at += 1; // '
        let start = self.at;
        loop {
            match self.peek() {
                Some(b'\'') => {
                    let text = self.text[start..self.at].to_owned();
                    self.at += 1;
                    return Ok(text);
                }
                None | Some(b'\n' | b'\r') => return Err(self.error("a string is not closed with ' on its line")),
                Some(_) => self.at += 1,
            }
        }
    }

    /// An integer, or a float, boolean or date (by its type's name, for the setting to refuse).
    fn scalar(&mut self) -> Result<Value, SyntaxError> {
        let start = self.at;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b"+-_.:".contains(&b)) {
            self.at += 1;
        }
        let word = &self.text[start..self.at];
        match word {
            "" => Err(self.error("expected a value: text in quotes, a number or an array")),
            "true" | "false" => Ok(Value::Other("boolean")),
            "inf" | "+inf" | "-inf" | "nan" | "+nan" | "-nan" => Ok(Value::Other("float")),
            _ if looks_like_date(word) => {
                // A date and a time may have one space between them.
                if self.peek() == Some(b' ') && self.bytes.get(self.at + 1).is_some_and(u8::is_ascii_digit) {
                    self.at += 1;
                    while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b"+-.:".contains(&b)) {
                        self.at += 1;
                    }
                }
                Ok(Value::Other("datetime"))
            }
            _ => integer(word)
                .or_else(|| float(word))
                .ok_or_else(|| self.error(&format!("{word} is not a value: text needs quotes"))),
        }
    }
}

/// `1979-05-27`, `07:32:00`, `1979-05-27T07:32:00Z`: dates and times TOML allows.
fn looks_like_date(word: &str) -> bool {
    let bytes = word.as_bytes();
    let date = bytes.len() >= 10 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-';
    let time = bytes.len() >= 8 && bytes[..2].iter().all(u8::is_ascii_digit) && bytes[2] == b':';
    date || time
}

/// A TOML integer: decimal (optional sign, `_` between digits, no leading zero), or `0x`, `0o`, `0b`.
fn integer(word: &str) -> Option<Value> {
    let (radix, digits, negative) = match word.as_bytes() {
        [b'0', b'x', ..] => (16, &word[2..], false),
        [b'0', b'o', ..] => (8, &word[2..], false),
        [b'0', b'b', ..] => (2, &word[2..], false),
        [b'-', ..] => (10, &word[1..], true),
        [b'+', ..] => (10, &word[1..], false),
        _ => (10, word, false),
    };
    let well_placed_underscores = !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.split('_').all(|group| group.chars().all(|c| c.is_digit(radix)));
    let leading_zero = radix == 10 && digits.len() > 1 && digits.starts_with('0');
    if digits.is_empty() || !well_placed_underscores || leading_zero {
        return None;
    }
    let plain: String = digits.chars().filter(|&c| c != '_').collect();
    let magnitude = i128::from_str_radix(&plain, radix).ok()?;
    let n = if negative { -magnitude } else { magnitude };
    Some(i64::try_from(n).map_or(Value::Other("integer beyond 64 bits"), Value::Integer))
}

/// A TOML float: decimal with a fraction, an exponent or both.
fn float(word: &str) -> Option<Value> {
    let plain: String = word.chars().filter(|&c| c != '_').collect();
    let is_float = (plain.contains('.') || plain.contains(['e', 'E'])) && plain.parse::<f64>().is_ok();
    is_float.then_some(Value::Other("float"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(text: &str) -> Result<Value, SyntaxError> {
        parse(text).map(|entries| entries.into_iter().next().expect("one entry").value)
    }

    #[test]
    fn reads_what_charla_toml_holds() {
        let text = "# Charla\n\nlisten = \"0.0.0.0:5555\"   # all interfaces\r\nmax_clients = 10_000\n\
                    trusted = [\n  \"127.0.0.1/32\", # loopback\n  '::1/128',\n]\nlang='es'\n";
        let entries = parse(text).expect("parses");
        let keys: Vec<(&str, usize)> = entries.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(keys, [("listen", 3), ("max_clients", 4), ("trusted", 5), ("lang", 9)]);
        assert_eq!(entries[0].value, Value::Text("0.0.0.0:5555".into()));
        assert_eq!(entries[1].value, Value::Integer(10_000));
        assert_eq!(
            entries[2].value,
            Value::List(vec![Value::Text("127.0.0.1/32".into()), Value::Text("::1/128".into())])
        );
        assert_eq!(entries[3].value, Value::Text("es".into()));
        assert_eq!(parse("").expect("empty"), []);
    }

    #[test]
    fn values_of_other_types_are_named_for_the_setting_to_refuse() {
        assert_eq!(one("a = 2.5"), Ok(Value::Other("float")));
        assert_eq!(one("a = 1e3"), Ok(Value::Other("float")));
        assert_eq!(one("a = true"), Ok(Value::Other("boolean")));
        assert_eq!(one("a = 1979-05-27T07:32:00Z"), Ok(Value::Other("datetime")));
        assert_eq!(one("a = 1979-05-27 07:32:00"), Ok(Value::Other("datetime")));
        assert_eq!(one("a = 99999999999999999999"), Ok(Value::Other("integer beyond 64 bits")));
        assert_eq!(one("a = 0x1F"), Ok(Value::Integer(31)));
        assert_eq!(
            one("a = -0b101"),
            Err(SyntaxError { line: 1, message: "-0b101 is not a value: text needs quotes".into() })
        );
        assert_eq!(one("a = -17"), Ok(Value::Integer(-17)));
        assert_eq!(one(r#"a = "tab\there \u00e9 \"q\"""#), Ok(Value::Text("tab\there é \"q\"".into())));
    }

    #[test]
    fn mistakes_are_refused_with_their_line() {
        let refused = |text: &str| parse(text).expect_err(text);
        assert_eq!(refused("a = 1\n[server]\nb = 2\n").line, 2);
        assert_eq!(refused("a = 1\na = 2\n"), SyntaxError { line: 2, message: "a is given twice".into() });
        assert_eq!(refused("a = 1\nb = many\n").message, "many is not a value: text needs quotes");
        assert_eq!(refused("a = \"open\nb = 1\n").line, 1);
        assert_eq!(
            refused("a.b = 1\n").message,
            "dotted keys are not used in this file: every setting is a top-level key"
        );
        assert_eq!(refused("a = {x = 1}\n").message, "inline tables are not used in this file");
        assert_eq!(refused("a = \"\"\"x\"\"\"\n").message, "multi-line strings are not used in this file");
        assert_eq!(refused("a = [1 2]\n").message, "expected , or ] in the array");
        assert_eq!(refused("a = 1 2\n").message, "expected the end of the line after the value");
        assert_eq!(refused("= 1\n").message, "expected a key (letters, digits, _ and -)");
        assert_eq!(refused("a 1\n").message, "expected = after the key a");
        assert_eq!(refused("a = 007\n").line, 1);
        assert_eq!(refused(&format!("a = {}1{}\n", "[".repeat(9), "]".repeat(9))).message, "arrays nested too deep");
    }

    proptest! {
        #[test]
        fn any_text_is_entries_or_an_error_on_one_of_its_lines(text in "\\PC{0,200}") {
            let lines = text.matches('\n').count() + 1;
            match parse(&text) {
                Ok(entries) => prop_assert!(entries.iter().all(|e| e.line <= lines)),
                Err(e) => prop_assert!(e.line >= 1 && e.line <= lines),
            }
        }

        #[test]
        fn written_entries_read_back(
            values in proptest::collection::vec(
                prop_oneof![
                    any::<i64>().prop_map(Value::Integer),
                    "[ -~]{0,20}".prop_map(Value::Text),
                    proptest::collection::vec("[a-z0-9./:]{0,10}".prop_map(Value::Text), 0..4).prop_map(Value::List),
                ],
                0..6,
            )
        ) {
            let text: String =
                values.iter().enumerate().map(|(i, value)| format!("key_{i} = {}\n", value.to_toml())).collect();
            let read: Vec<Value> = parse(&text).map_err(|e| TestCaseError::fail(format!("{e:?}: {text}")))?
                .into_iter().map(|e| e.value).collect();
            prop_assert_eq!(read, values);
        }
    }
}
