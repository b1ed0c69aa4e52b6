//! Inviting, withdrawing an invitation, and accepting one.

use super::*;
use crate::doors::IdentityDoors;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::db::Actor;
use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::web::{AppState, ClientInfo};
use kernel::{FieldError, UserId, token};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::login::{self, NewSession};
use crate::model::{EmailAddress, hash_password};
use crate::signed_in::SignedIn;

/// Invites `email` with `role` into the signed-in member's organization and mails the link.
pub async fn invite(
    state: &AppState,
    inviter: &SignedIn,
    principal: &Principal,
    email: &str,
    role: &str,
) -> Result<Uuid, AppError> {
    if inviter.role == OrgRole::User {
        return Err(AppError::Forbidden);
    }
    let mut errors = Vec::new();
    let email = EmailAddress::parse("email", email).map_err(|e| errors.push(e)).ok();
    let role = match OrgRole::parse(role) {
        Some(role @ (OrgRole::Manager | OrgRole::User)) => Some(role),
        _ => {
            errors.push(FieldError::new("role", "invalid", "Choose manager or user."));
            None
        }
    };
    let (Some(email), Some(role)) = (email, role) else { return Err(AppError::Validation(errors)) };
    if !may_invite(inviter.role, role) {
        return Err(AppError::Forbidden);
    }
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let member = crate::members::email_taken(&mut tx, email.as_str()).await?;
    if member {
        return Err(already_member());
    }
    // One live invitation per address: a new one withdraws the earlier ones.
    sqlx::query!(
        "update invitations set revoked_at = $3
         where org_id = $1 and email = $2 and accepted_at is null and revoked_at is null",
        inviter.org.0,
        email.as_str(),
        now
    )
    .execute(tx.conn())
    .await?;
    let secret = token::generate();
    let invitation_id = Uuid::now_v7();
    sqlx::query!(
        "insert into invitations (org_id, invitation_id, email, org_role, token_hash, invited_by, created_at,
                                  expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        inviter.org.0,
        invitation_id,
        email.as_str(),
        role.as_str(),
        &token::hash(&secret)[..],
        inviter.user_id,
        now,
        now + INVITATION_LIFETIME
    )
    .execute(tx.conn())
    .await?;
    // The invitee has no language yet: the mail is in the inviter's.
    let t = T(inviter.lang);
    let inviter_name = format!("{} {}", inviter.first_name, inviter.last_name);
    let role_name = t.get(&format!("role.{}", role.as_str())).to_lowercase();
    let link = state.config.public_url.join(&format!("/invitations/{}", secret.expose_secret()));
    let args = [("inviter", inviter_name.as_str()), ("org", inviter.org_name.as_str()), ("role", &role_name)];
    let message = OutgoingMail {
        to: email.as_str().to_owned(),
        subject: t.fmt("mail.invitation.subject", &args),
        text: t.fmt("mail.invitation.body", &[args[0], args[1], args[2], ("link", &link)]),
        html: None,
    };
    mail::enqueue(&mut tx, &state.clock, &state.vault, &message).await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("member.invited")
                .target("invitation", invitation_id)
                .payload(json!({ "role": role.as_str() })),
        )
        .await?;
    tx.commit().await?;
    Ok(invitation_id)
}

