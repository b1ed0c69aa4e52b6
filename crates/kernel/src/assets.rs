//! Scripts and stylesheets embedded in the binary, served so that an upgrade reaches every
//! browser at once: each answer carries a strong `ETag` (a hash of the bytes) with `no-cache`, so
//! a browser revalidates on every page load and gets `304 Not Modified` (no body) until the bytes
//! change. A plain `max-age` would keep last release's script for up to its age against this
//! release's markup; versioned addresses would do the same job but need every template of every
//! module to know each asset's hash.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The answer to `GET` of one embedded asset, given the request's headers.
pub fn serve(content_type: &'static str, body: &'static [u8], request: &HeaderMap) -> Response {
    let tag = entity_tag(body);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == tag || candidate.trim() == "*"));
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A strong entity tag: the first 16 bytes of the SHA-256 of the bytes, quoted.
fn entity_tag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(if_none_match: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(tag) = if_none_match {
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(tag).unwrap());
        }
        headers
    }

    #[test]
    fn an_asset_is_revalidated_and_answered_304_while_unchanged() {
        let first = serve("text/css", b"body{}", &request(None));
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[header::CACHE_CONTROL], "no-cache");
        let tag = first.headers()[header::ETAG].to_str().unwrap().to_string();

        let again = serve("text/css", b"body{}", &request(Some(&tag)));
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

        // The next release's bytes: the old tag no longer matches, the new body is sent.
        let upgraded = serve("text/css", b"body{color:red}", &request(Some(&tag)));
        assert_eq!(upgraded.status(), StatusCode::OK);
        assert_ne!(upgraded.headers()[header::ETAG].to_str().unwrap(), tag);
    }
}
