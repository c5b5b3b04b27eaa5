//! The small bounded map the instance's memory is made of.

use std::borrow::Borrow;
use std::cell::RefCell;

/// A small map with at most `cap` entries (the oldest go first). An instance holds a few
/// accounts and budgets, so a scan costs less than a map's code in the component.
pub struct Table<K, V> {
    cap: usize,
    rows: RefCell<Vec<(K, V)>>,
}

impl<K: PartialEq, V: Clone> Table<K, V> {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            rows: RefCell::new(Vec::new()),
        }
    }

    pub fn get<Q: PartialEq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let rows = self.rows.borrow();
        rows.iter()
            .find(|(k, _)| k.borrow() == key)
            .map(|(_, v)| v.clone())
    }

    /// Removes the entry and hands it over.
    pub fn take<Q: PartialEq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let mut rows = self.rows.borrow_mut();
        let i = rows.iter().position(|(k, _)| k.borrow() == key)?;
        Some(rows.remove(i).1)
    }

    pub fn put(&self, key: K, value: V) {
        let mut rows = self.rows.borrow_mut();
        rows.retain(|(k, _)| *k != key);
        if rows.len() >= self.cap {
            rows.remove(0);
        }
        rows.push((key, value));
    }
}
