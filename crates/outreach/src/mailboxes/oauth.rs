//! Gmail and Microsoft 365 mailboxes by OAuth2 (issue #12 item 1): the providers' settings, their
//! token endpoint (a code exchanged for tokens, a refresh token for a new access token), the
//! address read from the id_token, revocation, and [`login`] — how the sending engine and the
//! inbox reader get a mailbox's credentials, refreshing its access token when it runs out within
//! [`REFRESH_BEFORE`].
//!
//! The refresh token is the mailbox's sealed `secret`; the current access token is sealed in
//! `access_token_sealed` with its expiry. A refresh the provider refuses (`invalid_grant`: the
//! member removed the app from their account, changed their password, or the grant lapsed)
//! pauses the mailbox with `pause_reason = 'oauth_expired'`, and its owner reconnects it.
//!
//! Every call here goes to a URL of the instance's configuration, never one a member typed: the
//! mailbox SSRF rules (`probe::resolve`) do not apply, but each call is bounded in time, follows
//! no redirect, and no response body (which may hold tokens) is ever logged or returned in an
//! error.

use std::time::Duration as StdDuration;

use kernel::config::ConfigError;
use kernel::db::Actor;
use kernel::vault::Vault;
use kernel::{Db, OrgId, OrgTx};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Login, Security, access_token_context, secret_context};

/// An access token that runs out within this is refreshed before use, so that a long SMTP batch
/// or IMAP session started with it does not see it expire.
pub const REFRESH_BEFORE: Duration = Duration::minutes(5);
/// How long one call to a provider may take.
const HTTP_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// The lifetime assumed when a token answer has no `expires_in` (both providers send it; an hour
/// is what they give).
const DEFAULT_LIFETIME_SECONDS: i64 = 3600;

/// A provider members may connect a mailbox with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Microsoft,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Self::Google, Self::Microsoft];

    /// As stored in `outreach_mailboxes.provider` and written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Microsoft => "microsoft",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    /// The scopes asked for: mail over SMTP and IMAP, and an id_token naming the address.
    pub fn scopes(self) -> &'static str {
        match self {
            Self::Google => "https://mail.google.com/ openid email",
            Self::Microsoft => {
                "offline_access openid email https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All"
            }
        }
    }

    fn variables(self) -> Variables {
        match self {
            Self::Google => Variables {
                client_id: "RELAIS_GOOGLE_CLIENT_ID",
                client_secret: "RELAIS_GOOGLE_CLIENT_SECRET",
                auth_url: ("RELAIS_GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth"),
                token_url: ("RELAIS_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token"),
                revoke_url: ("RELAIS_GOOGLE_REVOKE_URL", Some("https://oauth2.googleapis.com/revoke")),
                smtp: ("RELAIS_GOOGLE_SMTP", "smtp.gmail.com:465:tls"),
                imap: ("RELAIS_GOOGLE_IMAP", "imap.gmail.com:993:tls"),
            },
            Self::Microsoft => Variables {
                client_id: "RELAIS_MICROSOFT_CLIENT_ID",
                client_secret: "RELAIS_MICROSOFT_CLIENT_SECRET",
                auth_url: (
                    "RELAIS_MICROSOFT_AUTH_URL",
                    "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
                ),
                token_url: ("RELAIS_MICROSOFT_TOKEN_URL", "https://login.microsoftonline.com/common/oauth2/v2.0/token"),
                // Microsoft has no RFC 7009 endpoint: a member removes the app from their account.
                revoke_url: ("RELAIS_MICROSOFT_REVOKE_URL", None),
                smtp: ("RELAIS_MICROSOFT_SMTP", "smtp.office365.com:587:starttls"),
                imap: ("RELAIS_MICROSOFT_IMAP", "outlook.office365.com:993:tls"),
            },
        }
    }
}

/// The environment variables of one provider, with their defaults.
struct Variables {
    client_id: &'static str,
    client_secret: &'static str,
    auth_url: (&'static str, &'static str),
    token_url: (&'static str, &'static str),
    revoke_url: (&'static str, Option<&'static str>),
    smtp: (&'static str, &'static str),
    imap: (&'static str, &'static str),
}

/// A provider's mail server, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailServer {
    pub host: String,
    pub port: u16,
    pub security: Security,
}

