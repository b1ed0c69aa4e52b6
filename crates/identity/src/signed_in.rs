//! Who is signed in. The session cookie holds an opaque random token (P1-10: HttpOnly, Secure,
//! SameSite=Lax, no other browser storage); the database holds only its SHA-256.

use crate::doors::IdentityDoors;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use kernel::authz::{Credential, Principal};
use kernel::db::Actor;
use kernel::i18n::{Lang, T};
use kernel::web::{AppState, LangPref, Nav, Page, PageError};
use kernel::{AppError, OrgId};
use secrecy::SecretString;
use time::Duration;
use uuid::Uuid;

use crate::model::OrgRole;

#[derive(Debug, Clone)]
pub struct SignedIn {
    pub org: OrgId,
    pub org_name: String,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub role: OrgRole,
    pub lang: Lang,
    /// The member's time zone, in which pages show dates and times.
    pub tz: kernel::dates::Tz,
    /// MFA is required of them from this moment and they have none yet (their grace period).
    pub mfa_due: Option<time::OffsetDateTime>,
    pub email: String,
    /// The other organizations where their email has an active account (`app.member_other_orgs`):
    /// the org switcher's entries, by name.
    pub other_orgs: Vec<(OrgId, String)>,
}

impl SignedIn {
    pub fn actor(&self) -> Actor {
        Actor::User(self.user_id)
    }

    /// The member as the router's access checks see them, signed in with this session.
    pub fn principal(&self) -> Principal {
        Principal {
            org: self.org,
            user_id: self.user_id,
            role: self.role,
            credential: Credential::Session { session_id: self.session_id },
        }
    }

    /// One of the member's other organizations, by the id a switcher link carries; `None` for
    /// any other id (nothing is said of organizations their email has no account in).
    pub fn other_org(&self, org: &str) -> Option<(OrgId, &str)> {
        let org = Uuid::parse_str(org.trim()).ok()?;
        self.other_orgs.iter().find(|(id, _)| id.0 == org).map(|(id, name)| (*id, name.as_str()))
    }

    pub fn page(&self, state: &AppState, path: &str) -> Page {
        Page {
            t: T(self.lang),
            csrf: state.csrf_token(self.session_id),
            nav: Some(Nav {
                user_name: format!("{} {}", self.first_name, self.last_name),
                org_name: self.org_name.clone(),
                links: state.nav.clone(),
                shortcuts: state.palette.shortcuts(),
                notice: self.mfa_due.map(|by| {
                    let date = kernel::dates::local_date(by, self.tz, self.lang);
                    (
                        T(self.lang).fmt("mfa.grace_notice", &[("date", &date)]),
                        "/settings/mfa".to_string(),
                        T(self.lang).get("mfa.grace_action").to_string(),
                    )
                }),
                other_orgs: self
                    .other_orgs
                    .iter()
                    .map(|(org, name)| {
                        (T(self.lang).fmt("login.switch_to", &[("org", name)]), format!("/login?org={}", org.0))
                    })
                    .collect(),
            }),
            path: path.to_owned(),
            tz: self.tz,
        }
    }
}

struct SessionRow {
    org_name: String,
    first_name: String,
    last_name: String,
    org_role: String,
    language: String,
    time_zone: String,
    status: String,
    last_seen_at: time::OffsetDateTime,
    email: String,
}

