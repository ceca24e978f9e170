//! The files in contrib/: `charla.toml` documents exactly the settings the server knows, each with its default and
//! the range the server accepts, and starts the server as it is; `charla-server.service` runs the server with
//! that file and keeps the history in its state directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use charla::server::config::{DefaultValue, SETTINGS, ServerConfig, apply_file};

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib").join(name)
}

/// One `key = value` line of the file, set or shown commented out, with the comment block above it.
struct Entry {
    commented: bool,
    value: String,
    comment: String,
}

/// A setting's line, `key = value` or `# key = value`: whether it is commented out, the key, the value.
fn setting_line(line: &str) -> Option<(bool, &str, &str)> {
    let (commented, rest) = match line.strip_prefix("# ") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (key, value) = rest.split_once(" = ")?;
    key.chars().all(|c| c.is_ascii_lowercase() || c == '_').then_some((commented, key, value))
}

/// The file's settings by key; a key found twice fails the test.
fn entries(text: &str) -> BTreeMap<String, Entry> {
    let mut found = BTreeMap::new();
    let mut comment = String::new();
    for line in text.lines() {
        match setting_line(line) {
            Some((commented, key, value)) => {
                // Keys on consecutive lines share the comment above them.
                let entry = Entry { commented, value: value.to_owned(), comment: comment.clone() };
                assert!(found.insert(key.to_owned(), entry).is_none(), "{key} appears twice");
            }
            None if line.is_empty() => comment.clear(),
            None => {
                comment.push_str(line.trim_start_matches('#').trim());
                comment.push(' ');
            }
        }
    }
    found
}

fn accepts(key: &str, value: &str) -> bool {
    apply_file(&mut ServerConfig::default(), Path::new("charla.toml"), &format!("{key} = {value}\n")).is_ok()
}

#[test]
fn the_config_file_documents_every_setting_with_its_default_and_range() {
    let text = std::fs::read_to_string(contrib("charla.toml")).expect("read contrib/charla.toml");
    let entries = entries(&text);
    let mut known: Vec<String> = SETTINGS.iter().map(|s| s.key()).collect();
    known.sort();
    assert_eq!(entries.keys().cloned().collect::<Vec<_>>(), known, "the keys in the file are the server's");
    for setting in SETTINGS {
        let key = setting.key();
        let entry = &entries[&key];
        match (setting.default)() {
            DefaultValue::Value(default) if entry.commented => {
                assert_eq!(entry.value, default.to_toml(), "{key}: a commented line shows the default")
            }
            DefaultValue::Value(default) => {
                assert!(entry.comment.contains(&default.to_string()), "{key}: the comment names the default {default}")
            }
            // Off unless given: the line is an example to uncomment, which the server must accept.
            DefaultValue::Unset(_) => {
                assert!(entry.commented, "{key} is off by default, so its line is commented out");
                assert!(accepts(&key, &entry.value), "{key} = {} is refused", entry.value);
            }
        }
        assert!(entry.comment.len() > 20, "{key} is explained");
        // "(1 to 1000000)": the range the server accepts, exactly.
        if let Some((low, high)) = range_in(&entry.comment) {
            assert!(accepts(&key, &low.to_string()) && accepts(&key, &high.to_string()), "{key}: {low} to {high}");
            assert!(!accepts(&key, &(high + 1).to_string()), "{key}: above {high} is refused");
            assert!(low == 0 || !accepts(&key, &(low - 1).to_string()), "{key}: below {low} is refused");
        }
    }
}

/// The first `(LOW to HIGH)` in a comment.
fn range_in(comment: &str) -> Option<(u64, u64)> {
    let (_, after) = comment.split_once('(')?;
    let (inside, _) = after.split_once(')')?;
    let (low, high) = inside.split_once(" to ")?;
    Some((low.parse().ok()?, high.parse().ok()?))
}

/// Starts the server with `config` (flags keep it on a free loopback port, its history in `dir`) and returns its
/// first line; the server is stopped by its PID.
fn first_line_with(config: &Path, dir: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_charla-server"))
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0", "--history-file"])
        .arg(dir.join("h.json"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start charla-server");
    let mut first = String::new();
    let read = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut first);
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    read.expect("first line");
    assert!(
        first.starts_with("Server started on 127.0.0.1:"),
        "{first:?}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    first
}

#[test]
fn the_config_file_starts_the_server_as_it_is_and_with_every_default_uncommented() {
    let dir = tempfile::tempdir().expect("temp dir");
    first_line_with(&contrib("charla.toml"), dir.path());
    let text = std::fs::read_to_string(contrib("charla.toml")).expect("read contrib/charla.toml");
    // The lines that show a default, uncommented; the examples of settings that are off by default stay off.
    let has_default =
        |key: &str| SETTINGS.iter().any(|s| s.key() == key && matches!((s.default)(), DefaultValue::Value(_)));
    let uncommented: String = text
        .lines()
        .map(|line| match setting_line(line) {
            Some((true, key, value)) if has_default(key) => format!("{key} = {value}\n"),
            _ => format!("{line}\n"),
        })
        .collect();
    let set = uncommented.lines().filter(|l| setting_line(l).is_some_and(|(commented, _, _)| !commented)).count();
    assert_eq!(set, SETTINGS.iter().filter(|s| has_default(&s.key())).count());
    let all = dir.path().join("all.toml");
    std::fs::write(&all, uncommented).expect("write");
    first_line_with(&all, dir.path());
}

#[test]
fn the_unit_runs_the_server_with_the_config_file_and_keeps_history_in_its_state_directory() {
    let unit = std::fs::read_to_string(contrib("charla-server.service")).expect("read the unit");
    let value = |key: &str| {
        let found: Vec<&str> = unit.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).collect();
        assert_eq!(found.len(), 1, "{key}= once in the unit");
        found[0].to_owned()
    };
    assert_eq!(value("ExecStart"), "/usr/local/bin/charla-server --config /etc/charla/charla.toml");
    assert_eq!(value("ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(value("DynamicUser"), "yes");
    assert_eq!(value("NoNewPrivileges"), "yes");
    assert_eq!(value("ProtectSystem"), "strict");
    assert_eq!(value("RestrictAddressFamilies"), "AF_INET AF_INET6");
    let state = value("StateDirectory");
    let config = std::fs::read_to_string(contrib("charla.toml")).expect("read contrib/charla.toml");
    let history = &entries(&config)["history_file"];
    assert!(!history.commented && history.value.starts_with(&format!("\"/var/lib/{state}/")), "{}", history.value);
    // The open-files limit holds the default max_clients and the server's own files.
    let limit: u64 = value("LimitNOFILE").parse().expect("a number");
    assert!(limit >= charla::server::config::DEFAULT_MAX_CLIENTS as u64 + 16);
}
