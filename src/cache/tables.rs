//! The table cache: a bound on how many tables keep an open file, parsed index and filter.
//!
//! Every table of the live version stays known (its number, range and properties), but only
//! up to `capacity` hold their readers. A CLOCK over the open tables picks what to close:
//! a read sets the table's *referenced* bit (a relaxed atomic store, no lock), and the hand
//! clears bits until it finds a table read by nobody since its last pass. A closed table
//! reopens on its next read. Readers already handed out (an iterator's) stay valid after an
//! eviction: they are reference-counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Weak};

/// What the clock needs from a table.
pub trait Evictable: Send + Sync {
    /// Clears and returns the referenced bit.
    fn take_referenced(&self) -> bool;
    /// True while the table holds its readers.
    fn is_open(&self) -> bool;
    /// Drops the readers (they reopen on the next read).
    fn close(&self);
}

/// Table-cache counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TableCacheCounters {
    /// Tables opened (at creation, recovery, or again after an eviction).
    pub opens: u64,
    /// Tables closed to respect the bound.
    pub evictions: u64,
    /// Tables open now.
    pub open: u64,
}

struct Clock<T: ?Sized> {
    tables: Vec<Weak<T>>,
    hand: usize,
}

/// A CLOCK bound on open tables.
pub struct OpenTables<T: ?Sized> {
    capacity: usize,
    clock: Mutex<Clock<T>>,
    opens: AtomicU64,
    evictions: AtomicU64,
}

impl<T: ?Sized> std::fmt::Debug for OpenTables<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTables")
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T: Evictable + ?Sized> OpenTables<T> {
    /// At most `capacity` tables open (at least 1).
    pub fn new(capacity: usize) -> Self {
        OpenTables {
            capacity: capacity.max(1),
            clock: Mutex::new(Clock {
                tables: Vec::new(),
                hand: 0,
            }),
            opens: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Records that `table` just opened, and closes others while more than the bound are.
    pub fn opened(&self, table: Weak<T>) {
        self.opens.fetch_add(1, Ordering::Relaxed);
        let mut c = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        c.tables.push(table);
        if c.tables.len() <= self.capacity {
            return;
        }
        // Forget tables dropped or closed since (a closed one re-registers when it reopens).
        c.tables
            .retain(|w| w.upgrade().is_some_and(|t| t.is_open()));
        while c.tables.len() > self.capacity {
            if c.hand >= c.tables.len() {
                c.hand = 0;
            }
            let hand = c.hand;
            match c.tables[hand].upgrade() {
                Some(t) if t.take_referenced() => c.hand += 1,
                Some(t) => {
                    t.close();
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                    c.tables.swap_remove(hand);
                }
                None => {
                    c.tables.swap_remove(hand);
                }
            }
        }
    }

    /// Opens, evictions and tables open now.
    pub fn counters(&self) -> TableCacheCounters {
        let c = self.clock.lock().unwrap_or_else(|p| p.into_inner());
        let open = c
            .tables
            .iter()
            .filter(|w| w.upgrade().is_some_and(|t| t.is_open()))
            .count() as u64;
        TableCacheCounters {
            opens: self.opens.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            open,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;

    #[derive(Default)]
    struct T {
        open: AtomicBool,
        referenced: AtomicBool,
    }

    impl Evictable for T {
        fn take_referenced(&self) -> bool {
            self.referenced.swap(false, Ordering::Relaxed)
        }
        fn is_open(&self) -> bool {
            self.open.load(Ordering::Relaxed)
        }
        fn close(&self) {
            self.open.store(false, Ordering::Relaxed);
        }
    }

    fn open(c: &OpenTables<T>, t: &Arc<T>) {
        t.open.store(true, Ordering::Relaxed);
        c.opened(Arc::downgrade(t));
    }

    #[test]
    fn bounded_and_recently_read_tables_stay_open() {
        let c = OpenTables::new(3);
        let ts: Vec<Arc<T>> = (0..10).map(|_| Arc::new(T::default())).collect();
        for t in &ts[..3] {
            open(&c, t);
        }
        ts[0].referenced.store(true, Ordering::Relaxed);
        for t in &ts[3..] {
            open(&c, t);
            ts[0].referenced.store(true, Ordering::Relaxed);
            assert!(c.counters().open <= 3);
        }
        assert!(ts[0].is_open(), "the table read all along stays open");
        assert_eq!(
            c.counters(),
            TableCacheCounters {
                opens: 10,
                evictions: 7,
                open: 3
            }
        );
    }

    #[test]
    fn dropped_tables_free_their_place() {
        let c = OpenTables::new(2);
        let a = Arc::new(T::default());
        open(&c, &a);
        {
            let b = Arc::new(T::default());
            open(&c, &b);
        }
        let d = Arc::new(T::default());
        open(&c, &d);
        assert!(a.is_open() && d.is_open());
        assert_eq!(c.counters().evictions, 0);
    }
}
