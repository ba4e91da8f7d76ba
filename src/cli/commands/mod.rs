//! One file per command: each reads its arguments, calls the library for
//! each blog and prints what came back.

pub mod build;
pub mod check;
pub mod daemon;
pub mod history;
pub mod notify;
pub mod posts;
pub mod preview;
pub mod retry;
pub mod run;
pub mod serve;
pub mod state;
pub mod status;
pub mod subscribers;
