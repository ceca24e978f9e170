//! The example session from the original Spanish README, replayed word for word with three users.

mod common;

use common::TestServer;

#[test]
fn the_seed_example_session_replays_word_for_word_in_spanish() {
    let server = TestServer::start(&["--lang", "es"]);
    // María and Pedro are in and have spoken: "Hola a todos", "Qué tal?".
    let (mut maria, mut pedro) = server.seed_room();

    // USUARIO: Juan / Bienvenido Juan! / Escribe /help para comandos / Historial: ...
    let mut juan = server.connect();
    juan.expect("USUARIO:");
    juan.send("Juan");
    juan.expect("Bienvenido Juan!");
    juan.expect("Escribe /help para comandos");
    juan.expect("Historial:");
    juan.expect_stamped("María: Hola a todos");
    juan.expect_stamped("Pedro: Qué tal?");
    maria.expect("*** Juan se ha unido al chat");
    pedro.expect("*** Juan se ha unido al chat");

    juan.send("Hola! ¿Cómo están?");
    for user in [&mut juan, &mut maria, &mut pedro] {
        user.expect_stamped("Juan: Hola! ¿Cómo están?");
    }

    juan.send("/whisper María Hola María, ¿cómo estás?");
    juan.expect("Mensaje enviado a María");
    maria.expect_stamped("(privado) Juan: Hola María, ¿cómo estás?");

    juan.send("/users");
    juan.expect_lines(&["Usuarios conectados (3):", "  Juan", "  María", "  Pedro"]);

    juan.send("/quit");
    juan.expect("Hasta pronto!");
    juan.expect_closed();
    maria.expect("*** Juan ha salido del chat");
    // Pedro never saw the whisper: his next line is the leave notice.
    pedro.expect("*** Juan ha salido del chat");
}
