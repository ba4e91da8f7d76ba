//! DKIM signatures (RFC 6376) on every message, with lettre's signer, once
//! the message is complete: the sender signs what it is about to hand over
//! (to the SMTP server or the file outbox), so both carry the signature.

use lettre::Message;
use lettre::message::dkim::{DkimCanonicalization, DkimCanonicalizationType, DkimConfig};
use lettre::message::header::HeaderName;

use super::permanent;
use crate::config::subscribers::EmailConfig;
use crate::notify::SendError;

/// The headers the signature covers: what a reader sees and what list
/// handling acts on (unsubscribing, muting auto-replies), so none of them
/// can be changed or added on the way. One that a message lacks (no
/// `Reply-To`, no unsubscribe URL) is signed as absent, which keeps it from
/// being added later (RFC 6376 §5.4).
const SIGNED: [&str; 14] = [
    "From",
    "Reply-To",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Auto-Submitted",
    "Precedence",
];

pub(super) struct Signer(DkimConfig);

impl Signer {
    /// The signer `[email]` asks for, with the key read now (through `env`
    /// for `dkim_key_env`), or `None` without DKIM settings. A key that
    /// cannot be used is permanent: the configuration must change.
    pub(super) fn load(
        cfg: &EmailConfig,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Option<Signer>, SendError> {
        let Some(dkim) = &cfg.dkim else {
            return Ok(None);
        };
        let key = dkim
            .signing_key(env)
            .map_err(|e| permanent(format!("email: DKIM: {e}")))?;
        Ok(Some(Signer(DkimConfig::new(
            dkim.selector.clone(),
            dkim.domain.clone(),
            key,
            SIGNED
                .iter()
                .map(|h| HeaderName::new_from_ascii_str(h))
                .collect(),
            // Relaxed for both: relays that refold a header or touch
            // trailing whitespace do not break the signature.
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        ))))
    }

    /// `msg` with a `DKIM-Signature` header added.
    pub(super) fn sign(&self, msg: &Message) -> Message {
        let mut signed = msg.clone();
        signed.sign(&self.0);
        signed
    }
}
