//! The clients by id, in a vector indexed by the id.
//!
//! Ids are the event loop's connection-table keys: small integers, reused as connections come and go. A vector
//! indexed by them holds one slot per id and nothing else, where a hash map would store each key again, keep a
//! quarter or more of its buckets spare and hash the id on every line a client sends.

use super::ClientId;

#[derive(Debug)]
pub(super) struct ClientTable<T> {
    slots: Vec<Option<T>>,
}

impl<T> Default for ClientTable<T> {
    fn default() -> Self {
        ClientTable { slots: Vec::new() }
    }
}

impl<T> ClientTable<T> {
    /// Puts `value` at `id`, returning what was there.
    pub(super) fn insert(&mut self, id: ClientId, value: T) -> Option<T> {
        if id >= self.slots.len() {
            self.slots.resize_with(id + 1, || None);
        }
        self.slots[id].replace(value)
    }

    pub(super) fn get(&self, id: &ClientId) -> Option<&T> {
        self.slots.get(*id)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, id: &ClientId) -> Option<&mut T> {
        self.slots.get_mut(*id)?.as_mut()
    }

    pub(super) fn remove(&mut self, id: &ClientId) -> Option<T> {
        // The vector keeps its length, the highest id seen: shortening it here would make an id at the top that
        // comes and goes cost a refill of every slot below it each time. The connection table it mirrors keeps its
        // peak size too.
        self.slots.get_mut(*id)?.take()
    }

    /// Every client, by increasing id.
    pub(super) fn iter(&self) -> impl Iterator<Item = (ClientId, &T)> {
        self.slots.iter().enumerate().filter_map(|(id, slot)| slot.as_ref().map(|value| (id, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_put_and_forgets_what_was_removed() {
        let mut table = ClientTable::default();
        assert_eq!(table.insert(3, "c"), None);
        assert_eq!(table.insert(0, "a"), None);
        assert_eq!(table.insert(3, "C"), Some("c"));
        assert_eq!(table.get(&3), Some(&"C"));
        assert_eq!(table.get(&1), None);
        assert_eq!(table.get(&99), None);
        *table.get_mut(&0).expect("inserted") = "A";
        assert_eq!(table.iter().collect::<Vec<_>>(), vec![(0, &"A"), (3, &"C")]);
        assert_eq!(table.remove(&3), Some("C"));
        assert_eq!(table.remove(&3), None);
        assert_eq!(table.remove(&42), None);
        assert_eq!(table.iter().collect::<Vec<_>>(), vec![(0, &"A")]);
    }
}
