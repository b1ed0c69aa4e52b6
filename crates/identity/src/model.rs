//! Identity's domain types. Each input is parsed once into a type that cannot hold a bad value
//! (parse, don't validate); handlers collect every field's problem before answering.

use std::fmt;

use kernel::FieldError;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// A normalized email address: trimmed, lower-cased, syntactically valid, at most 254 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
        let normalized = input.trim().to_lowercase();
        if normalized.is_empty() {
            return Err(FieldError::new(field, "required", "Enter an email address."));
        }
        if normalized.len() > 254 || !email_address::EmailAddress::is_valid(&normalized) || !normalized.contains('.') {
            return Err(FieldError::new(field, "invalid_email", "Enter a valid email address, like name@example.eu."));
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A short line of text typed by a person: trimmed, 1..=max characters, no control characters.
fn short_text(field: &str, input: &str, max: usize) -> Result<String, FieldError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(FieldError::new(field, "required", "This field is required."));
    }
    if text.chars().count() > max {
        return Err(FieldError::new(field, "too_long", format!("Use at most {max} characters.")));
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(field, "invalid_characters", "Remove line breaks and control characters."));
    }
    Ok(text.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        pub struct $name(String);

        impl $name {
            pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
                short_text(field, input, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// A first or last name.
    PersonName,
    100
);
text_type!(
    /// An organization's display name.
    OrgName,
    200
);
text_type!(
    /// The person's role in their organization ("Head of sales"), P0-01.
    JobTitle,
    100
);

/// A password as typed, length-checked for bcrypt and not on the common-password list. Never printed.
pub struct Password(SecretString);

pub const PASSWORD_MIN_CHARS: usize = 12;
/// bcrypt reads only the first 72 bytes; longer passwords are refused rather than silently cut.
pub const PASSWORD_MAX_BYTES: usize = 72;

impl Password {
    pub fn parse(field: &str, input: SecretString) -> Result<Self, FieldError> {
        let text = input.expose_secret();
        if text.chars().count() < PASSWORD_MIN_CHARS {
            return Err(FieldError::new(
                field,
                "password_too_short",
                format!("Use at least {PASSWORD_MIN_CHARS} characters."),
            ));
        }
        if text.len() > PASSWORD_MAX_BYTES {
            return Err(FieldError::new(
                field,
                "password_too_long",
                format!("Use at most {PASSWORD_MAX_BYTES} bytes (about {PASSWORD_MAX_BYTES} plain letters)."),
            ));
        }
        crate::common_passwords::check(field, &input)?;
        Ok(Self(input))
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// Organization roles (P0-12); the permission matrix lives with them in `kernel::authz`.
pub use kernel::authz::Role as OrgRole;

/// bcrypt cost. 12 is the floor the promises set (P1-02).
pub const BCRYPT_COST: u32 = 12;

/// Hashes off the async runtime: bcrypt at cost 12 takes a quarter second of CPU.
pub async fn hash_password(password: &Password) -> anyhow::Result<String> {
    let secret = password.secret().clone();
    let hash = tokio::task::spawn_blocking(move || bcrypt::hash(secret.expose_secret(), BCRYPT_COST)).await??;
    Ok(hash)
}

pub async fn verify_password(password: SecretString, hash: String) -> bool {
    tokio::task::spawn_blocking(move || bcrypt::verify(password.expose_secret(), &hash).unwrap_or(false))
        .await
        .unwrap_or(false)
}

/// A real bcrypt hash of a random string at the same cost, so that an unknown email costs the same
/// time as a wrong password.
pub static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| bcrypt::hash(uuid::Uuid::new_v4().to_string(), BCRYPT_COST).unwrap_or_default());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(EmailAddress::parse("email", "  Alice@Example.EU ").unwrap().as_str(), "alice@example.eu");
        for bad in ["", "alice", "alice@", "@example.eu", "a b@example.eu", "alice@localhost"] {
            assert!(EmailAddress::parse("email", bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.eu", "a".repeat(250));
        assert_eq!(EmailAddress::parse("email", &long).unwrap_err().code, "invalid_email");
    }

    #[test]
    fn passwords_are_bounded_by_length_not_composition() {
        let parse = |s: &str| Password::parse("password", SecretString::from(s));
        assert_eq!(parse("short").unwrap_err().code, "password_too_short");
        assert!(parse("correct horse battery").is_ok());
        assert!(parse(&"a".repeat(72)).is_ok());
        assert_eq!(parse(&"a".repeat(73)).unwrap_err().code, "password_too_long");
        // 24 three-byte characters = 72 bytes: accepted; 25 = 75 bytes: refused, never truncated.
        assert!(parse(&"€".repeat(24)).is_ok());
        assert_eq!(parse(&"€".repeat(25)).unwrap_err().code, "password_too_long");
        assert_eq!(parse("Qwerty123456").unwrap_err().code, "password_common");
        assert_eq!(format!("{:?}", parse("correct horse battery").unwrap()), "Password([REDACTED])");
    }

    #[test]
    fn names_refuse_blank_overlong_and_control_characters() {
        assert_eq!(PersonName::parse("first_name", "  Zoé ").unwrap().as_str(), "Zoé");
        assert_eq!(PersonName::parse("first_name", "   ").unwrap_err().code, "required");
        assert_eq!(PersonName::parse("first_name", &"x".repeat(101)).unwrap_err().code, "too_long");
        assert_eq!(PersonName::parse("first_name", "a\nb").unwrap_err().code, "invalid_characters");
    }

    /// P1-02: bcrypt with cost at least 12, `$2b$` format.
    #[tokio::test]
    async fn p1_02_hashes_are_bcrypt_cost_12() {
        let password = Password::parse("password", SecretString::from("correct horse battery")).unwrap();
        let hash = hash_password(&password).await.unwrap();
        assert!(hash.starts_with("$2b$12$"), "{hash}");
        assert!(verify_password(SecretString::from("correct horse battery"), hash.clone()).await);
        assert!(!verify_password(SecretString::from("correct horse batterY"), hash).await);
    }
}
