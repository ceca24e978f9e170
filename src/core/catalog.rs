//! The message catalogue: every line the server (and the client) shows a person, in English and Spanish.
//!
//! Nothing else in the crate spells out user-facing text; code names a [`Text`] and the catalogue renders it in
//! the configured [`Lang`]. Rendered lines carry no line terminator: the caller frames them.

use std::fmt::Write as _;
use std::str::FromStr;

/// The language of the lines sent to users: the server's `--lang` by default, and each user's own after
/// `/lang`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Lang {
    #[default]
    En,
    Es,
}

impl Lang {
    /// Every language, in the order of [`Lang::index`].
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    /// A small number for arrays indexed by language.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The code users type: `en`, `es`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "en" => Ok(Lang::En),
            "es" => Ok(Lang::Es),
            other => Err(format!("unknown language {other:?} (expected en or es)")),
        }
    }
}

/// A local wall-clock time of day, as shown in `[HH:MM]` stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourMinute {
    pub hour: u8,
    pub minute: u8,
}

/// One thing to say to a user. Multi-line texts (`Help`) render with `\n` between lines.
#[derive(Debug, Clone, Copy)]
pub enum Text<'a> {
    /// Asks a new connection for its username; the client shows it as the prompt.
    AskName,
    Welcome {
        name: &'a str,
    },
    HelpHint,
    HistoryHeader,
    /// The history block's header when the oldest messages were left out to keep the block within bounds.
    HistoryHeaderPartial {
        shown: usize,
    },
    /// A public message, live or replayed from history.
    Public {
        at: HourMinute,
        from: &'a str,
        text: &'a str,
    },
    /// `/me`: an action, live or replayed from history.
    Action {
        at: HourMinute,
        from: &'a str,
        text: &'a str,
    },
    /// A private message, as its recipient sees it.
    Private {
        at: HourMinute,
        from: &'a str,
        text: &'a str,
    },
    Joined {
        name: &'a str,
    },
    /// To the members of a room someone joined with `/join`.
    JoinedRoom {
        name: &'a str,
        room: &'a str,
    },
    /// To the members of a room someone left with `/leave`.
    LeftRoom {
        name: &'a str,
        room: &'a str,
    },
    /// To the user who joined or switched rooms.
    NowIn {
        room: &'a str,
    },
    /// To the user who left a room: where plain lines go now, if anywhere.
    YouLeft {
        room: &'a str,
        now_in: Option<&'a str>,
    },
    RoomsHeader {
        count: usize,
    },
    RoomEntry {
        room: &'a str,
        members: usize,
        here: bool,
    },
    /// `/users` in a room other than the lobby.
    UsersInRoomHeader {
        room: &'a str,
        count: usize,
    },
    RoomNameInvalid,
    JoinUsage,
    MeUsage,
    NickUsage,
    NotInRoom {
        room: &'a str,
    },
    NoCurrentRoom,
    TooManyRooms {
        max: usize,
    },
    TooManyMemberships {
        max: usize,
    },
    /// To the user who changed name.
    NickChanged {
        name: &'a str,
    },
    /// To the rooms of the user who changed name.
    NickNotice {
        old: &'a str,
        new: &'a str,
    },
    Left {
        name: &'a str,
    },
    Help,
    UsersHeader {
        count: usize,
    },
    UserEntry {
        name: &'a str,
    },
    /// The last line of a `/users` list cut short to keep the reply within bounds.
    UsersMore {
        count: usize,
    },
    WhisperSent {
        to: &'a str,
    },
    Goodbye,
    UnknownCommand {
        command: &'a str,
    },
    WhisperUsage,
    WhisperNoSuchUser {
        name: &'a str,
    },
    WhisperToSelf,
    /// In a cluster, the whisper's target is on another server, and the link to the others is down.
    WhisperUnreachable {
        name: &'a str,
    },
    NameTaken {
        name: &'a str,
    },
    NameInvalid,
    /// The proposed name mixes letters of several scripts.
    NameMixedScripts,
    /// The proposed name looks like one the server keeps for itself.
    NameReserved {
        name: &'a str,
    },
    /// In a cluster, the proposed name could not be claimed because the other servers cannot be reached.
    NameUnverifiable {
        name: &'a str,
    },
    /// In a cluster, another server's user took this user's name while this server was cut off.
    NameLostInCluster {
        name: &'a str,
    },
    /// The proposed name looks like the name of someone connected.
    NameLooksLike {
        name: &'a str,
        taken: &'a str,
    },
    /// `/help` typed at the name prompt.
    NamePromptHelp,
    /// `/lang CODE` took effect; rendered in the new language.
    LangSet,
    /// `/lang` alone.
    LangCurrent {
        lang: Lang,
    },
    LangUnknown {
        code: &'a str,
    },
    LineTooLong {
        max_bytes: usize,
    },
    ServerFull,
    TooManyFromAddress,
    ShuttingDown,
    LoginTimedOut,
    IdleTimedOut {
        secs: u64,
    },
    /// Printed by the server on stdout once it listens.
    ServerStarted {
        addr: &'a str,
    },
    /// Printed by the server on stdout once it listens for TLS too.
    ServerStartedTls {
        addr: &'a str,
    },
    /// Printed by the server on stdout once it serves the web page too.
    ServerStartedWeb {
        addr: &'a str,
        scheme: &'a str,
    },
    /// Printed by the server on stdout once it serves IRC clients too.
    ServerStartedIrc {
        addr: &'a str,
        tls: bool,
    },
    /// Printed by the client when its connection ends.
    Disconnected,
    /// The client could not connect because nothing accepts connections at `addr`.
    ConnectRefused {
        addr: &'a str,
    },
    /// The client got no answer from `addr` within `secs` seconds.
    ConnectTimedOut {
        addr: &'a str,
        secs: u64,
    },
    /// The client could not connect for another reason, as the system words it (an unknown host, no route...).
    ConnectFailed {
        addr: &'a str,
        reason: &'a str,
    },
    /// The client cannot read what the user types; it leaves the chat.
    InputFailed {
        reason: &'a str,
    },
    /// The client cannot read `--ca FILE`.
    CaUnreadable {
        path: &'a str,
        reason: &'a str,
    },
    /// `--ca FILE` holds no usable certificate.
    CaEmpty {
        path: &'a str,
    },
    /// The system's certificate authorities cannot be read (`reason`), or none of them is usable (`None`).
    SystemTrustUnusable {
        path: &'a str,
        reason: Option<&'a str>,
    },
    /// No system store of certificate authorities was found in any of the usual places.
    NoSystemTrust {
        looked_in: &'a str,
    },
    /// The server's certificate does not lead to a trusted authority (`code`: rustls's name for why, such as
    /// `UnknownIssuer`).
    TlsUntrusted {
        addr: &'a str,
        code: &'a str,
    },
    /// The server's certificate is trusted but not issued for the host the client asked for.
    TlsWrongName {
        addr: &'a str,
        host: &'a str,
    },
    /// The server's certificate was refused for another reason (expired, not yet valid, revoked...).
    TlsCertificateRefused {
        addr: &'a str,
        reason: &'a str,
    },
    /// The TLS handshake failed before any certificate was judged: most often not a TLS port.
    TlsHandshakeFailed {
        addr: &'a str,
        reason: &'a str,
    },
}

