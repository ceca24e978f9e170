//! The client's command line: where to connect (over TCP or TLS, trusting whom), which name to answer with,
//! which language, and `--help`.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::client::leave::GOODBYE_WAIT;
use crate::client::scripted::QUIET_PERIOD;
use crate::client::trust::SYSTEM_CA_BUNDLES;
use crate::core::catalog::Lang;
use crate::flags::text;

/// The server's host unless `--host` says otherwise.
pub(crate) const DEFAULT_HOST: &str = "127.0.0.1";
/// The server's port unless `--port` says otherwise.
pub(crate) const DEFAULT_PORT: u16 = 5555;
/// The server's port with `--tls` unless `--port` says otherwise: the port the README's TLS examples use, one
/// above the plain one.
pub(crate) const DEFAULT_TLS_PORT: u16 = 5556;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// A host name or an IPv4 or IPv6 address.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Answers the server's first username question; `None` asks the user.
    pub(crate) name: Option<String>,
    /// The language of the client's own lines.
    pub(crate) lang: Lang,
    /// The language to ask the server for with `/lang`, for its lines to this user: the one `--lang` names, or
    /// Spanish when `LANG` asks for it. `None` leaves the server's own.
    pub(crate) server_lang: Option<Lang>,
    /// Speak TLS to the server (`--tls`).
    pub(crate) tls: bool,
    /// With TLS, the certificates to trust instead of the system's (`--ca FILE`, PEM).
    pub(crate) ca: Option<PathBuf>,
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    Run(ClientOptions),
    Help,
    Version,
}

/// The `--help` text, with every default.
pub fn help_text() -> String {
    format!(
        "charla: the command-line client for a Charla chat server

Usage: charla [OPTIONS]

Options:
{host}
{port}
{name}
{lang}
  --tls           connect over TLS, trusting the system's certificate authorities
  --ca FILE       with --tls, trust the certificates in FILE (PEM: a private CA, or a
                  self-signed server certificate) instead of the system's
  -h, --help      print this help
  -V, --version   print the version

With --lang, or LANG starting with es, charla asks the server for that language (/lang) before it asks for a
name, and writes its own lines in it; a server without /lang keeps its own language.

In a terminal, lines are edited in place (arrow keys, Home/End, Ctrl+W, Up/Down for earlier lines) and what
arrives is printed above them. The prompt is your current room (#general> ), which /join and /leave change.
Ctrl+D or Ctrl+C leaves the chat like /quit, waiting up to {goodbye} s for the server's goodbye. User names are
coloured when the output is a terminal, unless NO_COLOR is set; so is the #room tag in front of a line from
one of your rooms that is not the current one.

Without a terminal, charla sends standard input line by line and prints what the server sends; once the input
ends it leaves after {quiet} s with nothing arriving.

With --tls, the server's certificate must be valid for --host. The system's certificate authorities are read
from $SSL_CERT_FILE if set, else from the first of these that exists:
{bundles}

Exit status: 0 after leaving, 1 if the connection was lost, 2 if it could not connect (a certificate that is
not trusted included) or a flag is wrong.",
        host = option_row("--host HOST", "server host name or address", DEFAULT_HOST),
        port = option_row("--port PORT", "server port", &format!("{DEFAULT_PORT}; {DEFAULT_TLS_PORT} with --tls")),
        name = option_row("--name NAME", "answer the username question with NAME", "ask"),
        lang = option_row("--lang en|es", "language of the session", "es if LANG starts with es, else en"),
        goodbye = GOODBYE_WAIT.as_secs(),
        quiet = QUIET_PERIOD.as_secs(),
        bundles = SYSTEM_CA_BUNDLES.map(|bundle| format!("  {bundle}")).join("\n"),
    )
}

/// One line of the option table. Padded by characters, so the `[default: ...]` column stays put whatever the
/// values are.
fn option_row(flag: &str, meaning: &str, default: &str) -> String {
    format!("  {flag:<14}  {meaning:<40}  [default: {default}]")
}

/// The language the environment asks for: Spanish when `LANG` (given here) starts with `es`; otherwise none,
/// and the client speaks English and leaves the server's language as it is.
pub fn lang_from_env(lang_var: Option<&OsStr>) -> Option<Lang> {
    match lang_var.and_then(OsStr::to_str) {
        Some(value) if value.starts_with("es") => Some(Lang::Es),
        _ => None,
    }
}

/// Parses the client's command line (without the program name); `env_lang` is what the environment asks for.
pub fn parse_args(args: impl IntoIterator<Item = OsString>, env_lang: Option<Lang>) -> Result<Invocation, String> {
    use lexopt::prelude::*;

    let mut options = ClientOptions {
        host: DEFAULT_HOST.to_owned(),
        port: DEFAULT_PORT,
        name: None,
        lang: env_lang.unwrap_or_default(),
        server_lang: env_lang,
        tls: false,
        ca: None,
    };
    let mut port_given = None;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("host") => options.host = host(&text(&mut parser, "--host")?)?,
            Long("port") => port_given = Some(port(&text(&mut parser, "--port")?)?),
            Long("name") => options.name = Some(text(&mut parser, "--name")?),
            Long("lang") => {
                let lang = text(&mut parser, "--lang")?.parse()?;
                options.lang = lang;
                options.server_lang = Some(lang);
            }
            Long("tls") => options.tls = true,
            Long("ca") => options.ca = Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?)),
            Short('h') | Long("help") => return Ok(Invocation::Help),
            Short('V') | Long("version") => return Ok(Invocation::Version),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if options.ca.is_some() && !options.tls {
        return Err("--ca is for TLS: add --tls".to_owned());
    }
    options.port = port_given.unwrap_or(if options.tls { DEFAULT_TLS_PORT } else { DEFAULT_PORT });
    Ok(Invocation::Run(options))
}

