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

pub use crate::toast::{redirect_with_error_toast, redirect_with_toast};

/// Everything a handler may need, built once at start and passed to every route.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub audit: AuditLog,
    pub vault: Vault,
    /// This node's rate-limit state (bucket key, flood guard); the counters are in the database.
    pub rate_limits: crate::ratelimit::RateLimits,
    /// Every table of every module (the privacy policy page and, later, data-subject requests).
    pub catalog: Arc<[crate::catalog::TableEntry]>,
    /// The signed-in navigation, assembled from the modules' links.
    pub nav: Arc<[crate::module::NavLink]>,
    /// The home page's panels, assembled from the modules' (by position).
    pub home_panels: Arc<[crate::module::HomePanel]>,
    /// The panels other modules add to CRM record pages (by position).
    pub record_panels: Arc<[crate::module::RecordPanel]>,
    /// The numbers next to navigation links, assembled from the modules'.
    pub nav_counts: Arc<[crate::module::NavCount]>,
    /// The command palette's pages, actions and record searches, assembled from the modules.
    pub palette: Arc<crate::palette::Palette>,
    master: Arc<MasterKey>,
}

impl AppState {
    /// The state of an application assembled from `modules`: `db` carries their event subscribers
    /// into every tenant transaction, and the state their data catalog.
    pub fn new(
        config: Arc<Config>,
        db: Db,
        clock: Clock,
        master: Arc<MasterKey>,
        modules: &crate::module::Modules,
    ) -> Self {
        let db = db.with_events(modules.event_bus());
        crate::i18n::install(&modules.locales());
        Self {
            catalog: modules.catalog().into(),
            nav: modules.nav().into(),
            home_panels: modules.home_panels().into(),
            record_panels: modules.record_panels().into(),
            nav_counts: modules.nav_counts().into(),
            palette: Arc::new(modules.palette()),
            audit: AuditLog::new(master.clone(), clock.clone()),
            vault: Vault::new(master.clone()),
            rate_limits: crate::ratelimit::RateLimits::new(master.instance_key("rate-limit")),
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

    /// The key one-time sign-in codes sent by email are MACed with before they are stored: a
    /// six-digit code has too few values for a plain hash (see identity's `magic` module).
    pub fn email_otp_key(&self) -> secrecy::SecretBox<[u8; 32]> {
        self.master.instance_key("email-otp")
    }

    /// The key API access tokens are signed with (see `MasterKey::jwt_key`).
    pub fn jwt_key(&self) -> secrecy::SecretBox<[u8; 32]> {
        self.master.jwt_key()
    }

    /// Name of the session cookie: `__Host-` prefixed (no Domain, Path=/, Secure) behind HTTPS.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.config.public_url.is_https() { "__Host-relais_session" } else { "relais_session" }
    }
}

/// Initials for an avatar: the first letter of a name's first two words, upper case ("Jeanne
/// Moreau" → "JM", "élodie garnier" → "ÉG").
pub fn initials(name: &str) -> String {
    name.split_whitespace().filter_map(|word| word.chars().next()).take(2).flat_map(char::to_uppercase).collect()
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
    /// The time zone dates are shown in: the member's, [`crate::dates::DEFAULT_ZONE`] for
    /// anonymous pages.
    pub tz: chrono_tz::Tz,
}

#[derive(Debug, Clone)]
pub struct Nav {
    pub user_name: String,
    pub org_name: String,
    /// The modules' links ([`AppState::nav`]).
    pub links: Arc<[crate::module::NavLink]>,
    /// The `g <letter>` shortcuts to pages, listed in the keyboard help (`?`).
    pub shortcuts: Arc<[crate::module::PaletteEntry]>,
    /// Something the member must do soon, shown on every page: (sentence, address, link text).
    pub notice: Option<(String, String, String)>,
    /// The member's other organizations, for the profile menu's switcher: (link text, address of
    /// that organization's login). Empty when their email has no account elsewhere.
    pub other_orgs: Vec<(String, String)>,
}

impl Page {
    pub fn anonymous(lang: Lang, path: impl Into<String>) -> Self {
        Self { t: T(lang), csrf: String::new(), nav: None, path: path.into(), tz: crate::dates::DEFAULT_ZONE }
    }

