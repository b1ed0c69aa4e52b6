//! Tokens for the public links in emails — the unsubscribe link, and the open pixel and click
//! redirects when a sequence tracks. A token names the organization and the message and carries
//! a MAC under the organization's key for its purpose (derived from the master key), over those
//! and whatever else the link is bound to (a click's destination). It needs no storage, cannot be
//! forged, moved to another organization or message, or used for another purpose.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use kernel::OrgId;
use kernel::vault::Vault;
use secrecy::ExposeSecret;
use uuid::Uuid;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes of the MAC kept in the token: 128 bits, beyond guessing.
const MAC_LEN: usize = 16;
/// Longer than any token: refused before decoding.
pub const MAX_TOKEN: usize = 128;

fn mac(vault: &Vault, purpose: &'static str, org: OrgId, message: Uuid, bound: &[u8]) -> HmacSha256 {
    let key = vault.signing_key(org, purpose);
    // HMAC accepts a key of any length: a 32-byte key cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key.expose_secret()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(org.0.as_bytes());
    mac.update(message.as_bytes());
    mac.update(bound);
    mac
}

/// The token for `purpose`: org id, message id and MAC, base64url.
pub fn token(vault: &Vault, purpose: &'static str, org: OrgId, message: Uuid, bound: &[u8]) -> String {
    let tag = mac(vault, purpose, org, message, bound).finalize().into_bytes();
    let mut bytes = Vec::with_capacity(32 + MAC_LEN);
    bytes.extend_from_slice(org.0.as_bytes());
    bytes.extend_from_slice(message.as_bytes());
    bytes.extend_from_slice(&tag[..MAC_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The organization and message a token names, if its MAC is right for `purpose` and `bound`
/// (compared in constant time).
pub fn verify(vault: &Vault, purpose: &'static str, token: &str, bound: &[u8]) -> Option<(OrgId, Uuid)> {
    if token.len() > MAX_TOKEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    if bytes.len() != 32 + MAC_LEN {
        return None;
    }
    let org = OrgId(Uuid::from_slice(&bytes[..16]).ok()?);
    let message = Uuid::from_slice(&bytes[16..32]).ok()?;
    mac(vault, purpose, org, message, bound).verify_truncated_left(&bytes[32..]).ok()?;
    Some((org, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn vault() -> Vault {
        Vault::new(Arc::new(kernel::keys::MasterKey::parse(&kernel::keys::MasterKey::generate_base64()).unwrap()))
    }

    #[test]
    fn a_token_verifies_for_its_purpose_and_binding_only() {
        let vault = vault();
        let (org, message) = (OrgId(Uuid::now_v7()), Uuid::now_v7());
        let good = token(&vault, "a", org, message, b"https://x.example/");
        assert_eq!(verify(&vault, "a", &good, b"https://x.example/"), Some((org, message)));
        assert_eq!(verify(&vault, "b", &good, b"https://x.example/"), None, "another purpose");
        assert_eq!(verify(&vault, "a", &good, b"https://evil.example/"), None, "another destination");
        let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
        bytes[20] ^= 1;
        assert_eq!(verify(&vault, "a", &URL_SAFE_NO_PAD.encode(&bytes), b"https://x.example/"), None);
        assert_eq!(verify(&super::tests::vault(), "a", &good, b"https://x.example/"), None, "another instance");
        assert_eq!(verify(&vault, "a", "not-a-token", b""), None);
        assert_eq!(verify(&vault, "a", &good[..good.len() - 2], b"https://x.example/"), None);
        assert_eq!(verify(&vault, "a", &"A".repeat(MAX_TOKEN + 1), b""), None);
    }
}
