//! The navigation counts' route.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::module::{NavCountCtx, nav_count_id};
use kernel::web::{AppState, render};

use crate::signed_in::SignedIn;

/// Above this, the sidebar shows "99+": a number that long says "a lot" and no more.
const MOST_SHOWN: i64 = 99;

struct CountView {
    id: String,
    shown: String,
    /// What a screen reader hears: "3 due today or overdue".
    label: String,
}

#[derive(Template)]
#[template(path = "nav_counts.html")]
struct NavCounts {
    counts: Vec<CountView>,
}

/// `GET /nav/counts`: every module's counts for this member, as out-of-band swaps. A count of
/// zero (or one that is not for this member) is left out: its placeholder stays hidden.
pub async fn nav_counts(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
) -> AppResult<Response> {
    let t = kernel::i18n::T(signed_in.lang);
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let mut counts = Vec::with_capacity(state.nav_counts.len());
    for count in state.nav_counts.iter() {
        let ctx = NavCountCtx { tx: &mut tx, principal: &principal, tz: signed_in.tz, now };
        let Some(value) = (count.count)(ctx).await?.filter(|value| *value > 0) else {
            continue;
        };
        let shown = if value > MOST_SHOWN { format!("{MOST_SHOWN}+") } else { value.to_string() };
        counts.push(CountView {
            id: nav_count_id(count.href),
            label: t.fmt(count.label_key, &[("count", &shown)]),
            shown,
        });
    }
    tx.commit().await?;
    let html = render(&NavCounts { counts })?;
    Ok(([(header::CACHE_CONTROL, "no-store")], html).into_response())
}
