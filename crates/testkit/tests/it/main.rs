//! Integration tests: real PostgreSQL, the app over HTTP on loopback, real peers.
//! One binary (linking is the slow part of a Rust test build); one module per area.

// All of this is test code, including the helper functions outside `#[test]` bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api_docs;
mod billing_card_data;
mod browser_a11y;
mod browser_crm;
mod browser_journeys;
mod browser_lists;
mod browser_outreach;
mod browser_shell;
mod crm_export;
mod crm_files;
mod crm_forms_webhooks;
mod crm_import;
mod crm_list_page;
mod crm_record_page;
mod crm_records;
mod crm_settings;
mod home;
mod identity_api_auth;
mod identity_login;
mod identity_magic;
mod identity_mail;
mod identity_members;
mod identity_mfa;
mod identity_permissions;
mod identity_sessions;
mod identity_signup;
mod identity_signup_verified;
mod identity_throttle;
mod kernel_audit;
mod kernel_conformance;
mod kernel_jobs;
mod kernel_tenancy;
mod kernel_vault;
mod org_switcher;
mod outreach_inbound;
mod outreach_mailboxes;
mod outreach_oauth;
mod outreach_sending;
mod outreach_sequences;
mod outreach_suppression;
mod outreach_tracking;
mod platform_admin;
mod smoke;
mod web_palette;
mod web_shell;
