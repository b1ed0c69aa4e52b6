//! Static assets, embedded in the binary: nothing is fetched from another origin.

use axum::http::Method;
use axum::http::header;
use axum::response::IntoResponse;
use kernel::authz::Access;
use kernel::web::RouteDef;

const HTMX: &[u8] = include_bytes!("../static/htmx.min.js");
const APP_CSS: &[u8] = include_bytes!("../static/app.css");
const APP_JS: &[u8] = include_bytes!("../static/app.js");
const PALETTE_JS: &[u8] = include_bytes!("../static/palette.js");

fn asset(content_type: &'static str, body: &'static [u8]) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body)
}

pub fn routes() -> Vec<RouteDef> {
    vec![
        RouteDef::page(Method::GET, "/static/htmx.min.js", Access::Public, || async {
            asset("text/javascript; charset=utf-8", HTMX)
        }),
        RouteDef::page(Method::GET, "/static/app.js", Access::Public, || async {
            asset("text/javascript; charset=utf-8", APP_JS)
        }),
        RouteDef::page(Method::GET, "/static/palette.js", Access::Public, || async {
            asset("text/javascript; charset=utf-8", PALETTE_JS)
        }),
        RouteDef::page(Method::GET, "/static/app.css", Access::Public, || async {
            asset("text/css; charset=utf-8", APP_CSS)
        }),
    ]
}
