//! SQL of members and departments: reach, lists, the locks a change takes.

use super::*;

/// What `user` (with `role`) reaches for `action`: the matrix's grant, narrowed for a
/// department-scoped grant to the departments `user` administers (none: the whole organization).
pub async fn reach(tx: &mut OrgTx, user: Uuid, role: Role, action: Action) -> Result<Reach, AppError> {
    Ok(match grant(role, action) {
        Grant::Org => Reach::Org,
        Grant::Own => Reach::Own,
        Grant::Denied => Reach::Denied,
        Grant::Department => {
            let ids: Vec<Uuid> = sqlx::query_scalar!(
                "select department_id from department_members where org_id = $1 and user_id = $2 and role = 'admin'
                 order by department_id",
                tx.org().0,
                user
            )
            .fetch_all(tx.conn())
            .await?;
            if ids.is_empty() { Reach::Org } else { Reach::Departments(ids) }
        }
    })
}

/// Whether `target` is within `reach` of `me`. Dynamic SQL: the reach condition is one text shared
/// by every member list ([`reach_condition`]), numbered for this statement's parameters.
pub(super) async fn within_reach(tx: &mut OrgTx, reach: &Reach, me: Uuid, target: Uuid) -> Result<bool, AppError> {
    let sql = format!(
        "select exists (select from users u where u.org_id = $1 and u.user_id = $2 and {})",
        reach_condition("$3", "$4")
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(target)
        .bind(reach.department_filter())
        .bind(me)
        .fetch_one(tx.conn())
        .await?)
}

/// The members `me` reaches for `action`, with their departments, owners first. The list's SQL is
/// dynamic like [`within_reach`]'s.
pub(super) async fn list_in(
    tx: &mut OrgTx,
    me: Uuid,
    role: Role,
    action: Action,
) -> Result<Vec<MemberSummary>, AppError> {
    let reach = reach(tx, me, role, action).await?;
    if reach == Reach::Denied {
        return Err(AppError::Forbidden);
    }
    let sql = format!(
        "select u.user_id, u.first_name, u.last_name, u.email, u.job_title, u.org_role, u.status
         from users u where u.org_id = $1 and {}
         order by case u.org_role when 'owner' then 0 when 'manager' then 1 else 2 end, u.last_name, u.first_name",
        reach_condition("$2", "$3")
    );
    let rows: Vec<MemberRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(reach.department_filter())
        .bind(me)
        .fetch_all(tx.conn())
        .await?;
    let memberships: Vec<MembershipRow> = sqlx::query_as!(
        MembershipRow,
        "select dm.user_id, dm.department_id, d.name, dm.role
         from department_members dm join departments d on d.org_id = dm.org_id and d.department_id = dm.department_id
         where dm.org_id = $1 order by d.name",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| MemberSummary {
            departments: memberships
                .iter()
                .filter(|m| m.user_id == row.user_id)
                .map(|m| MemberDepartment {
                    department_id: m.department_id,
                    name: m.name.clone(),
                    admin: m.role == "admin",
                })
                .collect(),
            user_id: row.user_id,
            first_name: row.first_name,
            last_name: row.last_name,
            email: row.email,
            job_title: row.job_title,
            role: Role::parse(&row.org_role).unwrap_or(Role::User),
            status: MemberStatus::parse(&row.status).unwrap_or(MemberStatus::Deactivated),
        })
        .collect())
}

/// Locks the organization's active owners (in a stable order, so concurrent changes queue rather
/// than deadlock) and returns them. Every change that could remove an owner calls this first.
pub(super) async fn lock_active_owners(tx: &mut OrgTx) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "select user_id from users where org_id = $1 and org_role = 'owner' and status = 'active'
         order by user_id for update",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?)
}

/// Locks the target member and returns their role and status; `NotFound` outside the acting
/// member's reach (including another organization's members, whom RLS hides anyway).
pub(super) async fn lock_target(
    tx: &mut OrgTx,
    principal: &Principal,
    target: Uuid,
) -> Result<(Role, MemberStatus), AppError> {
    let reach = reach(tx, principal.user_id, principal.role, actions::MEMBERS_MANAGE).await?;
    if reach == Reach::Denied {
        return Err(AppError::Forbidden);
    }
    if !within_reach(tx, &reach, principal.user_id, target).await? {
        return Err(AppError::NotFound);
    }
    let row = sqlx::query!(
        "select org_role, status from users where org_id = $1 and user_id = $2 for update",
        tx.org().0,
        target
    )
    .fetch_optional(tx.conn())
    .await?
    .ok_or(AppError::NotFound)?;
    Ok((
        Role::parse(&row.org_role).unwrap_or(Role::User),
        MemberStatus::parse(&row.status).unwrap_or(MemberStatus::Deactivated),
    ))
}

/// Ends every browser session and API token family of `user` at once.
pub(super) async fn end_access(tx: &mut OrgTx, user: Uuid, now: time::OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!("delete from sessions where org_id = $1 and user_id = $2", tx.org().0, user)
        .execute(tx.conn())
        .await?;
    crate::api_tokens::revoke_all_api_tokens(tx, user, now).await?;
    Ok(())
}

/// The organization's departments by name, each with its members (by last name).
pub(super) async fn departments(tx: &mut OrgTx) -> Result<Vec<DepartmentView>, AppError> {
    let rows =
        sqlx::query!("select department_id, name from departments where org_id = $1 order by lower(name)", tx.org().0)
            .fetch_all(tx.conn())
            .await?;
    let members = sqlx::query!(
        r#"select dm.department_id, dm.user_id, u.first_name || ' ' || u.last_name as "name!", dm.role
           from department_members dm join users u on u.org_id = dm.org_id and u.user_id = dm.user_id
           where dm.org_id = $1 order by u.last_name, u.first_name"#,
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| DepartmentView {
            members: members
                .iter()
                .filter(|m| m.department_id == row.department_id)
                .map(|m| (m.user_id, m.name.clone(), m.role == "admin"))
                .collect(),
            department_id: row.department_id,
            name: row.name,
        })
        .collect())
}

/// Whether a member of this organization (any status) already signs in with `email`: an address
/// is one account per organization.
pub async fn email_taken(tx: &mut OrgTx, email: &str) -> Result<bool, AppError> {
    let taken = sqlx::query_scalar!(
        r#"select exists (select from users where org_id = $1 and email = $2) as "exists!""#,
        tx.org().0,
        email
    )
    .fetch_one(tx.conn())
    .await?;
    Ok(taken)
}

/// Each member's last sign-in and the lockout still running at `now` (after failed logins,
/// P1-17), for the members administration page.
pub(super) async fn sign_in_states(tx: &mut OrgTx, now: time::OffsetDateTime) -> Result<Vec<SignInState>, AppError> {
    Ok(sqlx::query_as!(
        SignInState,
        "select user_id, last_login_at, case when locked_until > $2 then locked_until end as locked_until
           from users where org_id = $1",
        tx.org().0,
        now
    )
    .fetch_all(tx.conn())
    .await?)
}
