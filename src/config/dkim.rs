//! DKIM in `[email]`: the selector, the signing domain and where the private
//! key is (`dkim_key_file` or `dkim_key_env`). The four keys are checked
//! against each other while the feed definition is read (an error at the
//! key's line); the key itself is read only by `check` and by the sender,
//! through [`DkimSettings::signing_key`], so both judge it alike.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use lettre::message::dkim::{DkimSigningAlgorithm, DkimSigningKey};
use rsa::RsaPrivateKey;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _, LineEnding};
use rsa::pkcs8::der::zeroize::Zeroizing;
use rsa::pkcs8::der::{Decode as _, asn1::OctetStringRef, pem};
use rsa::pkcs8::{ObjectIdentifier, PrivateKeyInfo};
use rsa::traits::PublicKeyParts as _;
use serde::{Deserialize, Deserializer, de::Error as _};
use toml::Spanned;

use super::error::Located;
use crate::paths::normalize_path;
use crate::text::line_col;

/// id-Ed25519 (RFC 8410).
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// RFC 8301 §3.2: verifiers must not accept RSA keys under 1024 bits.
const MIN_RSA_BITS: usize = 1024;

/// Where the private key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DkimKeySource {
    /// A PEM file (resolved against the definition's folder).
    File(PathBuf),
    /// An environment variable holding the PEM text.
    Env(String),
}

/// Signs every message as `d=<domain>; s=<selector>`: receivers look up the
/// public key at `<selector>._domainkey.<domain>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSettings {
    pub selector: String,
    pub domain: String,
    pub key: DkimKeySource,
}

/// A DKIM key that cannot be used, said with the fix.
#[derive(Debug, thiserror::Error)]
pub enum DkimKeyError {
    #[error("{}: cannot read the DKIM key: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{var} (the DKIM key) is not set; set it to the PEM text of the private key")]
    Unset { var: String },
    #[error("{origin}: {reason}")]
    Invalid { origin: String, reason: String },
}

/// The four `[email]` keys as written, with their places.
#[derive(Debug, Clone, Default)]
pub(super) struct RawDkim {
    pub selector: Option<Spanned<String>>,
    pub domain: Option<Spanned<String>>,
    pub key_file: Option<Spanned<PathBuf>>,
    pub key_env: Option<Spanned<String>>,
}

impl RawDkim {
    /// The settings, or `None` when no `dkim_*` key is set; `text` places
    /// an error, `base` anchors a relative `dkim_key_file`.
    pub fn resolve(self, text: &str, base: &Path) -> Result<Option<DkimSettings>, Located> {
        let at = |span: std::ops::Range<usize>, message: &str| {
            let (line, column) = line_col(text, span.start);
            Located {
                line,
                column,
                message: message.to_string(),
            }
        };
        let key = match (self.key_file, self.key_env) {
            (Some(_), Some(env)) => {
                return Err(at(
                    env.span(),
                    "email.dkim_key_env: dkim_key_file is set too; keep one of them (the key comes from a file or from the environment)",
                ));
            }
            (Some(file), None) => Some((file.span(), DkimKeySource::File(file.into_inner()))),
            (None, Some(env)) => Some((env.span(), DkimKeySource::Env(env.into_inner()))),
            (None, None) => None,
        };
        match (self.selector, self.domain, key) {
            (None, None, None) => Ok(None),
            (Some(selector), Some(domain), Some((_, key))) => Ok(Some(DkimSettings {
                selector: selector.into_inner(),
                domain: domain.into_inner().to_ascii_lowercase(),
                key: match key {
                    DkimKeySource::File(p) if p.is_relative() => {
                        DkimKeySource::File(normalize_path(&base.join(p)))
                    }
                    other => other,
                },
            })),
            (Some(selector), None, _) => Err(at(
                selector.span(),
                "email.dkim_selector: dkim_domain is missing; add the domain whose DNS has the key (dkim_domain = \"example.org\" for <selector>._domainkey.example.org)",
            )),
            (None, Some(domain), _) => Err(at(
                domain.span(),
                "email.dkim_domain: dkim_selector is missing; add the selector the key is published under (dkim_selector = \"postbode\" for postbode._domainkey.<domain>)",
            )),
            (Some(selector), Some(_), None) => Err(at(
                selector.span(),
                "email.dkim_selector: no private key; add dkim_key_file = \"dkim.pem\" or dkim_key_env = \"POSTBODE_DKIM_KEY\"",
            )),
            (None, None, Some((span, _))) => Err(at(
                span,
                "email: a DKIM key without dkim_selector and dkim_domain; add both (the key is published at <selector>._domainkey.<domain>)",
            )),
        }
    }
}

impl DkimSettings {
    /// Reads and checks the private key (a file, or the variable through
    /// `env`): what `check` reports and what the sender signs with.
    pub fn signing_key(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<DkimSigningKey, DkimKeyError> {
        let (origin, pem) = match &self.key {
            DkimKeySource::File(path) => {
                let pem = std::fs::read_to_string(path).map_err(|source| DkimKeyError::Read {
                    path: path.clone(),
                    source,
                })?;
                (path.display().to_string(), pem)
            }
            DkimKeySource::Env(var) => {
                let pem = env(var)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| DkimKeyError::Unset { var: var.clone() })?;
                (var.clone(), pem)
            }
        };
        parse_key(&pem).map_err(|reason| DkimKeyError::Invalid { origin, reason })
    }
}

