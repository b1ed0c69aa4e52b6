//! The public tracking endpoints on `RELAIS_PUBLIC_URL`, reached from a tracked message's HTML:
//! `GET /t/o/{token}` answers a transparent 1×1 GIF, `GET /t/c/{token}?u=…` redirects to the
//! link's destination. A token that does not verify (or a destination it was not made for) is a
//! 404 before any database work: there is no open redirect.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::db::Actor;
use kernel::web::AppState;
use kernel::{AppError, AppResult};

use super::store;

/// A transparent 1×1 GIF (GIF89a, one colour, fully transparent): the smallest image every mail
/// client shows.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// `GET /t/o/{token}`.
pub async fn open(State(state): State<AppState>, Path(token): Path<String>) -> AppResult<Response> {
    let (org, message) = super::verify_open(&state.vault, &token).ok_or(AppError::NotFound)?;
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    store::opened(&mut tx, message, state.clock.now()).await?;
    tx.commit().await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "image/gif"), (header::CACHE_CONTROL, "no-store")], PIXEL)
        .into_response())
}

#[derive(Debug, serde::Deserialize)]
pub struct ClickQuery {
    /// The destination; a link without one was not made here (a 404, like a bad token).
    u: Option<String>,
}

/// `GET /t/c/{token}?u=…`.
pub async fn click(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(query): Query<ClickQuery>,
) -> AppResult<Response> {
    let destination = query.u.ok_or(AppError::NotFound)?;
    let (org, message) = super::verify_click(&state.vault, &token, &destination).ok_or(AppError::NotFound)?;
    // Only web links were rewritten; anything else was not made here.
    let destination = url::Url::parse(&destination).map_err(|_| AppError::NotFound)?;
    if !matches!(destination.scheme(), "https" | "http") {
        return Err(AppError::NotFound);
    }
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    store::clicked(&mut tx, message, state.clock.now()).await?;
    tx.commit().await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Redirect::to(destination.as_str())).into_response())
}
