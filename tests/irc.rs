//! The IRC listener over real sockets: registration as real clients do it, chat between IRC and `nc` users,
//! whispers both ways, rooms as channels, the informational commands clients send, the keepalive, and every
//! malformed case answered with its numeric.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use common::TestServer;

/// An IRC connection, line by line (CR LF).
struct Irc {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Irc {
    fn connect(server: &TestServer) -> Irc {
        let stream = TcpStream::connect(server.irc_addr.expect("an IRC listener")).expect("connect");
        stream.set_read_timeout(Some(common::LINE_TIMEOUT)).expect("timeout");
        Irc { writer: stream.try_clone().expect("clone"), reader: BufReader::new(stream) }
    }

    fn send(&mut self, line: &str) {
        self.writer.write_all(format!("{line}\r\n").as_bytes()).expect("send");
    }

    /// The next line without CR LF; `None` once the server has closed.
    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => {
                assert!(line.ends_with("\r\n"), "IRC lines end in CR LF: {line:?}");
                Some(line.trim_end_matches("\r\n").to_owned())
            }
            Err(e) => panic!("no line: {e}"),
        }
    }

    fn expect(&mut self, expected: &str) {
        assert_eq!(self.line().as_deref(), Some(expected));
    }

    /// Reads lines until one satisfies `found`, returning it (the others are skipped).
    fn until(&mut self, found: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.line().expect("the server closed first");
            if found(&line) {
                return line;
            }
        }
    }

    /// Registers as `nick` the way irssi and WeeChat do, with `server-time`, and reads the burst up to the end
    /// of #general's names.
    fn register(server: &TestServer, nick: &str) -> Irc {
        let mut irc = Irc::connect(server);
        irc.send("CAP LS 302");
        irc.send(&format!("NICK {nick}"));
        irc.send(&format!("USER {nick} 0 * :{nick} Real"));
        irc.expect(":charla CAP * LS :server-time");
        irc.send("CAP REQ :server-time");
        irc.expect(":charla CAP * ACK :server-time");
        irc.send("CAP END");
        irc.expect(&format!(":charla 001 {nick} :Welcome to the Charla chat, {nick}"));
        irc.until(|l| l.starts_with(&format!(":charla 005 {nick} CASEMAPPING=rfc7613 CHANTYPES=#")));
        irc.expect(&format!(":charla 422 {nick} :MOTD File is missing"));
        irc.expect(&format!(":{nick}!{nick}@charla JOIN :#general"));
        irc.expect(&format!(":charla 331 {nick} #general :No topic is set"));
        irc.until(|l| l.starts_with(&format!(":charla 366 {nick} #general")));
        irc
    }
}

