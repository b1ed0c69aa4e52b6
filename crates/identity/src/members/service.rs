//! Changes to members and departments, each with its audit event.

use super::*;
use kernel::audit::AuditEvent;
use kernel::web::AppState;
use serde_json::json;

/// The members `principal` may see (`MembersView`), with their departments.
pub async fn list(state: &AppState, principal: &Principal) -> Result<Vec<MemberSummary>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let members = list_in(&mut tx, principal.user_id, principal.role, actions::MEMBERS_VIEW).await?;
    tx.commit().await?;
    Ok(members)
}

/// Applies `change` to `target`. `Conflict("last_owner")` if it would leave no active owner.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    target: Uuid,
    change: MemberChange,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = principal.begin(&state.db).await?;
    let owners = lock_active_owners(&mut tx).await?;
    let (role, status) = lock_target(&mut tx, principal, target).await?;
    let new_role = change.role.unwrap_or(role);
    let new_status = change.status.unwrap_or(status);
    let stays_owner = new_role == Role::Owner && new_status == MemberStatus::Active;
    if owners.contains(&target) && !stays_owner && owners.len() <= 1 {
        return Err(last_owner());
    }
    if new_role != role {
        sqlx::query!(
            "update users set org_role = $3, updated_at = $4 where org_id = $1 and user_id = $2",
            principal.org.0,
            target,
            new_role.as_str(),
            now
        )
        .execute(tx.conn())
        .await?;
        state
            .audit
            .record(
                &mut tx,
                AuditEvent::new("member.role_changed")
                    .target("user", target)
                    .payload(json!({ "from": role.as_str(), "to": new_role.as_str() })),
            )
            .await?;
    }
    if new_status != status {
        sqlx::query!(
            "update users set status = $3, updated_at = $4 where org_id = $1 and user_id = $2",
            principal.org.0,
            target,
            new_status.as_str(),
            now
        )
        .execute(tx.conn())
        .await?;
        let action = match new_status {
            MemberStatus::Deactivated => {
                end_access(&mut tx, target, now).await?;
                "member.deactivated"
            }
            MemberStatus::Active => "member.reactivated",
        };
        state.audit.record(&mut tx, AuditEvent::new(action).target("user", target)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes `target` from the organization: their account and everything that hangs off it.
pub async fn remove(state: &AppState, principal: &Principal, target: Uuid) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let owners = lock_active_owners(&mut tx).await?;
    let (role, _) = lock_target(&mut tx, principal, target).await?;
    if owners.contains(&target) && owners.len() <= 1 {
        return Err(last_owner());
    }
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("member.removed").target("user", target).payload(json!({ "role": role.as_str() })),
        )
        .await?;
    sqlx::query!("delete from users where org_id = $1 and user_id = $2", principal.org.0, target)
        .execute(tx.conn())
        .await
        .map_err(|e| kernel::error::on_constraint(e, |_| Some(AppError::Conflict("member_has_records".into()))))?;
    tx.commit().await?;
    Ok(())
}

pub async fn create_department(state: &AppState, principal: &Principal, name: &str) -> Result<Uuid, AppError> {
    let name = department_name(name)?;
    let id = Uuid::now_v7();
    let mut tx = principal.begin(&state.db).await?;
    sqlx::query!(
        "insert into departments (org_id, department_id, name, created_at) values ($1, $2, $3, $4)",
        principal.org.0,
        id,
        &name,
        state.clock.now()
    )
    .execute(tx.conn())
    .await
    .map_err(name_taken)?;
    state.audit.record(&mut tx, AuditEvent::new("department.created").target("department", id)).await?;
    tx.commit().await?;
    Ok(id)
}

pub async fn rename_department(state: &AppState, principal: &Principal, id: Uuid, name: &str) -> Result<(), AppError> {
    let name = department_name(name)?;
    let mut tx = principal.begin(&state.db).await?;
    let done = sqlx::query!(
        "update departments set name = $3 where org_id = $1 and department_id = $2",
        principal.org.0,
        id,
        &name
    )
    .execute(tx.conn())
    .await
    .map_err(name_taken)?
    .rows_affected();
    if done == 0 {
        return Err(AppError::NotFound);
    }
    state.audit.record(&mut tx, AuditEvent::new("department.renamed").target("department", id)).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn delete_department(state: &AppState, principal: &Principal, id: Uuid) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let done = sqlx::query!("delete from departments where org_id = $1 and department_id = $2", principal.org.0, id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    if done == 0 {
        return Err(AppError::NotFound);
    }
    state.audit.record(&mut tx, AuditEvent::new("department.deleted").target("department", id)).await?;
    tx.commit().await?;
    Ok(())
}

/// Puts `user` in department `id` (or changes whether they administer it).
pub async fn assign(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    user: Uuid,
    admin: bool,
) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let found = sqlx::query!(
        r#"select exists (select from departments where org_id = $1 and department_id = $2) as "department!",
                  exists (select from users where org_id = $1 and user_id = $3) as "member!""#,
        principal.org.0,
        id,
        user
    )
    .fetch_one(tx.conn())
    .await?;
    match (found.department, found.member) {
        (false, _) => return Err(AppError::NotFound),
        (true, false) => return Err(AppError::field("user_id", "invalid", "Choose a member.")),
        (true, true) => {}
    }
    let role = if admin { "admin" } else { "member" };
    sqlx::query!(
        "insert into department_members (org_id, department_id, user_id, role, added_at) values ($1, $2, $3, $4, $5)
         on conflict (org_id, department_id, user_id) do update set role = excluded.role",
        principal.org.0,
        id,
        user,
        role,
        state.clock.now()
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("department.member_added")
                .target("department", id)
                .payload(json!({ "user_id": user, "role": role })),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn unassign(state: &AppState, principal: &Principal, id: Uuid, user: Uuid) -> Result<(), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let done = sqlx::query!(
        "delete from department_members where org_id = $1 and department_id = $2 and user_id = $3",
        principal.org.0,
        id,
        user
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    if done == 0 {
        return Err(AppError::NotFound);
    }
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("department.member_removed").target("department", id).payload(json!({ "user_id": user })),
        )
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Records that a new member accepted the privacy policy `version` (at sign-up or on accepting an
/// invitation): the proof of which text they agreed to, kept with the account.
pub async fn record_policy_acceptance(
    tx: &mut OrgTx,
    user: Uuid,
    version: &str,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "insert into policy_acceptances (org_id, user_id, version, accepted_at) values ($1, $2, $3, $4)",
        tx.org().0,
        user,
        version,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
