//! Checking and spending codes, the login's second step, and whether MFA is required.

use super::*;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::db::Actor;
use kernel::web::{AppState, ClientInfo};
use kernel::{OrgTx, ratelimit};
use serde_json::json;

use crate::login::{self, Authenticated, LoginInput};
use crate::throttle;

/// Checks a TOTP code against the member's factor (enrolled or, with `enrolling`, in progress)
/// and spends its time step: `Some(step)` when accepted.
pub(super) async fn spend_totp(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    code: &str,
    enrolling: bool,
) -> Result<Option<u64>, AppError> {
    let code = normalize(code);
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let Some(row) = factor(tx, user, true).await? else { return Ok(None) };
    if row.enrolled_at.is_some() == enrolling {
        return Ok(None);
    }
    let secret = state.vault.open(&secret_context(tx.org(), user), &row.secret_sealed)?;
    let generator = totp(&secret, "member")?;
    let Some(step) = generator.check(&code, unix_secs(state.clock.now())) else { return Ok(None) };
    // Each step once: only a step after the last accepted one passes.
    if row.last_used_step.is_some_and(|last| i64::try_from(step).unwrap_or(i64::MAX) <= last) {
        return Ok(None);
    }
    sqlx::query!(
        "update mfa_factors set last_used_step = $3 where org_id = $1 and user_id = $2",
        tx.org().0,
        user,
        i64::try_from(step).unwrap_or(i64::MAX)
    )
    .execute(tx.conn())
    .await?;
    Ok(Some(step))
}

/// Spends a recovery code: true if it was one of the member's unused codes.
async fn spend_recovery_code(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let normalized = normalize(code);
    if normalized.len() != 16 {
        return Ok(false);
    }
    let used: Option<Uuid> = sqlx::query_scalar!(
        "update mfa_recovery_codes set used_at = $4
         where org_id = $1 and user_id = $2 and code_hash = $3 and used_at is null
         returning code_id",
        tx.org().0,
        user,
        &recovery_hash(code)[..],
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(code_id) = used else { return Ok(false) };
    let left = recovery_codes_left(tx, user).await?;
    state
        .audit
        .record(
            tx,
            AuditEvent::new("mfa.recovery_code_used").target("user", user).payload(json!({
                "code_id": code_id,
                "codes_left": left,
            })),
        )
        .await?;
    Ok(true)
}

pub(super) async fn spend_any(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    code: &str,
    now: OffsetDateTime,
) -> Result<Option<FactorUsed>, AppError> {
    if spend_totp(state, tx, user, code, false).await?.is_some() {
        return Ok(Some(FactorUsed::Totp));
    }
    if spend_recovery_code(state, tx, user, code, now).await? {
        return Ok(Some(FactorUsed::RecoveryCode));
    }
    Ok(None)
}

/// Counts a code attempt against the client's and the member's MFA rate limits (P1-16).
pub(super) async fn rate_limit_codes(state: &AppState, client: &ClientInfo, user: Uuid) -> Result<(), AppError> {
    ratelimit::check(state, &ratelimit::MFA_CODE_PER_IP, ratelimit::Subject::Ip(client)).await?;
    ratelimit::check(state, &ratelimit::MFA_CODE_PER_ACCOUNT, ratelimit::Subject::Account(&format!("user:{user}")))
        .await
}

/// A wrong second factor: audited and counted toward the account lockout (P1-17), in its own
/// transaction so it is kept whatever the caller does next.
pub(super) async fn record_code_failure(
    state: &AppState,
    org: OrgId,
    user: Uuid,
    context: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("auth.login.mfa_failed").target("user", user).payload(json!({ "step": context })),
        )
        .await?;
    throttle::count_failure(state, &mut tx, user).await?;
    tx.commit().await?;
    Ok(())
}

/// Opens the session of a login whose first factor was `method` (`password`, `magic_link`,
/// `email_otp`), recording that method and the second factor used, if any.
pub(super) async fn open_session(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    method: &str,
    client: &ClientInfo,
    now: OffsetDateTime,
    factor: Option<FactorUsed>,
) -> Result<NewSession, AppError> {
    let payload = match factor {
        Some(factor) => json!({ "mfa": factor.as_str() }),
        None => json!({}),
    };
    login::open_session(state, tx, user, method, payload, client, now).await
}

/// The login form's core: the password check, then a session — or, for a member with MFA, a
/// pending login that only a second factor turns into a session.
pub async fn log_in(state: &AppState, input: LoginInput, client: &ClientInfo) -> Result<LoginStep, AppError> {
    let Authenticated { mut tx, org_id, user_id, now } = login::check_credentials(state, &input, client).await?;
    if !is_enrolled(&mut tx, user_id).await? {
        let session = open_session(state, &mut tx, user_id, "password", client, now, None).await?;
        tx.commit().await?;
        return Ok(LoginStep::Session(session));
    }
    // Not committed: the lockout count is reset by the whole login, not by the password alone.
    drop(tx);
    let token = start_second_step(state, org_id, user_id, now).await?;
    Ok(LoginStep::SecondFactor { token })
}