/// Looks the cookie up; `None` when there is no valid session.
pub async fn resolve(state: &AppState, jar: &CookieJar) -> Result<Option<SignedIn>, AppError> {
    let Some(cookie) = jar.get(state.session_cookie_name()) else {
        return Ok(None);
    };
    let token = SecretString::from(cookie.value());
    let now = state.clock.now();
    let Some((org, session_id, user_id)) = state.db.resolve_session(&kernel::token::hash(&token), now).await? else {
        return Ok(None);
    };
    let mut tx = state.db.begin_org(org, Actor::User(user_id)).await?;
    let row: Option<SessionRow> = sqlx::query_as!(
        SessionRow,
        "select o.name as org_name, u.first_name, u.last_name, u.org_role, u.language, u.time_zone, u.status, s.last_seen_at,
                u.email
         from sessions s
         join users u on u.org_id = s.org_id and u.user_id = s.user_id
         join organizations o on o.org_id = s.org_id
         where s.org_id = $1 and s.session_id = $2 and o.status = 'active'",
        org.0,
        session_id
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row.filter(|r| r.status == "active") else {
        return Ok(None);
    };
    // Touch at most once a minute: keeps "last seen" useful without a write per request.
    if now - row.last_seen_at > Duration::minutes(1) {
        sqlx::query!(
            "update sessions set last_seen_at = $3 where org_id = $1 and session_id = $2",
            org.0,
            session_id,
            now
        )
        .execute(tx.conn())
        .await?;
    }
    // The org switcher's entries: one lookup on `users_email`, through the member's own door.
    let other_orgs = sqlx::query!(r#"select org_id as "org_id!", name as "name!" from app.member_other_orgs()"#)
        .fetch_all(tx.conn())
        .await?
        .into_iter()
        .map(|r| (OrgId(r.org_id), r.name))
        .collect();
    tx.commit().await?;
    Ok(Some(SignedIn {
        org,
        org_name: row.org_name,
        user_id,
        session_id,
        first_name: row.first_name,
        last_name: row.last_name,
        role: OrgRole::parse(&row.org_role).unwrap_or(OrgRole::User),
        lang: Lang::parse(&row.language).unwrap_or(Lang::En),
        tz: kernel::dates::zone(&row.time_zone).unwrap_or(kernel::dates::DEFAULT_ZONE),
        mfa_due: None,
        email: row.email,
        other_orgs,
    }))
}

/// Resolves the session cookie once per request and attaches the member to it: `SignedIn` for
/// pages and the `Principal` the router's access checks read. Requests to the API (`/api/…`) are
/// authenticated by their `Authorization: Bearer` header instead, never by the cookie.
pub async fn attach_principal(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    // The API takes only bearer credentials and pages only the cookie (see `api_tokens`).
    if request.uri().path().starts_with("/api/") {
        return crate::api_tokens::bearer::attach_bearer(state, request, next).await;
    }
    let jar = CookieJar::from_headers(request.headers());
    match resolve(&state, &jar).await {
        Ok(Some(mut signed_in)) => {
            // P2-18: a member who must use MFA and has none is sent to enroll, from every page;
            // during an owner's or manager's grace period, every page says until when.
            match crate::mfa::requirement(&state, signed_in.org, signed_in.user_id, signed_in.role).await {
                Ok(crate::mfa::Requirement::Unmet) if !crate::mfa::reachable_without_mfa(request.uri().path()) => {
                    return axum::response::Redirect::to("/settings/mfa").into_response();
                }
                Ok(crate::mfa::Requirement::Due { by }) => signed_in.mfa_due = Some(by),
                Ok(_) => {}
                Err(error) => return AppError::from(error).into_response(),
            }
            request.extensions_mut().insert(signed_in.principal());
            // An error page of a page route is drawn in the member's own page (kernel::web).
            request.extensions_mut().insert(kernel::web::SignedInPage(signed_in.page(&state, "/")));
            request.extensions_mut().insert(signed_in);
        }
        Ok(None) => {}
        Err(error) => return error.into_response(),
    }
    next.run(request).await
}

/// A page that requires a signed-in member; others are sent to the login page.
impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(signed_in) = parts.extensions.get::<SignedIn>() {
            return Ok(signed_in.clone());
        }
        let LangPref(lang) = LangPref::from_request_parts(parts, state).await.unwrap_or(LangPref(Lang::En));
        Err(PageError::new(AppError::Unauthenticated, &Page::anonymous(lang, parts.uri.path())))
    }
}

/// For public pages that look different to a signed-in member.
pub struct MaybeSignedIn(pub Option<SignedIn>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeSignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<SignedIn>().cloned()))
    }
}

pub fn session_cookie(state: &AppState, token: &SecretString) -> Cookie<'static> {
    use secrecy::ExposeSecret;
    Cookie::build((state.session_cookie_name(), token.expose_secret().to_owned()))
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}

pub fn expired_session_cookie(state: &AppState) -> Cookie<'static> {
    let mut cookie = Cookie::build((state.session_cookie_name(), "")).http_only(true).secure(true).path("/").build();
    cookie.make_removal();
    cookie
}
