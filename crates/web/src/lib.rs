//! Assembles the application: every module's pages and API under one router, wrapped in the
//! middleware every response goes through (request ids, logs, metrics, security headers, the
//! cross-site request guard, body limits, timeouts).

mod guard;
mod headers;
pub mod metrics;
pub mod request_log;
mod static_files;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::http::{HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kernel::AppError;
use kernel::authz::Access;
use kernel::catalog::TableEntry;
use kernel::web::RouteDef;
use kernel::web::{AppState, LangPref, Page, PageError};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every table of every module, for the conformance test, `relais catalog` and (later) the
/// record of processing.
pub fn data_catalog() -> Vec<TableEntry> {
    [
        kernel::catalog::KERNEL_TABLES,
        kernel::ratelimit::TABLES,
        identity::catalog::TABLES,
        identity::recovery::TABLES,
        identity::invitations::TABLES,
        identity::api_auth::TABLES,
        identity::activity::TABLES,
        identity::members::TABLES,
        identity::profile::TABLES,
        identity::mfa::TABLES,
        identity::magic::TABLES,
        crm::TABLES,
        crm::import::TABLES,
        identity::platform_admin::TABLES,
        identity::signup::TABLES,
    ]
    .concat()
}

/// The background-job handlers of every module: what `relais serve` and `relais worker` run, and
/// what tests run.
pub fn job_registry(
    config: &kernel::config::Config,
    mailer: kernel::mail::Mailer,
    vault: kernel::vault::Vault,
) -> kernel::jobs::Registry {
    let mut registry = kernel::jobs::Registry::default();
    kernel::mail::register(&mut registry, mailer, vault.clone());
    crm::import::register(&mut registry);
    crm::reminders::register(&mut registry, vault.clone(), config.public_url.clone());
    crm::webhooks::register(&mut registry, vault, config.webhooks_allow_private);
    registry
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Relais API",
        description = "Privacy-first CRM, outreach, AI assistance and training. Errors are RFC 9457 problem+json.",
        license(name = "AGPL-3.0-only")
    ),
    servers((url = "/", description = "this instance"))
)]
struct BaseDoc;

/// The whole API document. The CRM's part is generated as JSON from its field descriptions
/// (`crm::openapi`) and merged here at the JSON level.
pub fn openapi() -> serde_json::Value {
    let mut doc = BaseDoc::openapi();
    doc.merge(identity::ApiDoc::openapi());
    let mut value = serde_json::to_value(doc).unwrap_or_default();
    let crm = crm::openapi::document();
    for section in ["paths", "components/schemas"] {
        let pointer = format!("/{section}");
        if let (Some(serde_json::Value::Object(into)), Some(serde_json::Value::Object(from))) =
            (value.pointer(&pointer).cloned().map(Some).unwrap_or(None), crm.pointer(&pointer))
        {
            let mut merged = into;
            merged.extend(from.clone());
            if let Some(slot) = value.pointer_mut(&pointer) {
                *slot = serde_json::Value::Object(merged);
            }
        }
    }
    value
}

async fn openapi_json() -> impl IntoResponse {
    axum::Json(openapi())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.db.is_ready().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

async fn api_not_found() -> AppError {
    AppError::NotFound
}

async fn api_method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

async fn page_not_found(LangPref(lang): LangPref, uri: Uri) -> PageError {
    PageError::new(AppError::NotFound, &Page::anonymous(lang, uri.path()))
}

/// Every route of the application with the access it requires: what `app` mounts, and what the
/// permission-matrix test walks.
pub fn routes() -> Vec<RouteDef> {
    use Method as M;
    let mut routes = identity::routes();
    routes.extend(privacy::routes(data_catalog));
    routes.extend(crm::routes());
    routes.extend([
        RouteDef::api(M::GET, "/api/v1/openapi.json", Access::Public, openapi_json),
        RouteDef::page(M::GET, "/healthz", Access::Public, healthz),
        RouteDef::page(M::GET, "/readyz", Access::Public, readyz),
        RouteDef::page(M::GET, "/metrics", Access::Public, metrics::render),
    ]);
    routes.extend(static_files::routes());
    routes
}

pub fn app(state: AppState) -> Router {
    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION, axum::http::header::COOKIE]))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            // The path only: query strings may carry tokens.
            tracing::info_span!("request", method = %request.method(), path = request.uri().path(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)));

    let mut router = Router::new();
    for route in routes() {
        router = route.mount(router);
    }
    let api_fallback = Router::new().fallback(api_not_found).method_not_allowed_fallback(api_method_not_allowed);
    // Every route is mounted above, through its access check; the API keeps problem+json answers
    // for unknown paths and methods.
    router
        .nest("/api/v1", api_fallback)
        .route("/api/v1/", axum::routing::any(api_not_found))
        .fallback(page_not_found)
        .method_not_allowed_fallback(api_method_not_allowed)
        // Inside the principal layer, so it sees who made the request (P1-04 API request log).
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_log::record))
        .layer(axum::middleware::from_fn_with_state(state.clone(), identity::attach_principal))
        // Under /admin only: the super admin's own session (never a member principal).
        .layer(axum::middleware::from_fn_with_state(state.clone(), identity::platform_admin::attach_platform_admin))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::cross_site_guard))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(
            // Inside the router, so the span names the route template (`/reset/{token}`), never
            // the concrete path: paths can carry tokens, and query strings are never logged.
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "unmatched".into());
                tracing::info_span!("request", method = %request.method(), route, request_id)
            }),
        )
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(middleware)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    /// The committed docs/data-catalog.md is what `relais catalog` prints today.
    #[test]
    fn data_catalog_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/data-catalog.md");
        let committed = std::fs::read_to_string(path).expect("docs/data-catalog.md");
        let generated = kernel::catalog::to_markdown(&super::data_catalog());
        assert!(
            committed.ends_with(&generated),
            "docs/data-catalog.md is stale: regenerate it with `relais catalog` (see the file's header)"
        );
    }

    #[test]
    fn openapi_is_3_1_and_lists_signup() {
        let doc = super::openapi();
        assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
        assert!(doc["paths"]["/api/v1/signup"]["post"].is_object());
    }
}
