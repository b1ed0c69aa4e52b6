//! Static assets, embedded in the binary: nothing is fetched from another origin.

use axum::http::{HeaderMap, Method};
use kernel::authz::Access;
use kernel::web::RouteDef;

const HTMX: &[u8] = include_bytes!("../static/htmx.min.js");
const APP_CSS: &[u8] = include_bytes!("../static/app.css");
const APP_JS: &[u8] = include_bytes!("../static/app.js");
const PALETTE_JS: &[u8] = include_bytes!("../static/palette.js");

pub fn routes() -> Vec<RouteDef> {
    vec![
        RouteDef::page(Method::GET, "/static/htmx.min.js", Access::Public, |headers: HeaderMap| async move {
            kernel::assets::serve("text/javascript; charset=utf-8", HTMX, &headers)
        }),
        RouteDef::page(Method::GET, "/static/app.js", Access::Public, |headers: HeaderMap| async move {
            kernel::assets::serve("text/javascript; charset=utf-8", APP_JS, &headers)
        }),
        RouteDef::page(Method::GET, "/static/palette.js", Access::Public, |headers: HeaderMap| async move {
            kernel::assets::serve("text/javascript; charset=utf-8", PALETTE_JS, &headers)
        }),
        RouteDef::page(Method::GET, "/static/app.css", Access::Public, |headers: HeaderMap| async move {
            kernel::assets::serve("text/css; charset=utf-8", APP_CSS, &headers)
        }),
    ]
}

#[cfg(test)]
mod tests {
    /// Every block of the stylesheet is closed: one missing `}` (an easy slip when sections are
    /// added by several people) silently swallows every rule after it into a media query.
    #[test]
    fn every_block_of_the_stylesheet_is_closed() {
        let css = std::str::from_utf8(super::APP_CSS).unwrap();
        let mut depth = 0i32;
        let mut rest = css;
        let mut line = 1;
        while let Some(ch) = rest.chars().next() {
            if let Some(after) = rest.strip_prefix("/*") {
                let end = after.find("*/").expect("an unclosed comment");
                line += after[..end].matches('\n').count();
                rest = &after[end + 2..];
                continue;
            }
            match ch {
                '{' => depth += 1,
                '}' => depth -= 1,
                '\n' => line += 1,
                _ => {}
            }
            assert!(depth >= 0, "a `}}` without its `{{` at line {line}");
            rest = &rest[ch.len_utf8()..];
        }
        assert_eq!(depth, 0, "{depth} block(s) of app.css left open");
    }
}
