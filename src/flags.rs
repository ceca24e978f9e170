//! Flag values for the three command-line parsers (server, client, load tool), with errors that name the flag.

/// The next value, as UTF-8 text.
pub fn text(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    parser.value().map_err(|e| e.to_string())?.into_string().map_err(|_| format!("{flag} needs a UTF-8 value"))
}

/// The next value, as a whole number.
pub fn number<N: std::str::FromStr>(parser: &mut lexopt::Parser, flag: &str) -> Result<N, String> {
    let value = text(parser, flag)?;
    value.parse().map_err(|_| format!("{flag} needs a whole number, not {value:?}"))
}