/// Opens a pending login for a member whose first factor just succeeded: the token for
/// [`pending_cookie`], then a redirect to `/login/mfa`. Any other way in that proves only one factor
/// (a magic link, say) must go through this for members with MFA ([`is_enrolled`]).
pub async fn start_second_step(
    state: &AppState,
    org_id: OrgId,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<SecretString, AppError> {
    let mut tx = state.db.begin_org(org_id, Actor::User(user_id)).await?;
    let token = begin_second_step(&mut tx, user_id, "password", now).await?;
    tx.commit().await?;
    Ok(token)
}

/// The second factor for `/api/v1/auth/token`: a member with MFA must send a valid TOTP `otp`.
/// On success the same authenticated transaction goes on; otherwise the failure is counted.
pub async fn second_factor_for_api(
    state: &AppState,
    auth: Authenticated,
    otp: Option<&SecretString>,
    client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    let Authenticated { mut tx, org_id, user_id, now } = auth;
    if !is_enrolled(&mut tx, user_id).await? {
        return Ok(Authenticated { tx, org_id, user_id, now });
    }
    let Some(otp) = otp.filter(|o| !o.expose_secret().trim().is_empty()) else {
        return Err(AppError::field("otp", "otp_required", "This account uses two-factor authentication: send `otp`."));
    };
    rate_limit_codes(state, client, user_id).await?;
    if spend_totp(state, &mut tx, user_id, otp.expose_secret(), false).await?.is_some() {
        return Ok(Authenticated { tx, org_id, user_id, now });
    }
    drop(tx);
    record_code_failure(state, org_id, user_id, "api_token").await?;
    Err(AppError::field("otp", "mfa_code_invalid", "The code is incorrect or was already used."))
}

/// Whether MFA is required of this member and they have none: owners and managers always (after
/// [`ADMIN_ENROLLMENT_GRACE`]), everyone when the organization requires it.
/// Where a member stands with the MFA requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Enrolled, or not required of them.
    Met,
    /// Required from `by` (an owner's or manager's grace period): every page says so until then.
    Due { by: time::OffsetDateTime },
    /// Required and missing: every page sends them to enroll.
    Unmet,
}

pub async fn requirement(state: &AppState, org: OrgId, user: Uuid, role: Role) -> Result<Requirement, sqlx::Error> {
    let mut tx = state.db.begin_org(org, Actor::User(user)).await?;
    let row: Option<RequirementRow> = sqlx::query_as!(
        RequirementRow,
        r#"select o.require_mfa_all, u.created_at,
                exists (select from mfa_factors f
                        where f.org_id = u.org_id and f.user_id = u.user_id and f.enrolled_at is not null)
                  as "enrolled!"
         from users u join organizations o on o.org_id = u.org_id
         where u.org_id = $1 and u.user_id = $2"#,
        org.0,
        user
    )
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    let Some(row) = row else { return Ok(Requirement::Met) };
    let now = state.clock.now();
    Ok(if row.enrolled {
        Requirement::Met
    } else if required(role, row.require_mfa_all, row.created_at, now) {
        Requirement::Unmet
    } else if matches!(role, Role::Owner | Role::Manager) {
        Requirement::Due { by: row.created_at + super::ADMIN_ENROLLMENT_GRACE }
    } else {
        Requirement::Met
    })
}

/// Re-authentication for changes to MFA: a current TOTP `code` (spent), or else the current
/// `password`.
pub(super) async fn reauthenticate(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    code: &SecretString,
    password: &SecretString,
) -> Result<bool, AppError> {
    if !code.expose_secret().trim().is_empty() {
        return Ok(spend_totp(state, tx, user, code.expose_secret(), false).await?.is_some());
    }
    if password.expose_secret().is_empty() {
        return Ok(false);
    }
    let hash = password_hash(tx, user).await?;
    Ok(crate::model::verify_password(password.clone(), hash).await)
}

/// Completes an enrollment whose first code was just accepted: the factor is enrolled and a set of
/// recovery codes generated (returned, to be shown once). Audited `mfa.enrolled`.
pub(super) async fn complete_enrollment(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<String>, AppError> {
    mark_enrolled(tx, user, now).await?;
    let codes = regenerate_codes(tx, user, now).await?;
    state
        .audit
        .record(
            tx,
            AuditEvent::new("mfa.enrolled")
                .target("user", user)
                .payload(json!({ "factor": "totp", "recovery_codes": codes.len() })),
        )
        .await?;
    Ok(codes)
}

/// A new set of recovery codes (returned, to be shown once); the old ones stop working. Audited
/// `mfa.recovery_codes_regenerated`.
pub(super) async fn replace_recovery_codes(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<String>, AppError> {
    let codes = regenerate_codes(tx, user, now).await?;
    state.audit.record(tx, AuditEvent::new("mfa.recovery_codes_regenerated").target("user", user)).await?;
    Ok(codes)
}

/// Turns the member's MFA off: factor and recovery codes are deleted. Audited `mfa.disabled`.
pub(super) async fn disable(state: &AppState, tx: &mut OrgTx, user: Uuid) -> Result<(), AppError> {
    delete_factor(tx, user).await?;
    state.audit.record(tx, AuditEvent::new("mfa.disabled").target("user", user)).await?;
    Ok(())
}

/// The owner requires MFA of every member (`enabled`), or stops requiring it. Audited
/// `org.require_mfa_all_changed`.
pub async fn require_of_all(state: &AppState, principal: &Principal, enabled: bool) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    set_require_mfa_all(&mut tx, enabled).await?;
    state
        .audit
        .record(&mut tx, AuditEvent::new("org.require_mfa_all_changed").payload(json!({ "require_mfa_all": enabled })))
        .await?;
    tx.commit().await?;
    Ok(())
}
