//! Signed tokens for the links postbode puts in pages and emails: confirm a
//! subscription, manage it, unsubscribe. A token names a subscriber (by id,
//! never by address), what it may do, a key that the state can revoke, and
//! when it expires; it is signed with HMAC-SHA256 under the blog's secret
//! (`[serve] secret_env`), so nobody without the secret can make one, and a
//! token for one blog or purpose is worthless for another.
//!
//! Wire form: `base64url(body) "." base64url(mac)`, URL-safe without
//! padding, where body = purpose (1 byte) | key (8) | expires (8, seconds
//! since 1970, 0 = never) | subscriber id (UTF-8, the rest).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Confirm a pending subscription (double opt-in).
    Confirm,
    /// Change or end a subscription.
    Manage,
    /// End a subscription (the `List-Unsubscribe` link, RFC 8058).
    Unsubscribe,
    /// The CSRF token of a form on the subscription pages: short-lived,
    /// and its subscriber field names the form it belongs to.
    Form,
}

impl Purpose {
    fn byte(self) -> u8 {
        match self {
            Purpose::Confirm => b'c',
            Purpose::Manage => b'm',
            Purpose::Unsubscribe => b'u',
            Purpose::Form => b'f',
        }
    }
}

/// A token's content, once its signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub purpose: Purpose,
    pub subscriber: String,
    /// Compared with the state's key for the subscriber: a changed key
    /// revokes every token made with the old one.
    pub key: u64,
    pub expires: Option<DateTime<Utc>>,
}

/// Why a token was refused. The pages say which (expired links get a way to
/// ask again) but never more than that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is damaged or was not made by this site")]
    Invalid,
    #[error("the link has expired")]
    Expired,
    #[error("the link is for something else")]
    WrongPurpose,
}

/// Keys derived from one secret: one per blog, so a token of one blog never
/// works for another that shares the secret.
#[derive(Clone)]
pub struct Signer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

const MAC_LEN: usize = 32;
const HEAD_LEN: usize = 17;