    /// A moment as this page shows it: in its time zone, the language's style
    /// ([`crate::dates`]): `6 déc. 2026 à 14:05`, `Dec 6, 2026, 2:05 PM`.
    pub fn date_time(&self, at: &time::OffsetDateTime) -> String {
        crate::dates::date_time(*at, self.tz, self.t.0)
    }

    /// The day of a moment in this page's time zone: `6 déc. 2026`, `Dec 6, 2026`.
    pub fn date(&self, at: &time::OffsetDateTime) -> String {
        crate::dates::local_date(*at, self.tz, self.t.0)
    }

    /// Whether `link` opens the section this page belongs to (`/crm` for `/crm/deals/…`).
    /// A longer link that matches wins: `/crm/deals/board` is the board's, not the deals'.
    pub fn is_current(&self, link: &crate::module::NavLink) -> bool {
        let opens =
            |href: &str| self.path == href || self.path.strip_prefix(href).is_some_and(|rest| rest.starts_with('/'));
        opens(link.href)
            && !self.nav.as_ref().is_some_and(|nav| {
                nav.links.iter().any(|other| other.href.len() > link.href.len() && opens(other.href))
            })
    }

    /// The one-shot confirmation waiting for this page, if any (see [`crate::toast`]); the layout
    /// asks once and shows it in its toast region.
    pub fn toast(&self) -> Option<crate::toast::Toast> {
        crate::toast::take(&self.t)
    }

    /// The member's initials for the avatar of the profile menu ("Camille Martin": "CM").
    pub fn initials(&self) -> String {
        initials(self.nav.as_ref().map(|nav| nav.user_name.as_str()).unwrap_or_default())
    }

    /// The first letter of a navigation link's label: its mark when the sidebar is collapsed.
    pub fn nav_mark(&self, link: &crate::module::NavLink) -> String {
        self.t.get(link.label_key).chars().next().map(|c| c.to_uppercase().collect()).unwrap_or_default()
    }

