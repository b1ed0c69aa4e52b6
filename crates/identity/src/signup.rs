//! Verified sign-up without email enumeration (OWASP ASVS 5.0 L2 V6.3.7, V6.4; issue #3).
//!
//! * Asking: `POST /signup` (page) or `POST /api/v1/signup`. Every field is validated as before
//!   (all errors at once, the P0-01 field set). A valid request always gets the same answer —
//!   `202 {"status":"verification_sent"}`, or the "check your inbox" page — and does the same work
//!   (a bcrypt hash of the password, one mail) whether or not the address already has an account:
//!   - unused address: a **pending sign-up** is stored (platform table `pending_signups`, written
//!     only through `app.pending_signup_put`; the link's token as its SHA-256, the password as its
//!     bcrypt hash, 24 hours, a new request for the address replaces the old one and purges expired
//!     rows) and the address gets a link `/signup/confirm?token=…`;
//!   - used address: the address gets a notice (log in, or reset the password); nothing is stored.
//! * Confirming: the link's GET only shows a button; its POST (`POST /signup/confirm`, or
//!   `POST /api/v1/signup/confirm {token}`) spends the pending row and creates the organization,
//!   its owner, the policy acceptance and the audit event (`service::insert_organization`) in one
//!   tenant transaction: the row is spent only if the organization is created, and only once.
//!   An expired, spent or unknown link, or an address that got an account meanwhile, gets one
//!   answer: "this link is no longer valid" (field `token`), and nothing is created.
//! * Rate-limited per client address and per email (P1-16).
//!
//! Why the two mails are sent from the request rather than queued as `mail.send` jobs: a job is a
//! row of the tenant table `jobs`, sealed to its org (kernel::mail), and a pending sign-up has no
//! org — creating one, or a "platform org", to hold the job would either create organizations for
//! unverified addresses or open a tenant door that belongs to nobody. Sending directly keeps RLS
//! and the sealed-envelope design as they are and is in fact stricter: the message (with its
//! bearer link) is never stored at all. Durability is not lost where it matters: if delivery fails
//! the person simply asks again (the answer cannot tell them, by design). Both branches send
//! exactly one message the same way, so the timing stays alike.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use axum_extra::extract::CookieJar;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::db::Actor;

use crate::doors::{IdentityDoors, PendingSignup};
use kernel::error::ApiJson;
use kernel::i18n::{Lang, T};
use kernel::mail::{Mailer, OutgoingMail};
use kernel::ratelimit;
use kernel::web::{AppState, ClientInfo, LangPref, Page, render};
use kernel::{AppError, AppResult, OrgId, UserId, token};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::Duration;
use uuid::Uuid;

use crate::model::hash_password;
use crate::recovery::{link_invalid, no_store, notice};
use crate::service::{self, NewAccount, NewOwner, SignupInput};
use crate::signed_in::session_cookie;

/// How long a sign-up link works.
pub const PENDING_LIFETIME: Duration = Duration::hours(24);
/// Tokens are 43 characters; anything much longer is not one of ours and is not even hashed.
const MAX_TOKEN_CHARS: usize = 128;

/// The one answer to every valid sign-up request.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct SignupAccepted {
    /// Always `verification_sent`: whether the address can be used is told only to its mailbox.
    #[schema(example = "verification_sent")]
    pub status: &'static str,
}

const ACCEPTED: SignupAccepted = SignupAccepted { status: "verification_sent" };

/// The token of a sign-up link.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignupConfirmInput {
    #[schema(value_type = String, format = Password)]
    #[serde(default = "empty_secret")]
    pub token: SecretString,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

fn link_no_longer_valid() -> AppError {
    AppError::field("token", "signup_link_invalid", "This link is no longer valid.")
}