fn server(extra: &[&str]) -> TestServer {
    let mut args = vec!["--irc-listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    TestServer::start(&args)
}

#[test]
fn an_irc_user_and_an_nc_user_chat_whisper_and_act() {
    let server = server(&[]);
    let mut ana = server.join("Ana");
    let mut juan = Irc::register(&server, "Juan");
    ana.expect("*** Juan joined the chat");
    juan.send("PRIVMSG #general :hola desde IRC");
    ana.expect_stamped("Juan: hola desde IRC");
    ana.send("hola Juan");
    ana.expect_stamped("Ana: hola Juan");
    juan.expect(":Ana!Ana@charla PRIVMSG #general :hola Juan");
    // /me both ways.
    juan.send("PRIVMSG #general :\u{1}ACTION saluda\u{1}");
    ana.expect_stamped("* Juan saluda");
    ana.send("/me sonríe");
    ana.expect_stamped("* Ana sonríe");
    juan.expect(":Ana!Ana@charla PRIVMSG #general :\u{1}ACTION sonríe\u{1}");
    // Whispers both ways.
    juan.send("PRIVMSG Ana :en privado");
    ana.expect_stamped("(private) Juan: en privado");
    ana.send("/whisper Juan recibido");
    ana.expect("Message sent to Juan");
    juan.expect(":Ana!Ana@charla PRIVMSG Juan :recibido");
    // Leaving.
    juan.send("QUIT :bye");
    juan.expect(":charla ERROR :Closing Link: Goodbye");
    assert_eq!(juan.line(), None);
    ana.expect("*** Juan left the chat");
}

#[test]
fn rooms_are_channels_with_names_history_and_parts() {
    let server = server(&[]);
    let mut ana = server.join("Ana");
    ana.send("/join cocina");
    ana.expect("Now in #cocina");
    ana.send("sopa de ajo");
    ana.expect_stamped("Ana: sopa de ajo");
    let mut juan = Irc::register(&server, "Juan");
    ana.expect("#general *** Juan joined the chat");
    juan.send("JOIN #cocina");
    juan.expect(":Juan!Juan@charla JOIN :#cocina");
    juan.expect(":charla 331 Juan #cocina :No topic is set");
    juan.expect(":charla 353 Juan = #cocina :Ana Juan");
    juan.expect(":charla 366 Juan #cocina :End of /NAMES list");
    let history = juan.line().expect("the room's history");
    assert!(
        history.starts_with("@time=20") && history.ends_with(" :Ana!Ana@charla PRIVMSG #cocina :sopa de ajo"),
        "history with its server-time tag: {history}"
    );
    ana.expect("*** Juan joined #cocina");
    juan.send("NAMES #general");
    juan.expect(":charla 353 Juan = #general :Ana Juan");
    juan.expect(":charla 366 Juan #general :End of /NAMES list");
    juan.send("PART #cocina :later");
    juan.expect(":Juan!Juan@charla PART :#cocina");
    ana.expect("*** Juan left #cocina");
    juan.send("PRIVMSG #cocina :still there?");
    juan.expect(":charla 404 Juan #cocina :Cannot send to channel");
    juan.send("PRIVMSG #nowhere :anyone?");
    juan.expect(":charla 403 Juan #nowhere :No such channel");
}

#[test]
fn the_commands_clients_send_get_the_replies_they_expect() {
    let server = server(&[]);
    let _ana = server.join("Ana");
    let mut juan = Irc::register(&server, "Juan");
    juan.send("MODE #general");
    juan.expect(":charla 324 Juan #general :+");
    juan.send("MODE #general b");
    juan.expect(":charla 368 Juan #general :End of channel ban list");
    juan.send("MODE Juan");
    juan.expect(":charla 221 Juan :+");
    juan.send("WHO #general");
    juan.expect(":charla 352 Juan #general Ana charla charla Ana H :0 Ana");
    juan.expect(":charla 352 Juan #general Juan charla charla Juan H :0 Juan Real");
    juan.expect(":charla 315 Juan #general :End of /WHO list");
    juan.send("WHOIS ana");
    juan.expect(":charla 311 Juan Ana Ana charla * :Ana");
    juan.expect(":charla 319 Juan Ana :#general");
    juan.expect(":charla 312 Juan Ana charla :Charla");
    juan.expect(":charla 318 Juan Ana :End of /WHOIS list");
    juan.send("WHOIS nadie");
    juan.expect(":charla 401 Juan nadie :No such nick/channel");
    juan.expect(":charla 318 Juan nadie :End of /WHOIS list");
    juan.send("TOPIC #general");
    juan.expect(":charla 331 Juan #general :No topic is set");
    juan.send("LUSERS");
    juan.expect(":charla 251 Juan :There are 2 users and 0 invisible on 1 servers");
    juan.until(|l| l.starts_with(":charla 255 Juan"));
    juan.send("LIST");
    juan.expect(":charla 321 Juan Channel :Users  Name");
    juan.expect(":charla 322 Juan #general 2 :");
    juan.expect(":charla 323 Juan :End of /LIST");
    juan.send("ISON Ana Nadie");
    juan.expect(":charla 303 Juan :Ana");
    juan.send("AWAY :lunch");
    juan.expect(":charla 306 Juan :You have been marked as being away");
    juan.send("PING :abc");
    juan.expect(":charla PONG charla :abc");
    juan.send("FROBNICATE x");
    juan.expect(":charla 421 Juan FROBNICATE :Unknown command");
    juan.send("NICK Juanito");
    juan.expect(":Juan!Juan@charla NICK :Juanito");
}

#[test]
fn registration_refusals_get_their_numerics() {
    let server = server(&[]);
    let _ana = server.join("Ana");
    let mut irc = Irc::connect(&server);
    irc.send("JOIN #general");
    irc.expect(":charla 451 * :You have not registered");
    irc.send("NICK ana");
    irc.send("USER x 0 * :x");
    irc.expect(":charla 433 * ana :Nickname is already in use");
    irc.send("NICK #chan");
    irc.expect(
        ":charla 432 * * :Error: a name has 1 to 32 letters or digits, starts with a letter, and may join them with \
         - _ or .",
    );
    irc.send("NICK Servidor");
    irc.expect(":charla 432 * Servidor :Erroneous nickname: reserved");
    irc.send("NICK Bea");
    irc.expect(":charla 001 Bea :Welcome to the Charla chat, Bea");

    let mut with_pass = Irc::connect(&server);
    with_pass.send("PASS secret");
    with_pass.expect(":charla 464 * :Password incorrect: this server takes no password");
    with_pass.expect(":charla ERROR :Closing Link: Password incorrect");
    assert_eq!(with_pass.line(), None);
}

#[test]
fn malformed_lines_get_numerics_and_nobody_else_notices() {
    let server = server(&[]);
    let mut ana = server.join("Ana");
    let mut juan = Irc::register(&server, "Juan");
    ana.expect("*** Juan joined the chat");
    juan.send(&format!("PRIVMSG #general :{}", "x".repeat(600)));
    juan.expect(":charla 417 Juan :Input line was too long");
    juan.send("PRIVMSG #general");
    juan.expect(":charla 412 Juan :No text to send");
    juan.send("PRIVMSG");
    juan.expect(":charla 411 Juan :No recipient given");
    juan.send("JOIN");
    juan.expect(":charla 461 Juan JOIN :Not enough parameters");
    juan.send("JOIN #two words,#ok");
    juan.until(|l| l.starts_with(":charla 366 Juan #two"));
    juan.send("USER again 0 * :x");
    juan.expect(":charla 462 Juan :You may not reregister");
    juan.writer.write_all(b"\xff\xfe garbage\r\n:only-a-source\r\n\r\n@tags-only\r\n").expect("send garbage");
    juan.expect(":charla 421 Juan \u{fffd} :Unknown command");
    juan.send("PRIVMSG #general :still fine");
    ana.expect_stamped("Juan: still fine");
}

#[test]
fn a_silent_irc_client_is_pinged_then_dropped_and_an_answering_one_stays() {
    let server = server(&["--irc-ping", "1"]);
    let mut ana = server.join("Ana");
    let mut quiet = Irc::register(&server, "Quiet");
    let mut lively = Irc::register(&server, "Lively");
    ana.expect("*** Quiet joined the chat");
    ana.expect("*** Lively joined the chat");
    lively.until(|l| l == ":charla PING :charla");
    lively.send("PONG :charla");
    quiet.until(|l| l == ":charla PING :charla");
    quiet.expect(":charla ERROR :Closing Link: Ping timeout");
    assert_eq!(quiet.line(), None);
    ana.expect("*** Quiet left the chat");
    lively.until(|l| l == ":charla PING :charla");
    lively.send("PONG :charla");
    lively.send("PRIVMSG #general :still here");
    ana.expect_stamped("Lively: still here");
}

/// Registers as `nick` with USER `user` and real name `realname`, without capabilities, and reads the burst up
/// to the end of #general's names.
fn register_as(server: &TestServer, nick: &str, user: &str, realname: &str) -> Irc {
    let mut irc = Irc::connect(server);
    irc.send(&format!("NICK {nick}"));
    irc.send(&format!("USER {user} 0 * :{realname}"));
    irc.expect(&format!(":charla 001 {nick} :Welcome to the Charla chat, {nick}"));
    irc.until(|l| l.starts_with(&format!(":charla 366 {nick} #general")));
    irc
}

#[test]
fn user_names_real_names_and_away_show_in_whois_who_userhost_and_private_messages() {
    let server = server(&[]);
    let _ana = server.join("Ana");
    let mut juan = Irc::register(&server, "Juan");
    // The user name keeps ASCII letters, digits and - _ . only; the real name is cleaned like a message.
    let mut bea = register_as(&server, "Bea", "b~e.a\u{1b}", "Bea \u{1b}[1mGarcía");
    juan.until(|l| l == ":Bea!Bea@charla JOIN :#general");
    bea.send("AWAY :comiendo");
    bea.expect(":charla 306 Bea :You have been marked as being away");

    // A private message to someone away gets the away message back; a notice does not.
    juan.send("PRIVMSG bea :hola");
    juan.expect(":charla 301 Juan Bea :comiendo");
    bea.expect(":Juan!Juan@charla PRIVMSG Bea :hola");
    juan.send("NOTICE Bea :nada");
    juan.send("PING :after-notice");
    juan.expect(":charla PONG charla :after-notice");
    bea.expect(":Juan!Juan@charla PRIVMSG Bea :nada");

    juan.send("WHOIS bea");
    juan.expect(":charla 311 Juan Bea be.a charla * :Bea [1mGarcía");
    juan.expect(":charla 319 Juan Bea :#general");
    juan.expect(":charla 312 Juan Bea charla :Charla");
    juan.expect(":charla 301 Juan Bea :comiendo");
    juan.expect(":charla 318 Juan Bea :End of /WHOIS list");

    // WHO by nick, by mask (any case), for everyone, and for a room; G for someone away, H for the others; a
    // line user shows by name alone.
    juan.send("WHO BEA");
    juan.expect(":charla 352 Juan * be.a charla charla Bea G :0 Bea [1mGarcía");
    juan.expect(":charla 315 Juan BEA :End of /WHO list");
    juan.send("WHO b?A*");
    juan.expect(":charla 352 Juan * be.a charla charla Bea G :0 Bea [1mGarcía");
    juan.expect(":charla 315 Juan b?A* :End of /WHO list");
    juan.send("WHO *");
    juan.expect(":charla 352 Juan * Ana charla charla Ana H :0 Ana");
    juan.expect(":charla 352 Juan * be.a charla charla Bea G :0 Bea [1mGarcía");
    juan.expect(":charla 352 Juan * Juan charla charla Juan H :0 Juan Real");
    juan.expect(":charla 315 Juan * :End of /WHO list");
    juan.send("WHO x*");
    juan.expect(":charla 315 Juan x* :End of /WHO list");
    juan.send("WHO #general");
    juan.until(|l| l == ":charla 352 Juan #general be.a charla charla Bea G :0 Bea [1mGarcía");
    juan.expect(":charla 315 Juan #general :End of /WHO list");

    juan.send("USERHOST Bea Ana");
    juan.expect(":charla 302 Juan :Bea=-be.a@charla Ana=+Ana@charla");

    // Back: no more away message.
    bea.send("AWAY");
    bea.expect(":charla 305 Bea :You are no longer marked as being away");
    juan.send("PRIVMSG Bea :¿ya?");
    juan.send("PING :after-privmsg");
    juan.expect(":charla PONG charla :after-privmsg");
    bea.expect(":Juan!Juan@charla PRIVMSG Bea :¿ya?");
    juan.send("USERHOST Bea");
    juan.expect(":charla 302 Juan :Bea=+be.a@charla");
}

#[test]
fn ping_without_a_token_topic_of_no_channel_and_user_without_a_real_name_get_their_numerics() {
    let server = server(&[]);
    let mut irc = Irc::connect(&server);
    irc.send("NICK Bea");
    irc.send("USER bea 0 * :");
    irc.expect(":charla 461 * USER :Not enough parameters");
    irc.send("USER bea 0 * :Bea");
    irc.expect(":charla 001 Bea :Welcome to the Charla chat, Bea");
    irc.until(|l| l.starts_with(":charla 366 Bea #general"));
    irc.send("PING");
    irc.expect(":charla 461 Bea PING :Not enough parameters");
    irc.send("PING :");
    irc.expect(":charla PONG charla :");
    irc.send("TOPIC #nowhere");
    irc.expect(":charla 403 Bea #nowhere :No such channel");
    irc.send("TOPIC general");
    irc.expect(":charla 403 Bea general :No such channel");
    irc.send("TOPIC #general :nuevo");
    irc.expect(":charla 482 Bea #general :Topics cannot be set here");
    irc.send("TOPIC #General");
    irc.expect(":charla 331 Bea #General :No topic is set");
}

#[test]
fn someone_sharing_several_channels_quits_or_renames_once_for_an_irc_user() {
    let server = server(&[]);
    let mut juan = Irc::register(&server, "Juan");
    juan.send("JOIN #cocina");
    juan.until(|l| l.starts_with(":charla 366 Juan #cocina"));
    let mut ana = server.join("Ana");
    juan.expect(":Ana!Ana@charla JOIN :#general");
    ana.send("/join cocina");
    ana.expect("Now in #cocina");
    juan.expect(":Ana!Ana@charla JOIN :#cocina");
    ana.send("/nick Anita");
    ana.expect("You are now known as Anita");
    juan.expect(":Ana!Ana@charla NICK :Anita");
    ana.send("/quit");
    juan.expect(":Anita!Anita@charla QUIT :Left the chat");
    // One of each: the next line is the answer to this PING, not a second NICK or QUIT.
    juan.send("PING :check");
    juan.expect(":charla PONG charla :check");
}
