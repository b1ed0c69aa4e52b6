//! Assembles the application: every module's pages and API under one router, wrapped in the
//! middleware every response goes through (request ids, logs, metrics, security headers, the
//! cross-site request guard, body limits, timeouts).

mod guard;
mod headers;
pub mod metrics;
mod static_files;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kernel::AppError;
use kernel::catalog::TableEntry;
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
    [kernel::catalog::KERNEL_TABLES, identity::catalog::TABLES].concat()
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

pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = BaseDoc::openapi();
    doc.merge(identity::ApiDoc::openapi());
    doc
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

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .merge(identity::api())
        .route("/openapi.json", get(openapi_json))
        .fallback(api_not_found)
        .method_not_allowed_fallback(api_method_not_allowed);

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

    Router::new()
        .merge(identity::pages())
        .merge(privacy::router(data_catalog))
        .nest("/api/v1", api)
        .route("/api/v1/", axum::routing::any(api_not_found))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .merge(static_files::router())
        .fallback(page_not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::cross_site_guard))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(axum::middleware::from_fn(metrics::track))
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
        let doc = serde_json::to_value(super::openapi()).expect("json");
        assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
        assert!(doc["paths"]["/api/v1/signup"]["post"].is_object());
    }
}
