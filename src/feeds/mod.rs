//! placeholder until the feeds module lands
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Atom,
    Rss,
    Json,
}
