//! Connecting a Gmail or Microsoft 365 mailbox in the browser: the OAuth2 authorization code flow
//! with PKCE (RFC 6749 §4.1, RFC 7636 S256). Browser-only: the API connects password mailboxes.
//!
//! 1. `GET /outreach/mailboxes/connect/{provider}` (`?mailbox=` to reconnect one's mailbox) makes a
//!    random `state` and PKCE verifier, keeps them in `outreach_oauth_states` bound to the
//!    member's session (the state as its SHA-256, the verifier sealed by the vault; ten minutes),
//!    and sends the browser to the provider.
//! 2. `GET /outreach/oauth/callback` takes the row of that state — deleting it, so a state works
//!    once — and refuses it unless it belongs to this very session (and member, and organization:
//!    row-level security) and is not expired. Then, outside any transaction: the code is exchanged
//!    (client secret + verifier), the address read from the id_token (a reconnection must be the
//!    mailbox's own account), and the connection test run with the new access token (XOAUTH2 on
//!    the provider's SMTP and IMAP servers). Only then is the mailbox stored, in a new
//!    transaction, and audited.
//!
//! Why a table rather than a cookie: the verifier must not reach the browser at all (PKCE
//! protects the code only if the verifier stays with the client), and a row deleted on use makes
//! "single use" a fact rather than a promise; it also dies with the session (logout deletes it).
//! Every refusal is a page saying what happened; nothing is stored.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::signed_in::SignedIn;
use kernel::authz::Principal;
use kernel::vault::SecretContext;
use kernel::web::{AppState, Page, render};
use kernel::{AppError, AppResult, OrgId};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::api::oauth_settings;
use super::oauth::{self, Provider, ProviderSettings, TokenError};
use super::probe::{self, Server};
use super::service::{self, GrantRefusal, Granted, Viewer};
use super::{Login, store};

/// How long a member has to consent at the provider.
const STATE_LIFETIME: Duration = Duration::minutes(10);
/// Flows one session may have under way at once (a member who clicks "Connect" many times):
/// older ones are dropped.
const STATES_PER_SESSION: i64 = 5;

/// The callback's path, as registered with each provider.
pub const CALLBACK_PATH: &str = "/outreach/oauth/callback";

fn verifier_context(org: OrgId, state_id: Uuid) -> SecretContext<'static> {
    SecretContext { org, record_kind: "outreach_oauth_state", record_id: state_id, field: "verifier" }
}

fn redirect_uri(state: &AppState) -> String {
    state.config.public_url.join(CALLBACK_PATH)
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    /// Reconnecting: the member's own mailbox of this provider.
    #[serde(default)]
    mailbox: Option<String>,
}

/// `GET /outreach/mailboxes/connect/{provider}`: starts a consent at Google or Microsoft.
pub async fn start(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> AppResult<Response> {
    let settings = oauth_settings(&state);
    // A provider this instance is not registered with does not exist here.
    let provider = Provider::parse(&provider).ok_or(AppError::NotFound)?;
    let provider_settings = settings.provider(provider).ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let reconnect = match query.mailbox.as_deref().filter(|m| !m.is_empty()) {
        None => None,
        Some(text) => {
            let id = Uuid::parse_str(text).map_err(|_| AppError::NotFound)?;
            let row = service::visible(&mut tx, Viewer::of(&principal), id).await?;
            if row.owner_id != principal.user_id || row.provider != provider.as_str() {
                return Err(AppError::NotFound);
            }
            Some(row)
        }
    };
    let state_token = kernel::token::generate();
    let verifier = kernel::token::generate();
    let state_id = Uuid::now_v7();
    let org = tx.org();
    let verifier_sealed = state.vault.seal(&verifier_context(org, state_id), &verifier);
    sqlx::query!(
        "delete from outreach_oauth_states
          where org_id = $1 and (expires_at <= $2 or state_id in (
                  select state_id from outreach_oauth_states where org_id = $1 and session_id = $3
                   order by created_at desc offset $4))",
        org.0,
        now,
        signed_in.session_id,
        STATES_PER_SESSION - 1
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "insert into outreach_oauth_states (org_id, state_id, state_hash, session_id, user_id, provider,
             verifier_sealed, mailbox_id, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        org.0,
        state_id,
        &kernel::token::hash(&state_token)[..],
        signed_in.session_id,
        principal.user_id,
        provider.as_str(),
        verifier_sealed,
        reconnect.as_ref().map(|row| row.mailbox_id),
        now,
        now + STATE_LIFETIME
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    let location = provider_settings.authorization_url(
        &redirect_uri(&state),
        state_token.expose_secret(),
        &oauth::pkce_challenge(&verifier),
        reconnect.as_ref().map(|row| row.from_address.as_str()),
    );
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location.as_str()), (header::CACHE_CONTROL, "no-store")])
        .into_response())
}

