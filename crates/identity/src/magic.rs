//! Sign-in by email: a magic link and a one-time code (issue #3 item 5; P2-07, P2-12; ASVS 5.0 L2
//! V6.6 "out-of-band authentication").
//!
//! * Asking: `/login/email`. The answer is the same page whether or not the address has an
//!   account (no enumeration). Each active account of the address gets **one** mail holding both a
//!   link `/login/link/{token}` and a six-digit code, at most one mail per account per
//!   [`MAIL_INTERVAL`]; a new mail replaces the account's older unused link and code. Requests are
//!   rate-limited per client address and per email (P1-16).
//! * The link carries a 256-bit random token (the database keeps its SHA-256). The code has only
//!   10^6 values, so the database keeps an HMAC-SHA256 of it under an instance key derived from
//!   the master key, bound to the row: a copy of the database cannot be searched for the code.
//!   [`MAX_WRONG_CODES`] wrong codes burn it, and code entry is rate-limited.
//! * Link and code are one credential: using either spends both. It works once, for
//!   [`SIGN_IN_LIFETIME`]. Following the link (GET) only shows a confirmation page: the button's
//!   POST spends it, so a mail scanner that prefetches links signs nobody in.
//! * Each request and sign-in keeps its time and client address (P2-07): on the row
//!   (`requested_at`, `requested_ip`, `used_at`, `used_ip`) and as a `login_events` row with method
//!   `magic_link` or `email_otp`. Audited as `auth.magic_link.requested` and
//!   `auth.login.succeeded` (with the method).
//! * Account lockout (P1-17) guards passwords: it does not stop a sign-in by email, which proves
//!   control of the mailbox (as a password reset does), and it is left as it is.

use crate::doors::IdentityDoors;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use hmac::{Hmac, KeyInit, Mac};
use kernel::audit::AuditEvent;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::db::Actor;
use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::ratelimit;
use kernel::web::{AppState, ClientInfo, LangPref, Page, render};
use kernel::{AppError, AppResult, OrgId, token};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use sqlx::types::ipnet::IpNet;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::mfa::{self, LoginStep};
use crate::model::EmailAddress;
use crate::pages::FormErrors;
use crate::recovery::{link_invalid, no_store};
use crate::service;
use crate::signed_in::{MaybeSignedIn, session_cookie};

/// How long an emailed link and code work.
pub const SIGN_IN_LIFETIME: Duration = Duration::minutes(10);
/// At most one sign-in mail per account in this interval, whatever the number of requests.
pub const MAIL_INTERVAL: Duration = Duration::seconds(60);
/// Wrong codes after which the code (and its link) stop working.
pub const MAX_WRONG_CODES: i32 = 5;
/// Tokens are 43 characters; anything much longer is not one of ours and is not even hashed.
const MAX_TOKEN_CHARS: usize = 128;

pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "magic_logins",
    module: "identity",
    description: "Sign-in links and codes sent by email: hashed link token, keyed hash of the code, wrong-code count, when and from which IP address each was requested and used.",
    subject: Subject::AccountHolder,
    personal_columns: &["user_id", "requested_at", "requested_ip", "used_at", "used_ip"],
    purpose: "Authentication and account security",
    legal_basis: LegalBasis::LegitimateInterest,
    retention: Retention::RollingMonths { months: 12 },
    erasure: Erasure::Delete,
    tenant: true,
}];

/// How a member proved control of their mailbox; the `login_events.method` it is recorded under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    MagicLink,
    EmailOtp,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MagicLink => "magic_link",
            Self::EmailOtp => "email_otp",
        }
    }
}

// ------------------------------------------------------------------ rules

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

/// A uniformly random six-digit code from the thread-local CSPRNG.
fn generate_code() -> SecretString {
    let n: u32 = rand::rng().random_range(0..1_000_000);
    SecretString::from(format!("{n:06}"))
}

