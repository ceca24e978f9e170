//! What the three programs print about themselves: `--help` with every default in one column, and
//! `charla-bench` without a scenario naming every scenario it has.

use std::process::{Command, Output};

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// The help text of `program`, which must exit 0.
fn help_of(program: &str) -> String {
    let out = run(program, &["--help"]);
    assert!(out.status.success(), "{program} --help: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks that every `[default` of the help starts in the same column, as the user sees it (in characters).
fn assert_defaults_in_one_column(help: &str, rows: usize) {
    let columns: Vec<(usize, &str)> =
        help.lines().filter_map(|line| line.find("[default").map(|at| (line[..at].chars().count(), line))).collect();
    assert_eq!(columns.len(), rows, "rows with a default:\n{help}");
    let first = columns[0].0;
    for (column, line) in &columns {
        assert_eq!(*column, first, "[default in column {column}, not {first}: {line:?}\n{help}");
    }
}

#[test]
fn the_client_help_has_its_defaults_in_one_column() {
    assert_defaults_in_one_column(&help_of(env!("CARGO_BIN_EXE_charla")), 4);
}

#[test]
fn the_server_help_has_its_defaults_in_one_column() {
    assert_defaults_in_one_column(&help_of(env!("CARGO_BIN_EXE_charla-server")), 29);
}

#[test]
fn the_bench_help_has_its_defaults_in_one_column() {
    assert_defaults_in_one_column(&help_of(env!("CARGO_BIN_EXE_charla-bench")), 17);
}

#[test]
fn charla_bench_without_a_scenario_names_every_scenario() {
    let out = run(env!("CARGO_BIN_EXE_charla-bench"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "charla-bench: name a scenario: connect, fanout or floor-server\nTry 'charla-bench --help'.\n"
    );
}
