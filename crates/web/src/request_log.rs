//! The API request log (P1-04): every request to `/api/…` made with a valid credential is
//! recorded by `identity::activity::record_api_request` — method, route template, status, member,
//! credential kind, API key, client address; never the concrete path, query string, headers or
//! body.
//!
//! Mounted inside the router, under the principal middleware, so the request already carries its
//! `Principal` and its `MatchedPath` when this runs. The row is written after the response is
//! produced, by a task of its own, so it never delays the answer; a failure is logged, not
//! surfaced. [`settled`] waits for the writes in flight (tests read the log right after a request).

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use identity::activity::{ApiRequest, record_api_request};
use kernel::authz::Principal;
use kernel::web::{AppState, ClientInfo};
use tokio::sync::Notify;

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static SETTLED: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Counts a write in flight until dropped.
struct InFlight;

impl InFlight {
    fn start() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
            SETTLED.notify_waiters();
        }
    }
}

/// Returns once no request-log write started before this call is still running.
pub async fn settled() {
    loop {
        let notified = SETTLED.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if IN_FLIGHT.load(Ordering::SeqCst) == 0 {
            return;
        }
        notified.await;
    }
}

pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return next.run(request).await;
    };
    // The template only: concrete paths can carry ids and tokens.
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_owned();
    let (mut parts, body) = request.into_parts();
    let ClientInfo { ip, .. } = match ClientInfo::from_request_parts(&mut parts, &state).await {
        Ok(info) => info,
        Err(never) => match never {},
    };
    let response = next.run(Request::from_parts(parts, body)).await;
    let entry = ApiRequest { method, route, status: response.status().as_u16(), ip };
    let in_flight = InFlight::start();
    tokio::spawn(async move {
        if let Err(error) = record_api_request(&state, &principal, &entry).await {
            tracing::warn!(error = %error, route = %entry.route, "could not record an API request");
        }
        drop(in_flight);
    });
    response
}