/// Accepts a name or an address; IPv6 addresses may come bracketed (`[::1]`) or bare (`::1`).
fn host(text: &str) -> Result<String, String> {
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    if bare.is_empty() || bare.chars().any(char::is_whitespace) {
        return Err(format!("--host needs a host name or address, not {text:?}"));
    }
    Ok(bare.to_owned())
}

fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("--port needs a number from 1 to 65535, not {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Invocation, String> {
        parse_args(args.iter().map(OsString::from), None)
    }

    #[test]
    fn defaults_without_flags() {
        assert_eq!(
            parse(&[]),
            Ok(Invocation::Run(ClientOptions {
                host: "127.0.0.1".to_owned(),
                port: 5555,
                name: None,
                lang: Lang::En,
                server_lang: None,
                tls: false,
                ca: None,
            }))
        );
    }

    #[test]
    fn flags_change_settings() {
        assert_eq!(
            parse(&["--host", "[::1]", "--port=6000", "--name", "María", "--lang", "es"]),
            Ok(Invocation::Run(ClientOptions {
                host: "::1".to_owned(),
                port: 6000,
                name: Some("María".to_owned()),
                lang: Lang::Es,
                server_lang: Some(Lang::Es),
                tls: false,
                ca: None,
            }))
        );
    }

    #[test]
    fn tls_takes_its_own_default_port_and_a_ca_file() {
        let run = |args: &[&str]| match parse(args) {
            Ok(Invocation::Run(options)) => (options.port, options.tls, options.ca),
            other => panic!("expected options, got {other:?}"),
        };
        assert_eq!(run(&["--tls"]), (5556, true, None));
        assert_eq!(run(&["--port", "7000", "--tls"]), (7000, true, None));
        assert_eq!(run(&["--tls", "--ca", "ca.pem"]), (5556, true, Some(PathBuf::from("ca.pem"))));
        assert!(parse(&["--ca", "ca.pem"]).unwrap_err().contains("--tls"));
    }

    #[test]
    fn bad_flags_are_explained() {
        assert!(parse(&["--port", "0"]).unwrap_err().contains("--port"));
        assert!(parse(&["--port", "http"]).unwrap_err().contains("--port"));
        assert!(parse(&["--lang", "fr"]).unwrap_err().contains("fr"));
        assert!(parse(&["--host", ""]).unwrap_err().contains("--host"));
        assert!(parse(&["--bogus"]).is_err());
        assert_eq!(parse(&["-h"]), Ok(Invocation::Help));
    }

    #[test]
    fn the_language_follows_lang() {
        assert_eq!(lang_from_env(Some(OsStr::new("es_ES.UTF-8"))), Some(Lang::Es));
        assert_eq!(lang_from_env(Some(OsStr::new("en_GB.UTF-8"))), None);
        assert_eq!(lang_from_env(Some(OsStr::new("C"))), None);
        assert_eq!(lang_from_env(None), None);
    }

    #[test]
    fn the_server_is_asked_for_a_language_only_when_one_is_chosen() {
        let run = |args: &[&str], env: Option<Lang>| match parse_args(args.iter().map(OsString::from), env) {
            Ok(Invocation::Run(options)) => (options.lang, options.server_lang),
            other => panic!("expected options, got {other:?}"),
        };
        assert_eq!(run(&[], None), (Lang::En, None));
        assert_eq!(run(&[], Some(Lang::Es)), (Lang::Es, Some(Lang::Es)));
        assert_eq!(run(&["--lang", "en"], Some(Lang::Es)), (Lang::En, Some(Lang::En)));
        assert_eq!(run(&["--lang", "es"], None), (Lang::Es, Some(Lang::Es)));
    }

    #[test]
    fn the_help_keeps_its_defaults_in_one_column() {
        let help = help_text();
        let columns: Vec<usize> =
            help.lines().filter_map(|line| line.find("[default:").map(|at| line[..at].chars().count())).collect();
        assert_eq!(columns.len(), 4, "{help}");
        assert!(columns.iter().all(|&column| column == columns[0]), "{columns:?}\n{help}");
    }

    #[test]
    fn help_shows_every_default() {
        let help = help_text();
        for default in ["[default: 127.0.0.1]", "[default: 5555; 5556 with --tls]", "NO_COLOR", "2 s", "1 s"] {
            assert!(help.contains(default), "{default} missing from the help");
        }
    }
}