/// One provider as this instance is registered with it.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub provider: Provider,
    pub client_id: String,
    /// Its `Debug` prints a placeholder.
    pub client_secret: SecretString,
    pub auth_url: url::Url,
    pub token_url: url::Url,
    pub revoke_url: Option<url::Url>,
    pub smtp: MailServer,
    pub imap: MailServer,
}

/// The providers this instance offers (none configured: neither is offered).
#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    pub google: Option<ProviderSettings>,
    pub microsoft: Option<ProviderSettings>,
}

fn problem(variable: &'static str, text: impl Into<String>) -> ConfigError {
    ConfigError { variable, problem: text.into() }
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1")
}

/// An endpoint URL: https, or plain http to a loopback address (a test provider on this machine),
/// since what goes to it — the client secret, codes, tokens — must not cross a network in clear.
fn endpoint(variable: &'static str, text: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(text).map_err(|_| problem(variable, format!("'{text}' is not a URL")))?;
    let host = url.host_str().unwrap_or("");
    match url.scheme() {
        "https" if !host.is_empty() => Ok(url),
        "http" if is_loopback(host) => Ok(url),
        _ => Err(problem(variable, "must be an https:// URL (http:// only to a loopback address)")),
    }
}

/// `host:port:security`, e.g. `smtp.gmail.com:465:tls`; `none` only for a loopback host.
fn mail_server(variable: &'static str, text: &str) -> Result<MailServer, ConfigError> {
    let invalid = || problem(variable, format!("'{text}' is not host:port:security, like smtp.gmail.com:465:tls"));
    let (rest, security) = text.rsplit_once(':').ok_or_else(invalid)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(invalid)?;
    let security = Security::parse(security).ok_or_else(invalid)?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(invalid)?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host.is_empty() {
        return Err(invalid());
    }
    if security == Security::None && !is_loopback(&host) {
        return Err(problem(variable, "security none is only for a loopback host: tokens must not travel in clear"));
    }
    Ok(MailServer { host, port, security })
}

impl OAuthSettings {
    /// Reads `RELAIS_GOOGLE_*` and `RELAIS_MICROSOFT_*`; a bad value stops the program naming it.
    pub fn from_vars(vars: &kernel::module::Vars<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            google: ProviderSettings::from_vars(Provider::Google, vars)?,
            microsoft: ProviderSettings::from_vars(Provider::Microsoft, vars)?,
        })
    }

    pub fn provider(&self, provider: Provider) -> Option<&ProviderSettings> {
        match provider {
            Provider::Google => self.google.as_ref(),
            Provider::Microsoft => self.microsoft.as_ref(),
        }
    }

    /// The settings of a provider as stored in a mailbox row (`google`, `microsoft`).
    pub fn named(&self, provider: &str) -> Option<&ProviderSettings> {
        Provider::parse(provider).and_then(|p| self.provider(p))
    }
}

impl ProviderSettings {
    fn from_vars(provider: Provider, vars: &kernel::module::Vars<'_>) -> Result<Option<Self>, ConfigError> {
        let names = provider.variables();
        let (client_id, client_secret) = match (vars(names.client_id), vars(names.client_secret)) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(problem(names.client_secret, format!("must be set with {}", names.client_id)));
            }
            (None, Some(_)) => {
                return Err(problem(names.client_id, format!("must be set with {}", names.client_secret)));
            }
            (Some(id), Some(secret)) => (id, secret),
        };
        if client_id.chars().any(char::is_control) || client_id.len() > 512 {
            return Err(problem(names.client_id, "is not a client id (one line, at most 512 characters)"));
        }
        let value = |(variable, default): (&'static str, &'static str)| (variable, vars(variable).unwrap_or(default));
        let (variable, text) = value(names.auth_url);
        let auth_url = endpoint(variable, text)?;
        let (variable, text) = value(names.token_url);
        let token_url = endpoint(variable, text)?;
        let (variable, default) = names.revoke_url;
        let revoke_url = vars(variable).or(default).map(|text| endpoint(variable, text)).transpose()?;
        let (variable, text) = value(names.smtp);
        let smtp = mail_server(variable, text)?;
        let (variable, text) = value(names.imap);
        let imap = mail_server(variable, text)?;
        Ok(Some(Self {
            provider,
            client_id: client_id.to_owned(),
            client_secret: SecretString::from(client_secret),
            auth_url,
            token_url,
            revoke_url,
            smtp,
            imap,
        }))
    }

    /// Where the member's browser is sent to consent: the authorization code flow with PKCE
    /// (S256), the state bound to their session, and — for Google — a refresh token asked for
    /// (`access_type=offline`, and `prompt=consent` so a second connection gets one too).
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
        login_hint: Option<&str>,
    ) -> String {
        let mut url = self.auth_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", self.provider.scopes())
                .append_pair("state", state)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            if self.provider == Provider::Google {
                query.append_pair("access_type", "offline").append_pair("prompt", "consent");
            }
            if let Some(hint) = login_hint {
                query.append_pair("login_hint", hint);
            }
        }
        url.into()
    }
}

