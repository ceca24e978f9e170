//! The sans-I/O chat core: users, names, commands, history and the message catalogue.
//!
//! Nothing here touches a socket, a file or the clock. The event loop tells [`chat::Chat`] what happened
//! ("connection 7 sent this line at time t") and carries out the [`chat::Effect`]s it returns ("send these
//! bytes to 3, 7 and 9; close 7"). Time comes in as an argument, so the core is tested with simulated time.

pub mod catalog;
pub mod chat;
pub mod cluster;
pub mod command;
mod confusables;
pub mod deadlines;
pub mod history;
pub mod irc;
pub mod names;
pub mod rooms;
pub mod text;
pub mod time;
