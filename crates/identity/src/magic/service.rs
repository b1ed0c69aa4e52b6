//! Asking for a sign-in mail, and signing in with its link or its code.

use super::*;
use crate::doors::IdentityDoors;
use kernel::audit::AuditEvent;
use kernel::db::Actor;
use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::ratelimit;
use kernel::token;
use kernel::web::ClientInfo;
use serde_json::json;
use sqlx::types::ipnet::IpNet;
use time::OffsetDateTime;

use crate::login;
use crate::mfa::{self, LoginStep};
use crate::model::EmailAddress;

/// Asks for a sign-in mail for `email`. Succeeds the same way whether or not an account exists;
/// only a malformed address (or a rate limit) is refused.
pub async fn request_sign_in(state: &AppState, email: &str, client: &ClientInfo) -> Result<(), AppError> {
    ratelimit::check(state, &ratelimit::EMAIL_LOGIN_REQUEST_PER_IP, ratelimit::Subject::Ip(client)).await?;
    let email = EmailAddress::parse("email", email).map_err(|e| AppError::Validation(vec![e]))?;
    ratelimit::check(state, &ratelimit::EMAIL_LOGIN_REQUEST_PER_ACCOUNT, ratelimit::Subject::Account(email.as_str()))
        .await?;
    let candidates = state.db.login_candidates(email.as_str()).await?;
    for account in candidates.iter().filter(|c| c.status == "active") {
        issue(state, account.org_id, account.user_id, client).await?;
    }
    Ok(())
}

async fn issue(state: &AppState, org: OrgId, user: Uuid, client: &ClientInfo) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    // Locked: two simultaneous requests cannot both pass the interval check below.
    let recipient = crate::notify::recipient(&mut tx, user, true).await?;
    let Some(recipient) = recipient else { return Ok(()) };
    let last: Option<OffsetDateTime> = sqlx::query_scalar!(
        "select max(requested_at) from magic_logins where org_id = $1 and user_id = $2",
        org.0,
        user
    )
    .fetch_one(tx.conn())
    .await?;
    if last.is_some_and(|at| now - at < MAIL_INTERVAL) {
        return Ok(());
    }
    // A new mail replaces the older unused link and code (kept, burned, for their metadata).
    sqlx::query!(
        "update magic_logins set burned_at = $3
         where org_id = $1 and user_id = $2 and used_at is null and burned_at is null",
        org.0,
        user,
        now
    )
    .execute(tx.conn())
    .await?;
    let secret = token::generate();
    let code = generate_code();
    let magic_id = Uuid::now_v7();
    let mac = code_mac(state, magic_id, code.expose_secret()).finalize().into_bytes();
    sqlx::query!(
        "insert into magic_logins (org_id, magic_id, user_id, token_hash, code_mac, requested_at,
                                   requested_ip, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        org.0,
        magic_id,
        user,
        &token::hash(&secret)[..],
        mac.as_slice(),
        now,
        client.ip.map(IpNet::from),
        now + SIGN_IN_LIFETIME
    )
    .execute(tx.conn())
    .await?;
    let t = T(Lang::parse(&recipient.language).unwrap_or(Lang::En));
    let link = state.config.public_url.join(&format!("/login/link/{}", secret.expose_secret()));
    let message = OutgoingMail {
        to: recipient.email,
        subject: t.get("mail.magic.subject").to_owned(),
        text: t.fmt(
            "mail.magic.body",
            &[
                ("name", &recipient.first_name),
                ("org", &recipient.org_name),
                ("link", &link),
                ("code", code.expose_secret()),
            ],
        ),
        html: None,
    };
    mail::enqueue(&mut tx, &state.clock, &state.vault, &message).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.magic_link.requested").target("user", user)).await?;
    tx.commit().await?;
    Ok(())
}

/// The link's row if it still works; `None` otherwise.
pub(super) async fn live_link(state: &AppState, secret: &str) -> Result<Option<LiveLink>, AppError> {
    if secret.is_empty() || secret.len() > MAX_TOKEN_CHARS {
        return Ok(None);
    }
    let hash = token::hash(&SecretString::from(secret));
    let Some((org, magic_id, user)) = state.db.resolve_magic_login(&hash).await? else { return Ok(None) };
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let live: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select exists (select from magic_logins m join users u on u.org_id = m.org_id and u.user_id = m.user_id
                        where m.org_id = $1 and m.magic_id = $2 and {LIVE})"
    )))
    .bind(org)
    .bind(magic_id)
    .bind(state.clock.now())
    .fetch_one(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(live.then_some(LiveLink { org, magic_id, user }))
}

