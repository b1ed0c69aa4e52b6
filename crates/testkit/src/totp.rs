//! TOTP codes, computed as an authenticator app would, for tests of members' and platform admins'
//! second factor.

use crate::TestApp;

impl TestApp {
    /// The code an authenticator app shows for `secret` (base32) at the app's current (manual) time.
    pub fn totp_code(&self, secret: &str) -> String {
        let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32 secret");
        let totp = totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(6)
            .with_step_duration(30)
            .with_secret(bytes)
            .build()
            .expect("totp");
        totp.generate(self.clock.now().unix_timestamp() as u64).to_string()
    }
}
