//! The one integration-test binary: runs the real `postbode` executable on
//! real blogs (the bundled example, the shared developer.overheid.nl corpus,
//! and small blogs written per test), against a real SMTP server and a real
//! HTTP receiver, and checks what a user would see.

mod helpers;
mod pg;
mod proxy;
mod receiver;

mod architecture;
mod bad_input;
mod browser;
mod cli_output;
mod contract;
mod crash;
mod daemon;
mod dkim;
mod email;
mod feeds;
mod fuzz_corpus;
mod git_source;
mod hardening;
mod incremental;
mod mdx_fidelity;
mod misconfig;
mod notify;
mod operations;
mod retry_after;
mod reverse_proxy;
mod serve;
mod serve_api;
mod smtp;
mod state_safety;
mod subscribers_cli;
mod untrusted_input;
mod webhook;
mod websub;
mod workers;