/// The PKCE challenge of a verifier (RFC 7636, S256): base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &SecretString) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.expose_secret().as_bytes()))
}

/// What a token endpoint answered. The tokens' `Debug` prints placeholders.
#[derive(Debug, Deserialize)]
pub struct TokenAnswer {
    pub access_token: SecretString,
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// Google sends one with the code only; Microsoft may rotate it on each refresh.
    #[serde(default)]
    pub refresh_token: Option<SecretString>,
    #[serde(default)]
    pub id_token: Option<SecretString>,
}

impl TokenAnswer {
    /// When the access token runs out, on the application's clock.
    pub fn expires_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + Duration::seconds(self.expires_in.unwrap_or(DEFAULT_LIFETIME_SECONDS).clamp(60, 86_400))
    }
}

/// Why a token endpoint gave no tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// `invalid_grant`: the code or refresh token is not (or no longer) valid.
    #[error("the provider refused the grant")]
    InvalidGrant,
    /// Another refusal (`invalid_client`: this instance's registration; anything else).
    #[error("the provider refused the request")]
    Refused,
    /// No answer, a server error, or an answer that is not a token response.
    #[error("the provider could not be reached")]
    Unavailable,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    error: String,
}

/// An HTTP client for the providers: bounded in time, following no redirect (an endpoint that
/// redirects is misconfigured, and a redirect could carry the secret elsewhere).
fn http() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(HTTP_TIMEOUT)
        .user_agent("Relais-Outreach/1")
        .build()
}

/// POSTs to the token endpoint, authenticating the client in the body (`client_secret_post`,
/// which both providers accept).
async fn token_request(settings: &ProviderSettings, form: &[(&str, &str)]) -> Result<TokenAnswer, TokenError> {
    let client = http().map_err(|_| TokenError::Unavailable)?;
    let mut body: Vec<(&str, &str)> = form.to_vec();
    body.push(("client_id", &settings.client_id));
    body.push(("client_secret", settings.client_secret.expose_secret()));
    let response =
        client.post(settings.token_url.clone()).form(&body).send().await.map_err(|_| TokenError::Unavailable)?;
    let status = response.status();
    if status.is_success() {
        return response.json::<TokenAnswer>().await.map_err(|_| TokenError::Unavailable);
    }
    if status.is_server_error() || status.is_redirection() {
        tracing::warn!(status = status.as_u16(), provider = settings.provider.as_str(), "OAuth2 token endpoint failed");
        return Err(TokenError::Unavailable);
    }
    // RFC 6749 §5.2: a 400 (or 401) with an error code.
    // Only the error code is kept (short, from RFC 6749's list): never the body, nor its description.
    let error: String =
        response.json::<ErrorAnswer>().await.map(|e| e.error).unwrap_or_default().chars().take(64).collect();
    tracing::warn!(
        status = status.as_u16(),
        error = error.as_str(),
        provider = settings.provider.as_str(),
        "OAuth2 token endpoint refused"
    );
    if error == "invalid_grant" { Err(TokenError::InvalidGrant) } else { Err(TokenError::Refused) }
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub async fn exchange_code(
    settings: &ProviderSettings,
    code: &str,
    redirect_uri: &str,
    verifier: &SecretString,
) -> Result<TokenAnswer, TokenError> {
    token_request(
        settings,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.expose_secret()),
        ],
    )
    .await
}

