//! `--version` and `-V` on all three programs: the program's name and the package version on stdout, exit 0.

use std::process::Command;

#[test]
fn every_program_prints_its_name_and_version() {
    for (program, name) in [
        (env!("CARGO_BIN_EXE_charla-server"), "charla-server"),
        (env!("CARGO_BIN_EXE_charla"), "charla"),
        (env!("CARGO_BIN_EXE_charla-bench"), "charla-bench"),
    ] {
        for flag in ["--version", "-V"] {
            let out = Command::new(program).arg(flag).output().unwrap_or_else(|e| panic!("run {name}: {e}"));
            assert!(out.status.success(), "{name} {flag}: {out:?}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{name} {}\n", env!("CARGO_PKG_VERSION")));
            assert!(out.stderr.is_empty(), "{name} {flag}: {out:?}");
        }
    }
}
