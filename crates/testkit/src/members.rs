//! Members and owners as tests need them: most tests are about something else than invitations
//! (identity_mail.rs tests those end to end), so a member is one `insert` in the org's tenant
//! transaction, and an owner is a sign-up followed by what the test acts through — an API token or
//! a signed-in browser.

use kernel::authz::Role;
use kernel::{OrgId, UserId};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{Browser, PASSWORD, TestApp};

impl TestApp {
    /// Adds an active member "Test Member" with `role` and [`PASSWORD`] to `org`, straight into
    /// the database, and returns their user id. The password is hashed with bcrypt's lowest cost,
    /// so tests that add many members stay fast.
    pub async fn add_member(&self, org: OrgId, email: &str, role: Role) -> Uuid {
        self.add_named_member(org, email, role, ("Test", "Member")).await
    }

    /// Like [`TestApp::add_member`], for tests that look for the member's (first, last) name.
    pub async fn add_named_member(&self, org: OrgId, email: &str, role: Role, name: (&str, &str)) -> Uuid {
        let hash = bcrypt::hash(PASSWORD, 4).expect("bcrypt");
        let now = self.clock.now();
        let user = UserId::new();
        let mut tx = self.db.begin_org(org, kernel::db::Actor::System).await.expect("tenant transaction");
        sqlx::query!(
            "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                                adult_attested_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, 'Sales', $6, $7, $8, $8, $8)",
            org.0,
            user.0,
            email,
            name.0,
            name.1,
            role.as_str(),
            hash,
            now
        )
        .execute(tx.conn())
        .await
        .expect("insert a member");
        tx.commit().await.expect("commit");
        user.0
    }

    /// `POST /api/v1/auth/token` with `email` and `password`: asserts success (and that the pair
    /// is not to be cached) and returns the pair, `{access_token, refresh_token, …}`.
    pub async fn token_pair(&self, email: &str, password: &str) -> Value {
        let response = self.post_json("/api/v1/auth/token", &json!({ "email": email, "password": password })).await;
        let status = response.status();
        let cache_control = crate::http::header(&response, "cache-control");
        assert_eq!(status, 200, "token for {email}: {}", response.text().await.unwrap_or_default());
        assert_eq!(cache_control, "no-store", "token for {email}");
        response.json().await.expect("a token pair")
    }

    /// An API access token for the member `email` (with [`PASSWORD`]), to call the API as them.
    pub async fn access_token(&self, email: &str) -> String {
        access_token_of(&self.token_pair(email, PASSWORD).await)
    }

    /// Signs `email` up as the owner of a new organization ([`TestApp::sign_up`]) and gets an API
    /// access token for them: (org, owner, bearer token).
    pub async fn sign_up_with_token(&self, email: &str) -> (OrgId, UserId, String) {
        let (org, user) = self.sign_up(email).await;
        (org, user, self.access_token(email).await)
    }

    /// Signs `email` up as the owner of a new organization ([`TestApp::sign_up`]) and logs them in
    /// through the login form: (org, owner, signed-in browser).
    pub async fn sign_up_and_log_in(&self, email: &str) -> (OrgId, UserId, Browser) {
        let (org, user) = self.sign_up(email).await;
        (org, user, self.browser_login(email, PASSWORD).await)
    }
}

/// The access token of a pair from [`TestApp::token_pair`].
pub fn access_token_of(pair: &Value) -> String {
    pair["access_token"].as_str().expect("an access token").to_string()
}

/// The refresh token of a pair from [`TestApp::token_pair`].
pub fn refresh_token_of(pair: &Value) -> String {
    pair["refresh_token"].as_str().expect("a refresh token").to_string()
}