    /// The element id of a link's count (filled in after the page has loaded).
    pub fn nav_count_id(&self, link: &crate::module::NavLink) -> String {
        crate::module::nav_count_id(link.href)
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

/// The client's address: the TCP peer, unless the peer is one of `RELAIS_TRUSTED_PROXIES`; then the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends
/// the address it saw, so everything left of that was written by the client and proves nothing).
/// Without a trusted peer the header is ignored: a client cannot pick the address it is recorded
/// and rate-limited under.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: &[&str], trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let mut current = peer?.to_canonical();
    if !is_trusted(&current) {
        return Some(current);
    }
    let hops = forwarded_for.iter().flat_map(|header| header.split(',')).map(str::trim).collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        // A hop that is not an address (garbage, "unknown", a port) ends the trusted chain: keep
        // the last address a trusted proxy vouched for.
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        current = ip.to_canonical();
        if !is_trusted(&current) {
            break;
        }
    }
    Some(current)
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = <AppState as axum::extract::FromRef<S>>::from_ref(state);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        let forwarded: Vec<&str> =
            parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
        let ip = client_ip(peer, &forwarded, &state.config.trusted_proxies);
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
    /// For a 429: "try again in N min", in the page's language.
    wait: Option<String>,
    /// What the handler said was wrong (a refusal's reason, the fields' errors), so a person is
    /// never left with a bare status code.
    detail: Option<String>,
}

/// The reason an error page shows: a refusal's own text, or its field errors in the page's
/// language. Never anything of an internal error.
fn page_detail(page: &Page, error: &crate::error::PublicError) -> Option<String> {
    if error.errors.is_empty() {
        error.reason.clone()
    } else {
        Some(error.errors.iter().map(|e| field_error_text(page, e)).collect::<Vec<_>>().join(" "))
    }
}

/// "Try again in N min" (rounded up to the minute) for a refusal that says how long to wait.
pub fn wait_text(page: &Page, retry_after_secs: Option<u64>) -> Option<String> {
    let minutes = retry_after_secs?.div_ceil(60).max(1);
    Some(page.t.fmt("error.retry_in_minutes", &[("minutes", &minutes.to_string())]))
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

/// A page error is its `AppError` to a handler returning `AppResult`: the page route's layer
/// draws it in the member's page anyway (see [`RouteDef::mount`]).
impl From<PageError> for AppError {
    fn from(error: PageError) -> Self {
        error.error
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.error.log();
        let status = self.error.status();
        if matches!(self.error, AppError::Unauthenticated) {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
        }
        let page = ErrorPage {
            page: &self.page,
            status: status.as_u16(),
            title_key: format!("error.{}", self.error.kind()),
            wait: wait_text(&self.page, self.error.retry_after_secs()),
            detail: page_detail(&self.page, &self.error.public()),
        };
        let body = page.render().unwrap_or_else(|_| "Error".to_owned());
        let mut response = (status, Html(body)).into_response();
        if let AppError::TooManyRequests { retry_after_secs } = self.error {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}

/// A field error as a sentence in the page's language: the translation of its code
/// (`field_error.<code>`, one key set for every module), else the error's own message. Every
/// page shows field errors through this.
pub fn field_error_text(page: &Page, error: &crate::FieldError) -> String {
    let key = format!("field_error.{}", error.code);
    let text = page.t.get(&key);
    if text == key { error.message.clone() } else { text.to_string() }
}

/// Renders a template into an HTML response, mapping a render failure to a 500.
pub fn render(template: &impl Template) -> Result<Html<String>, AppError> {
    template.render().map(Html).map_err(|e| AppError::Internal(anyhow::Error::new(e)))
}

/// A local redirect target from a form (every `next` parameter goes through this): a path on this
/// site, else `/`. Refused: anything not starting with one `/` (`//host`, `https://…`, a scheme),
/// a backslash (browsers read `/\host` as `//host`), and any character outside visible ASCII —
/// browsers drop tabs and line breaks from URLs (`/\t/host` is `//host`), and CR, LF or NUL
/// cannot go into a `Location` header at all.
pub fn safe_local_path(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && path.bytes().all(|b| b.is_ascii_graphic())
                && path.len() < 512 =>
        {
            path
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_read_the_local_way() {
        assert_eq!(initials("Jeanne Moreau"), "JM");
        assert_eq!(initials("émile garnier"), "ÉG");
        assert_eq!(initials(""), "");
    }

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let proxies = nets(&["10.0.0.0/8", "192.0.2.1/32"]);
        // An untrusted peer: the header is ignored, whatever it says.
        assert_eq!(client_ip(ip("198.51.100.7"), &["203.0.113.9"], &proxies), ip("198.51.100.7"));
        assert_eq!(client_ip(ip("198.51.100.7"), &["203.0.113.9"], &[]), ip("198.51.100.7"));
        // A trusted peer: the right-most address that is not a proxy, skipping a spoofed left part.
        assert_eq!(client_ip(ip("10.0.0.5"), &["6.6.6.6, 203.0.113.9"], &proxies), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.5"), &["6.6.6.6, 203.0.113.9, 10.2.3.4"], &proxies), ip("203.0.113.9"));
        assert_eq!(client_ip(ip("10.0.0.5"), &["6.6.6.6", "203.0.113.9"], &proxies), ip("203.0.113.9"));
        // Garbage ends the chain at the last vouched-for address; no header means the peer.
        assert_eq!(client_ip(ip("10.0.0.5"), &["203.0.113.9, garbage"], &proxies), ip("10.0.0.5"));
        assert_eq!(client_ip(ip("10.0.0.5"), &[], &proxies), ip("10.0.0.5"));
        // IPv4-mapped IPv6 peers match IPv4 ranges.
        assert_eq!(client_ip(ip("::ffff:10.0.0.5"), &["203.0.113.9"], &proxies), ip("203.0.113.9"));
        assert_eq!(client_ip(None, &["203.0.113.9"], &proxies), None);
    }

    #[test]
    fn only_local_paths_are_redirect_targets() {
        assert_eq!(safe_local_path(Some("/dashboard")), "/dashboard");
        assert_eq!(safe_local_path(Some("//evil.example")), "/");
        assert_eq!(safe_local_path(Some("https://evil.example")), "/");
        assert_eq!(safe_local_path(Some("/\\evil.example")), "/");
        assert_eq!(safe_local_path(None), "/");
        // Issue #10 item 16: browsers drop tabs and line breaks, so these are `//evil.example`;
        // CR, LF and NUL cannot go into a Location header.
        for forged in ["/\t/evil.example", "/\n/evil.example", "/\r/evil.example", "/crm\r\nSet-Cookie: x=1", "/a\0b"] {
            assert_eq!(safe_local_path(Some(forged)), "/", "{forged:?}");
        }
        assert_eq!(safe_local_path(Some("/ /evil.example")), "/");
        assert_eq!(safe_local_path(Some("/crm/é")), "/");
        assert_eq!(safe_local_path(Some("javascript:alert(1)")), "/");
        assert_eq!(
            safe_local_path(Some("/crm/contacts/1?notice=saved#timeline")),
            "/crm/contacts/1?notice=saved#timeline"
        );
    }
}

// ------------------------------------------------------------------ routes and their access

use crate::authz::{Access, Grant, Principal};
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};

/// Where a route answers: pages redirect strangers to the login page; the API answers 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Page,
    Api,
}

/// One route with the access it requires. Modules list their routes as `RouteDef`s; the `web`
/// crate mounts them all through [`RouteDef::mount`], which wraps each handler in the access
/// check — so a route cannot exist without a declared access, and the permission-matrix test can
/// walk every route.
pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub surface: Surface,
    /// Whether the route takes an upload: its body may take long to arrive, so it is exempt from
    /// the total request time budget and bounded by an idle timeout on its body instead (the web
    /// crate's time-budget layer reads this).
    pub upload: bool,
    handler: MethodRouter<AppState>,
}

fn method_filter(method: &Method) -> MethodFilter {
    match *method {
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::PATCH => MethodFilter::PATCH,
        Method::DELETE => MethodFilter::DELETE,
        Method::HEAD => MethodFilter::HEAD,
        _ => MethodFilter::GET,
    }
}

impl RouteDef {
    pub fn new<H, T>(surface: Surface, method: Method, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let handler = axum::routing::on(method_filter(&method), handler);
        Self { method, path, access, surface, upload: false, handler }
    }

    /// Marks the route as taking an upload (see [`RouteDef::upload`]).
    pub fn upload(mut self) -> Self {
        self.upload = true;
        self
    }

    pub fn page<H: Handler<T, AppState>, T: 'static>(method: Method, path: &'static str, access: Access, h: H) -> Self {
        Self::new(Surface::Page, method, path, access, h)
    }

    pub fn api<H: Handler<T, AppState>, T: 'static>(method: Method, path: &'static str, access: Access, h: H) -> Self {
        Self::new(Surface::Api, method, path, access, h)
    }