/// HMAC-SHA256 of the code under the instance key, bound to its row so a MAC says nothing about
/// another row's code.
fn code_mac(state: &AppState, magic_id: Uuid, code: &str) -> Hmac<Sha256> {
    let key = state.email_otp_key();
    let mut mac = match Hmac::<Sha256>::new_from_slice(key.expose_secret()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes any key length"),
    };
    mac.update(magic_id.as_bytes());
    mac.update(code.as_bytes());
    mac
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
    sqlx::query!("insert into magic_logins (org_id, magic_id, user_id, token_hash, code_mac, requested_at, requested_ip, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)", org.0, magic_id, user, &token::hash(&secret)[..], mac.as_slice(), now, client.ip.map(IpNet::from), now + SIGN_IN_LIFETIME)
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

/// A sign-in link that still works: its org, id and account.
struct LiveLink {
    org: OrgId,
    magic_id: Uuid,
    user: Uuid,
}

/// The condition, on `magic_logins m` joined to `users u`, of a link and code that still work at `$3`.
const LIVE: &str = "m.used_at is null and m.burned_at is null and m.expires_at > $3 and m.failed_attempts < 5
                    and u.status = 'active'";

/// The link's row if it still works; `None` otherwise.
async fn live_link(state: &AppState, secret: &str) -> Result<Option<LiveLink>, AppError> {
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

/// Spends the row in a transaction acting as its member: `false` if it no longer works (used,
/// burned, expired, or a concurrent request spent it first).
async fn spend(
    tx: &mut kernel::OrgTx,
    magic_id: Uuid,
    method: Method,
    client: &ClientInfo,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let spent = sqlx::query(sqlx::AssertSqlSafe(format!(
        "update magic_logins m set used_at = $3, used_ip = $4, used_method = $5
         from users u
         where m.org_id = $1 and m.magic_id = $2 and u.org_id = m.org_id and u.user_id = m.user_id and {LIVE}"
    )))
    .bind(tx.org())
    .bind(magic_id)
    .bind(now)
    .bind(client.ip.map(IpNet::from))
    .bind(method.as_str())
    .execute(tx.conn())
    .await?;
    Ok(spent.rows_affected() == 1)
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

/// One answer for an unknown address, a wrong, expired, used or burned code.
fn bad_code() -> AppError {
    AppError::field("code", "bad_code", "The code is incorrect or has expired. Check it, or ask for a new one.")
}

/// The digits of a submitted code (spaces and dashes ignored), if it has the shape of one.
fn parse_code(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

#[derive(sqlx::FromRow)]
struct PendingCode {
    magic_id: Uuid,
    code_mac: Vec<u8>,
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
        service::insert_login_event(&mut tx, account.user_id, "failure", Method::EmailOtp.as_str(), client, now)
            .await?;
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
        let token = mfa::begin_second_step(&mut tx, user_id, now).await?;
        tx.commit().await?;
        return Ok(LoginStep::SecondFactor { token });
    }
    let payload = json!({ "method": method.as_str() });
    let session = service::open_session(state, &mut tx, user_id, method.as_str(), payload, client, now).await?;
    tx.commit().await?;
    Ok(LoginStep::Session(session))
}

// ------------------------------------------------------------------ pages

#[derive(Template)]
#[template(path = "magic_request.html")]
struct RequestPage {
    page: Page,
    errors: FormErrors,
    email: String,
}

impl RequestPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

#[derive(Template)]
#[template(path = "magic_code.html")]
struct CodePage {
    page: Page,
    errors: FormErrors,
    email: String,
    /// Shown right after a request: "if an account uses this address, a mail is on its way".
    sent: bool,
}

impl CodePage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

#[derive(Template)]
#[template(path = "magic_confirm.html")]
struct ConfirmPage {
    page: Page,
    action: String,
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    email: String,
    #[serde(default = "empty_secret")]
    code: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

fn signed_in_response(state: &AppState, step: &LoginStep) -> Response {
    match step {
        LoginStep::Session(session) => {
            let jar = CookieJar::new().add(session_cookie(state, &session.token));
            (jar, Redirect::to("/dashboard")).into_response()
        }
        LoginStep::SecondFactor { token } => {
            let jar = CookieJar::new().add(mfa::pending_cookie(state, token));
            (jar, Redirect::to("/login/mfa")).into_response()
        }
    }
}

/// `GET /login/email`: the address to send a sign-in link and code to.
pub async fn request_form(LangPref(lang): LangPref, MaybeSignedIn(signed_in): MaybeSignedIn) -> AppResult<Response> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let page = Page::anonymous(lang, "/login/email");
    let view = RequestPage { page: page.clone(), errors: FormErrors::default(), email: String::new() };
    Ok(render(&view)?.into_response())
}

/// `POST /login/email`: sends the mail (if the address has an account) and shows the code form,
/// the same page either way.
pub async fn request_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<RequestForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/login/email");
    match request_sign_in(&state, &form.email, &client).await {
        Ok(()) => {
            let code_page = Page::anonymous(lang, "/login/code");
            let view = CodePage {
                page: code_page.clone(),
                errors: FormErrors::default(),
                email: form.email.trim().to_owned(),
                sent: true,
            };
            Ok(no_store(StatusCode::OK, render(&view)?))
        }
        Err(AppError::Validation(errors)) => {
            let view = RequestPage { page: page.clone(), errors: FormErrors(errors), email: form.email };
            let html = render(&view)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
        }
        Err(other) => Err(other),
    }
}

/// `GET /login/code`: the form for the emailed code.
pub async fn code_form(LangPref(lang): LangPref, MaybeSignedIn(signed_in): MaybeSignedIn) -> AppResult<Response> {
    if signed_in.is_some() {
        return Ok(Redirect::to("/dashboard").into_response());
    }
    let page = Page::anonymous(lang, "/login/code");
    let view = CodePage { page: page.clone(), errors: FormErrors::default(), email: String::new(), sent: false };
    Ok(render(&view)?.into_response())
}

/// `POST /login/code`: signs in with the email address and the code.
pub async fn code_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<CodeForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/login/code");
    match sign_in_with_code(&state, &form.email, &form.code, &client).await {
        Ok(step) => Ok(signed_in_response(&state, &step)),
        Err(AppError::Validation(errors)) => {
            let view = CodePage { page: page.clone(), errors: FormErrors(errors), email: form.email, sent: false };
            Ok(no_store(StatusCode::UNAUTHORIZED, render(&view)?))
        }
        Err(other) => Err(other),
    }
}

/// `GET /login/link/{token}`: a confirmation page if the link works. Spends nothing.
pub async fn link_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(secret): Path<String>,
) -> AppResult<Response> {
    let path = format!("/login/link/{secret}");
    let page = Page::anonymous(lang, path.clone());
    if live_link(&state, &secret).await?.is_none() {
        return link_invalid(&page);
    }
    let view = ConfirmPage { page: page.clone(), action: path };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

/// `POST /login/link/{token}`: spends the link and signs in.
pub async fn link_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Path(secret): Path<String>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, format!("/login/link/{secret}"));
    match sign_in_with_link(&state, &secret, &client).await {
        Ok(step) => Ok(signed_in_response(&state, &step)),
        Err(AppError::NotFound) => link_invalid(&page),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let code = generate_code();
            assert_eq!(code.expose_secret().len(), 6);
            assert!(code.expose_secret().bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn submitted_codes_are_parsed_leniently_but_strictly_shaped() {
        assert_eq!(parse_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(parse_code("123-456").as_deref(), Some("123456"));
        assert_eq!(parse_code("12345"), None);
        assert_eq!(parse_code("1234567"), None);
        assert_eq!(parse_code("12345a"), None);
        assert_eq!(parse_code("١٢٣٤٥٦"), None, "only ASCII digits");
    }
}
