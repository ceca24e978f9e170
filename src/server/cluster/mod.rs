//! Several nodes sharing one chat through Redis: pub/sub carries events between nodes, `SET NX PX` keys keep
//! names unique across them, capped lists hold history. [`node`] is this node's part (the core's cluster effects
//! out, the other nodes' events in); underneath it, [`link`] (the two helper threads and the queues the event
//! loop talks to them through), [`redis`] (one blocking connection and its URL) and [`resp`] (the wire format,
//! sans-I/O). docs/CLUSTER.md has the design and its guarantees.

pub(crate) mod link;
pub(crate) mod node;
pub(crate) mod redis;
pub mod resp;
#[cfg(test)]
pub(crate) mod test_redis;
