//! The dashboard (`/dashboard`): the organization's members and, for owners, the latest sign-ins
//! (each view audited, P0-04, P1-04); and `/`, which sends a visitor to the dashboard or the login
//! page.
//!
//! Files: `pages.rs` (both pages).

pub mod pages;
