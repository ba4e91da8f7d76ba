//! The large tables of a build: how they hash, and freeing them off the
//! caller's path.

/// A hash map for the build's large tables (10,000s of posts, records and
/// file stamps by path): foldhash, seeded per process, instead of SipHash,
/// which was most of the cost of filling them.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A hash set for the same tables (see [`FastMap`]).
pub type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// An empty [`FastMap`] with room for `n` entries.
pub fn fast_map<K, V>(n: usize) -> FastMap<K, V> {
    FastMap::with_capacity_and_hasher(n, Default::default())
}

/// Drops `value` on a thread of its own: freeing the many small
/// allocations of a 10,000-post cache is no work a build has to wait for,
/// and a process that exits first leaves it to the operating system. When
/// no thread can be started, it is dropped here.
pub fn drop_aside<T: Send + 'static>(value: T) {
    // On failure the closure, and `value` with it, is dropped by `spawn`.
    let _ = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
}
