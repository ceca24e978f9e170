//! The start-up warning when the open-files limit cannot hold `--max-clients` connections: it gives the
//! numbers, so the user knows what to raise and by how much.

mod common;

use common::TestServer;

#[test]
fn a_short_open_files_limit_is_explained_with_the_numbers() {
    let server = TestServer::start_with_open_files_limit(&["--max-clients", "100"], 64, 64);
    let log = server.log();
    assert!(
        log.contains(
            "open-files limit is 64; --max-clients 100 needs 116 (one per client plus 16 for listeners, the history \
             file and the poll instance); connections past 48 will be refused"
        ),
        "{log}"
    );
}

#[test]
fn a_sufficient_open_files_limit_gives_no_warning() {
    let server = TestServer::start_with_open_files_limit(&["--max-clients", "48"], 64, 64);
    let log = server.log();
    assert!(!log.contains("open-files limit"), "{log}");
}