impl Signer {
    pub fn new(secret: &[u8], blog: &str) -> Signer {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"postbode-token\0");
        mac.update(blog.as_bytes());
        mac.update(b"\0");
        Signer { mac }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut body = Vec::with_capacity(HEAD_LEN + claims.subscriber.len());
        body.push(claims.purpose.byte());
        body.extend_from_slice(&claims.key.to_be_bytes());
        let expires = claims.expires.map_or(0, |t| t.timestamp().max(1));
        body.extend_from_slice(&expires.to_be_bytes());
        body.extend_from_slice(claims.subscriber.as_bytes());
        let mac = self.mac_of(&body);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// Checks the signature first (in constant time), then the purpose and
    /// the expiry against `now`.
    pub fn verify(
        &self,
        token: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<Claims, TokenError> {
        let (body, mac) = token.split_once('.').ok_or(TokenError::Invalid)?;
        // Bounded before decoding: a token is a path segment anyone can send.
        if body.len() > 400 || mac.len() > 64 {
            return Err(TokenError::Invalid);
        }
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Invalid)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Invalid)?;
        let mut check = self.mac.clone();
        check.update(&body);
        check.verify_slice(&mac).map_err(|_| TokenError::Invalid)?;
        if body.len() < HEAD_LEN {
            return Err(TokenError::Invalid);
        }
        let found = match body[0] {
            b'c' => Purpose::Confirm,
            b'm' => Purpose::Manage,
            b'u' => Purpose::Unsubscribe,
            b'f' => Purpose::Form,
            _ => return Err(TokenError::Invalid),
        };
        // A manage link may unsubscribe too: it is the stronger of the two.
        let fits =
            found == purpose || (found == Purpose::Manage && purpose == Purpose::Unsubscribe);
        if !fits {
            return Err(TokenError::WrongPurpose);
        }
        let key = u64::from_be_bytes(body[1..9].try_into().expect("8 bytes"));
        let expires = i64::from_be_bytes(body[9..17].try_into().expect("8 bytes"));
        let expires = match expires {
            0 => None,
            secs => Some(DateTime::from_timestamp(secs, 0).ok_or(TokenError::Invalid)?),
        };
        if expires.is_some_and(|t| t <= now) {
            return Err(TokenError::Expired);
        }
        let subscriber =
            String::from_utf8(body[HEAD_LEN..].to_vec()).map_err(|_| TokenError::Invalid)?;
        Ok(Claims {
            purpose: found,
            subscriber,
            key,
            expires,
        })
    }

    fn mac_of(&self, body: &[u8]) -> [u8; MAC_LEN] {
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap()
    }

    fn claims(purpose: Purpose, expires: Option<DateTime<Utc>>) -> Claims {
        Claims {
            purpose,
            subscriber: "serve:42".into(),
            key: 0xdead_beef,
            expires,
        }
    }

    #[test]
    fn a_signed_token_verifies_and_names_no_address() {
        let signer = Signer::new(b"secret", "blog");
        let c = claims(Purpose::Confirm, Some(now() + chrono::Duration::hours(48)));
        let token = signer.sign(&c);
        assert!(!token.contains('@') && !token.contains('/') && !token.contains('+'));
        assert_eq!(signer.verify(&token, Purpose::Confirm, now()), Ok(c));
    }

    #[test]
    fn forged_expired_and_misused_tokens_are_refused() {
        let signer = Signer::new(b"secret", "blog");
        let token = signer.sign(&claims(
            Purpose::Confirm,
            Some(now() + chrono::Duration::hours(1)),
        ));
        // Another secret, another blog.
        for other in [
            Signer::new(b"other", "blog"),
            Signer::new(b"secret", "blog2"),
        ] {
            assert_eq!(
                other.verify(&token, Purpose::Confirm, now()),
                Err(TokenError::Invalid)
            );
        }
        // One changed character of the body.
        let mut bytes = token.clone().into_bytes();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let changed = String::from_utf8(bytes).unwrap();
        assert_eq!(
            signer.verify(&changed, Purpose::Confirm, now()),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            signer.verify(&token, Purpose::Confirm, now() + chrono::Duration::hours(2)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            signer.verify(&token, Purpose::Manage, now()),
            Err(TokenError::WrongPurpose)
        );
        for junk in ["", ".", "abc", "a.b", &"x".repeat(5000)] {
            assert_eq!(
                signer.verify(junk, Purpose::Confirm, now()),
                Err(TokenError::Invalid)
            );
        }
    }

    #[test]
    fn a_form_token_is_no_link_and_no_link_is_a_form_token() {
        let signer = Signer::new(b"secret", "blog");
        let form = signer.sign(&Claims {
            purpose: Purpose::Form,
            subscriber: "subscribe".into(),
            key: 0,
            expires: Some(now() + chrono::Duration::hours(2)),
        });
        assert_eq!(
            signer
                .verify(&form, Purpose::Form, now())
                .unwrap()
                .subscriber,
            "subscribe"
        );
        for purpose in [Purpose::Confirm, Purpose::Manage, Purpose::Unsubscribe] {
            assert_eq!(
                signer.verify(&form, purpose, now()),
                Err(TokenError::WrongPurpose)
            );
            let link = signer.sign(&claims(purpose, None));
            assert_eq!(
                signer.verify(&link, Purpose::Form, now()),
                Err(TokenError::WrongPurpose)
            );
        }
    }

    #[test]
    fn a_manage_token_also_unsubscribes_but_not_the_reverse() {
        let signer = Signer::new(b"secret", "blog");
        let manage = signer.sign(&claims(Purpose::Manage, None));
        assert!(signer.verify(&manage, Purpose::Unsubscribe, now()).is_ok());
        let unsubscribe = signer.sign(&claims(Purpose::Unsubscribe, None));
        assert_eq!(
            signer.verify(&unsubscribe, Purpose::Manage, now()),
            Err(TokenError::WrongPurpose)
        );
    }
}
