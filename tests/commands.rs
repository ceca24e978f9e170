//! Commands and public messages, as users see them over real sockets.

mod common;

use std::time::Duration;

use common::TestServer;

#[test]
fn help_lists_every_command() {
    let server = TestServer::start(&[]);
    let mut juan = server.join("Juan");
    juan.send("/help");
    juan.expect_lines(&[
        "Available commands:",
        "  /help                     Show all commands",
        "  /users                    List connected users",
        "  /whisper <user> <message> Send a private message",
        "  /join <room>              Join a room, or switch to one you are in",
        "  /leave [room]             Leave a room (the current one by default)",
        "  /rooms                    List the rooms",
        "  /me <action>              Say what you are doing",
        "  /nick <name>              Change your name",
        "  /lang en|es               Choose your language (English, Spanish)",
        "  /quit                     Leave the chat",
        "  //text                    Send a message that starts with /",
    ]);
}

#[test]
fn help_in_spanish() {
    let server = TestServer::start(&["--lang", "es"]);
    let mut juan = server.join("Juan");
    juan.send("/help");
    juan.expect_lines(&[
        "Comandos disponibles:",
        "  /help                           Muestra todos los comandos",
        "  /users                          Lista usuarios conectados",
        "  /whisper <usuario> <mensaje>    Envía mensaje privado",
        "  /join <sala>                    Entra en una sala, o cambia a una en la que estás",
        "  /leave [sala]                   Sale de una sala (la actual si no dices cuál)",
        "  /rooms                          Lista las salas",
        "  /me <acción>                    Cuenta lo que haces",
        "  /nick <nombre>                  Cambia tu nombre",
        "  /lang en|es                     Elige tu idioma (inglés, español)",
        "  /quit                           Desconecta del chat",
        "  //texto                         Envía un mensaje que empieza por /",
    ]);
}

#[test]
fn users_are_listed_sorted_without_regard_to_case() {
    let server = TestServer::start(&[]);
    let mut zoe = server.join("zoe");
    let _ana = server.join("Ana");
    let _bob = server.join("bob");
    zoe.expect_lines(&["*** Ana joined the chat", "*** bob joined the chat"]);
    zoe.send("/users");
    zoe.expect_lines(&["Connected users (3):", "  Ana", "  bob", "  zoe"]);
}

#[test]
fn public_messages_reach_every_named_user_but_not_unnamed_connections() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    let mut lurker = server.connect();
    lurker.expect("USERNAME:");
    ana.send("hola");
    ana.expect_stamped("Ana: hola");
    bea.expect_stamped("Ana: hola");
    lurker.expect_silence(Duration::from_millis(200));
}

#[test]
fn blank_lines_are_ignored_and_crlf_is_accepted() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    ana.send_raw(b"\n   \r\n\t\nhi there\r\n");
    ana.expect_stamped("Ana: hi there");
}

#[test]
fn a_double_slash_sends_a_message_starting_with_a_slash() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    ana.send("//help is a command");
    ana.expect_stamped("Ana: /help is a command");
}

#[test]
fn whispers_reach_only_their_target() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    let mut cid = server.join("Cid");
    ana.expect_lines(&["*** Bea joined the chat", "*** Cid joined the chat"]);
    bea.expect("*** Cid joined the chat");
    ana.send("/whisper bea see you at five");
    ana.expect("Message sent to Bea");
    bea.expect_stamped("(private) Ana: see you at five");
    cid.expect_silence(Duration::from_millis(200));
}

#[test]
fn whisper_errors_are_explained() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    ana.send("/whisper Nobody hello");
    ana.expect("Error: no user named Nobody is connected");
    ana.send("/whisper ana hello");
    ana.expect("Error: you cannot whisper to yourself");
    ana.send("/whisper");
    ana.expect("Error: usage: /whisper <user> <message>");
    ana.send("/whisper Bea");
    ana.expect("Error: usage: /whisper <user> <message>");
}

#[test]
fn unknown_commands_point_at_help() {
    let server = TestServer::start(&["--lang", "es"]);
    let mut ana = server.join("Ana");
    ana.send("/dance now");
    ana.expect("Error: comando desconocido /dance; escribe /help para ver la lista");
}

#[test]
fn join_and_leave_notices_reach_the_others() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    bea.send("/quit");
    bea.expect("Goodbye!");
    bea.expect_closed();
    ana.expect("*** Bea left the chat");
    // Leaving by just closing the connection is announced too.
    let cid = server.join("Cid");
    ana.expect("*** Cid joined the chat");
    drop(cid);
    ana.expect("*** Cid left the chat");
}

#[test]
fn lines_after_quit_are_not_acted_on() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    bea.send_raw(b"bye all\n/quit\nthis is never sent\n");
    bea.expect_stamped("Bea: bye all");
    bea.expect("Goodbye!");
    bea.expect_closed();
    ana.expect_stamped("Bea: bye all");
    ana.expect("*** Bea left the chat");
    ana.expect_silence(Duration::from_millis(200));
}
