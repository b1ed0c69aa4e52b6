//! One-click unsubscribe (RFC 8058; issue #12 item 3). Every campaign email carries
//! `List-Unsubscribe: <https://…/u/{token}>, <mailto:…>` and
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The token names the organization and the
//! message and is signed with the organization's unsubscribe key (derived from the master key):
//! it needs no storage, cannot be forged or moved to another organization, and leads to one
//! address only.

pub mod pages;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use kernel::OrgId;
use kernel::vault::Vault;
use secrecy::ExposeSecret;
use uuid::Uuid;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const PURPOSE: &str = "outreach-unsubscribe";
/// Bytes of the MAC kept in the token: 128 bits, beyond guessing.
const MAC_LEN: usize = 16;

fn mac(vault: &Vault, org: OrgId, message: Uuid) -> HmacSha256 {
    let key = vault.signing_key(org, PURPOSE);
    // HMAC accepts a key of any length: a 32-byte key cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key.expose_secret()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(org.0.as_bytes());
    mac.update(message.as_bytes());
    mac
}

/// The token of the unsubscribe link of `message`: org id, message id and MAC, base64url.
pub fn token(vault: &Vault, org: OrgId, message: Uuid) -> String {
    let tag = mac(vault, org, message).finalize().into_bytes();
    let mut bytes = Vec::with_capacity(32 + MAC_LEN);
    bytes.extend_from_slice(org.0.as_bytes());
    bytes.extend_from_slice(message.as_bytes());
    bytes.extend_from_slice(&tag[..MAC_LEN]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The organization and message a token names, if its MAC is right (compared in constant time).
pub fn verify(vault: &Vault, token: &str) -> Option<(OrgId, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(token.as_bytes()).ok()?;
    if bytes.len() != 32 + MAC_LEN {
        return None;
    }
    let org = OrgId(Uuid::from_slice(&bytes[..16]).ok()?);
    let message = Uuid::from_slice(&bytes[16..32]).ok()?;
    mac(vault, org, message).verify_truncated_left(&bytes[32..]).ok()?;
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
    fn a_token_verifies_and_names_its_org_and_message() {
        let vault = vault();
        let (org, message) = (OrgId(Uuid::now_v7()), Uuid::now_v7());
        assert_eq!(verify(&vault, &token(&vault, org, message)), Some((org, message)));
    }

    #[test]
    fn a_changed_forged_or_foreign_token_does_not_verify() {
        let vault = vault();
        let (org, message) = (OrgId(Uuid::now_v7()), Uuid::now_v7());
        let good = token(&vault, org, message);
        let mut bytes = URL_SAFE_NO_PAD.decode(&good).unwrap();
        // Another message of the same org, keeping the MAC.
        bytes[20] ^= 1;
        assert_eq!(verify(&vault, &URL_SAFE_NO_PAD.encode(&bytes)), None);
        // Another instance's master key.
        assert_eq!(verify(&super::tests::vault(), &good), None);
        assert_eq!(verify(&vault, "not-a-token"), None);
        assert_eq!(verify(&vault, &good[..good.len() - 2]), None);
    }
}
