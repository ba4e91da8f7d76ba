//! The file outbox (`transport = "file"`, for trying a setup out and for
//! tests): each message is kept as `<Message-ID>.eml` in a folder, so a
//! resend of the same delivery replaces its file instead of adding one.

use std::io::Write as _;
use std::path::Path;

use lettre::Message;

use super::{permanent, transient};
use crate::notify::SendError;

/// Writes `<dir>/<Message-ID>.eml` through a temporary file in the same
/// folder, so a reader never sees half a message and a resend of the same
/// delivery replaces its file instead of adding one.
pub(super) async fn write_eml(dir: &Path, msg: &Message) -> Result<(), SendError> {
    let id = msg
        .headers()
        .get_raw("Message-ID")
        .ok_or_else(|| permanent("the message has no Message-ID".into()))?;
    let path = dir.join(format!("{}.eml", file_name(id)));
    let bytes = msg.formatted();
    let target = path.clone();
    let dir = dir.to_path_buf();
    let written = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut file = tempfile::NamedTempFile::new_in(&dir)?;
        file.write_all(&bytes)?;
        file.as_file().sync_data()?;
        file.persist(&target).map_err(|e| e.error)?;
        Ok(())
    })
    .await
    .map_err(|e| transient(format!("writing {}: {e}", path.display())))?;
    written.map_err(|e| transient(format!("writing {}: {e}", path.display())))
}

/// A `Message-ID` as a file name: without `<>`, anything unusual as `_`.
fn file_name(message_id: &str) -> String {
    message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_becomes_a_safe_file_name() {
        assert_eq!(file_name("<postbode.b.1@x.org>"), "postbode.b.1@x.org");
        assert_eq!(file_name("<../../etc/passwd>"), ".._.._etc_passwd");
    }
}