/// Signs in through the link's confirmation page. `AppError::NotFound` when the link is unknown,
/// expired, used, burned or its account inactive.
pub async fn sign_in_with_link(state: &AppState, secret: &str, client: &ClientInfo) -> Result<LoginStep, AppError> {
    ratelimit::check(state, &ratelimit::EMAIL_CODE_PER_IP, ratelimit::Subject::Ip(client)).await?;
    let Some(link) = live_link(state, secret).await? else { return Err(AppError::NotFound) };
    let now = state.clock.now();
    let mut tx = state.db.begin_org(link.org, Actor::User(link.user)).await?;
    if !spend(&mut tx, link.magic_id, Method::MagicLink, client, now).await? {
        return Err(AppError::NotFound);
    }
    open_session(state, tx, link.user, Method::MagicLink, client, now).await
}

/// Signs in with the emailed code. Every failure is [`bad_code`]; a wrong code on a live row counts
/// toward [`MAX_WRONG_CODES`] and is recorded as a failed login.
pub async fn sign_in_with_code(
    state: &AppState,
    email: &str,
    code: &SecretString,
    client: &ClientInfo,
) -> Result<LoginStep, AppError> {
    ratelimit::check(state, &ratelimit::EMAIL_CODE_PER_IP, ratelimit::Subject::Ip(client)).await?;
    let email = EmailAddress::parse("email", email).map_err(|_| bad_code())?;
    ratelimit::check(state, &ratelimit::EMAIL_CODE_PER_ACCOUNT, ratelimit::Subject::Account(email.as_str())).await?;
    let Some(code) = parse_code(code.expose_secret()) else { return Err(bad_code()) };
    let candidates = state.db.login_candidates(email.as_str()).await?;
    for account in candidates.iter().filter(|c| c.status == "active") {
        let now = state.clock.now();
        let mut tx = state.db.begin_org(account.org_id, Actor::Anonymous).await?;
        let pending: Option<PendingCode> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select m.magic_id, m.code_mac
             from magic_logins m join users u on u.org_id = m.org_id and u.user_id = m.user_id
             where m.org_id = $1 and m.user_id = $2 and {LIVE}
             order by m.requested_at desc limit 1
             for update of m"
        )))
        .bind(account.org_id)
        .bind(account.user_id)
        .bind(now)
        .fetch_optional(tx.conn())
        .await?;
        let Some(pending) = pending else { continue };
        if code_mac(state, pending.magic_id, &code).verify_slice(&pending.code_mac).is_ok() {
            drop(tx);
            // Spent as the member, in their own transaction; the conditional update settles a race.
            let mut tx = state.db.begin_org(account.org_id, Actor::User(account.user_id)).await?;
            if spend(&mut tx, pending.magic_id, Method::EmailOtp, client, now).await? {
                return open_session(state, tx, account.user_id, Method::EmailOtp, client, now).await;
            }
            continue;
        }
        sqlx::query!(
            "update magic_logins set failed_attempts = failed_attempts + 1,
                    burned_at = case when failed_attempts + 1 >= $3 then $4::timestamptz end
             where org_id = $1 and magic_id = $2",
            account.org_id.0,
            pending.magic_id,
            MAX_WRONG_CODES,
            now
        )
        .execute(tx.conn())
        .await?;
        login::insert_login_event(&mut tx, account.user_id, "failure", Method::EmailOtp.as_str(), client, now).await?;
        state
            .audit
            .record(
                &mut tx,
                AuditEvent::new("auth.login.failed")
                    .target("user", account.user_id)
                    .payload(json!({ "method": Method::EmailOtp.as_str() })),
            )
            .await?;
        tx.commit().await?;
    }
    Err(bad_code())
}

/// Finishes a sign-in whose link or code was just spent in `tx`, then commits. A member with MFA
/// gets the second step (`/login/mfa`) instead of a session, exactly as after a password: the
/// emailed link or code replaces the password, never the second factor.
async fn open_session(
    state: &AppState,
    mut tx: kernel::OrgTx,
    user_id: Uuid,
    method: Method,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> Result<LoginStep, AppError> {
    if mfa::is_enrolled(&mut tx, user_id).await? {
        let token = mfa::begin_second_step(&mut tx, user_id, method.as_str(), now).await?;
        tx.commit().await?;
        return Ok(LoginStep::SecondFactor { token });
    }
    let payload = json!({ "method": method.as_str() });
    let session = login::open_session(state, &mut tx, user_id, method.as_str(), payload, client, now).await?;
    tx.commit().await?;
    Ok(LoginStep::Session(session))
}
