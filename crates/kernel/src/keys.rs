//! The master key and everything derived from it.
//!
//! `RELAIS_MASTER_KEY` never reaches the database. Each purpose (vault, audit MAC, CSRF) and each
//! organization gets its own key through HKDF-SHA256, so one derived key says nothing about another,
//! and without the environment variable nothing can be opened or forged (P0-07).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

use crate::ids::OrgId;

pub struct MasterKey(SecretBox<[u8; 32]>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterKeyError {
    #[error("is not valid base64")]
    NotBase64,
    #[error("must decode to exactly 32 bytes (got {0})")]
    WrongLength(usize),
}

impl MasterKey {
    pub fn parse(base64_text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD.decode(base64_text.trim()).map_err(|_| MasterKeyError::NotBase64)?;
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| MasterKeyError::WrongLength(bytes.len()))?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// A fresh random key, base64-encoded, for `relais demo` and for tests.
    pub fn generate_base64() -> String {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        STANDARD.encode(key)
    }

    /// Derives a 32-byte key for one purpose. `info` must name the purpose, its version and the
    /// org (when the key is per org), so that no two uses ever share a key.
    fn derive(&self, info: &str) -> SecretBox<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(b"relais/v1"), self.0.expose_secret());
        let mut out = Box::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        if hk.expand(info.as_bytes(), out.as_mut()).is_err() {
            unreachable!("HKDF output length is fixed at 32 bytes");
        }
        SecretBox::new(out)
    }

    pub fn vault_key(&self, org: OrgId, key_version: u32) -> SecretBox<[u8; 32]> {
        self.derive(&format!("vault/key-v{key_version}/org/{org}"))
    }

    pub fn audit_key(&self, org: OrgId) -> SecretBox<[u8; 32]> {
        self.derive(&format!("audit-chain/v1/org/{org}"))
    }

    /// A per-organization key for one signing purpose (unsubscribe links, tracking redirects): a
    /// link signed for one organization never verifies for another.
    pub fn org_signing_key(&self, org: OrgId, purpose: &str) -> SecretBox<[u8; 32]> {
        self.derive(&format!("sign/{purpose}/v1/org/{org}"))
    }

    pub fn instance_key(&self, purpose: &str) -> SecretBox<[u8; 32]> {
        self.derive(&format!("instance/{purpose}/v1"))
    }

    /// The HS256 key that signs and checks API access tokens (JWT). One per instance: the org is a
    /// claim inside the signed token, and rotating the master key invalidates every access token.
    pub fn jwt_key(&self) -> SecretBox<[u8; 32]> {
        self.instance_key("jwt")
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::parse(&MasterKey::generate_base64()).unwrap()
    }

    /// P0-07: each organization has its own key, derived from the master key.
    #[test]
    fn p0_07_org_keys_differ_per_org_and_per_master_key() {
        let (a, b) = (OrgId::new(), OrgId::new());
        let master = key();
        assert_ne!(master.vault_key(a, 1).expose_secret(), master.vault_key(b, 1).expose_secret());
        assert_ne!(master.vault_key(a, 1).expose_secret(), master.vault_key(a, 2).expose_secret());
        assert_ne!(master.vault_key(a, 1).expose_secret(), master.audit_key(a).expose_secret());
        assert_ne!(master.vault_key(a, 1).expose_secret(), key().vault_key(a, 1).expose_secret());
        assert_eq!(master.vault_key(a, 1).expose_secret(), master.vault_key(a, 1).expose_secret());
    }

    #[test]
    fn master_key_must_be_32_bytes_of_base64() {
        assert_eq!(MasterKey::parse("not base64!").err(), Some(MasterKeyError::NotBase64));
        assert_eq!(MasterKey::parse("AAAA").err(), Some(MasterKeyError::WrongLength(3)));
        let debug = format!("{:?}", key());
        assert_eq!(debug, "MasterKey([REDACTED])");
    }
}
