//! Prometheus metrics at `/metrics`: request counts and latencies by route, no personal data.
//!
//! Where they are served is the operator's choice (docs/operations.md): on a listener of their
//! own (`RELAIS_METRICS_LISTEN`, see [`router`]), and/or on the public listener to a bearer token
//! (`RELAIS_METRICS_TOKEN`). With neither, `/metrics` on the public listener is a 404 like any
//! unknown page: route names and traffic volumes are not for everyone.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kernel::web::AppState;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder (metrics are process-wide by nature), installed on first use.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed");
                None
            }
        })
        .as_ref()
}

/// `/metrics` on the public listener: only to `Authorization: Bearer <RELAIS_METRICS_TOKEN>`.
pub async fn render_public(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.config.metrics_token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    if !bool::from(presented.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response();
    }
    render().await
}

/// The router of the metrics listener (`RELAIS_METRICS_LISTEN`): `/metrics` and nothing else.
pub fn router() -> Router {
    Router::new().route("/metrics", axum::routing::get(render))
}

async fn render() -> Response {
    match handle() {
        Some(handle) => {
            ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
        }
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    // The route template (`/api/v1/contacts/{id}`), never the concrete path with its ids.
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let labels = [("method", method), ("route", route), ("status", response.status().as_u16().to_string())];
    metrics::counter!("relais_http_requests_total", &labels).increment(1);
    metrics::histogram!("relais_http_request_duration_seconds", &labels).record(started.elapsed().as_secs_f64());
    response
}