/// What the provider sends the browser back with (RFC 6749 §4.1.2, §4.1.2.1); anything else it
/// adds (Google's `scope`, `authuser`…) is ignored.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// Why a consent did not become a mailbox: each a page of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No state, an unknown or used one, another session's, or an expired one.
    State,
    /// The member declined at the provider.
    Denied,
    /// The provider sent another error, or no code.
    ProviderError,
    /// The provider refused the code (or this instance's credentials).
    Token,
    /// The provider could not be reached.
    Unavailable,
    /// The provider gave no refresh token (the mailbox could not keep working).
    NoRefreshToken,
    /// The id_token named no usable address.
    IdToken,
    /// Reconnecting with another account than the mailbox's.
    OtherAccount,
    /// The address is already connected with a password.
    Taken,
    /// The connection test with the new access token failed.
    Test(probe::Failure),
}

impl Refusal {
    fn key(self) -> String {
        let code = match self {
            Self::State => "state",
            Self::Denied => "denied",
            Self::ProviderError => "provider_error",
            Self::Token => "token",
            Self::Unavailable => "unavailable",
            Self::NoRefreshToken => "no_refresh_token",
            Self::IdToken => "id_token",
            Self::OtherAccount => "other_account",
            Self::Taken => "taken",
            Self::Test(_) => "test",
        };
        format!("outreach.oauth.error.{code}")
    }

