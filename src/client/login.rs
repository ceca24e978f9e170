//! Who answers the server's username question: the `--name` given on the command line, once; the user after
//! that (a taken or invalid name is asked for again, and then it is the user's turn).

/// The answer to one username question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Send this name without asking.
    Send(String),
    /// Let the user type a name.
    AskUser,
}

#[derive(Debug)]
pub(crate) struct Login {
    /// The `--name` not yet tried.
    name: Option<String>,
}

impl Login {
    pub(crate) fn new(name: Option<String>) -> Login {
        Login { name }
    }

    /// The server asked for a name.
    pub(crate) fn answer(&mut self) -> Answer {
        match self.name.take() {
            Some(name) => Answer::Send(name),
            None => Answer::AskUser,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_given_name_is_tried_once_then_the_user_answers() {
        let mut login = Login::new(Some("Juan".to_owned()));
        assert_eq!(login.answer(), Answer::Send("Juan".to_owned()));
        assert_eq!(login.answer(), Answer::AskUser);
        assert_eq!(login.answer(), Answer::AskUser);
    }

    #[test]
    fn without_a_name_the_user_answers() {
        assert_eq!(Login::new(None).answer(), Answer::AskUser);
    }
}
