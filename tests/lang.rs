//! Language per user: the server's `--lang` is where everyone starts, `/lang en|es` switches, even at the name
//! prompt, so an `nc` user can choose too; a broadcast reaches each user in their own language.

mod common;

use common::TestServer;

#[test]
fn an_nc_user_switches_to_spanish_at_the_name_prompt() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut juan = server.connect();
    juan.expect("USERNAME:");
    juan.send("/lang es");
    juan.expect_lines(&["Idioma cambiado a español", "USUARIO:"]);
    juan.send("Juan");
    juan.expect_lines(&["Bienvenido Juan!", "Escribe /help para comandos"]);
    ana.expect("*** Juan joined the chat");
    // The same notice, each in their own language.
    let _pedro = server.join("Pedro");
    ana.expect("*** Pedro joined the chat");
    juan.expect("*** Pedro se ha unido al chat");
    juan.send("/users");
    juan.expect_lines(&["Usuarios conectados (3):", "  Ana", "  Juan", "  Pedro"]);
    juan.send("/quit");
    juan.expect("Hasta pronto!");
    ana.expect("*** Juan left the chat");
}

#[test]
fn lang_alone_says_which_and_a_wrong_code_is_explained() {
    let server = TestServer::start(&["--lang", "es"]);
    let mut ana = server.join("Ana");
    ana.send("/lang");
    ana.expect("Idioma: es (disponibles: en, es)");
    ana.send("/lang fr");
    ana.expect("Error: idioma desconocido fr; disponibles: en, es");
    ana.send("/lang en");
    ana.expect("Language set to English");
    ana.send("/whisper nadie hola");
    ana.expect("Error: no user named nadie is connected");
}

#[test]
fn help_at_the_name_prompt_is_a_hint_not_a_name_error() {
    let server = TestServer::start(&[]);
    let mut client = server.connect();
    client.expect("USERNAME:");
    client.send("/help");
    client.expect_lines(&["Type the name you want to use here, /lang es for Spanish, or /quit to leave", "USERNAME:"]);
}

#[test]
fn joins_and_leaves_are_logged_with_address_and_name_but_never_what_was_said() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let addr = ana.stream().local_addr().expect("local address");
    ana.send("a secret plan");
    ana.expect_stamped("Ana: a secret plan");
    ana.send("/quit");
    ana.expect("Goodbye!");
    ana.expect_closed();
    let mut bea = server.join("Bea");
    let bea_addr = bea.stream().local_addr().expect("local address");
    bea.shutdown_write();
    // Bea gets the history block (Ana's line), then the server closes.
    bea.read_to_close();
    let start = std::time::Instant::now();
    while !server.log().contains("leave: Bea") {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "log: {}", server.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = server.log();
    assert!(log.contains(&format!("INFO  login: Ana from {addr}")), "{log}");
    assert!(log.contains(&format!("INFO  leave: Ana from {addr} (quit)")), "{log}");
    assert!(log.contains(&format!("INFO  login: Bea from {bea_addr}")), "{log}");
    assert!(log.contains(&format!("INFO  leave: Bea from {bea_addr} (connection closed)")), "{log}");
    assert!(!log.contains("secret"), "message text never reaches the log: {log}");
}
