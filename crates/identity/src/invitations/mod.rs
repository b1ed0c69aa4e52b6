//! Members and invitations (P1-05, P2-12).
//!
//! Owners invite managers or users, managers invite users only. An invitation is an email with a
//! link `/invitations/{token}`: a 256-bit random token whose SHA-256 alone is stored, good once and
//! for [`INVITATION_LIFETIME`], withdrawable until used. Following the link (GET) shows a form;
//! its POST creates the member in the inviting organization with the invited role and signs them
//! in. Audited: `member.invited`, `member.invitation_revoked`, `member.joined`.
//!
//! Files: `store.rs` (what the members page lists), `service.rs` (inviting, withdrawing,
//! accepting), `pages.rs` (`/members` with its invite
//! form and pending invitations, and the invitation's landing page).

pub mod pages;
mod service;
mod store;

pub use service::*;
use store::*;

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::{AppError, OrgId};
use secrecy::SecretString;
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::http::empty_secret;
use crate::model::{JobTitle, OrgRole, Password, PersonName};

/// How long an invitation link works.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);

const MAX_TOKEN_CHARS: usize = 128;

pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "invitations",
    module: "identity",
    description: "Invitations to join an organization: invitee's email, role, hashed single-use token, who invited, when accepted or withdrawn.",
    subject: Subject::AccountHolder,
    personal_columns: &["email", "invited_by", "accepted_user_id"],
    purpose: "Account and organization management",
    legal_basis: LegalBasis::Contract,
    retention: Retention::AccountLifetimePlusDays { days: 30 },
    erasure: Erasure::Delete,
    tenant: true,
}];

/// Who may invite whom: owners invite managers and users, managers invite users; nobody invites
/// an owner (ownership is transferred, not granted by invitation).
pub fn may_invite(inviter: OrgRole, invited: OrgRole) -> bool {
    matches!((inviter, invited), (OrgRole::Owner, OrgRole::Manager | OrgRole::User) | (OrgRole::Manager, OrgRole::User))
}

fn already_member() -> AppError {
    AppError::field("email", "already_member", "This person is already a member of your organization.")
}

/// An invitation whose link can still be used.
struct LiveInvitation {
    org: OrgId,
    invitation_id: Uuid,
    email: String,
    org_role: String,
    org_name: String,
    inviter_name: String,
    already_member: bool,
}

/// The invitee's answer, as submitted.
#[derive(Deserialize)]
pub struct AcceptInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub job_title: String,
    #[serde(default = "empty_secret")]
    pub password: SecretString,
    #[serde(default)]
    pub adult: Option<String>,
    #[serde(default)]
    pub accepted_policy_version: String,
}

struct ValidAcceptance {
    first_name: PersonName,
    last_name: PersonName,
    job_title: JobTitle,
    password: Password,
    policy_version: String,
}

fn accept_conflict(error: sqlx::Error) -> AppError {
    kernel::error::on_constraint(error, |name| {
        (name == "users_org_id_email_key").then(|| AppError::Conflict("already_member".into()))
    })
}

/// A member as the members page lists them (read by a dynamic query: `store::members_within_reach`).
#[derive(sqlx::FromRow)]
struct MemberRow {
    first_name: String,
    last_name: String,
    email: String,
    job_title: String,
    org_role: String,
}

/// An invitation still waiting for its answer.
struct PendingRow {
    invitation_id: Uuid,
    email: String,
    org_role: String,
    expires_at: OffsetDateTime,
    inviter_name: String,
}

impl PendingRow {
    /// When the invitation lapses, in the member's time zone and language.
    fn expires(&self, page: &kernel::web::Page) -> String {
        page.date_time(&self.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_invite_managers_and_users_managers_only_users() {
        assert!(may_invite(OrgRole::Owner, OrgRole::Manager) && may_invite(OrgRole::Owner, OrgRole::User));
        assert!(may_invite(OrgRole::Manager, OrgRole::User));
        assert!(!may_invite(OrgRole::Manager, OrgRole::Manager));
        assert!(!may_invite(OrgRole::User, OrgRole::User));
        for role in OrgRole::ALL {
            assert!(!may_invite(role, OrgRole::Owner), "{role:?} may invite an owner");
        }
    }
}