async fn refresh(settings: &ProviderSettings, refresh_token: &SecretString) -> Result<TokenAnswer, TokenError> {
    token_request(settings, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret())]).await
}

/// Why an id_token gave no address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("the id_token is not a JWT")]
    Malformed,
    #[error("the id_token is for another client")]
    Audience,
    #[error("the id_token has expired")]
    Expired,
    #[error("the id_token names no verified email address")]
    NoEmail,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    aud: Audience,
    exp: i64,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Who consented, as the id_token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The mailbox's address, lower-cased.
    pub email: String,
    /// The account's display name, a new mailbox's sender name ('' when absent or unusable).
    pub name: String,
}

/// The mailbox's address, from the id_token's `email` claim, and the account's `name`.
///
/// The id_token came straight from the provider's token endpoint, over TLS, in answer to this
/// instance's own authenticated request: OpenID Connect Core 1.0 §3.1.3.7 (6) lets the client
/// rely on the TLS server validation in place of checking the token's signature, so it is not
/// checked here; its audience and expiry still are (§3.1.3.7 (3), (9)). An address Google marks
/// unverified is refused. A Microsoft work account may carry no `email` claim: its
/// `preferred_username` — the address it signs in with — stands in, if it is an address.
pub fn id_token_identity(
    id_token: &SecretString,
    settings: &ProviderSettings,
    now: OffsetDateTime,
) -> Result<Identity, IdTokenError> {
    use base64::Engine;
    let payload = id_token.expose_secret().split('.').nth(1).ok_or(IdTokenError::Malformed)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| IdTokenError::Malformed)?;
    let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| IdTokenError::Malformed)?;
    let for_us = match &claims.aud {
        Audience::One(aud) => *aud == settings.client_id,
        Audience::Many(auds) => auds.contains(&settings.client_id),
    };
    if !for_us {
        return Err(IdTokenError::Audience);
    }
    // A minute of leeway for clocks a little apart.
    if claims.exp + 60 < now.unix_timestamp() {
        return Err(IdTokenError::Expired);
    }
    let verified = match claims.email_verified {
        None => true,
        Some(serde_json::Value::Bool(verified)) => verified,
        Some(serde_json::Value::String(text)) => text == "true",
        Some(_) => false,
    };
    let email = match (claims.email, settings.provider) {
        (Some(email), _) if verified => Some(email),
        (Some(_), _) => None,
        (None, Provider::Microsoft) => claims.preferred_username,
        (None, Provider::Google) => None,
    };
    let email = email.map(|e| e.trim().to_lowercase()).ok_or(IdTokenError::NoEmail)?;
    if email.len() > 254 || !email_address::EmailAddress::is_valid(&email) {
        return Err(IdTokenError::NoEmail);
    }
    let name = claims
        .name
        .map(|name| name.trim().to_owned())
        .filter(|name| name.chars().count() <= 100 && !name.chars().any(char::is_control))
        .unwrap_or_default();
    Ok(Identity { email, name })
}

/// Tells the provider a revoked mailbox's grant is over (RFC 7009), after the row is gone. Best
/// effort: the row and its tokens are deleted whatever the provider says; a failure is logged,
/// never the token.
pub async fn revoke_grant(settings: &OAuthSettings, provider: Provider, refresh_token: SecretString) {
    let Some(url) = settings.provider(provider).and_then(|p| p.revoke_url.clone()) else { return };
    let client = match http() {
        Ok(client) => client,
        Err(_) => {
            tracing::warn!(provider = provider.as_str(), "could not tell the provider a mailbox was revoked");
            return;
        }
    };
    let outcome = client.post(url).form(&[("token", refresh_token.expose_secret())]).send().await;
    match outcome {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => tracing::warn!(
            provider = provider.as_str(),
            status = response.status().as_u16(),
            "the provider refused to revoke a mailbox's grant"
        ),
        Err(_) => {
            tracing::warn!(provider = provider.as_str(), "could not tell the provider a mailbox was revoked")
        }
    }
}

