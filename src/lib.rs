//! postbode: turns a Docusaurus blog's Markdown/MDX posts into Atom, RSS and
//! JSON feeds (and, later, notifications). Data flows one way:
//! config -> posts -> content -> feeds.

pub mod app;
pub mod build;
pub mod cli;
pub mod config;
pub mod content;
pub mod daemon;
pub mod diag;
pub mod feeds;
pub mod model;
pub mod notify;
pub mod plan;
pub mod posts;
pub mod source;
pub mod state;
pub mod websub;
