//! Choosing a name: the rules, uniqueness without regard to case, and asking again after a refusal.

mod common;

use common::TestServer;

const INVALID: &str =
    "Error: a name has 1 to 32 letters or digits, starts with a letter, and may join them with - _ or .";

#[test]
fn a_taken_name_is_refused_in_any_case_and_asked_again() {
    let server = TestServer::start(&[]);
    let _maria = server.join("María");
    let mut other = server.connect();
    other.expect("USERNAME:");
    other.send("maría");
    other.expect_lines(&["Error: the name maría is already taken", "USERNAME:"]);
    other.send("MARÍA");
    other.expect_lines(&["Error: the name MARÍA is already taken", "USERNAME:"]);
    // Without the accent it is another name.
    other.send("Maria");
    other.expect_lines(&["Welcome Maria!", "Type /help for commands"]);
}

#[test]
fn invalid_names_get_a_reason_and_the_question_again() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    client.expect("USERNAME:");
    for bad in ["Juan Pérez", "", "   ", &"x".repeat(33), "/quitter", "tab\there"] {
        client.send(bad);
        client.expect_lines(&[INVALID, "USERNAME:"]);
    }
    // 32 characters (64 bytes) is the longest name.
    let longest = "ñ".repeat(32);
    client.send(&longest);
    client.expect(&format!("Welcome {longest}!"));
}

#[test]
fn a_name_is_free_again_once_its_owner_leaves() {
    let server = TestServer::start(&[]);
    let mut juan = server.join("Juan");
    juan.send("/quit");
    juan.expect_lines(&["Goodbye!"]);
    juan.expect_closed();
    let _again = server.join("juan");
}

#[test]
fn quit_before_choosing_a_name_says_goodbye() {
    let server = TestServer::start(&["--lang", "es"]);
    let mut client = server.connect();
    client.expect("USUARIO:");
    client.send("/quit");
    client.expect("Hasta pronto!");
    client.expect_closed();
}
