//! Checking a password, opening and ending a browser session, each audited.

use super::*;
use crate::doors::IdentityDoors;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::db::Actor;
use kernel::ratelimit;
use kernel::token;
use kernel::web::{AppState, ClientInfo};
use serde_json::json;

use crate::model::{DUMMY_HASH, EmailAddress, verify_password};
use crate::throttle;

/// Checks credentials and opens a session, recording the login (P0-03) and auditing it.
/// Rate-limited per client address and per email (P1-16); a locked account (P1-17) refuses every
/// password with the answer, and the bcrypt work, of a wrong one.
pub async fn log_in(state: &AppState, input: LoginInput, client: &ClientInfo) -> Result<NewSession, AppError> {
    let Authenticated { mut tx, user_id, now, .. } = check_credentials(state, &input, client).await?;
    let session = open_session(state, &mut tx, user_id, "password", json!({}), client, now).await?;
    tx.commit().await?;
    Ok(session)
}

/// Opens a browser session in the caller's tenant transaction — the session row (its token
/// hashed), the login event with IP and browser (P0-03, P2-07), `last_login_at`, and the audit
/// event. Every way of signing in (password, second factor, invitation, emailed link or code)
/// ends here, so none can forget a part.
pub async fn open_session(
    state: &AppState,
    tx: &mut kernel::OrgTx,
    user_id: Uuid,
    method: &str,
    audit_payload: serde_json::Value,
    client: &ClientInfo,
    now: time::OffsetDateTime,
) -> Result<NewSession, AppError> {
    let token = token::generate();
    let session_id = SessionId::new();
    sqlx::query!(
        "insert into sessions (org_id, session_id, user_id, token_hash, created_at, last_seen_at, expires_at,
                               ip, user_agent)
         values ($1, $2, $3, $4, $5, $5, $6, $7, $8)",
        tx.org().0,
        session_id.0,
        user_id,
        &token::hash(&token)[..],
        now,
        now + SESSION_LIFETIME,
        client.ip.map(sqlx::types::ipnet::IpNet::from),
        client.user_agent.as_deref()
    )
    .execute(tx.conn())
    .await?;
    record_login_success(tx, user_id, method, client, now).await?;
    let event = AuditEvent::new("auth.login.succeeded").target("session", session_id.0).payload(audit_payload);
    state.audit.record(tx, event).await?;
    Ok(NewSession { token, session_id })
}

/// The password check shared by the login form and the API's token endpoint: rate limits (P1-16),
/// the same answer and bcrypt work for every kind of failure, account lockout (P1-17), and the
/// failure recorded on the account. Opens no session: the caller decides which credential to issue.
pub async fn check_credentials(
    state: &AppState,
    input: &LoginInput,
    client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    ratelimit::check(state, &ratelimit::LOGIN_PER_IP, ratelimit::Subject::Ip(client)).await?;
    // Only failures count toward the account's limit: ten successful logins in a quarter of an hour
    // must not lock a member out.
    let per_account = ratelimit::Subject::Account(&input.email);
    ratelimit::peek(state, &ratelimit::LOGIN_PER_ACCOUNT, per_account).await?;
    let email = EmailAddress::parse("email", &input.email).map_err(|_| bad_credentials())?;
    let candidates = match input.org {
        Some(org) => state.db.login_candidates_in(email.as_str(), org).await?,
        None => state.db.login_candidates(email.as_str()).await?,
    };
    let mut matched = None;
    for candidate in &candidates {
        if verify_password(input.password.clone(), candidate.password_hash.clone()).await {
            matched = Some(candidate);
            break;
        }
    }
    if candidates.is_empty() {
        // Spend the same bcrypt time as a real check so timing does not reveal unknown emails.
        // (A locked account is checked against its real hash above: the same work again.)
        verify_password(input.password.clone(), DUMMY_HASH.clone()).await;
    }
    let Some(account) = matched.filter(|c| c.status == "active") else {
        if let Some(first) = candidates.first() {
            record_failed_login(state, first.org_id, first.user_id, client).await?;
        }
        ratelimit::count_failure(state, &ratelimit::LOGIN_PER_ACCOUNT, per_account).await?;
        return Err(bad_credentials());
    };

    let now = state.clock.now();
    let mut tx = state.db.begin_org(account.org_id, Actor::User(account.user_id)).await?;
    if throttle::locked_until(&mut tx, account.user_id, now).await?.is_some() {
        // The right password on a locked account: a failure like any other, told apart by nothing.
        drop(tx);
        record_failed_login(state, account.org_id, account.user_id, client).await?;
        ratelimit::count_failure(state, &ratelimit::LOGIN_PER_ACCOUNT, per_account).await?;
        return Err(bad_credentials());
    }
    throttle::reset(&mut tx, account.user_id).await?;
    Ok(Authenticated { tx, org_id: account.org_id, user_id: account.user_id, now })
}

async fn record_failed_login(state: &AppState, org: OrgId, user: Uuid, client: &ClientInfo) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    insert_login_event(&mut tx, user, "failure", "password", client, state.clock.now()).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.login.failed").target("user", user)).await?;
    throttle::count_failure(state, &mut tx, user).await?;
    tx.commit().await?;
    Ok(())
}

/// A browser signed in to another account (the org switcher) ends the session its cookie is
/// replacing, audited like a logout: no live session is left without its cookie.
pub async fn end_replaced_session(
    state: &AppState,
    replaced: Option<&crate::signed_in::SignedIn>,
) -> Result<(), AppError> {
    match replaced {
        Some(old) => log_out(state, &old.principal(), old.session_id).await,
        None => Ok(()),
    }
}

/// Ends one session and audits it.
pub async fn log_out(state: &AppState, member: &Principal, session_id: Uuid) -> Result<(), AppError> {
    let mut tx = member.begin(&state.db).await?;
    sqlx::query!("delete from sessions where org_id = $1 and session_id = $2", member.org.0, session_id)
        .execute(tx.conn())
        .await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.logout").target("session", session_id)).await?;
    tx.commit().await?;
    Ok(())
}
