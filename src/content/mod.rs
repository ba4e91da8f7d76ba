//! placeholder
pub fn has_truncate_marker(body: &str) -> bool {
    body.contains("<!-- truncate -->") || body.contains("{/* truncate */}")
}
pub fn summary(_body: &str) -> Option<String> {
    None
}
