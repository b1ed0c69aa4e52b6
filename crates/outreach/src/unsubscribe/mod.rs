//! One-click unsubscribe (RFC 8058; issue #12 item 3). Every campaign email carries
//! `List-Unsubscribe: <https://…/u/{token}>, <mailto:…>` and
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The token (`crate::signed`) names the
//! organization and the message, signed for this purpose only: it leads to one address only.

pub mod pages;

use kernel::OrgId;
use kernel::vault::Vault;
use uuid::Uuid;

const PURPOSE: &str = "outreach-unsubscribe";

/// The token of the unsubscribe link of `message` (see `crate::signed`).
pub fn token(vault: &Vault, org: OrgId, message: Uuid) -> String {
    crate::signed::token(vault, PURPOSE, org, message, b"")
}

/// The organization and message an unsubscribe token names, if it verifies.
pub fn verify(vault: &Vault, token: &str) -> Option<(OrgId, Uuid)> {
    crate::signed::verify(vault, PURPOSE, token, b"")
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
        use base64::Engine;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
