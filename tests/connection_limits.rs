//! Connection storms and limits: per-address caps, running out of file descriptors, accept bursts.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{TestClient, TestServer};

const OTHER_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

#[test]
fn one_address_cannot_take_more_than_max_per_ip_but_trusted_ones_can() {
    let server = TestServer::start(&["--max-per-ip", "2"]);
    let mut first = TestClient::connect_from(OTHER_HOST, server.addr);
    first.expect("USERNAME:");
    let mut second = TestClient::connect_from(OTHER_HOST, server.addr);
    second.expect("USERNAME:");
    let mut third = TestClient::connect_from(OTHER_HOST, server.addr);
    third.expect("Error: too many connections from your address; try again later");
    third.expect_closed();
    // 127.0.0.1 is trusted by default: local tools are not capped.
    let mut locals: Vec<TestClient> = (0..5).map(|_| server.connect()).collect();
    for local in &mut locals {
        local.expect("USERNAME:");
    }
    // A slot freed by the capped host is its own again.
    first.send("/quit");
    first.expect("Goodbye!");
    first.expect_closed();
    let mut again = TestClient::connect_from(OTHER_HOST, server.addr);
    again.expect("USERNAME:");
    second.send("Ana");
    second.expect("Welcome Ana!");
}

#[test]
fn trusted_replaces_the_default_networks() {
    // Only 127.0.0.2 is trusted now, so 127.0.0.1 is capped.
    let server = TestServer::start(&["--max-per-ip", "1", "--trusted", "127.0.0.2/32"]);
    let mut local = server.connect();
    local.expect("USERNAME:");
    let mut refused = server.connect();
    refused.expect("Error: too many connections from your address; try again later");
    let mut other: Vec<TestClient> = (0..3).map(|_| TestClient::connect_from(OTHER_HOST, server.addr)).collect();
    for client in &mut other {
        client.expect("USERNAME:");
    }
}

#[test]
fn running_out_of_file_descriptors_pauses_accepting_without_spinning() {
    // About 10 descriptors go to stdio, epoll, the listener and the signal pipe; the rest to clients.
    let server = TestServer::start_with_open_files_limit(&[], 32, 32);
    let mut admitted = Vec::new();
    let mut waiting = Vec::new();
    for _ in 0..40 {
        let client = server.connect();
        client.stream().set_read_timeout(Some(Duration::from_millis(150))).expect("timeout");
        let mut first = String::new();
        let got = std::io::BufRead::read_line(&mut std::io::BufReader::new(client.stream()), &mut first);
        client.stream().set_read_timeout(Some(common::LINE_TIMEOUT)).expect("timeout");
        match got {
            Ok(_) if first == "USERNAME:\n" => admitted.push(client),
            _ => waiting.push(client),
        }
    }
    assert!(admitted.len() >= 10, "only {} admitted", admitted.len());
    assert!(!waiting.is_empty(), "the descriptor limit was never reached");
    // Out of descriptors, the loop must sleep rather than retry accept in a busy loop.
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = server.cpu_ticks() - before;
    assert!(used <= 20, "server used {used} ticks of CPU in 1 s while out of descriptors");
    let log = server.log();
    assert_eq!(log.matches("pausing new connections").count(), 1, "logged once: {log}");
    // The admitted still chat.
    admitted[0].send("Ana");
    admitted[0].expect_lines(&["Welcome Ana!", "Type /help for commands"]);
    // Closing some lets the waiting ones in.
    let freed = waiting.len().min(5);
    for _ in 0..freed {
        admitted.pop();
    }
    for client in waiting.iter_mut().take(freed) {
        client.expect("USERNAME:");
    }
}

#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_limit_at_start_up() {
    let server = TestServer::start_with_open_files_limit(&[], 64, 4096);
    assert_eq!(server.soft_open_files_limit(), 4096);
    let mut client = server.connect();
    client.expect("USERNAME:");
}

#[test]
fn an_accept_burst_of_thousands_is_served() {
    const CLIENTS: usize = 3000;
    // This test holds 3,000 sockets itself; a soft limit of 1,024 (common) would stop it first.
    let limit = charla::server::limits::raise_open_files_limit().expect("read the open-files limit");
    assert!(limit > CLIENTS as u64 + 100, "open-files hard limit {limit} is too low for this test");
    let server = TestServer::start(&[]);
    let mut clients: Vec<TestClient> = (0..CLIENTS).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.expect("USERNAME:");
    }
    clients[0].send("Ana");
    clients[0].expect_lines(&["Welcome Ana!", "Type /help for commands"]);
    clients[0].send("/users");
    clients[0].expect_lines(&["Connected users (1):", "  Ana"]);
}
