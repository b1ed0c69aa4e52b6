//! Static assets, embedded in the binary: nothing is fetched from another origin.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use kernel::web::AppState;

const HTMX: &[u8] = include_bytes!("../static/htmx.min.js");
const APP_CSS: &[u8] = include_bytes!("../static/app.css");

fn asset(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/htmx.min.js", get(|| async { asset("text/javascript; charset=utf-8", HTMX) }))
        .route("/static/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
}