/// Handles a sign-up request: validates, then either stores a pending sign-up and mails its link,
/// or mails the address's owner a notice. The caller answers the same in both cases.
pub async fn request_signup(
    state: &AppState,
    input: SignupInput,
    lang: Lang,
    client: &ClientInfo,
) -> Result<(), AppError> {
    ratelimit::check(state, &ratelimit::SIGNUP_PER_IP, ratelimit::Subject::Ip(client)).await?;
    let valid = service::validate_signup(state, input).await?;
    // Per address only once valid: what it limits is the mail each valid request sends there.
    ratelimit::check(state, &ratelimit::SIGNUP_PER_ACCOUNT, ratelimit::Subject::Account(valid.email.as_str())).await?;
    let mailer = Mailer::from_config(&state.config).map_err(|e| AppError::Unavailable(e.to_string()))?;
    if !mailer.is_configured() {
        // A configuration fact, the same for every address: saying so reveals nothing.
        return Err(AppError::Unavailable(
            "sign-up needs mail: set RELAIS_SMTP_URL (or RELAIS_MAIL_OUTBOX for a local demo)".into(),
        ));
    }
    // Hashed in both branches, so an address with an account answers as slowly as a new one.
    let password_hash = hash_password(&valid.password).await?;
    let t = T(lang);
    let email = valid.email.as_str();
    let message = if state.db.login_candidates(email).await?.is_empty() {
        let secret = token::generate();
        let now = state.clock.now();
        state
            .db
            .put_pending_signup(&PendingSignup {
                signup_id: Uuid::now_v7(),
                email,
                token_hash: token::hash(&secret),
                first_name: valid.first_name.as_str(),
                last_name: valid.last_name.as_str(),
                job_title: valid.job_title.as_str(),
                organization_name: valid.organization_name.as_str(),
                password_hash: &password_hash,
                language: lang.code(),
                policy_version: &valid.policy_version,
                created_at: now,
                expires_at: now + PENDING_LIFETIME,
            })
            .await?;
        let link = state.config.public_url.join(&format!("/signup/confirm?token={}", secret.expose_secret()));
        OutgoingMail {
            to: email.to_owned(),
            subject: t.get("mail.signup_verify.subject").to_owned(),
            text: t.fmt(
                "mail.signup_verify.body",
                &[("name", valid.first_name.as_str()), ("org", valid.organization_name.as_str()), ("link", &link)],
            ),
            html: None,
        }
    } else {
        let login = state.config.public_url.join("/login");
        let reset = state.config.public_url.join("/password-reset");
        OutgoingMail {
            to: email.to_owned(),
            subject: t.get("mail.signup_exists.subject").to_owned(),
            text: t.fmt("mail.signup_exists.body", &[("login", &login), ("reset", &reset)]),
            html: None,
        }
    };
    if let Err(error) = mailer.send(&message).await {
        // Logged without the address; the answer stays the same (see the module documentation).
        tracing::warn!(error = %error, "sign-up mail could not be delivered");
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TakenSignup {
    email: String,
    first_name: String,
    last_name: String,
    job_title: String,
    organization_name: String,
    password_hash: String,
    language: String,
    policy_version: String,
}

/// A confirmed sign-up: the open tenant transaction of the new organization (the caller may open
/// a session in it) and the new ids. Nothing is kept unless the caller commits.
pub struct Confirmed {
    pub tx: kernel::OrgTx,
    pub account: NewAccount,
    pub now: time::OffsetDateTime,
}

/// Spends a sign-up link and creates its organization and owner.
pub async fn confirm_signup(state: &AppState, secret: &SecretString) -> Result<Confirmed, AppError> {
    let candidate = secret.expose_secret().trim();
    if candidate.is_empty() || candidate.len() > MAX_TOKEN_CHARS {
        return Err(link_no_longer_valid());
    }
    let hash = token::hash(&SecretString::from(candidate));
    let now = state.clock.now();
    let (org, user) = (OrgId::new(), UserId::new());
    let mut tx = state.db.begin_org(org, Actor::User(user.0)).await?;
    let taken: Option<TakenSignup> = sqlx::query_as!(
        TakenSignup,
        r#"select email as "email!", first_name as "first_name!", last_name as "last_name!", job_title as "job_title!", organization_name as "organization_name!", password_hash as "password_hash!", language as "language!", policy_version as "policy_version!"
         from app.pending_signup_take($1, $2)"#,
        hash.as_slice(),
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(taken) = taken else {
        // Commit what the take did: an expired row of this token is gone either way.
        tx.commit().await?;
        return Err(link_no_longer_valid());
    };
    let in_use: i64 = sqlx::query_scalar!(r#"select count(*) as "count!" from app.login_candidates($1)"#, &taken.email)
        .fetch_one(tx.conn())
        .await?;
    if in_use > 0 {
        // The address got an account since the request: the link is spent, nothing is created.
        tx.commit().await?;
        return Err(link_no_longer_valid());
    }
    let owner = NewOwner {
        email: taken.email,
        first_name: taken.first_name,
        last_name: taken.last_name,
        job_title: taken.job_title,
        organization_name: taken.organization_name,
        password_hash: taken.password_hash,
        language: taken.language,
        policy_version: taken.policy_version,
    };
    service::insert_organization(state, &mut tx, user, &owner, now).await?;
    tracing::info!(org = %org, user = %user, "organization signed up (address confirmed)");
    Ok(Confirmed { tx, account: NewAccount { organization_id: org, user_id: user }, now })
}

// ------------------------------------------------------------------ API

/// Ask to create an organization and its owner account.
///
/// Every field is checked; all problems come back at once as problem+json naming each field,
/// and nothing is written unless the whole request is valid. A valid request always gets the same
/// `202`: the address receives either a link to confirm it (`POST /api/v1/signup/confirm`) within
/// 24 hours, or, if it already has an account, a notice — the answer never says which (no email
/// enumeration). The owner's language is taken from `Accept-Language` (English by default).
#[utoipa::path(
    post,
    path = "/api/v1/signup",
    tag = "identity",
    request_body = SignupInput,
    responses(
        (status = 202, description = "Valid: a confirmation link (or, for an address with an account, a notice) was mailed", body = SignupAccepted),
        (status = 422, description = "Invalid fields", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many sign-ups from this address or for this email; see Retry-After", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "This instance cannot send mail", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_request(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    ApiJson(input): ApiJson<SignupInput>,
) -> Result<(StatusCode, Json<SignupAccepted>), AppError> {
    request_signup(&state, input, lang, &client).await?;
    Ok((StatusCode::ACCEPTED, Json(ACCEPTED)))
}

/// Confirm a sign-up with the token of its mailed link: creates the organization and its owner.
///
/// The link works once, for 24 hours. An expired, used or unknown token — or an address that has
/// an account by now — is refused with one error on the field `token`, and nothing is created.
#[utoipa::path(
    post,
    path = "/api/v1/signup/confirm",
    tag = "identity",
    request_body = SignupConfirmInput,
    responses(
        (status = 201, description = "Organization and owner created", body = NewAccount),
        (status = 422, description = "The link is no longer valid (field token)", body = kernel::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address; see Retry-After", body = kernel::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn api_confirm(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(input): ApiJson<SignupConfirmInput>,
) -> Result<(StatusCode, Json<NewAccount>), AppError> {
    ratelimit::check(&state, &ratelimit::SIGNUP_CONFIRM_PER_IP, ratelimit::Subject::Ip(&client)).await?;
    let confirmed = confirm_signup(&state, &input.token).await?;
    confirmed.tx.commit().await?;
    Ok((StatusCode::CREATED, Json(confirmed.account)))
}

// ------------------------------------------------------------------ pages

/// What `POST /signup` shows for every valid request.
pub(crate) fn sent_page(page: &Page) -> AppResult<Response> {
    notice(page, StatusCode::OK, "signup.sent_title", "signup.sent", None)
}

#[derive(Template)]
#[template(path = "signup_confirm.html")]
struct ConfirmPage {
    page: Page,
    token: String,
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /signup/confirm?token=…`: the landing page of the mailed link. It spends nothing: its
/// button POSTs the token, so a mail scanner that follows links creates no organization.
pub async fn confirm_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Query(query): Query<TokenQuery>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/signup/confirm");
    let candidate = query.token.trim();
    let live = !candidate.is_empty()
        && candidate.len() <= MAX_TOKEN_CHARS
        && state.db.pending_signup_live(&token::hash(&SecretString::from(candidate)), state.clock.now()).await?;
    if !live {
        return link_invalid(&page);
    }
    let view = ConfirmPage { page: page.clone(), token: candidate.to_owned() };
    Ok(no_store(StatusCode::OK, render(&view)?))
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default = "empty_secret")]
    token: SecretString,
}

/// `POST /signup/confirm`: spends the link, creates the organization and signs its owner in.
pub async fn confirm_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Form(form): Form<ConfirmForm>,
) -> AppResult<Response> {
    let page = Page::anonymous(lang, "/signup/confirm");
    ratelimit::check(&state, &ratelimit::SIGNUP_CONFIRM_PER_IP, ratelimit::Subject::Ip(&client)).await?;
    let confirmed = match confirm_signup(&state, &form.token).await {
        Ok(confirmed) => confirmed,
        Err(AppError::Validation(_)) => return link_invalid(&page),
        Err(other) => return Err(other),
    };
    let Confirmed { mut tx, account, now } = confirmed;
    let session =
        service::open_session(&state, &mut tx, account.user_id.0, "signup", serde_json::json!({}), &client, now)
            .await?;
    tx.commit().await?;
    let jar = CookieJar::new().add(session_cookie(&state, &session.token));
    Ok((jar, Redirect::to("/dashboard")).into_response())
}

/// The pending sign-ups table, for the data catalog.
pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "pending_signups",
    module: "identity",
    description: "Sign-ups waiting for their address to be confirmed: the form as submitted (name, email, job title, organization name, language, policy version), the password as a bcrypt hash and the link's token as a SHA-256. Kept 24 hours at most: deleted on confirmation or expiry (purged by each new request).",
    subject: Subject::AccountHolder,
    personal_columns: &["email", "first_name", "last_name", "job_title", "organization_name", "password_hash"],
    purpose: "Account data: confirm the address before an organization exists (steps prior to a contract, at the person's request)",
    legal_basis: LegalBasis::Contract,
    retention: Retention::UntilExpiry,
    erasure: Erasure::Delete,
    tenant: false,
}];
