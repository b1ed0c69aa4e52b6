//! `POST /members/{user_id}/unlock`.

use super::*;
use crate::actions;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use kernel::authz::Principal;
use kernel::web::{AppState, CsrfForm};
use kernel::{AppError, AppResult};
use serde::de::IgnoredAny;
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
    unlock(&state, &principal, member).await?;
    // Back to the members administration, where the lock was shown.
    Ok(Redirect::to("/members/manage").into_response())
}
