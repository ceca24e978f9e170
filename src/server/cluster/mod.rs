//! Several nodes sharing one chat through Redis: pub/sub carries events between nodes, `SET NX PX` keys keep
//! names unique across them, capped lists hold history. This folder is the Redis plumbing underneath:
//! [`resp`] (the wire format, sans-I/O), [`redis`] (one blocking connection and its URL) and [`link`] (the two
//! helper threads and the queues the event loop talks to them through).

// Nothing outside this folder uses the link until the event loop starts one (issue 17): until then the
// compiler sees every item of these two as dead. Remove both attributes when it is wired in.
#[allow(dead_code)]
pub(crate) mod link;
#[allow(dead_code)]
pub(crate) mod redis;
pub mod resp;
#[cfg(test)]
pub(crate) mod test_redis;
