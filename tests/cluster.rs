//! Several nodes sharing one chat through a real Redis (`--cluster`), as users see it over real sockets: chat,
//! notices, whispers, `/users`, `/rooms` and history across nodes; names unique across the cluster; a node
//! stopped cleanly, and one killed with SIGKILL; Redis killed and restarted under chat (a whisper across refused meanwhile); a malformed
//! envelope published by hand.
//!
//! Each test starts its own `redis-server` on a free loopback port (no persistence) and its own nodes. Without
//! `redis-server` the tests say so on stderr and pass, unless `CHARLA_REQUIRE_REDIS=1` (as CI sets).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::redis::TestRedis;
use common::{TestClient, TestServer};

/// How long a node may take to see the others after it starts, or to see a change they made.
const SETTLE: Duration = Duration::from_secs(10);
/// The node timeout (`server::cluster::node::NODE_TIMEOUT`, which a dead node's key also takes to expire), plus
/// the time to notice.
const NODE_GONE: Duration = Duration::from_secs(10 + 6);

/// Starts a node and waits until its link to Redis is up: before that it refuses new names
/// ("cannot be checked with the other servers right now"), which is right for a node but not what a test wants.
fn node(redis: &TestRedis, name: &str) -> TestServer {
    let server = TestServer::start(&["--cluster", &redis.url(), "--node-name", name]);
    let deadline = Instant::now() + SETTLE;
    while !server.log().contains("cluster: connected to Redis") {
        assert!(Instant::now() < deadline, "node {name} did not reach Redis: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Asks `/users` until the list is `expected` (names in order), within `limit`.
fn wait_for_users(client: &mut TestClient, expected: &[&str], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let seen = users(client);
        if seen == expected {
            return;
        }
        assert!(Instant::now() < deadline, "/users still lists {seen:?}, not {expected:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The names `/users` lists now, skipping notices that arrive meanwhile.
fn users(client: &mut TestClient) -> Vec<String> {
    client.send("/users");
    let count = loop {
        let line = client.read_line().expect("an answer to /users");
        if let Some(count) = line.strip_prefix("Connected users (").and_then(|rest| rest.strip_suffix("):")) {
            break count.parse::<usize>().expect("a count");
        }
    };
    (0..count).map(|_| client.read_line().expect("a user").trim().to_owned()).collect()
}

/// Reads lines until `expected`, skipping others (notices of users coming and going), within `limit`.
fn wait_for_line(client: &mut TestClient, expected: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        match client.read_line() {
            Some(line) if line == expected || common::is_stamped(&line, expected) => return,
            Some(_) => {}
            None => panic!("closed before {expected:?}"),
        }
        assert!(Instant::now() < deadline, "no {expected:?} within {limit:?}");
    }
}

/// Publishes `payload` on the nodes' channel with a raw RESP command, as anyone with access to Redis could.
fn publish_raw(redis: &TestRedis, payload: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", redis.port)).expect("connect to Redis");
    stream.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    let mut command = b"*3\r\n$7\r\nPUBLISH\r\n$13\r\ncharla:events\r\n".to_vec();
    command.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
    command.extend_from_slice(payload);
    command.extend_from_slice(b"\r\n");
    stream.write_all(&command).expect("publish");
    let mut answer = [0u8; 16];
    let n = stream.read(&mut answer).expect("Redis answers");
    assert!(answer[..n].starts_with(b":"), "PUBLISH answered {:?}", String::from_utf8_lossy(&answer[..n]));
}

#[test]
fn three_nodes_share_one_chat() {
    let Some(redis) = TestRedis::start() else { return };
    let (a, b, c) = (node(&redis, "a"), node(&redis, "b"), node(&redis, "c"));
    let mut ana = a.join("Ana");
    let mut luis = b.join("Luis");
    let mut eva = c.join("Eva");
    wait_for_users(&mut eva, &["Ana", "Eva", "Luis"], SETTLE);
    wait_for_users(&mut ana, &["Ana", "Eva", "Luis"], SETTLE);
    wait_for_users(&mut luis, &["Ana", "Eva", "Luis"], SETTLE);

    // A public message and an action, in order, on every node.
    ana.send("hola desde a");
    ana.send("/me saluda");
    for client in [&mut luis, &mut eva] {
        wait_for_line(client, "Ana: hola desde a", SETTLE);
        client.expect_stamped("* Ana saluda");
    }
    ana.expect_stamped("Ana: hola desde a");
    ana.expect_stamped("* Ana saluda");

    // A whisper to another node.
    luis.send("/whisper eva psst");
    luis.expect("Message sent to Eva");
    eva.expect_stamped("(private) Luis: psst");
    ana.expect_silence(Duration::from_millis(300));

    // Rooms and their notices across nodes.
    eva.send("/join cocina");
    eva.expect("Now in #cocina");
    luis.send("/join cocina");
    luis.expect("Now in #cocina");
    wait_for_line(&mut eva, "*** Luis joined #cocina", SETTLE);
    luis.send("sopa");
    // Eva's joining may reach Luis's node just after he joined: its notice may come first.
    wait_for_line(&mut luis, "Luis: sopa", SETTLE);
    eva.expect_stamped("Luis: sopa");
    ana.send("/rooms");
    ana.expect("Rooms (2):");
    ana.expect("  #cocina (2)");
    ana.expect("  #general (3, you are here)");

    // A newcomer on any node gets the same history, and the others hear of it.
    let mut zoe = c.connect();
    zoe.expect("USERNAME:");
    zoe.send("Zoe");
    zoe.expect("Welcome Zoe!");
    zoe.expect("Type /help for commands");
    zoe.expect("History:");
    zoe.expect_stamped("Ana: hola desde a");
    zoe.expect_stamped("* Ana saluda");
    wait_for_line(&mut ana, "*** Zoe joined the chat", SETTLE);

    // Leaving, seen everywhere.
    luis.send("/quit");
    wait_for_line(&mut ana, "*** Luis left the chat", SETTLE);
    wait_for_line(&mut eva, "#general *** Luis left the chat", SETTLE);
}

#[test]
fn a_name_in_use_on_one_node_is_refused_on_another_until_its_user_leaves() {
    let Some(redis) = TestRedis::start() else { return };
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut ana = a.join("Ana");
    let mut watcher = b.join("Watcher");
    wait_for_users(&mut watcher, &["Ana", "Watcher"], SETTLE);
    let mut other = b.connect();
    other.expect("USERNAME:");
    other.send("ANA");
    other.expect("Error: the name ANA is already taken");
    other.expect("USERNAME:");
    // Still taken well past the node timeout (10 s): a live node keeps its users' names alive with its own key,
    // set again with each heartbeat.
    std::thread::sleep(Duration::from_secs(12));
    other.send("Ana");
    other.expect("Error: the name Ana is already taken");
    other.expect("USERNAME:");
    ana.send("/quit");
    wait_for_line(&mut ana, "Goodbye!", SETTLE);
    wait_for_users(&mut watcher, &["Watcher"], SETTLE);
    other.send("ANA");
    other.expect("Welcome ANA!");
}

#[test]
fn a_node_stopped_cleanly_says_goodbye_and_frees_its_names_at_once() {
    let Some(redis) = TestRedis::start() else { return };
    let mut a = node(&redis, "a");
    let b = node(&redis, "b");
    let _ana = a.join("Ana");
    let mut luis = b.join("Luis");
    wait_for_users(&mut luis, &["Ana", "Luis"], SETTLE);
    let stopped = Instant::now();
    assert!(a.signal_and_wait(libc::SIGTERM).success());
    wait_for_line(&mut luis, "*** Ana left the chat", Duration::from_secs(7));
    let mut ana_again = b.connect();
    ana_again.expect("USERNAME:");
    ana_again.send("Ana");
    ana_again.expect("Welcome Ana!");
    // Within the 10 s a dead node's names take: the goodbye and the releases reached Redis before it exited.
    assert!(stopped.elapsed() < Duration::from_secs(8), "{:?}", stopped.elapsed());
}

#[test]
fn users_of_a_killed_node_leave_everyone_s_lists_and_their_names_become_free() {
    let Some(redis) = TestRedis::start() else { return };
    let a = node(&redis, "a");
    let mut b = node(&redis, "b");
    let mut ana = a.join("Ana");
    let _luis = b.join("Luis");
    wait_for_users(&mut ana, &["Ana", "Luis"], SETTLE);
    let killed = Instant::now();
    b.crash();
    wait_for_line(&mut ana, "*** Luis left the chat", NODE_GONE);
    let took = killed.elapsed();
    assert_eq!(users(&mut ana), ["Ana"], "after {took:?}");
    let mut luis_again = a.connect();
    luis_again.expect("USERNAME:");
    luis_again.send("Luis");
    luis_again.expect("Welcome Luis!");
}

#[test]
fn redis_killed_and_restarted_under_chat() {
    let Some(mut redis) = TestRedis::start() else { return };
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let (a_pid, b_pid) = (a.pid(), b.pid());
    let mut ana = a.join("Ana");
    let mut bea = a.join("Bea");
    ana.expect("*** Bea joined the chat");
    let mut luis = b.join("Luis");
    wait_for_users(&mut luis, &["Ana", "Bea", "Luis"], SETTLE);
    wait_for_line(&mut ana, "*** Luis joined the chat", SETTLE);
    wait_for_line(&mut bea, "*** Luis joined the chat", SETTLE);

    redis.kill();
    std::thread::sleep(Duration::from_secs(3));
    // Users of one node keep chatting among themselves.
    ana.send("solo aquí");
    ana.expect_stamped("Ana: solo aquí");
    bea.expect_stamped("Ana: solo aquí");
    luis.expect_silence(Duration::from_millis(500));
    // A whisper to a user of the other node would be lost on the way, and says so instead.
    ana.send("/whisper Luis hola");
    ana.expect("Error: Luis is on another server, which cannot be reached right now; the message was not sent");
    // A new name cannot be checked with the others, and says so.
    let mut newcomer = a.connect();
    newcomer.expect("USERNAME:");
    newcomer.send("Nuevo");
    newcomer.expect("Error: the name Nuevo cannot be checked with the other servers right now; try again in a moment");
    newcomer.expect("USERNAME:");

    let _redis = redis.restart();
    // Cross-node chat resumes by itself: nobody was dropped, no node restarted.
    let deadline = Instant::now() + SETTLE;
    loop {
        luis.send("ya");
        luis.expect_stamped("Luis: ya");
        if let Some(line) = ana.read_line_within(Duration::from_millis(500)) {
            assert!(common::is_stamped(&line, "Luis: ya"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "cross-node chat did not resume");
    }
    assert_eq!(users(&mut luis), ["Ana", "Bea", "Luis"]);
    // Node A may hear B again a moment before its own link is whole (both of its connections back).
    let deadline = Instant::now() + SETTLE;
    loop {
        newcomer.send("Nuevo");
        match newcomer.read_line().as_deref() {
            Some("Welcome Nuevo!") => break,
            Some("Error: the name Nuevo cannot be checked with the other servers right now; try again in a moment") => {
                newcomer.expect("USERNAME:");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Instant::now() < deadline, "node A did not reach Redis again");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!((a.pid(), b.pid()), (a_pid, b_pid));
}

#[test]
fn a_malformed_envelope_published_by_hand_is_logged_and_dropped() {
    let Some(redis) = TestRedis::start() else { return };
    let (a, b) = (node(&redis, "a"), node(&redis, "b"));
    let mut ana = a.join("Ana");
    let mut luis = b.join("Luis");
    wait_for_users(&mut ana, &["Ana", "Luis"], SETTLE);
    publish_raw(&redis, b"not json at all");
    publish_raw(&redis, br#"{"v":99,"node":"x","run":1,"event":"said"}"#);
    publish_raw(&redis, br#"{"v":1,"node":"x","run":1,"event":{"teleport":{}}}"#);
    luis.send("still here");
    // Ana's arrival may reach Luis's node just after he joined: its notice may come first.
    wait_for_line(&mut luis, "Luis: still here", SETTLE);
    wait_for_line(&mut ana, "Luis: still here", SETTLE);
    let log = a.log();
    assert_eq!(log.matches("cluster: an envelope was dropped").count(), 3, "{log}");
}
