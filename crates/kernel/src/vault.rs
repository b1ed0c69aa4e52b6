//! The vault: every stored secret (mailbox passwords, OAuth tokens, AI keys) is sealed here
//! (P0-06, P0-07, P0-08).
//!
//! * Cipher: libsodium's `crypto_secretbox_easy` (XSalsa20-Poly1305) through `dryoc`, a pure-Rust
//!   implementation that is byte-compatible with libsodium — a stock binding opens our ciphertexts.
//! * Key: per organization and per key version, derived from `RELAIS_MASTER_KEY` (see `keys`).
//!   The version is stored with the ciphertext so a rotation can re-wrap old rows.
//! * Context: the sealed plaintext starts with the context it belongs to (org, record kind,
//!   record id, field). Opening checks it, so a ciphertext copied to another row, field or org
//!   does not open.
//!
//! Stored layout: `0x01 | key_version (u32 BE) | nonce (24) | secretbox (16-byte MAC + message)`.

use std::sync::Arc;

use dryoc::classic::crypto_secretbox::{Key, Nonce, crypto_secretbox_easy, crypto_secretbox_open_easy};
use dryoc::constants::{CRYPTO_SECRETBOX_MACBYTES, CRYPTO_SECRETBOX_NONCEBYTES};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::ids::OrgId;
use crate::keys::MasterKey;

const FORMAT: u8 = 1;
const HEADER: usize = 1 + 4 + CRYPTO_SECRETBOX_NONCEBYTES;

/// Where a secret belongs. Sealing and opening must name the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretContext<'a> {
    pub org: OrgId,
    pub record_kind: &'a str,
    pub record_id: Uuid,
    pub field: &'a str,
}

impl SecretContext<'_> {
    /// The bytes bound into the plaintext: unambiguous because each part is length-prefixed.
    fn binding(&self) -> Vec<u8> {
        let mut out = b"relais-vault-v1".to_vec();
        for part in [
            self.org.0.as_bytes().as_slice(),
            self.record_kind.as_bytes(),
            self.record_id.as_bytes().as_slice(),
            self.field.as_bytes(),
        ] {
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("sealed secret is malformed")]
    Malformed,
    #[error("sealed secret does not open with this organization's key")]
    WrongKey,
    #[error("sealed secret belongs to another record or field")]
    ContextMismatch,
    #[error("secret is not valid UTF-8")]
    NotText,
}

#[derive(Clone)]
pub struct Vault {
    master: Arc<MasterKey>,
    current_version: u32,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("current_version", &self.current_version).finish_non_exhaustive()
    }
}

impl Vault {
    pub fn new(master: Arc<MasterKey>) -> Self {
        Self { master, current_version: 1 }
    }

    fn key(&self, org: OrgId, version: u32) -> Zeroizing<Key> {
        Zeroizing::new(*self.master.vault_key(org, version).expose_secret())
    }

