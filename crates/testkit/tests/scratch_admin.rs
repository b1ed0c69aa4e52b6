#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "it/platform_admin.rs"]
mod platform_admin;
