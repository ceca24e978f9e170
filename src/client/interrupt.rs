//! Ctrl+C, and the SIGINT the reader thread raises to wake the line editor when the connection ends.
//!
//! rustyline's `readline` blocks in a `select` on the terminal, its external-print pipe and its own signal
//! pipe. Only a key or SIGINT makes it return, so when the connection ends the reader thread raises SIGINT, and
//! `readline` returns `Interrupted` as for Ctrl+C; the main thread then sees the connection has closed. Outside
//! `readline` (where rustyline installs its own handler for the duration), SIGINT only sets a flag here, so
//! neither that wake-up nor a Ctrl+C typed while the terminal is not in raw mode can kill the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

/// How long the reader thread lets the editor print the last lines before waking it: rustyline looks at its
/// signal pipe before its print pipe, so a line still queued when the wake-up lands would not be shown.
pub(crate) const PRINT_GRACE: Duration = Duration::from_millis(50);
/// How often the wake-up is repeated until the main thread has seen the end. One alone could land just before
/// `readline` installs its handler, and be taken as a plain flag while `readline` goes on waiting.
pub(crate) const WAKE_INTERVAL: Duration = Duration::from_millis(100);

/// Ctrl+C presses not yet handled.
#[derive(Debug)]
pub(crate) struct Interrupts {
    flag: Arc<AtomicBool>,
}

impl Interrupts {
    /// Catches SIGINT from now on. If the handler cannot be installed (it practically cannot fail), Ctrl+C keeps
    /// its default effect and ends the process at once.
    pub(crate) fn install() -> Interrupts {
        let flag = Arc::new(AtomicBool::new(false));
        if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&flag)) {
            log::debug!("cannot catch SIGINT: {e}");
        }
        Interrupts { flag }
    }

    /// Whether Ctrl+C was pressed since the last call.
    pub(crate) fn take(&self) -> bool {
        self.flag.swap(false, Ordering::SeqCst)
    }
}

/// Run by the reader thread once the connection has ended: wakes the editor until `seen` is set.
pub(crate) fn wake_editor(seen: &AtomicBool) {
    thread::sleep(PRINT_GRACE);
    while !seen.load(Ordering::SeqCst) {
        // raise(3) runs the handler on this thread: rustyline's, which writes to the pipe its `select` watches,
        // or ours, which only sets the flag.
        if let Err(e) = signal_hook::low_level::raise(signal_hook::consts::SIGINT) {
            log::debug!("cannot wake the line editor: {e}");
            return;
        }
        thread::sleep(WAKE_INTERVAL);
    }
}
