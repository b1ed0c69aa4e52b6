//! Pieces of the web shell every module's handlers use: the shared state, the page context the
//! layout needs, the HTML error page, the client's address and browser, the language preference
//! and CSRF tokens. Routing and middleware are assembled in the `web` crate.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::config::Config;
use crate::db::Db;
use crate::error::AppError;
use crate::i18n::{LANG_COOKIE, Lang, T};
use crate::keys::MasterKey;
use crate::vault::Vault;

/// Everything a handler may need, built once at start and passed to every route.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub audit: AuditLog,
    pub vault: Vault,
    master: Arc<MasterKey>,
}

impl AppState {
    pub fn new(config: Arc<Config>, db: Db, clock: Clock, master: Arc<MasterKey>) -> Self {
        Self {
            audit: AuditLog::new(master.clone(), clock.clone()),
            vault: Vault::new(master.clone()),
            config,
            db,
            clock,
            master,
        }
    }

    /// The CSRF token for a session: an HMAC of the session id under an instance key, so it needs
    /// no storage and cannot be computed without the master key.
    pub fn csrf_token(&self, session_id: Uuid) -> String {
        let key = self.master.instance_key("csrf");
        let mut mac = match Hmac::<Sha256>::new_from_slice(key.expose_secret()) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC-SHA256 takes any key length"),
        };
        mac.update(session_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub fn csrf_matches(&self, session_id: Uuid, submitted: &str) -> bool {
        self.csrf_token(session_id).as_bytes().ct_eq(submitted.as_bytes()).into()
    }

    /// Name of the session cookie: `__Host-` prefixed (no Domain, Path=/, Secure) behind HTTPS.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.config.public_url.is_https() { "__Host-relais_session" } else { "relais_session" }
    }
}

/// What the layout needs to draw any page.
#[derive(Debug, Clone)]
pub struct Page {
    pub t: T,
    /// Empty when nobody is signed in: anonymous forms rely on the Origin check.
    pub csrf: String,
    pub nav: Option<Nav>,
    /// The current path, for the language switch to come back to.
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct Nav {
    pub user_name: String,
    pub org_name: String,
}

impl Page {
    pub fn anonymous(lang: Lang, path: impl Into<String>) -> Self {
        Self { t: T(lang), csrf: String::new(), nav: None, path: path.into() }
    }

    pub fn other_lang(&self) -> &'static str {
        match self.t.0 {
            Lang::En => "fr",
            Lang::Fr => "en",
        }
    }
}

/// The language a visitor asked for: `lang` cookie, else `Accept-Language`, else English.
/// A signed-in user's saved language is applied on top by the identity module.
#[derive(Debug, Clone, Copy)]
pub struct LangPref(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for LangPref {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        Ok(Self(Lang::negotiate(jar.get(LANG_COOKIE).map(|c| c.value()), accept)))
    }
}

/// The client's address and browser, recorded with logins (P0-03).
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Forwarded headers are ignored until trusted proxies are configurable: a client could
        // otherwise pick the address it is recorded (and rate-limited) under.
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect());
        Ok(Self { ip, user_agent })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: &'a Page,
    status: u16,
    title_key: String,
}

/// An `AppError` shown as an HTML page in the visitor's language.
pub struct PageError {
    pub error: AppError,
    pub page: Box<Page>,
}

impl PageError {
    pub fn new(error: impl Into<AppError>, page: &Page) -> Self {
        Self { error: error.into(), page: Box::new(page.clone()) }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.error.log();
        let status = self.error.status();
        if matches!(self.error, AppError::Unauthenticated) {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
        }
        let page =
            ErrorPage { page: &self.page, status: status.as_u16(), title_key: format!("error.{}", self.error.kind()) };
        let body = page.render().unwrap_or_else(|_| "Error".to_owned());
        let mut response = (status, Html(body)).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self.error {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}

/// Renders a template into an HTML response, mapping a render failure to a 500.
pub fn render(template: &impl Template) -> Result<Html<String>, AppError> {
    template.render().map(Html).map_err(|e| AppError::Internal(anyhow::Error::new(e)))
}

/// A local redirect target from a form: only paths on this site, never `//host` or a URL.
pub fn safe_local_path(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') && path.len() < 512 => {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_redirect_targets() {
        assert_eq!(safe_local_path(Some("/dashboard")), "/dashboard");
        assert_eq!(safe_local_path(Some("//evil.example")), "/");
        assert_eq!(safe_local_path(Some("https://evil.example")), "/");
        assert_eq!(safe_local_path(Some("/\\evil.example")), "/");
        assert_eq!(safe_local_path(None), "/");
    }
}
