//! Refuses cross-site state-changing requests before any handler runs.
//!
//! Modern browsers label every request with `Sec-Fetch-Site`; a POST from another site is refused
//! here. Older browsers are judged by `Origin` (when it is not `null`). Signed-in forms also carry a
//! per-session CSRF token that their handlers check. A request with neither signal (curl, an API
//! client) passes only if it carries no session cookie, since then it cannot ride on a session.

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kernel::AppError;
use kernel::web::AppState;

pub async fn cross_site_guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) || is_public_form(request.uri().path())
    {
        return next.run(request).await;
    }
    let headers = request.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let has_session_cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.contains(state.session_cookie_name()));

    // With `Referrer-Policy: no-referrer` (sent on every page), browsers serialize the Origin of a
    // same-origin form POST as `null`; `Sec-Fetch-Site`, which page scripts cannot set, is the
    // reliable signal, and a `null` Origin counts as no Origin.
    let origin = origin.filter(|o| *o != "null");
    let origin_ok = origin.is_none_or(|o| same_origin(state.config.public_url.origin(), o));
    let allowed = origin_ok
        && match fetch_site {
            Some(site) => matches!(site, "same-origin" | "none"),
            None => origin.is_some() || !has_session_cookie,
        };
    if allowed {
        next.run(request).await
    } else {
        tracing::warn!(fetch_site, origin, "cross-site request refused");
        AppError::Forbidden.into_response()
    }
}

/// A landing-page form (`/f/{public_id}`) is meant to be posted from other sites (an embedded
/// snippet), and a one-click unsubscribe (`/u/{token}`, RFC 8058) from a mail client or webmail.
/// Their handlers read no session and act for nobody, so a cross-site POST gains nothing.
fn is_public_form(path: &str) -> bool {
    ["/f/", "/u/"]
        .iter()
        .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| !rest.is_empty() && !rest.contains('/')))
}

/// Exact match, except that the loopback names of a local instance stand for each other
/// (the demo is reached as localhost or 127.0.0.1 alike).
fn same_origin(public: &str, origin: &str) -> bool {
    if public == origin {
        return true;
    }
    let loopback = |o: &str| -> Option<String> {
        let rest = o.strip_prefix("http://")?;
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, "80"));
        matches!(host, "localhost" | "127.0.0.1" | "[::1]").then(|| port.to_owned())
    };
    matches!((loopback(public), loopback(origin)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::{is_public_form, same_origin};

    #[test]
    fn only_single_segment_public_forms_and_unsubscribes_take_cross_site_posts() {
        assert!(is_public_form("/f/abc"));
        assert!(is_public_form("/u/token"));
        assert!(!is_public_form("/u/"));
        assert!(!is_public_form("/u/token/more"));
        assert!(!is_public_form("/outreach/suppressions"));
    }

    #[test]
    fn origins_match_exactly_or_as_the_same_loopback_port() {
        assert!(same_origin("https://crm.example.eu", "https://crm.example.eu"));
        assert!(!same_origin("https://crm.example.eu", "https://evil.example"));
        assert!(!same_origin("https://crm.example.eu", "http://crm.example.eu"));
        assert!(same_origin("http://localhost:8080", "http://127.0.0.1:8080"));
        assert!(!same_origin("http://localhost:8080", "http://127.0.0.1:8081"));
        assert!(!same_origin("http://localhost:8080", "null"));
    }
}