    /// Adds the route to `router`, guarded by its access check. A page route also renders any
    /// `AppError` its handler returns as the HTML error page, so page handlers just use `?`.
    pub fn mount(self, router: axum::Router<AppState>) -> axum::Router<AppState> {
        let guard = axum::middleware::from_fn_with_state((self.access, self.surface), enforce_access);
        // Extractor rejections become the one `AppError` (problem+json, or the error page below).
        let handler = self.handler.route_layer(axum::middleware::from_fn(crate::extract::problem_rejections));
        let handler = match self.surface {
            Surface::Page => handler.route_layer(axum::middleware::from_fn(render_page_errors)),
            Surface::Api => handler,
        };
        router.route(self.path, handler.route_layer(guard))
    }
}

/// Refuses a request its route's [`Access`] does not allow. The principal, if any, was attached
/// to the request by the identity module's middleware.
async fn enforce_access(
    axum::extract::State((access, surface)): axum::extract::State<(Access, Surface)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let principal = request.extensions().get::<Principal>();
    let admin = request.extensions().get::<crate::authz::PlatformAdminPrincipal>().is_some();
    let allowed = match (access, principal) {
        (Access::Public, _) => return next.run(request).await,
        (Access::PlatformAdmin, _) if admin => Ok(()),
        (Access::PlatformAdmin, Some(_)) => Err(AppError::Forbidden),
        (Access::PlatformAdmin, None) => {
            // Strangers to the backoffice go to the admin login, never the members' one.
            let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/admin/login")]).into_response();
            response.headers_mut().insert(ACCESS_DENIED_HEADER, axum::http::HeaderValue::from_static("access"));
            return response;
        }
        (_, None) => Err(AppError::Unauthenticated),
        (Access::SignedIn, Some(_)) => Ok(()),
        (Access::Can(action), Some(principal)) if principal.grant(action) != Grant::Denied => Ok(()),
        (Access::Can(_), Some(_)) => Err(AppError::Forbidden),
    };
    let error = match allowed {
        Ok(()) => return next.run(request).await,
        Err(error) => error,
    };
    let mut response = if surface == Surface::Api {
        error.into_response()
    } else {
        let jar = CookieJar::from_headers(request.headers());
        let accept = request.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let lang = Lang::negotiate(jar.get(LANG_COOKIE).map(|c| c.value()), accept);
        PageError::new(error, &Page::anonymous(lang, request.uri().path())).into_response()
    };
    // Says which layer refused (for operators reading logs and for the permission-matrix test);
    // it reveals nothing the status does not.
    response.headers_mut().insert(ACCESS_DENIED_HEADER, axum::http::HeaderValue::from_static("access"));
    response
}