/// Why a mailbox's credentials could not be had.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the mailbox no longer exists")]
    Gone,
    #[error("the mailbox's secret does not open")]
    Secret,
    /// The mailbox's provider is no longer configured on this instance.
    #[error("the mailbox's OAuth2 provider is not configured")]
    NotConfigured,
    /// The provider refused the refresh token (`invalid_grant`): the mailbox is paused with
    /// `oauth_expired` until its owner connects it again.
    #[error("the provider no longer accepts the mailbox's grant")]
    Expired,
    /// The provider refused the refresh otherwise (this instance's registration, most likely).
    #[error("the provider refused to refresh the access token")]
    Refused,
    #[error("the provider could not be reached")]
    Unavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl LoginError {
    /// A stable code (a message's `state_reason`, logs).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Gone => "mailbox_revoked",
            Self::Secret => "mailbox_secret",
            Self::NotConfigured => "oauth_not_configured",
            Self::Expired => "oauth_expired",
            Self::Refused => "oauth_refused",
            Self::Unavailable => "oauth_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for LoginError {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(error.into())
    }
}

/// What the credentials of a mailbox are made from.
struct Stored {
    provider: String,
    secret_sealed: Vec<u8>,
    access_token_sealed: Option<Vec<u8>>,
    access_token_expires_at: Option<OffsetDateTime>,
}

async fn stored(tx: &mut OrgTx, mailbox: Uuid) -> Result<Stored, LoginError> {
    sqlx::query_as!(
        Stored,
        "select provider, secret_sealed, access_token_sealed, access_token_expires_at
           from outreach_mailboxes where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        mailbox
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(LoginError::Gone)
}

/// What to do with stored credentials: use them, or refresh first.
enum Next<'a> {
    Ready(Login),
    Refresh { settings: &'a ProviderSettings, refresh_token: SecretString },
}

fn next<'a>(
    vault: &Vault,
    settings: &'a OAuthSettings,
    org: OrgId,
    mailbox: Uuid,
    stored: &Stored,
    now: OffsetDateTime,
) -> Result<Next<'a>, LoginError> {
    let secret = vault.open(&secret_context(org, mailbox), &stored.secret_sealed).map_err(|_| LoginError::Secret)?;
    if stored.provider == "password" {
        return Ok(Next::Ready(Login::Password(secret)));
    }
    if let (Some(sealed), Some(expires_at)) = (&stored.access_token_sealed, stored.access_token_expires_at)
        && expires_at > now + REFRESH_BEFORE
    {
        let token = vault.open(&access_token_context(org, mailbox), sealed).map_err(|_| LoginError::Secret)?;
        return Ok(Next::Ready(Login::XOAuth2(token)));
    }
    let settings = settings.named(&stored.provider).ok_or(LoginError::NotConfigured)?;
    Ok(Next::Refresh { settings, refresh_token: secret })
}

/// Records a refresh's outcome. Each write applies only while the row still holds the refresh
/// token this refresh used (`secret_sealed` unchanged): a concurrent refresh that rotated it, or a
/// reconnection, wins, and a refusal of a token already replaced pauses nothing.
async fn record_refresh(
    tx: &mut OrgTx,
    vault: &Vault,
    mailbox: Uuid,
    used: &[u8],
    outcome: Result<TokenAnswer, TokenError>,
    now: OffsetDateTime,
) -> Result<Login, LoginError> {
    let org = tx.org();
    match outcome {
        Ok(answer) => {
            let access_sealed = vault.seal(&access_token_context(org, mailbox), &answer.access_token);
            let rotated = answer.refresh_token.as_ref().map(|token| vault.seal(&secret_context(org, mailbox), token));
            sqlx::query!(
                "update outreach_mailboxes
                    set access_token_sealed = $4, access_token_expires_at = $5,
                        secret_sealed = coalesce($6, secret_sealed), updated_at = $7
                  where org_id = $1 and mailbox_id = $2 and secret_sealed = $3",
                org.0,
                mailbox,
                used,
                access_sealed,
                answer.expires_at(now),
                rotated,
                now
            )
            .execute(tx.conn())
            .await?;
            Ok(Login::XOAuth2(answer.access_token))
        }
        Err(TokenError::InvalidGrant) => {
            sqlx::query!(
                "update outreach_mailboxes set status = 'paused', pause_reason = 'oauth_expired', updated_at = $4
                  where org_id = $1 and mailbox_id = $2 and secret_sealed = $3 and status = 'active'",
                org.0,
                mailbox,
                used,
                now
            )
            .execute(tx.conn())
            .await?;
            tracing::warn!("an outreach mailbox's OAuth2 grant was refused: paused until its owner reconnects it");
            Err(LoginError::Expired)
        }
        Err(TokenError::Refused) => Err(LoginError::Refused),
        Err(TokenError::Unavailable) => Err(LoginError::Unavailable),
    }
}