    fn status(self) -> StatusCode {
        match self {
            Self::Unavailable => StatusCode::BAD_GATEWAY,
            Self::Test(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Taken => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

#[derive(Template)]
#[template(path = "outreach_oauth_error.html")]
struct RefusalView {
    page: Page,
    message: String,
    /// What the connection test said, when it failed.
    detail: Option<String>,
}

fn refusal_page(state: &AppState, signed_in: &SignedIn, refusal: Refusal) -> AppResult<Response> {
    let page = signed_in.page(state, CALLBACK_PATH);
    let message = page.t.get(&refusal.key()).to_string();
    let detail = match refusal {
        Refusal::Test(failure) => Some(page.t.get(&format!("outreach.mailboxes.error.{}", failure.code())).to_string()),
        _ => None,
    };
    let html = render(&RefusalView { page, message, detail })?;
    Ok((refusal.status(), [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// A flow's row, taken (deleted) on the callback.
struct Taken {
    state_id: Uuid,
    session_id: Uuid,
    user_id: Uuid,
    provider: String,
    verifier_sealed: Vec<u8>,
    mailbox_id: Option<Uuid>,
    expires_at: OffsetDateTime,
}

/// `GET /outreach/oauth/callback`: the provider sends the member back here.
pub async fn callback(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Query(query): Query<CallbackQuery>,
) -> AppResult<Response> {
    let now = state.clock.now();
    let Some(state_token) = query.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 256) else {
        return refusal_page(&state, &signed_in, Refusal::State);
    };
    let state_hash = kernel::token::hash(&SecretString::from(state_token));
    let mut tx = principal.begin(&state.db).await?;
    // Deleted as it is read: whatever follows, this state has been used.
    let taken = sqlx::query_as!(
        Taken,
        "delete from outreach_oauth_states where org_id = $1 and state_hash = $2
         returning state_id, session_id, user_id, provider, verifier_sealed, mailbox_id, expires_at",
        tx.org().0,
        &state_hash[..]
    )
    .fetch_optional(tx.conn())
    .await?;
    sqlx::query!("delete from outreach_oauth_states where org_id = $1 and expires_at <= $2", tx.org().0, now)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    let Some(taken) =
        taken.filter(|t| t.session_id == signed_in.session_id && t.user_id == principal.user_id && t.expires_at > now)
    else {
        return refusal_page(&state, &signed_in, Refusal::State);
    };
    if let Some(error) = query.error.as_deref() {
        let refusal = if error == "access_denied" { Refusal::Denied } else { Refusal::ProviderError };
        return refusal_page(&state, &signed_in, refusal);
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 4096) else {
        return refusal_page(&state, &signed_in, Refusal::ProviderError);
    };
    let settings = oauth_settings(&state);
    // A provider the instance stopped offering meanwhile: as if it were unknown.
    let Some(provider) = settings.named(&taken.provider) else {
        return refusal_page(&state, &signed_in, Refusal::ProviderError);
    };
    let verifier = state.vault.open(&verifier_context(principal.org, taken.state_id), &taken.verifier_sealed)?;

    let consented = match exchange(&state, provider, code, &verifier, now).await {
        Ok(consented) => consented,
        Err(refusal) => return refusal_page(&state, &signed_in, refusal),
    };
    // Reconnecting with another account than the mailbox's is said before any test of it.
    if let Some(id) = taken.mailbox_id {
        let mut tx = principal.begin(&state.db).await?;
        let row = store::get(&mut tx, id).await?;
        tx.commit().await?;
        let same = row.is_some_and(|row| {
            row.owner_id == principal.user_id && row.provider == taken.provider && row.from_address == consented.email
        });
        if !same {
            return refusal_page(&state, &signed_in, Refusal::OtherAccount);
        }
    }
    match test_access(provider, &consented).await {
        Err(refusal) => refusal_page(&state, &signed_in, refusal),
        Ok(()) => {
            let granted = Granted {
                provider,
                email: &consented.email,
                name: &consented.name,
                refresh_token: &consented.refresh_token,
                access_token: &consented.access_token,
                access_token_expires_at: consented.expires_at,
            };
            let mut tx = principal.begin(&state.db).await?;
            let outcome = service::connect_oauth(
                &mut tx,
                &state.audit,
                &state.vault,
                principal.user_id,
                &granted,
                taken.mailbox_id,
                now,
            )
            .await?;
            match outcome {
                Ok(id) => {
                    tx.commit().await?;
                    let toast = if taken.mailbox_id.is_some() {
                        "outreach.oauth.reconnected"
                    } else {
                        "outreach.mailboxes.connected"
                    };
                    Ok(kernel::toast::redirect_with_toast(&format!("/outreach/mailboxes/{id}"), toast))
                }
                Err(refusal) => {
                    drop(tx);
                    let refusal = match refusal {
                        GrantRefusal::Taken => Refusal::Taken,
                        GrantRefusal::OtherAccount => Refusal::OtherAccount,
                    };
                    refusal_page(&state, &signed_in, refusal)
                }
            }
        }
    }
}

/// What a consent gave.
struct Consented {
    email: String,
    name: String,
    refresh_token: SecretString,
    access_token: SecretString,
    expires_at: OffsetDateTime,
}

/// The code exchanged for tokens, and the address read from the id_token.
async fn exchange(
    state: &AppState,
    provider: &ProviderSettings,
    code: &str,
    verifier: &SecretString,
    now: OffsetDateTime,
) -> Result<Consented, Refusal> {
    let answer = oauth::exchange_code(provider, code, &redirect_uri(state), verifier).await.map_err(|e| match e {
        TokenError::Unavailable => Refusal::Unavailable,
        TokenError::InvalidGrant | TokenError::Refused => Refusal::Token,
    })?;
    let expires_at = answer.expires_at(now);
    let id_token = answer.id_token.as_ref().ok_or(Refusal::IdToken)?;
    let identity = oauth::id_token_identity(id_token, provider, now).map_err(|_| Refusal::IdToken)?;
    let refresh_token = answer.refresh_token.ok_or(Refusal::NoRefreshToken)?;
    Ok(Consented {
        email: identity.email,
        name: identity.name,
        refresh_token,
        access_token: answer.access_token,
        expires_at,
    })
}

/// The connection test with the new access token: XOAUTH2 on the provider's SMTP and IMAP
/// servers, naming the account by its address on both.
async fn test_access(provider: &ProviderSettings, consented: &Consented) -> Result<(), Refusal> {
    let login = Login::XOAuth2(consented.access_token.clone());
    let (s, i, email) = (&provider.smtp, &provider.imap, consented.email.as_str());
    let smtp = Server { host: &s.host, port: s.port, security: s.security, username: email };
    let imap = Server { host: &i.host, port: i.port, security: i.security, username: email };
    // The provider's servers are the instance's configuration, not a member's input: the
    // private-address rule (against probing the internal network) is not theirs.
    probe::test(smtp, imap, &login, true).await.map_err(|e| Refusal::Test(e.failure))
}

/// The providers the connect page offers (those this instance is registered with).
pub fn offered(state: &AppState) -> Vec<Provider> {
    let settings = oauth_settings(state);
    Provider::ALL.into_iter().filter(|p| settings.provider(*p).is_some()).collect()
}

/// The link that runs the flow again for a mailbox whose grant ran out.
pub fn reconnect_href(row: &store::MailboxRow) -> Option<String> {
    Provider::parse(&row.provider)
        .map(|provider| format!("/outreach/mailboxes/connect/{}?mailbox={}", provider.as_str(), row.mailbox_id))
}
