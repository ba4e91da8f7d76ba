//! Freeing large structures off the caller's path.

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