impl Text<'_> {
    /// Whether this text reads the same in every language (a message is its sender's words), so one rendering
    /// serves every recipient.
    pub fn same_in_every_language(&self) -> bool {
        matches!(self, Text::Public { .. } | Text::Action { .. } | Text::UserEntry { .. })
    }

    /// Renders this text in `lang`, without a trailing line terminator.
    pub fn render(&self, lang: Lang) -> String {
        let mut out = String::new();
        self.render_into(lang, &mut out);
        out
    }

    /// Appends this text in `lang` to `out`, without a trailing line terminator.
    pub fn render_into(&self, lang: Lang, out: &mut String) {
        use Lang::{En, Es};
        // Writing to a String cannot fail; the results are ignored on purpose.
        let _ = match (*self, lang) {
            (Text::AskName, En) => write!(out, "USERNAME:"),
            (Text::AskName, Es) => write!(out, "USUARIO:"),
            (Text::Welcome { name }, En) => write!(out, "Welcome {name}!"),
            (Text::Welcome { name }, Es) => write!(out, "Bienvenido {name}!"),
            (Text::HelpHint, En) => write!(out, "Type /help for commands"),
            (Text::HelpHint, Es) => write!(out, "Escribe /help para comandos"),
            (Text::HistoryHeader, En) => write!(out, "History:"),
            (Text::HistoryHeader, Es) => write!(out, "Historial:"),
            (Text::HistoryHeaderPartial { shown }, En) => write!(out, "History (the last {shown} messages):"),
            (Text::HistoryHeaderPartial { shown }, Es) => write!(out, "Historial (los últimos {shown} mensajes):"),
            (Text::Public { at, from, text }, _) => {
                write!(out, "[{:02}:{:02}] {from}: {text}", at.hour, at.minute)
            }
            (Text::Action { at, from, text }, _) => {
                write!(out, "[{:02}:{:02}] * {from} {text}", at.hour, at.minute)
            }
            (Text::Private { at, from, text }, En) => {
                write!(out, "[{:02}:{:02}] (private) {from}: {text}", at.hour, at.minute)
            }
            (Text::Private { at, from, text }, Es) => {
                write!(out, "[{:02}:{:02}] (privado) {from}: {text}", at.hour, at.minute)
            }
            (Text::Joined { name }, En) => write!(out, "*** {name} joined the chat"),
            (Text::Joined { name }, Es) => write!(out, "*** {name} se ha unido al chat"),
            (Text::Left { name }, En) => write!(out, "*** {name} left the chat"),
            (Text::Left { name }, Es) => write!(out, "*** {name} ha salido del chat"),
            (Text::JoinedRoom { name, room }, En) => write!(out, "*** {name} joined #{room}"),
            (Text::JoinedRoom { name, room }, Es) => write!(out, "*** {name} se ha unido a #{room}"),
            (Text::LeftRoom { name, room }, En) => write!(out, "*** {name} left #{room}"),
            (Text::LeftRoom { name, room }, Es) => write!(out, "*** {name} ha salido de #{room}"),
            (Text::NowIn { room }, En) => write!(out, "Now in #{room}"),
            (Text::NowIn { room }, Es) => write!(out, "Ahora estás en #{room}"),
            (Text::YouLeft { room, now_in: Some(now_in) }, En) => write!(out, "You left #{room}; now in #{now_in}"),
            (Text::YouLeft { room, now_in: Some(now_in) }, Es) => {
                write!(out, "Has salido de #{room}; ahora estás en #{now_in}")
            }
            (Text::YouLeft { room, now_in: None }, En) => {
                write!(out, "You left #{room}; you are in no room now: /join one to talk")
            }
            (Text::YouLeft { room, now_in: None }, Es) => {
                write!(out, "Has salido de #{room}; no estás en ninguna sala: entra en una con /join para hablar")
            }
            (Text::RoomsHeader { count }, En) => write!(out, "Rooms ({count}):"),
            (Text::RoomsHeader { count }, Es) => write!(out, "Salas ({count}):"),
            (Text::RoomEntry { room, members, here: false }, _) => write!(out, "  #{room} ({members})"),
            (Text::RoomEntry { room, members, here: true }, En) => write!(out, "  #{room} ({members}, you are here)"),
            (Text::RoomEntry { room, members, here: true }, Es) => write!(out, "  #{room} ({members}, estás aquí)"),
            (Text::UsersInRoomHeader { room, count }, En) => write!(out, "Users in #{room} ({count}):"),
            (Text::UsersInRoomHeader { room, count }, Es) => write!(out, "Usuarios en #{room} ({count}):"),
            (Text::RoomNameInvalid, En) => write!(
                out,
                "Error: a room name has 1 to 32 letters or digits of one alphabet, starts with a letter, and may \
                 join them with - _ or ."
            ),
            (Text::RoomNameInvalid, Es) => write!(
                out,
                "Error: el nombre de una sala tiene de 1 a 32 letras o cifras de un alfabeto, empieza por una letra \
                 y puede unirlas con - _ o ."
            ),
            (Text::JoinUsage, En) => write!(out, "Error: usage: /join <room>"),
            (Text::JoinUsage, Es) => write!(out, "Error: uso: /join <sala>"),
            (Text::MeUsage, En) => write!(out, "Error: usage: /me <action>"),
            (Text::MeUsage, Es) => write!(out, "Error: uso: /me <acción>"),
            (Text::NickUsage, En) => write!(out, "Error: usage: /nick <new name>"),
            (Text::NickUsage, Es) => write!(out, "Error: uso: /nick <nombre nuevo>"),
            (Text::NotInRoom { room }, En) => write!(out, "Error: you are not in #{room}"),
            (Text::NotInRoom { room }, Es) => write!(out, "Error: no estás en #{room}"),
            (Text::NoCurrentRoom, En) => write!(out, "Error: you are in no room; /join one to talk"),
            (Text::NoCurrentRoom, Es) => {
                write!(out, "Error: no estás en ninguna sala; entra en una con /join para hablar")
            }
            (Text::TooManyRooms { max }, En) => {
                write!(out, "Error: there are already {max} rooms; join one of them (/rooms)")
            }
            (Text::TooManyRooms { max }, Es) => {
                write!(out, "Error: ya hay {max} salas; entra en una de ellas (/rooms)")
            }
            (Text::TooManyMemberships { max }, En) => {
                write!(out, "Error: you are in {max} rooms already; /leave one first")
            }
            (Text::TooManyMemberships { max }, Es) => {
                write!(out, "Error: ya estás en {max} salas; sal de alguna con /leave")
            }
            (Text::NickChanged { name }, En) => write!(out, "You are now known as {name}"),
            (Text::NickChanged { name }, Es) => write!(out, "Ahora te llamas {name}"),
            (Text::NickNotice { old, new }, En) => write!(out, "*** {old} is now known as {new}"),
            (Text::NickNotice { old, new }, Es) => write!(out, "*** {old} ahora se llama {new}"),
            (Text::Help, En) => write!(
                out,
                "Available commands:\n\
                 \x20 /help                     Show all commands\n\
                 \x20 /users                    List connected users\n\
                 \x20 /whisper <user> <message> Send a private message\n\
                 \x20 /join <room>              Join a room, or switch to one you are in\n\
                 \x20 /leave [room]             Leave a room (the current one by default)\n\
                 \x20 /rooms                    List the rooms\n\
                 \x20 /me <action>              Say what you are doing\n\
                 \x20 /nick <name>              Change your name\n\
                 \x20 /lang en|es               Choose your language (English, Spanish)\n\
                 \x20 /quit                     Leave the chat\n\
                 \x20 //text                    Send a message that starts with /"
            ),
            (Text::Help, Es) => write!(
                out,
                "Comandos disponibles:\n\
                 \x20 /help                           Muestra todos los comandos\n\
                 \x20 /users                          Lista usuarios conectados\n\
                 \x20 /whisper <usuario> <mensaje>    Envía mensaje privado\n\
                 \x20 /join <sala>                    Entra en una sala, o cambia a una en la que estás\n\
                 \x20 /leave [sala]                   Sale de una sala (la actual si no dices cuál)\n\
                 \x20 /rooms                          Lista las salas\n\
                 \x20 /me <acción>                    Cuenta lo que haces\n\
                 \x20 /nick <nombre>                  Cambia tu nombre\n\
                 \x20 /lang en|es                     Elige tu idioma (inglés, español)\n\
                 \x20 /quit                           Desconecta del chat\n\
                 \x20 //texto                         Envía un mensaje que empieza por /"
            ),
            (Text::UsersHeader { count }, En) => write!(out, "Connected users ({count}):"),
            (Text::UsersHeader { count }, Es) => write!(out, "Usuarios conectados ({count}):"),
            (Text::UserEntry { name }, _) => write!(out, "  {name}"),
            (Text::UsersMore { count }, En) => write!(out, "  ... and {count} more"),
            (Text::UsersMore { count }, Es) => write!(out, "  ... y {count} más"),
            (Text::WhisperSent { to }, En) => write!(out, "Message sent to {to}"),
            (Text::WhisperSent { to }, Es) => write!(out, "Mensaje enviado a {to}"),
            (Text::Goodbye, En) => write!(out, "Goodbye!"),
            (Text::Goodbye, Es) => write!(out, "Hasta pronto!"),
            (Text::UnknownCommand { command }, En) => {
                write!(out, "Error: unknown command {command}; type /help for the list")
            }
            (Text::UnknownCommand { command }, Es) => {
                write!(out, "Error: comando desconocido {command}; escribe /help para ver la lista")
            }
            (Text::WhisperUsage, En) => write!(out, "Error: usage: /whisper <user> <message>"),
            (Text::WhisperUsage, Es) => write!(out, "Error: uso: /whisper <usuario> <mensaje>"),
            (Text::WhisperNoSuchUser { name }, En) => write!(out, "Error: no user named {name} is connected"),
            (Text::WhisperNoSuchUser { name }, Es) => {
                write!(out, "Error: no hay ningún usuario conectado llamado {name}")
            }
            (Text::WhisperUnreachable { name }, En) => write!(
                out,
                "Error: {name} is on another server, which cannot be reached right now; the message was not sent"
            ),
            (Text::WhisperUnreachable { name }, Es) => write!(
                out,
                "Error: {name} está en otro servidor, al que ahora no se puede llegar; el mensaje no se ha enviado"
            ),
            (Text::WhisperToSelf, En) => write!(out, "Error: you cannot whisper to yourself"),
            (Text::WhisperToSelf, Es) => write!(out, "Error: no puedes enviarte un mensaje privado a ti mismo"),
            (Text::NameTaken { name }, En) => write!(out, "Error: the name {name} is already taken"),
            (Text::NameTaken { name }, Es) => write!(out, "Error: el nombre {name} ya está en uso"),
            (Text::NameInvalid, En) => write!(
                out,
                "Error: a name has 1 to 32 letters or digits, starts with a letter, and may join them with - _ or ."
            ),
            (Text::NameInvalid, Es) => write!(
                out,
                "Error: un nombre tiene de 1 a 32 letras o cifras, empieza por una letra y puede unirlas con - _ o ."
            ),
            (Text::NameMixedScripts, En) => {
                write!(out, "Error: a name uses the letters of one alphabet only (no Latin mixed with Cyrillic)")
            }
            (Text::NameMixedScripts, Es) => {
                write!(out, "Error: un nombre usa las letras de un solo alfabeto (sin mezclar latino y cirílico)")
            }
            (Text::NameReserved { name }, En) => write!(out, "Error: the name {name} is reserved"),
            (Text::NameReserved { name }, Es) => write!(out, "Error: el nombre {name} está reservado"),
            (Text::NameUnverifiable { name }, En) => write!(
                out,
                "Error: the name {name} cannot be checked with the other servers right now; try again in a moment"
            ),
            (Text::NameUnverifiable { name }, Es) => write!(
                out,
                "Error: ahora no se puede comprobar el nombre {name} con los demás servidores; inténtalo de nuevo en \
                 un momento"
            ),
            (Text::NameLostInCluster { name }, En) => write!(
                out,
                "*** Another server gave your name {name} to someone else while this one was cut off; reconnect to \
                 choose a name"
            ),
            (Text::NameLostInCluster { name }, Es) => write!(
                out,
                "*** Otro servidor dio tu nombre {name} a otra persona mientras este estaba aislado; vuelve a \
                 conectarte para elegir un nombre"
            ),
            (Text::NameLooksLike { name, taken }, En) => {
                write!(out, "Error: the name {name} looks too much like {taken}, who is connected")
            }
            (Text::NameLooksLike { name, taken }, Es) => {
                write!(out, "Error: el nombre {name} se parece demasiado a {taken}, que está conectado")
            }
            (Text::NamePromptHelp, En) => {
                write!(out, "Type the name you want to use here, /lang es for Spanish, or /quit to leave")
            }
            (Text::NamePromptHelp, Es) => {
                write!(out, "Escribe aquí el nombre que quieres usar, /lang en para inglés, o /quit para salir")
            }
            (Text::LangSet, En) => write!(out, "Language set to English"),
            (Text::LangSet, Es) => write!(out, "Idioma cambiado a español"),
            (Text::LangCurrent { lang }, En) => write!(out, "Language: {} (available: en, es)", lang.code()),
            (Text::LangCurrent { lang }, Es) => write!(out, "Idioma: {} (disponibles: en, es)", lang.code()),
            (Text::LangUnknown { code }, En) => write!(out, "Error: unknown language {code}; available: en, es"),
            (Text::LangUnknown { code }, Es) => write!(out, "Error: idioma desconocido {code}; disponibles: en, es"),
            (Text::LineTooLong { max_bytes }, En) => {
                write!(out, "Error: line too long (over {max_bytes} bytes); it was discarded")
            }
            (Text::LineTooLong { max_bytes }, Es) => {
                write!(out, "Error: línea demasiado larga (más de {max_bytes} bytes); se ha descartado")
            }
            (Text::ServerFull, En) => write!(out, "Error: the server is full; try again later"),
            (Text::ServerFull, Es) => write!(out, "Error: el servidor está lleno; inténtalo más tarde"),
            (Text::TooManyFromAddress, En) => {
                write!(out, "Error: too many connections from your address; try again later")
            }
            (Text::TooManyFromAddress, Es) => {
                write!(out, "Error: demasiadas conexiones desde tu dirección; inténtalo más tarde")
            }
            (Text::ShuttingDown, En) => write!(out, "*** The server is shutting down"),
            (Text::ShuttingDown, Es) => write!(out, "*** El servidor se está apagando"),
            (Text::LoginTimedOut, En) => write!(out, "Error: timed out waiting for a username"),
            (Text::LoginTimedOut, Es) => write!(out, "Error: tiempo agotado esperando un nombre de usuario"),
            (Text::IdleTimedOut { secs }, En) => {
                write!(out, "Error: nothing received from you for {secs} seconds; closing the connection")
            }
            (Text::IdleTimedOut { secs }, Es) => {
                write!(out, "Error: no se ha recibido nada tuyo en {secs} segundos; se cierra la conexión")
            }
            (Text::ServerStarted { addr }, En) => write!(out, "Server started on {addr}"),
            (Text::ServerStarted { addr }, Es) => write!(out, "Servidor iniciado en {addr}"),
            (Text::ServerStartedTls { addr }, En) => write!(out, "Server started on {addr} (TLS)"),
            (Text::ServerStartedTls { addr }, Es) => write!(out, "Servidor iniciado en {addr} (TLS)"),
            (Text::ServerStartedWeb { addr, scheme }, En) => write!(out, "Web chat on {scheme}://{addr}/"),
            (Text::ServerStartedWeb { addr, scheme }, Es) => write!(out, "Chat web en {scheme}://{addr}/"),
            (Text::ServerStartedIrc { addr, tls }, En) => {
                write!(out, "IRC on {addr}{}", if tls { " (TLS)" } else { "" })
            }
            (Text::ServerStartedIrc { addr, tls }, Es) => {
                write!(out, "IRC en {addr}{}", if tls { " (TLS)" } else { "" })
            }
            (Text::Disconnected, En) => write!(out, "Disconnected from server"),
            (Text::Disconnected, Es) => write!(out, "Desconectado del servidor"),
            (Text::ConnectRefused { addr }, En) => {
                write!(out, "Cannot connect to {addr}: connection refused; is charla-server running on {addr}?")
            }
            (Text::ConnectRefused { addr }, Es) => write!(
                out,
                "No se puede conectar a {addr}: conexión rechazada; ¿está charla-server en marcha en {addr}?"
            ),
            (Text::ConnectTimedOut { addr, secs }, En) => write!(
                out,
                "Cannot connect to {addr}: no answer within {secs} s; is the host reachable and the port right?"
            ),
            (Text::ConnectTimedOut { addr, secs }, Es) => write!(
                out,
                "No se puede conectar a {addr}: sin respuesta en {secs} s; ¿se llega al host y es el puerto correcto?"
            ),
            (Text::ConnectFailed { addr, reason }, En) => write!(out, "Cannot connect to {addr}: {reason}"),
            (Text::ConnectFailed { addr, reason }, Es) => write!(out, "No se puede conectar a {addr}: {reason}"),
            (Text::InputFailed { reason }, En) => write!(out, "Cannot read the input: {reason}; leaving the chat"),
            (Text::InputFailed { reason }, Es) => {
                write!(out, "No se puede leer la entrada: {reason}; saliendo del chat")
            }
            (Text::CaUnreadable { path, reason }, En) => write!(out, "Cannot use --ca {path}: {reason}"),
            (Text::CaUnreadable { path, reason }, Es) => write!(out, "No se puede usar --ca {path}: {reason}"),
            (Text::CaEmpty { path }, En) => {
                write!(out, "Cannot use --ca {path}: no certificate in it (expected PEM: -----BEGIN CERTIFICATE-----)")
            }
            (Text::CaEmpty { path }, Es) => write!(
                out,
                "No se puede usar --ca {path}: no contiene ningún certificado (se espera PEM: -----BEGIN \
                 CERTIFICATE-----)"
            ),
            (Text::SystemTrustUnusable { path, reason: Some(reason) }, En) => write!(
                out,
                "Cannot read the system's certificate authorities in {path}: {reason}; give --ca FILE to trust a \
                 certificate yourself"
            ),
            (Text::SystemTrustUnusable { path, reason: Some(reason) }, Es) => write!(
                out,
                "No se pueden leer las autoridades de certificación del sistema en {path}: {reason}; indica --ca \
                 FICHERO para confiar tú en un certificado"
            ),
            (Text::SystemTrustUnusable { path, reason: None }, En) => {
                write!(out, "No usable certificate authority in {path}; give --ca FILE to trust a certificate yourself")
            }
            (Text::SystemTrustUnusable { path, reason: None }, Es) => write!(
                out,
                "Ninguna autoridad de certificación utilizable en {path}; indica --ca FICHERO para confiar tú en un \
                 certificado"
            ),
            (Text::NoSystemTrust { looked_in }, En) => write!(
                out,
                "Cannot find the system's certificate authorities (looked for {looked_in}); install the \
                 ca-certificates package, or give --ca FILE"
            ),
            (Text::NoSystemTrust { looked_in }, Es) => write!(
                out,
                "No se encuentran las autoridades de certificación del sistema (buscadas en {looked_in}); instala \
                 el paquete ca-certificates, o indica --ca FICHERO"
            ),
            (Text::TlsUntrusted { addr, code }, En) => write!(
                out,
                "Cannot connect to {addr} over TLS: the server's certificate is not trusted ({code}); give --ca \
                 FILE for a private or self-signed certificate"
            ),
            (Text::TlsUntrusted { addr, code }, Es) => write!(
                out,
                "No se puede conectar a {addr} por TLS: el certificado del servidor no es de confianza ({code}); \
                 indica --ca FICHERO para un certificado privado o autofirmado"
            ),
            (Text::TlsWrongName { addr, host }, En) => write!(
                out,
                "Cannot connect to {addr} over TLS: the server's certificate is not valid for {host} \
                 (NotValidForName); use the host name it was issued for"
            ),
            (Text::TlsWrongName { addr, host }, Es) => write!(
                out,
                "No se puede conectar a {addr} por TLS: el certificado del servidor no vale para {host} \
                 (NotValidForName); usa el nombre para el que se emitió"
            ),
            (Text::TlsCertificateRefused { addr, reason }, En) => {
                write!(out, "Cannot connect to {addr} over TLS: the server's certificate was refused: {reason}")
            }
            (Text::TlsCertificateRefused { addr, reason }, Es) => {
                write!(out, "No se puede conectar a {addr} por TLS: se rechazó el certificado del servidor: {reason}")
            }
            (Text::TlsHandshakeFailed { addr, reason }, En) => {
                write!(out, "Cannot connect to {addr} over TLS: the handshake failed ({reason}); is {addr} a TLS port?")
            }
            (Text::TlsHandshakeFailed { addr, reason }, Es) => write!(
                out,
                "No se puede conectar a {addr} por TLS: falló la negociación ({reason}); ¿es {addr} un puerto TLS?"
            ),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lines_render_word_for_word_in_spanish() {
        let at = HourMinute { hour: 14, minute: 5 };
        assert_eq!(Text::Welcome { name: "Juan" }.render(Lang::Es), "Bienvenido Juan!");
        assert_eq!(Text::HelpHint.render(Lang::Es), "Escribe /help para comandos");
        assert_eq!(Text::UsersHeader { count: 3 }.render(Lang::Es), "Usuarios conectados (3):");
        assert_eq!(Text::WhisperSent { to: "María" }.render(Lang::Es), "Mensaje enviado a María");
        assert_eq!(Text::Public { at, from: "Juan", text: "Hola" }.render(Lang::Es), "[14:05] Juan: Hola");
    }

    #[test]
    fn language_names_parse() {
        assert_eq!("es".parse::<Lang>(), Ok(Lang::Es));
        assert_eq!("en".parse::<Lang>(), Ok(Lang::En));
        assert!("fr".parse::<Lang>().is_err());
    }
}