/// Withdraws a pending invitation. Managers may withdraw only the invitations they could send.
pub async fn revoke(state: &AppState, member: &Principal, invitation_id: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = member.begin(&state.db).await?;
    let role: Option<String> = sqlx::query_scalar!(
        "select org_role from invitations
         where org_id = $1 and invitation_id = $2 and accepted_at is null and revoked_at is null
         for update",
        member.org.0,
        invitation_id
    )
    .fetch_optional(tx.conn())
    .await?;
    let role = role.and_then(|r| OrgRole::parse(&r)).ok_or(AppError::NotFound)?;
    if !may_invite(member.role, role) {
        return Err(AppError::Forbidden);
    }
    sqlx::query!(
        "update invitations set revoked_at = $3 where org_id = $1 and invitation_id = $2",
        member.org.0,
        invitation_id,
        now
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(&mut tx, AuditEvent::new("member.invitation_revoked").target("invitation", invitation_id))
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn live_invitation(state: &AppState, secret: &str) -> Result<Option<LiveInvitation>, AppError> {
    if secret.is_empty() || secret.len() > MAX_TOKEN_CHARS {
        return Ok(None);
    }
    let hash = token::hash(&SecretString::from(secret));
    let Some((org, invitation_id)) = state.db.resolve_invitation(&hash).await? else { return Ok(None) };
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let found: Option<LiveInvitation> = sqlx::query_as!(
        LiveInvitation,
        r#"select i.org_id as org, i.invitation_id, i.email, i.org_role, o.name as org_name,
                u.first_name || ' ' || u.last_name as "inviter_name!",
                exists (select from users m where m.org_id = i.org_id and m.email = i.email) as "already_member!"
         from invitations i
         join organizations o on o.org_id = i.org_id
         join users u on u.org_id = i.org_id and u.user_id = i.invited_by
         where i.org_id = $1 and i.invitation_id = $2
           and i.accepted_at is null and i.revoked_at is null and i.expires_at > $3"#,
        org.0,
        invitation_id,
        state.clock.now()
    )
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(found)
}

/// Every field checked, every problem reported at once.
async fn validate(state: &AppState, input: AcceptInput) -> Result<ValidAcceptance, AppError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let first_name = PersonName::parse("first_name", &input.first_name).map_err(|e| errors.push(e)).ok();
    let last_name = PersonName::parse("last_name", &input.last_name).map_err(|e| errors.push(e)).ok();
    let job_title = JobTitle::parse("job_title", &input.job_title).map_err(|e| errors.push(e)).ok();
    let password = Password::parse("password", input.password).map_err(|e| errors.push(e)).ok();
    if !input.adult.as_deref().is_some_and(|v| matches!(v, "on" | "true" | "yes" | "1")) {
        errors.push(FieldError::new("adult", "must_be_adult", "Relais is for people aged 18 or over."));
    }
    let policy_version = match state.db.current_policy_version(state.clock.now()).await? {
        Some((version, _)) if version == input.accepted_policy_version => Some(version),
        Some(_) => {
            errors.push(FieldError::new(
                "accepted_policy_version",
                "policy_not_accepted",
                "Read and accept the current privacy policy.",
            ));
            None
        }
        None => return Err(AppError::Unavailable("no privacy policy is published".into())),
    };
    match (first_name, last_name, job_title, password, policy_version) {
        (Some(first_name), Some(last_name), Some(job_title), Some(password), Some(policy_version))
            if errors.is_empty() =>
        {
            Ok(ValidAcceptance { first_name, last_name, job_title, password, policy_version })
        }
        _ => Err(AppError::Validation(errors)),
    }
}

/// Accepts an invitation: creates the member with the invited role and opens their session.
/// `NotFound` when the link is unknown, expired, used or withdrawn; `Conflict` when the address
/// already has an account in the organization.
pub async fn accept(
    state: &AppState,
    secret: &str,
    input: AcceptInput,
    lang: Lang,
    client: &ClientInfo,
) -> Result<NewSession, AppError> {
    let Some(invitation) = live_invitation(state, secret).await? else { return Err(AppError::NotFound) };
    if invitation.already_member {
        return Err(AppError::Conflict("already_member".into()));
    }
    let valid = validate(state, input).await?;
    let org = invitation.org;
    let password_hash = hash_password(&valid.password).await?;
    let now = state.clock.now();
    let user = UserId::new();
    let mut tx = state.db.begin_org(org, Actor::User(user.0)).await?;
    // Lock the invitation and check it again: of two concurrent acceptances only one proceeds.
    let role: Option<String> = sqlx::query_scalar!(
        "select org_role from invitations
         where org_id = $1 and invitation_id = $2 and accepted_at is null and revoked_at is null and expires_at > $3
         for update",
        org.0,
        invitation.invitation_id,
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(role) = role else { return Err(AppError::NotFound) };
    sqlx::query!(
        "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                            language, adult_attested_at, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9, $9)",
        org.0,
        user.0,
        &invitation.email,
        valid.first_name.as_str(),
        valid.last_name.as_str(),
        valid.job_title.as_str(),
        &role,
        &password_hash,
        now,
        lang.code()
    )
    .execute(tx.conn())
    .await
    .map_err(accept_conflict)?;
    sqlx::query!(
        "update invitations set accepted_at = $3, accepted_user_id = $4 where org_id = $1 and invitation_id = $2",
        org.0,
        invitation.invitation_id,
        now,
        user.0
    )
    .execute(tx.conn())
    .await?;
    crate::members::record_policy_acceptance(&mut tx, user.0, &valid.policy_version, now).await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("member.joined").target("user", user.0).payload(json!({
                "role": role,
                "invitation_id": invitation.invitation_id,
                "policy_version": valid.policy_version,
            })),
        )
        .await?;
    let session = login::open_session(state, &mut tx, user.0, "invitation", serde_json::json!({}), client, now).await?;
    tx.commit().await?;
    tracing::info!(org = %org, user = %user, "member joined by invitation");
    Ok(session)
}
