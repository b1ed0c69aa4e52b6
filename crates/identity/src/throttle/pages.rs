//! `POST /members/{user_id}/unlock`.

use super::*;
use crate::actions;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::web::{AppState, CsrfForm};
use kernel::{AppError, AppResult};
use serde::de::IgnoredAny;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// `POST /members/{user_id}/unlock`: an owner lifts a member's lock at once (and resets the
/// count). CSRF-checked and audited as `member.unlocked`.
pub async fn unlock_member(
    State(state): State<AppState>,
    principal: Principal,
    Path(member): Path<Uuid>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    // The router enforces this already; checked again because unlocking is owner-only business.
    if !kernel::authz::grant(principal.role, actions::MEMBERS_MANAGE).allows() {
        return Err(AppError::Forbidden);
    }
    let mut tx = principal.begin(&state.db).await?;
    let was: Option<(i32, Option<OffsetDateTime>)> =
        sqlx::query_as("select failed_logins, locked_until from users where org_id = $1 and user_id = $2 for update")
            .bind(principal.org)
            .bind(member)
            .fetch_optional(tx.conn())
            .await?;
    let Some((failures, locked_until)) = was else {
        return Err(AppError::NotFound);
    };
    reset(&mut tx, member).await?;
    let was_locked = locked_until.is_some_and(|until| until > state.clock.now());
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("member.unlocked")
                .target("user", member)
                .payload(json!({ "was_locked": was_locked, "failures": failures })),
        )
        .await?;
    tx.commit().await?;
    Ok(Redirect::to("/dashboard").into_response())
}