/// The credentials of `mailbox` (of `org`): its password, or an OAuth2 access token valid for at
/// least [`REFRESH_BEFORE`] — refreshed first if needed, and the new one sealed. For the sending
/// engine, the inbox reader and a member's connection test, none of which may hold a transaction
/// across the call to the provider: the row is read and the transaction committed, then the provider is called, then the
/// outcome written in a new transaction.
pub async fn login(
    db: &Db,
    org: OrgId,
    vault: &Vault,
    settings: &OAuthSettings,
    mailbox: Uuid,
    now: OffsetDateTime,
) -> Result<Login, LoginError> {
    let mut tx = db.begin_org(org, Actor::System).await?;
    let row = stored(&mut tx, mailbox).await?;
    tx.commit().await?;
    let (settings, refresh_token) = match next(vault, settings, org, mailbox, &row, now)? {
        Next::Ready(login) => return Ok(login),
        Next::Refresh { settings, refresh_token } => (settings, refresh_token),
    };
    let outcome = refresh(settings, &refresh_token).await;
    let mut tx = db.begin_org(org, Actor::System).await?;
    let login = record_refresh(&mut tx, vault, mailbox, &row.secret_sealed, outcome, now).await;
    tx.commit().await?;
    login
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn a_provider_without_a_client_id_is_not_offered_and_defaults_are_the_real_endpoints() {
        let none = vars(&[]);
        let settings = OAuthSettings::from_vars(&none).unwrap();
        assert!(settings.google.is_none() && settings.microsoft.is_none());

        let google = vars(&[("RELAIS_GOOGLE_CLIENT_ID", "id"), ("RELAIS_GOOGLE_CLIENT_SECRET", "s3cret")]);
        let settings = OAuthSettings::from_vars(&google).unwrap();
        let g = settings.google.as_ref().unwrap();
        assert_eq!(g.token_url.as_str(), "https://oauth2.googleapis.com/token");
        assert_eq!(g.revoke_url.as_ref().unwrap().as_str(), "https://oauth2.googleapis.com/revoke");
        assert_eq!(g.smtp, MailServer { host: "smtp.gmail.com".into(), port: 465, security: Security::Tls });
        assert_eq!(g.imap.host, "imap.gmail.com");
        assert!(settings.microsoft.is_none());
        assert!(!format!("{settings:?}").contains("s3cret"), "the client secret in Debug");

        let microsoft = vars(&[("RELAIS_MICROSOFT_CLIENT_ID", "id"), ("RELAIS_MICROSOFT_CLIENT_SECRET", "s")]);
        let m = OAuthSettings::from_vars(&microsoft).unwrap().microsoft.unwrap();
        assert!(m.revoke_url.is_none());
        assert_eq!(m.smtp, MailServer { host: "smtp.office365.com".into(), port: 587, security: Security::Starttls });
    }

    #[test]
    fn bad_provider_settings_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("RELAIS_GOOGLE_CLIENT_ID", "id")], "RELAIS_GOOGLE_CLIENT_SECRET"),
            (&[("RELAIS_MICROSOFT_CLIENT_SECRET", "s")], "RELAIS_MICROSOFT_CLIENT_ID"),
            (
                &[
                    ("RELAIS_GOOGLE_CLIENT_ID", "id"),
                    ("RELAIS_GOOGLE_CLIENT_SECRET", "s"),
                    ("RELAIS_GOOGLE_TOKEN_URL", "http://oauth.example.eu/token"),
                ],
                "RELAIS_GOOGLE_TOKEN_URL",
            ),
            (
                &[
                    ("RELAIS_GOOGLE_CLIENT_ID", "id"),
                    ("RELAIS_GOOGLE_CLIENT_SECRET", "s"),
                    ("RELAIS_GOOGLE_SMTP", "smtp.example.eu:25:none"),
                ],
                "RELAIS_GOOGLE_SMTP",
            ),
            (
                &[
                    ("RELAIS_MICROSOFT_CLIENT_ID", "id"),
                    ("RELAIS_MICROSOFT_CLIENT_SECRET", "s"),
                    ("RELAIS_MICROSOFT_IMAP", "outlook.office365.com:993"),
                ],
                "RELAIS_MICROSOFT_IMAP",
            ),
        ];
        for (pairs, variable) in cases {
            let error = OAuthSettings::from_vars(&vars(pairs)).unwrap_err();
            assert_eq!(error.variable, *variable, "{error}");
        }
        let local = vars(&[
            ("RELAIS_GOOGLE_CLIENT_ID", "id"),
            ("RELAIS_GOOGLE_CLIENT_SECRET", "s"),
            ("RELAIS_GOOGLE_TOKEN_URL", "http://127.0.0.1:9000/token"),
            ("RELAIS_GOOGLE_SMTP", "127.0.0.1:2525:none"),
        ]);
        let google = OAuthSettings::from_vars(&local).unwrap().google.unwrap();
        assert_eq!(google.smtp.port, 2525);
    }

    #[test]
    fn the_authorization_url_asks_for_a_code_with_pkce_and_google_for_a_refresh_token() {
        let pairs = [("RELAIS_GOOGLE_CLIENT_ID", "id"), ("RELAIS_GOOGLE_CLIENT_SECRET", "s")];
        let google = OAuthSettings::from_vars(&vars(&pairs)).unwrap().google.unwrap();
        let url = url::Url::parse(&google.authorization_url("https://crm.example.eu/cb", "st", "ch", None)).unwrap();
        let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(query["code_challenge"], "ch");
        assert_eq!(query["state"], "st");
        assert_eq!(query["scope"], "https://mail.google.com/ openid email");
        assert_eq!(query["access_type"], "offline");
        assert_eq!(query["prompt"], "consent");
        // RFC 7636 appendix B.
        let verifier = SecretString::from("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(pkce_challenge(&verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    fn id_token(claims: serde_json::Value) -> SecretString {
        use base64::Engine;
        let encode = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        SecretString::from(format!("{}.{}.sig", encode(&serde_json::json!({"alg": "RS256"})), encode(&claims)))
    }

    #[test]
    fn the_address_comes_from_the_id_tokens_email_for_this_client_while_it_is_valid() {
        let pairs = [("RELAIS_MICROSOFT_CLIENT_ID", "app"), ("RELAIS_MICROSOFT_CLIENT_SECRET", "s")];
        let microsoft = OAuthSettings::from_vars(&vars(&pairs)).unwrap().microsoft.unwrap();
        let now = OffsetDateTime::now_utc();
        let exp = now.unix_timestamp() + 600;
        let email = |claims| id_token_identity(&id_token(claims), &microsoft, now).map(|identity| identity.email);
        let named = serde_json::json!({"aud": "app", "exp": exp, "email": "lea@example.eu", "name": " Léa Dubois "});
        assert_eq!(id_token_identity(&id_token(named), &microsoft, now).unwrap().name, "Léa Dubois");
        assert_eq!(
            email(serde_json::json!({"aud": "app", "exp": exp, "email": "Lea@Example.EU"})),
            Ok("lea@example.eu".into())
        );
        assert_eq!(
            email(serde_json::json!({"aud": ["x", "app"], "exp": exp, "preferred_username": "a@b.eu"})),
            Ok("a@b.eu".into())
        );
        assert_eq!(
            email(serde_json::json!({"aud": "other", "exp": exp, "email": "a@b.eu"})),
            Err(IdTokenError::Audience)
        );
        assert_eq!(
            email(serde_json::json!({"aud": "app", "exp": exp - 1200, "email": "a@b.eu"})),
            Err(IdTokenError::Expired)
        );
        assert_eq!(
            email(serde_json::json!({"aud": "app", "exp": exp, "email": "a@b.eu", "email_verified": false})),
            Err(IdTokenError::NoEmail)
        );
        assert_eq!(
            email(serde_json::json!({"aud": "app", "exp": exp, "email": "not an address"})),
            Err(IdTokenError::NoEmail)
        );
        assert_eq!(id_token_identity(&SecretString::from("garbage"), &microsoft, now), Err(IdTokenError::Malformed));
    }
}