/// A PEM private key for lettre's signer: RSA as PKCS#1 (`BEGIN RSA PRIVATE
/// KEY`, what `openssl genrsa` wrote before 3.0) or PKCS#8 (`BEGIN PRIVATE
/// KEY`), Ed25519 as PKCS#8 (`openssl genpkey -algorithm ed25519`).
pub fn parse_key(text: &str) -> Result<DkimSigningKey, String> {
    const EXPECTED: &str = "expected a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----, RSA or Ed25519)";
    // The label first, the content after: "a public key" helps more than
    // "not DER".
    let (label, der) = pem::decode_vec(text.trim().as_bytes())
        .map_err(|_| format!("not a PEM key; {EXPECTED}"))?;
    let der = Zeroizing::new(der);
    let rsa = match label {
        "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&der)
            .map_err(|e| format!("not a valid RSA private key ({e})"))?,
        "PRIVATE KEY" => {
            let info = PrivateKeyInfo::from_der(&der)
                .map_err(|e| format!("not a valid PKCS#8 private key ({e})"))?;
            if info.algorithm.oid == ED25519_OID {
                return ed25519(info.private_key);
            }
            if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
                return Err(format!(
                    "a {} key; DKIM signs with RSA or Ed25519 keys",
                    info.algorithm.oid
                ));
            }
            RsaPrivateKey::try_from(info)
                .map_err(|e| format!("not a valid RSA private key ({e})"))?
        }
        "ENCRYPTED PRIVATE KEY" => {
            return Err(
                "the key is encrypted; store it without a passphrase (openssl pkey -in key.pem -out plain.pem) and protect the file instead"
                    .into(),
            );
        }
        "PUBLIC KEY" => {
            return Err(
                "a public key; this needs the private key (the public one goes into DNS)".into(),
            );
        }
        other => return Err(format!("a PEM {other:?}; {EXPECTED}")),
    };
    let bits = rsa.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "an RSA key of {bits} bits; receivers refuse DKIM keys under {MIN_RSA_BITS} bits (RFC 8301): make one of 2048"
        ));
    }
    // lettre reads RSA keys as PKCS#1 only.
    let pkcs1 = rsa
        .to_pkcs1_pem(LineEnding::LF)
        .map_err(|e| format!("cannot use the RSA key ({e})"))?;
    DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
        .map_err(|e| format!("cannot use the RSA key ({e})"))
}

/// RFC 8410: the PKCS#8 private key of Ed25519 is an OCTET STRING holding
/// the 32-byte seed, which lettre takes in base64.
fn ed25519(private_key: &[u8]) -> Result<DkimSigningKey, String> {
    let seed = OctetStringRef::from_der(private_key)
        .ok()
        .map(|o| o.as_bytes())
        .filter(|s| s.len() == 32)
        .ok_or("not a valid Ed25519 private key (expected a 32-byte seed)")?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(seed);
    DkimSigningKey::new(&b64, DkimSigningAlgorithm::Ed25519)
        .map_err(|e| format!("cannot use the Ed25519 key ({e})"))
}

/// `dkim_selector`: one or more DNS labels (`postbode`, `2025.mail`).
pub(super) fn selector<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Spanned<String>>, D::Error> {
    let value = Spanned::<String>::deserialize(d)?;
    if !is_dns_name(value.get_ref()) {
        return Err(D::Error::custom(format!(
            "{:?} is not a DKIM selector (letters, digits and hyphens, labels separated by dots: \"postbode\", \"mail2025\")",
            value.get_ref()
        )));
    }
    Ok(Some(value))
}

/// `dkim_domain`: a domain name (`example.org`).
pub(super) fn domain<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Spanned<String>>, D::Error> {
    let value = Spanned::<String>::deserialize(d)?;
    if !is_dns_name(value.get_ref()) || !value.get_ref().contains('.') {
        return Err(D::Error::custom(format!(
            "{:?} is not a domain name (write the domain of the From address, e.g. \"example.org\")",
            value.get_ref()
        )));
    }
    Ok(Some(value))
}

/// Dot-separated labels of letters, digits, `-` and `_` (RFC 6376 §3.1
/// selectors are sub-domains; `_` appears in practice), 63 bytes at most.
fn is_dns_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Whether a signature by `dkim_domain` counts for DMARC on mail from
/// `from_domain`: the same domain or a parent of it (relaxed alignment,
/// RFC 7489 §3.1.1; the organizational domain is approximated by suffix).
pub fn aligned(dkim_domain: &str, from_domain: &str) -> bool {
    let (d, f) = (
        dkim_domain.to_ascii_lowercase(),
        from_domain.to_ascii_lowercase(),
    );
    f == d || f.ends_with(&format!(".{d}")) || d.ends_with(&format!(".{f}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_as_dns_labels() {
        for ok in ["postbode", "mail2025", "s1.mail", "x_y"] {
            assert!(is_dns_name(ok), "{ok}");
        }
        for bad in ["", "a..b", "-a", "a b", "käse", "a/b"] {
            assert!(!is_dns_name(bad), "{bad}");
        }
    }

    #[test]
    fn what_is_not_a_usable_key_is_said_plainly() {
        let cases = [
            ("hello", "not a PEM key"),
            (
                "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
                "a public key",
            ),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
                "encrypted",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                "not a valid RSA private key",
            ),
        ];
        for (pem, expected) in cases {
            let err = parse_key(pem).map(|_| ()).unwrap_err();
            assert!(err.contains(expected), "{pem}: {err}");
        }
    }

    #[test]
    fn an_ed25519_pkcs8_key_is_read() {
        // RFC 8410 §10.3's example private key.
        let pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        assert!(parse_key(pem).is_ok());
    }

    #[test]
    fn alignment_is_relaxed() {
        assert!(aligned("example.org", "example.org"));
        assert!(aligned("example.org", "News.Example.org"));
        assert!(aligned("mail.example.org", "example.org"));
        assert!(!aligned("example.org", "example.net"));
        assert!(!aligned("ample.org", "example.org"));
    }
}