/// The page a signed-in member's error page is drawn in (their language, navigation and CSRF
/// token), attached to the request by the identity module once the session is resolved.
#[derive(Debug, Clone)]
pub struct SignedInPage(pub Page);

/// Turns an `AppError` answer of a page handler (see `error::PublicError`) into the HTML error
/// page: in the member's page when signed in, else in the visitor's language. `Unauthenticated`
/// goes to the login page.
async fn render_page_errors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path().to_owned();
    let page = match request.extensions().get::<SignedInPage>() {
        Some(SignedInPage(page)) => Page { path: path.clone(), ..page.clone() },
        None => {
            let jar = CookieJar::from_headers(request.headers());
            let accept = request.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
            Page::anonymous(Lang::negotiate(jar.get(LANG_COOKIE).map(|c| c.value()), accept), path)
        }
    };
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<crate::error::PublicError>().cloned() else {
        return response;
    };
    error_page(&page, &error)
}

fn error_page(page: &Page, error: &crate::error::PublicError) -> Response {
    if error.status == StatusCode::UNAUTHORIZED {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    }
    let view = ErrorPage {
        page,
        status: error.status.as_u16(),
        title_key: format!("error.{}", error.kind),
        wait: wait_text(page, error.retry_after_secs),
        detail: page_detail(page, error),
    };
    let body = view.render().unwrap_or_else(|_| "Error".to_owned());
    let mut response = (error.status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response();
    if let Some(secs) = error.retry_after_secs {
        response.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    response
}

/// A signed-in form, checked then parsed: the `csrf` field must be the token of the session that
/// sent it (a member's or a platform admin's), else 403 and the body is not even deserialized.
/// `T` is any `Deserialize` type; `Vec<(String, String)>` keeps every field in order (checkbox
/// groups repeat a name). Every page POST of a signed-in member takes its body through this.
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for CsrfForm<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let app = <AppState as axum::extract::FromRef<S>>::from_ref(state);
        let session = form_session(&request)?;
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| AppError::BadRequest("The form could not be read.".into()))?;
        let submitted = url::form_urlencoded::parse(&body)
            .find(|(name, _)| name == "csrf")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        if !app.csrf_matches(session, &submitted) {
            return Err(AppError::Forbidden);
        }
        serde_urlencoded::from_bytes(&body)
            .map(CsrfForm)
            .map_err(|error| AppError::BadRequest(format!("The form is malformed: {error}")))
    }
}

/// The browser session a signed-in form must carry the CSRF token of. The admin session first: it
/// is only attached under `/admin`, where a browser that is also signed in as a member posts the
/// admin's token. No session (a bearer token, nobody): 403.
fn form_session(request: &axum::extract::Request) -> Result<Uuid, AppError> {
    let member_session = match request.extensions().get::<Principal>().map(|p| p.credential) {
        Some(crate::authz::Credential::Session { session_id }) => Some(session_id),
        _ => None,
    };
    let admin_session =
        request.extensions().get::<crate::authz::PlatformAdminPrincipal>().map(|admin| admin.session_id);
    admin_session.or(member_session).ok_or(AppError::Forbidden)
}

/// The bounds of a signed-in multipart form, chosen by the route that takes it (see
/// [`CsrfMultipart`]): the whole stream, any field, or named fields. A file streamed to disk may be
/// left unbounded here when the handler bounds it as it writes.
pub trait MultipartLimits: Send + Sync + 'static {
    fn size_limit() -> multer::SizeLimit;
}