    pub fn seal(&self, context: &SecretContext<'_>, secret: &SecretString) -> Vec<u8> {
        let binding = context.binding();
        let mut message = Zeroizing::new(Vec::with_capacity(2 + binding.len() + secret.expose_secret().len()));
        message.extend_from_slice(&(binding.len() as u16).to_be_bytes());
        message.extend_from_slice(&binding);
        message.extend_from_slice(secret.expose_secret().as_bytes());

        let nonce: Nonce = rand::random();
        let mut boxed = vec![0u8; message.len() + CRYPTO_SECRETBOX_MACBYTES];
        let key = self.key(context.org, self.current_version);
        // Fails only when the output buffer has the wrong size, which is computed just above.
        if crypto_secretbox_easy(&mut boxed, &message, &nonce, &key).is_err() {
            unreachable!("secretbox output buffer is sized by construction");
        }

        let mut sealed = Vec::with_capacity(HEADER + boxed.len());
        sealed.push(FORMAT);
        sealed.extend_from_slice(&self.current_version.to_be_bytes());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&boxed);
        sealed
    }

    pub fn open(&self, context: &SecretContext<'_>, sealed: &[u8]) -> Result<SecretString, VaultError> {
        if sealed.len() < HEADER + CRYPTO_SECRETBOX_MACBYTES || sealed[0] != FORMAT {
            return Err(VaultError::Malformed);
        }
        let version = u32::from_be_bytes(sealed[1..5].try_into().map_err(|_| VaultError::Malformed)?);
        let nonce: Nonce = sealed[5..HEADER].try_into().map_err(|_| VaultError::Malformed)?;
        let boxed = &sealed[HEADER..];

        let mut message = Zeroizing::new(vec![0u8; boxed.len() - CRYPTO_SECRETBOX_MACBYTES]);
        crypto_secretbox_open_easy(&mut message, boxed, &nonce, &self.key(context.org, version))
            .map_err(|_| VaultError::WrongKey)?;

        let binding = context.binding();
        let stored_len =
            message.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize).ok_or(VaultError::Malformed)?;
        let stored_binding = message.get(2..2 + stored_len).ok_or(VaultError::Malformed)?;
        if stored_binding != binding.as_slice() {
            return Err(VaultError::ContextMismatch);
        }
        let secret = std::str::from_utf8(&message[2 + stored_len..]).map_err(|_| VaultError::NotText)?;
        Ok(SecretString::from(secret))
    }

    /// The organization's key for signing links of one `purpose` (the vault holds the master key,
    /// and both the web handlers and the job handlers hold the vault).
    pub fn signing_key(&self, org: OrgId, purpose: &str) -> secrecy::SecretBox<[u8; 32]> {
        self.master.org_signing_key(org, purpose)
    }

    /// The derived key for one org, for the libsodium interoperability test only.
    #[doc(hidden)]
    pub fn export_org_key_for_interop_test(&self, org: OrgId) -> [u8; 32] {
        *self.key(org, self.current_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::new(Arc::new(MasterKey::parse(&MasterKey::generate_base64()).unwrap()))
    }

    fn ctx(org: OrgId, record_id: Uuid, field: &str) -> SecretContext<'_> {
        SecretContext { org, record_kind: "mailbox", record_id, field }
    }

    /// P0-06: sealed with XSalsa20-Poly1305 and opened again; the clear text is not in the blob.
    #[test]
    fn p0_06_seal_then_open_round_trips_and_hides_the_secret() {
        let vault = vault();
        let (org, id) = (OrgId::new(), Uuid::now_v7());
        let secret = SecretString::from("imap-password-ÄÖ-123");
        let sealed = vault.seal(&ctx(org, id, "password"), &secret);
        assert!(!sealed.windows(8).any(|w| w == b"imap-pas"));
        let opened = vault.open(&ctx(org, id, "password"), &sealed).unwrap();
        assert_eq!(opened.expose_secret(), secret.expose_secret());
        // A fresh nonce each time: sealing twice never gives the same bytes.
        assert_ne!(sealed, vault.seal(&ctx(org, id, "password"), &secret));
    }

    #[test]
    fn ciphertext_moved_to_another_record_field_or_org_does_not_open() {
        let vault = vault();
        let (org, id) = (OrgId::new(), Uuid::now_v7());
        let sealed = vault.seal(&ctx(org, id, "password"), &SecretString::from("s3cret"));
        assert_eq!(
            vault.open(&ctx(org, Uuid::now_v7(), "password"), &sealed).unwrap_err(),
            VaultError::ContextMismatch
        );
        assert_eq!(vault.open(&ctx(org, id, "refresh_token"), &sealed).unwrap_err(), VaultError::ContextMismatch);
        assert_eq!(vault.open(&ctx(OrgId::new(), id, "password"), &sealed).unwrap_err(), VaultError::WrongKey);
    }

    /// P0-07: without the same master key nothing decrypts.
    #[test]
    fn p0_07_another_master_key_opens_nothing() {
        let (org, id) = (OrgId::new(), Uuid::now_v7());
        let sealed = vault().seal(&ctx(org, id, "password"), &SecretString::from("s3cret"));
        assert_eq!(vault().open(&ctx(org, id, "password"), &sealed).unwrap_err(), VaultError::WrongKey);
    }

    #[test]
    fn tampered_or_truncated_ciphertexts_are_refused() {
        let vault = vault();
        let (org, id) = (OrgId::new(), Uuid::now_v7());
        let mut sealed = vault.seal(&ctx(org, id, "password"), &SecretString::from("s3cret"));
        assert_eq!(vault.open(&ctx(org, id, "password"), &sealed[..20]).unwrap_err(), VaultError::Malformed);
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(vault.open(&ctx(org, id, "password"), &sealed).unwrap_err(), VaultError::WrongKey);
    }

    /// P0-08: a vault's Debug output shows no key material.
    #[test]
    fn p0_08_debug_shows_no_key() {
        assert_eq!(format!("{:?}", vault()), "Vault { current_version: 1, .. }");
    }
}
