//! I/O errors that say what was being done: `cannot listen on 127.0.0.1:5555: Address already in use`.

use std::fmt::Display;
use std::io;

/// Adds context to an I/O error, keeping its kind so callers can still match on it.
pub(crate) trait Context<T> {
    /// Prefixes the error with `what`, as in `cannot create the poll instance: ...`.
    fn context(self, what: impl Display) -> io::Result<T>;

    /// As [`Context::context`], building the text only when there is an error.
    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> io::Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl Display) -> io::Result<T> {
        self.map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
    }

    fn with_context<D: Display>(self, what: impl FnOnce() -> D) -> io::Result<T> {
        self.map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", what())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefixes_the_message_and_keeps_the_kind() {
        let failed: io::Result<()> = Err(io::Error::new(io::ErrorKind::AddrInUse, "Address already in use"));
        let e = failed.context("cannot listen on 127.0.0.1:5555").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert_eq!(e.to_string(), "cannot listen on 127.0.0.1:5555: Address already in use");
    }
}