/// The longest CSRF field a multipart form may send: it is read before it is verified.
const CSRF_FIELD_LIMIT: u64 = 1024;

/// How much of a multipart body may be read before its CSRF field is verified: the field, its
/// headers and whatever precedes it. The multipart parser buffers a preamble or a header block
/// whole while it looks for its end, so without this bound an endless one would fill the memory.
const BEFORE_CSRF_LIMIT: u64 = 64 * 1024;

/// A multipart body that refuses to deliver more than [`BEFORE_CSRF_LIMIT`] bytes until `verified`
/// is set, and until then hands over one chunk per poll (the parser reads every chunk ready in one
/// go otherwise, so it would not stop at the bound).
struct BeforeCsrf<S> {
    inner: S,
    verified: std::sync::Arc<std::sync::atomic::AtomicBool>,
    read: u64,
    pause: bool,
}

/// The error a multipart body ends with when it passes [`BEFORE_CSRF_LIMIT`] unverified.
#[derive(Debug)]
struct CsrfFieldTooLong;

impl std::fmt::Display for CsrfFieldTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the form's CSRF field is too long")
    }
}

impl std::error::Error for CsrfFieldTooLong {}

impl<S> futures_util::Stream for BeforeCsrf<S>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, axum::Error>> + Unpin,
{
    type Item = Result<axum::body::Bytes, axum::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::sync::atomic::Ordering;
        use std::task::Poll;
        if self.verified.load(Ordering::Acquire) {
            return std::pin::Pin::new(&mut self.inner).poll_next(cx);
        }
        if self.pause {
            self.pause = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if self.read > BEFORE_CSRF_LIMIT {
            return Poll::Ready(Some(Err(axum::Error::new(CsrfFieldTooLong))));
        }
        let polled = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.read += chunk.len() as u64;
            self.pause = true;
        }
        polled
    }
}

/// A signed-in `multipart/form-data` form, checked before any other field is read: its first field
/// must be `csrf`, holding the token of the session that sent it, else 403 and nothing more of the
/// body is read. The handler then reads the remaining fields as they stream (`fields`), within the
/// route's [`MultipartLimits`]; `declared_length` is the request's Content-Length, so an oversized
/// upload can be refused before it is read. Every multipart page POST takes its body through this,
/// as every urlencoded one takes [`CsrfForm`].
pub struct CsrfMultipart<L> {
    pub fields: multer::Multipart<'static>,
    pub declared_length: Option<u64>,
    limits: std::marker::PhantomData<fn() -> L>,
}

impl<L, S> axum::extract::FromRequest<S> for CsrfMultipart<L>
where
    L: MultipartLimits,
    S: Send + Sync,
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let app = <AppState as axum::extract::FromRef<S>>::from_ref(state);
        let session = form_session(&request)?;
        let headers = request.headers();
        let declared_length =
            headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let boundary = multer::parse_boundary(content_type).map_err(|_| AppError::UnsupportedMediaType)?;
        // Every bound applies while the body streams: a chunked upload has no Content-Length to
        // check first, and the CSRF field is read before its token is verified.
        let constraints = multer::Constraints::new().size_limit(L::size_limit().for_field("csrf", CSRF_FIELD_LIMIT));
        let verified = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let body = BeforeCsrf {
            inner: request.into_body().into_data_stream(),
            verified: verified.clone(),
            read: 0,
            pause: false,
        };
        let mut fields = multer::Multipart::with_constraints(body, boundary, constraints);
        let submitted = match fields.next_field().await {
            Ok(Some(field)) if field.name() == Some("csrf") => field.text().await.unwrap_or_default(),
            _ => String::new(),
        };
        if !app.csrf_matches(session, &submitted) {
            return Err(AppError::Forbidden);
        }
        verified.store(true, std::sync::atomic::Ordering::Release);
        Ok(CsrfMultipart { fields, declared_length, limits: std::marker::PhantomData })
    }
}

/// Set on responses refused by a route's access check.
pub const ACCESS_DENIED_HEADER: &str = "x-relais-refused";

/// The signed-in member, for handlers behind `Access::SignedIn` or `Access::Can`.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or(AppError::Unauthenticated)
    }
}
