//! The time budget of a request. Every route has a total budget (`RELAIS_REQUEST_TIMEOUT_SECS`,
//! 30 s by default; past it the answer is an empty 408), except the routes marked as uploads
//! (`RouteDef::upload`): a 4 GiB CSV file on an ordinary line takes far longer than any total budget
//! a page should have, so an upload is instead cut when its body stops arriving for
//! `RELAIS_UPLOAD_IDLE_TIMEOUT_SECS` (60 s by default). The handler then sees its body fail, refuses
//! the upload and removes what it had written.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

/// The budgets, and which routes are uploads.
#[derive(Clone)]
pub struct Budget {
    pub total: Duration,
    pub idle: Duration,
    pub uploads: Arc<HashSet<(Method, &'static str)>>,
}

/// The error an upload's body ends with when it stalls.
#[derive(Debug)]
pub struct UploadStalled(pub Duration);

impl std::fmt::Display for UploadStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no data received for {} s", self.0.as_secs())
    }
}

impl std::error::Error for UploadStalled {}

/// `body`, failing with [`UploadStalled`] when no chunk arrives within `idle`.
pub fn with_idle_timeout(body: Body, idle: Duration) -> Body {
    let stream = futures_util::stream::unfold(Some(body.into_data_stream()), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout(idle, stream.next()).await {
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(stream))),
            Ok(Some(Err(error))) => Some((Err(axum::BoxError::from(error)), None)),
            Ok(None) => None,
            Err(_) => Some((Err(axum::BoxError::from(UploadStalled(idle))), None)),
        }
    });
    Body::from_stream(stream)
}

/// The layer: the total budget for most routes, the idle budget on the body of uploads.
pub async fn time_budget(State(budget): State<Budget>, request: Request, next: Next) -> Response {
    let upload = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| budget.uploads.contains(&(request.method().clone(), path.as_str())));
    if upload {
        let idle = budget.idle;
        return next.run(request.map(|body| with_idle_timeout(body, idle))).await;
    }
    match tokio::time::timeout(budget.total, next.run(request)).await {
        Ok(response) => response,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}
