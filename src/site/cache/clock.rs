//! CLOCK (second chance): the recency order the cache evicts by, one entry at a time.
//!
//! Chosen over LRU because a hit only sets a flag in the slot it already found (LRU would also unlink and
//! relink the entry on every hit), and a new entry starts unreferenced, so a crawler's one-time paths are
//! the first to go while the pages that are asked for again keep their place. Slots live in a vector
//! indexed by a map from key to slot; freed slots are reused, so the hand sweeps a dense array.

use std::collections::HashMap;

struct Slot<V> {
    key: Box<[u8]>,
    value: V,
    referenced: bool,
}

pub struct Clock<V> {
    index: HashMap<Box<[u8]>, usize>,
    slots: Vec<Option<Slot<V>>>,
    free: Vec<usize>,
    hand: usize,
}

impl<V> Default for Clock<V> {
    fn default() -> Self {
        Clock { index: HashMap::new(), slots: Vec::new(), free: Vec::new(), hand: 0 }
    }
}

impl<V> Clock<V> {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The entry for `key`, marked as used.
    pub fn get(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = *self.index.get(key)?;
        let slot = self.slots.get_mut(i)?.as_mut()?;
        slot.referenced = true;
        Some(&mut slot.value)
    }

    /// Adds (or replaces) the entry for `key`; returns the value it replaced.
    pub fn insert(&mut self, key: &[u8], value: V) -> Option<V> {
        if let Some(&i) = self.index.get(key) {
            if let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) {
                slot.referenced = true;
                return Some(std::mem::replace(&mut slot.value, value));
            }
        }
        let slot = Some(Slot { key: key.into(), value, referenced: false });
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.index.insert(key.into(), i);
        None
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<V> {
        let i = self.index.remove(key)?;
        let slot = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        Some(slot.value)
    }

    /// Removes the least recently useful entry: the first unreferenced one after the hand, clearing the
    /// flags it passes (so after one sweep every entry is a candidate).
    pub fn evict(&mut self) -> Option<(Box<[u8]>, V)> {
        if self.index.is_empty() {
            return None;
        }
        // Two sweeps at most: the first may only clear flags.
        for _ in 0..2 * self.slots.len() {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let i = self.hand;
            self.hand += 1;
            match self.slots[i].as_mut() {
                Some(slot) if slot.referenced => slot.referenced = false,
                Some(_) => {
                    let slot = self.slots[i].take()?;
                    self.index.remove(&slot.key);
                    self.free.push(i);
                    return Some((slot.key, slot.value));
                }
                None => {}
            }
        }
        None
    }

    /// Every key, for the rare full sweeps (an overflow of the inotify queue).
    pub fn keys(&self) -> Vec<Box<[u8]>> {
        self.index.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_unreferenced_first_and_gives_a_second_chance() {
        let mut c = Clock::default();
        for k in [b"a", b"b", b"c"] {
            c.insert(k, k[0]);
        }
        assert!(c.get(b"a").is_some());
        // a was used: b goes first, then c, then a (its flag cleared by the first sweep).
        assert_eq!(c.evict().map(|(k, _)| k), Some(b"b"[..].into()));
        c.insert(b"d", b'd');
        assert!(c.get(b"d").is_some());
        assert_eq!(c.evict().map(|(k, _)| k), Some(b"c"[..].into()));
        assert_eq!(c.evict().map(|(k, _)| k), Some(b"a"[..].into()));
        assert_eq!(c.evict().map(|(k, _)| k), Some(b"d"[..].into()));
        assert!(c.evict().is_none());
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn a_hot_entry_survives_a_scan() {
        let mut c = Clock::default();
        c.insert(b"hot", 0);
        for i in 0..1000u32 {
            assert!(c.get(b"hot").is_some());
            if c.len() >= 8 {
                let (k, _) = c.evict().expect("full");
                assert_ne!(&k[..], b"hot", "evicted the hot entry at {i}");
            }
            c.insert(format!("cold-{i}").as_bytes(), i);
        }
        assert_eq!(c.len(), 8);
    }

    #[test]
    fn replace_and_remove_keep_the_index_consistent() {
        let mut c = Clock::default();
        assert_eq!(c.insert(b"k", 1), None);
        assert_eq!(c.insert(b"k", 2), Some(1));
        assert_eq!(c.len(), 1);
        assert_eq!(c.remove(b"k"), Some(2));
        assert_eq!(c.remove(b"k"), None);
        c.insert(b"x", 3);
        assert_eq!(c.get(b"x").copied(), Some(3));
        assert_eq!(c.keys(), vec![Box::from(&b"x"[..])]);
    }
}
