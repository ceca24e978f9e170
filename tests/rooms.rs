//! Rooms over real sockets: everyone starts in #general, /join, /leave, /rooms, /users per room, /me, /nick,
//! whispers across rooms, lines from other rooms tagged with their name, and the bounds.

mod common;

use std::time::Duration;

use common::TestServer;

#[test]
fn rooms_keep_their_conversations_apart() {
    let server = TestServer::start(&["--flood-rate", "0"]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    let mut cid = server.join("Cid");
    ana.expect_lines(&["*** Bea joined the chat", "*** Cid joined the chat"]);
    bea.expect("*** Cid joined the chat");

    ana.send("/join #cocina");
    ana.expect("Now in #cocina");
    bea.send("/join Cocina");
    bea.expect("Now in #cocina");
    ana.expect("*** Bea joined #cocina");
    // A line goes to the sender's current room only.
    ana.send("¿qué cocinamos?");
    ana.expect_stamped("Ana: ¿qué cocinamos?");
    bea.expect_stamped("Ana: ¿qué cocinamos?");
    cid.send("hola general");
    cid.expect_stamped("Cid: hola general");
    // Ana and Bea are still in #general: its lines reach them tagged with its name.
    let tagged = ana.read_line().expect("a tagged line");
    assert!(tagged.starts_with("#general [") && tagged.ends_with("] Cid: hola general"), "{tagged}");
    let tagged = bea.read_line().expect("a tagged line");
    assert!(tagged.starts_with("#general ["), "{tagged}");
    cid.expect_silence(Duration::from_millis(200));

    ana.send("/users");
    ana.expect_lines(&["Users in #cocina (2):", "  Ana", "  Bea"]);
    cid.send("/users");
    cid.expect_lines(&["Connected users (3):", "  Ana", "  Bea", "  Cid"]);
    ana.send("/rooms");
    ana.expect_lines(&["Rooms (2):", "  #cocina (2, you are here)", "  #general (3)"]);
}

#[test]
fn leaving_falls_back_to_another_room_and_an_empty_room_disappears() {
    let server = TestServer::start(&["--history-size", "0"]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    ana.send("/join patio");
    ana.expect("Now in #patio");
    ana.send("/leave");
    ana.expect("You left #patio; now in #general");
    ana.send("/rooms");
    ana.expect_lines(&["Rooms (1):", "  #general (2, you are here)"]);
    ana.send("/leave patio");
    ana.expect("Error: you are not in #patio");
    ana.send("/leave general");
    ana.expect("You left #general; you are in no room now: /join one to talk");
    bea.expect("*** Ana left #general");
    ana.send("anyone?");
    ana.expect("Error: you are in no room; /join one to talk");
    ana.send("/join general");
    ana.expect("Now in #general");
    bea.expect("*** Ana joined #general");
}

#[test]
fn joining_a_room_replays_its_history_and_it_survives_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let mut server = TestServer::start_in(dir.path(), &["--lang", "es"]);
        let mut ana = server.join("Ana");
        ana.send("/join cocina");
        ana.expect("Ahora estás en #cocina");
        ana.send("sopa de ajo");
        ana.expect_stamped("Ana: sopa de ajo");
        ana.send("/me remueve la sopa");
        ana.expect_stamped("* Ana remueve la sopa");
        ana.send("/join general");
        ana.expect("Ahora estás en #general");
        ana.send("en general");
        ana.expect_stamped("Ana: en general");
        assert!(server.signal_and_wait(libc::SIGTERM).success());
    }
    let server = TestServer::start_in(dir.path(), &["--lang", "es"]);
    let mut bea = server.connect();
    bea.expect("USUARIO:");
    bea.send("Bea");
    bea.expect_lines(&["Bienvenido Bea!", "Escribe /help para comandos", "Historial:"]);
    bea.expect_stamped("Ana: en general");
    bea.send("/join cocina");
    bea.expect_lines(&["Ahora estás en #cocina", "Historial:"]);
    bea.expect_stamped("Ana: sopa de ajo");
    bea.expect_stamped("* Ana remueve la sopa");
}

#[test]
fn me_nick_and_whispers_across_rooms() {
    let server = TestServer::start(&[]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    bea.send("/join patio");
    bea.expect("Now in #patio");
    ana.send("/me waves");
    ana.expect_stamped("* Ana waves");
    let tagged = bea.read_line().expect("a tagged action");
    assert!(tagged.starts_with("#general [") && tagged.ends_with("] * Ana waves"), "{tagged}");
    ana.send("/me");
    ana.expect("Error: usage: /me <action>");
    // Whispers find their target by name, whatever room it is in.
    ana.send("/whisper bea psst");
    ana.expect("Message sent to Bea");
    bea.expect_stamped("(private) Ana: psst");
    bea.send("/nick Beatriz");
    bea.expect("You are now known as Beatriz");
    ana.expect("*** Bea is now known as Beatriz");
    ana.send("/whisper Bea hello");
    ana.expect("Error: no user named Bea is connected");
    let mut other = server.connect();
    other.expect("USERNAME:");
    other.send("Bea");
    other.expect_lines(&["Welcome Bea!", "Type /help for commands", "History:"]);
    other.expect_stamped("* Ana waves");
    ana.expect("*** Bea joined the chat");
    ana.send("/nick bea");
    ana.expect("Error: the name bea is already taken");
    ana.send("/nick lan");
    ana.expect("You are now known as lan");
    other.expect("*** Ana is now known as lan");
    other.send("/nick Ian");
    other.expect("Error: the name Ian looks too much like lan, who is connected");
    ana.send("/nick");
    ana.expect("Error: usage: /nick <new name>");
}

#[test]
fn rooms_are_bounded_per_server_and_per_user() {
    let server = TestServer::start(&["--max-rooms", "3", "--max-rooms-per-user", "2", "--history-size", "0"]);
    let mut ana = server.join("Ana");
    ana.send("/join uno");
    ana.expect("Now in #uno");
    ana.send("/join dos");
    ana.expect("Error: you are in 2 rooms already; /leave one first");
    let mut bea = server.join("Bea");
    bea.send("/join dos");
    bea.expect("Now in #dos");
    let mut cid = server.join("Cid");
    bea.expect("#general *** Cid joined the chat");
    cid.send("/join tres");
    cid.expect("Error: there are already 3 rooms; join one of them (/rooms)");
    cid.send("/join ??");
    cid.expect(
        "Error: a room name has 1 to 32 letters or digits of one alphabet, starts with a letter, and may join them \
         with - _ or .",
    );
    // A room with neither members nor history disappears, and makes room for another.
    bea.send("/leave dos");
    bea.expect("You left #dos; now in #general");
    cid.send("/join tres");
    cid.expect("Now in #tres");
}

#[test]
fn notices_follow_the_notice_limit_per_room() {
    let server = TestServer::start(&["--notice-limit", "2"]);
    let mut ana = server.join("Ana");
    let mut bea = server.join("Bea");
    ana.expect("*** Bea joined the chat");
    let _cid = server.join("Cid");
    // #general now has 3 members: past the limit, no notice. A small room still gets them.
    ana.send("/join patio");
    ana.expect("Now in #patio");
    bea.send("/join patio");
    bea.expect("Now in #patio");
    ana.expect("*** Bea joined #patio");
    ana.send("/leave");
    ana.expect("You left #patio; now in #general");
    bea.expect("*** Ana left #patio");
    ana.expect_silence(Duration::from_millis(200));
}
