//! Sign-up checks shared by the tests of the sign-up API and form and of its verification: what a
//! sign-up writes, its confirmation, and the form's fields.

use kernel::{OrgId, UserId};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::TestApp;

/// Tables a sign-up writes (or could write): a refused or repeated sign-up must leave them as
/// they were.
const SIGNUP_TABLES: &[&str] =
    &["organizations", "users", "policy_acceptances", "audit_events", "audit_chain_heads", "sessions", "login_events"];

impl TestApp {
    /// Row counts of the tables a sign-up writes, read as superuser (no row-level security in the
    /// way).
    pub async fn signup_table_row_counts(&self) -> Vec<(&'static str, i64)> {
        let mut conn = self.superuser_connection().await;
        let mut counts = Vec::new();
        for table in SIGNUP_TABLES {
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
                .fetch_one(&mut conn)
                .await
                .expect("count rows");
            counts.push((*table, count));
        }
        conn.close().await.ok();
        counts
    }

    /// `POST /api/v1/signup` with `body`: the status, the content type and the raw body, whatever
    /// they are (tests compare answers byte for byte, or parse them).
    pub async fn post_signup(&self, body: &Value) -> (u16, String, String) {
        let response = self.post_json("/api/v1/signup", body).await;
        let status = response.status().as_u16();
        let content_type = crate::http::header(&response, "content-type");
        (status, content_type, response.text().await.expect("body"))
    }

    /// Confirms the sign-up of `email` through the API with the token of its newest mailed link:
    /// the status and body of `POST /api/v1/signup/confirm`, whatever they are.
    pub async fn post_signup_confirmation(&self, email: &str) -> (u16, Value) {
        let token = self.signup_token(email).expect("a sign-up confirmation mail");
        let response = self.post_json("/api/v1/signup/confirm", &json!({ "token": token })).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("json"))
    }

    /// Confirms the pending sign-up of `email` through the API with the token of its newest mailed
    /// link, asserts it succeeded, and returns the new org and owner.
    pub async fn confirm_signup(&self, email: &str) -> (OrgId, UserId) {
        let (status, body) = self.post_signup_confirmation(email).await;
        assert_eq!(status, 201, "confirmation failed: {body}");
        let org = body["organization_id"].as_str().expect("org id").parse().expect("uuid");
        let user = body["user_id"].as_str().expect("user id").parse().expect("uuid");
        (org, user)
    }
}

/// The fields of the sign-up form, filled in for Katherine Johnson with these values.
pub fn signup_form_fields<'a>(
    email: &'a str,
    password: &'a str,
    organization: &'a str,
    policy: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("first_name", "Katherine"),
        ("last_name", "Johnson"),
        ("email", email),
        ("password", password),
        ("organization_name", organization),
        ("job_title", "Orbital mechanics"),
        ("adult", "true"),
        ("accepted_policy_version", policy),
    ]
}
