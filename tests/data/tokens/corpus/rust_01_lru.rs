//! A fixed-capacity LRU cache backed by a `HashMap` and an index-linked list.

use std::collections::HashMap;
use std::hash::Hash;

const NIL: usize = usize::MAX;

struct Entry<K, V> {
    key: K,
    value: V,
    prev: usize,
    next: usize,
}

pub struct LruCache<K, V> {
    map: HashMap<K, usize>,
    entries: Vec<Entry<K, V>>,
    head: usize,
    tail: usize,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V> LruCache<K, V> {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be at least 1");
        Self {
            map: HashMap::with_capacity(capacity),
            entries: Vec::with_capacity(capacity),
            head: NIL,
            tail: NIL,
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&mut self, key: &K) -> Option<&V> {
        let index = *self.map.get(key)?;
        self.detach(index);
        self.push_front(index);
        Some(&self.entries[index].value)
    }

    /// Inserts a value, returning the evicted entry if the cache was full.
    pub fn put(&mut self, key: K, value: V) -> Option<(K, V)> {
        if let Some(&index) = self.map.get(&key) {
            self.entries[index].value = value;
            self.detach(index);
            self.push_front(index);
            return None;
        }
        if self.entries.len() < self.capacity {
            let index = self.entries.len();
            self.entries.push(Entry { key: key.clone(), value, prev: NIL, next: NIL });
            self.map.insert(key, index);
            self.push_front(index);
            return None;
        }
        // Reuse the least recently used slot.
        let index = self.tail;
        self.detach(index);
        let old_key = std::mem::replace(&mut self.entries[index].key, key.clone());
        let old_value = std::mem::replace(&mut self.entries[index].value, value);
        self.map.remove(&old_key);
        self.map.insert(key, index);
        self.push_front(index);
        Some((old_key, old_value))
    }

    fn detach(&mut self, index: usize) {
        let (prev, next) = (self.entries[index].prev, self.entries[index].next);
        if prev != NIL {
            self.entries[prev].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.entries[next].prev = prev;
        } else {
            self.tail = prev;
        }
    }

    fn push_front(&mut self, index: usize) {
        self.entries[index].prev = NIL;
        self.entries[index].next = self.head;
        if self.head != NIL {
            self.entries[self.head].prev = index;
        }
        self.head = index;
        if self.tail == NIL {
            self.tail = index;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let mut cache = LruCache::new(2);
        assert_eq!(cache.put("a", 1), None);
        assert_eq!(cache.put("b", 2), None);
        assert_eq!(cache.get(&"a"), Some(&1));
        assert_eq!(cache.put("c", 3), Some(("b", 2)));
        assert_eq!(cache.get(&"b"), None);
        assert_eq!(cache.len(), 2);
    }
}
