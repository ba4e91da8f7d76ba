//! The one integration-test binary: runs the real `postbode` executable on
//! real blogs (the bundled example, the shared developer.overheid.nl corpus,
//! and small blogs written per test) and checks what a user would see.

mod helpers;

mod bad_input;
mod contract;
mod feeds;
mod notify;
