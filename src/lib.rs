//! postbode: turns a Docusaurus blog's Markdown/MDX posts into Atom, RSS and
//! JSON feeds and announces new posts to subscribers by email and webhook.
//! Layers point one way, downward (see ARCHITECTURE.md):
//! cli -> server -> pipeline -> notify -> {feeds, render, posts, source,
//! state, templates} -> {config, diag, model, paths, text, net}.

pub mod cli;
pub mod config;
pub mod diag;
pub mod feeds;
pub mod memory;
pub mod model;
pub mod net;
pub mod notify;
pub mod paths;
pub mod pipeline;
pub mod posts;
pub mod render;
pub mod server;
pub mod source;
pub mod state;
pub mod templates;
pub mod text;
pub mod token;
