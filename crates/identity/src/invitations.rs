//! Members and invitations (P1-05, P2-12).
//!
//! Owners invite managers or users, managers invite users only. An invitation is an email with a
//! link `/invitations/{token}`: a 256-bit random token whose SHA-256 alone is stored, good once and
//! for [`INVITATION_LIFETIME`], withdrawable until used. Following the link (GET) shows a form;
//! its POST creates the member in the inviting organization with the invited role and signs them
//! in. Audited: `member.invited`, `member.invitation_revoked`, `member.joined`.

use crate::actions;
use crate::doors::IdentityDoors;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::audit::AuditEvent;
use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::db::Actor;
use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::web::{AppState, ClientInfo, LangPref, Page, PageError, render};
use kernel::{AppError, FieldError, OrgId, UserId, token};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::model::{EmailAddress, JobTitle, OrgRole, Password, PersonName, hash_password};
use crate::recovery::{FieldMessages, link_invalid, no_store, notice};
use crate::service::{self, NewSession};
use crate::session::{SignedIn, session_cookie};

/// How long an invitation link works.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);
const MAX_TOKEN_CHARS: usize = 128;

pub const TABLES: &[TableEntry] = &[TableEntry {
    table: "invitations",
    module: "identity",
    description: "Invitations to join an organization: invitee's email, role, hashed single-use token, who invited, when accepted or withdrawn.",
    subject: Subject::AccountHolder,
    personal_columns: &["email", "invited_by", "accepted_user_id"],
    purpose: "Account and organization management",
    legal_basis: LegalBasis::Contract,
    retention: Retention::AccountLifetimePlusDays { days: 30 },
    erasure: Erasure::Delete,
    tenant: true,
}];

/// Who may invite whom: owners invite managers and users, managers invite users; nobody invites
/// an owner (ownership is transferred, not granted by invitation).
pub fn may_invite(inviter: OrgRole, invited: OrgRole) -> bool {
    matches!((inviter, invited), (OrgRole::Owner, OrgRole::Manager | OrgRole::User) | (OrgRole::Manager, OrgRole::User))
}

fn already_member() -> AppError {
    AppError::field("email", "already_member", "This person is already a member of your organization.")
}

// ------------------------------------------------------------------ rules

/// Invites `email` with `role` into the signed-in member's organization and mails the link.
pub async fn invite(state: &AppState, inviter: &SignedIn, email: &str, role: &str) -> Result<Uuid, AppError> {
    if inviter.role == OrgRole::User {
        return Err(AppError::Forbidden);
    }
    let mut errors = Vec::new();
    let email = EmailAddress::parse("email", email).map_err(|e| errors.push(e)).ok();
    let role = match OrgRole::parse(role) {
        Some(role @ (OrgRole::Manager | OrgRole::User)) => Some(role),
        _ => {
            errors.push(FieldError::new("role", "invalid", "Choose manager or user."));
            None
        }
    };
    let (Some(email), Some(role)) = (email, role) else { return Err(AppError::Validation(errors)) };
    if !may_invite(inviter.role, role) {
        return Err(AppError::Forbidden);
    }
    let now = state.clock.now();
    let mut tx = state.db.begin_org(inviter.org, inviter.actor()).await?;
    let member: bool = sqlx::query_scalar!(
        r#"select exists (select from users where org_id = $1 and email = $2) as "exists!""#,
        inviter.org.0,
        email.as_str()
    )
    .fetch_one(tx.conn())
    .await?;
    if member {
        return Err(already_member());
    }
    // One live invitation per address: a new one withdraws the earlier ones.
    sqlx::query!(
        "update invitations set revoked_at = $3
         where org_id = $1 and email = $2 and accepted_at is null and revoked_at is null",
        inviter.org.0,
        email.as_str(),
        now
    )
    .execute(tx.conn())
    .await?;
    let secret = token::generate();
    let invitation_id = Uuid::now_v7();
    sqlx::query!("insert into invitations (org_id, invitation_id, email, org_role, token_hash, invited_by, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)", inviter.org.0, invitation_id, email.as_str(), role.as_str(), &token::hash(&secret)[..], inviter.user_id, now, now + INVITATION_LIFETIME)
    .execute(tx.conn())
    .await?;
    // The invitee has no language yet: the mail is in the inviter's.
    let t = T(inviter.lang);
    let inviter_name = format!("{} {}", inviter.first_name, inviter.last_name);
    let role_name = t.get(&format!("role.{}", role.as_str())).to_lowercase();
    let link = state.config.public_url.join(&format!("/invitations/{}", secret.expose_secret()));
    let args = [("inviter", inviter_name.as_str()), ("org", inviter.org_name.as_str()), ("role", &role_name)];
    let message = OutgoingMail {
        to: email.as_str().to_owned(),
        subject: t.fmt("mail.invitation.subject", &args),
        text: t.fmt("mail.invitation.body", &[args[0], args[1], args[2], ("link", &link)]),
        html: None,
    };
    mail::enqueue(&mut tx, &state.clock, &state.vault, &message).await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("member.invited")
                .target("invitation", invitation_id)
                .payload(json!({ "role": role.as_str() })),
        )
        .await?;
    tx.commit().await?;
    Ok(invitation_id)
}

/// Withdraws a pending invitation. Managers may withdraw only the invitations they could send.
pub async fn revoke(state: &AppState, member: &SignedIn, invitation_id: Uuid) -> Result<(), AppError> {
    let now = state.clock.now();
    let mut tx = state.db.begin_org(member.org, member.actor()).await?;
    let role: Option<String> = sqlx::query_scalar!(
        "select org_role from invitations
         where org_id = $1 and invitation_id = $2 and accepted_at is null and revoked_at is null
         for update",
        member.org.0,
        invitation_id
    )
    .fetch_optional(tx.conn())
    .await?;
    let role = role.and_then(|r| OrgRole::parse(&r)).ok_or(AppError::NotFound)?;
    if !may_invite(member.role, role) {
        return Err(AppError::Forbidden);
    }
    sqlx::query!(
        "update invitations set revoked_at = $3 where org_id = $1 and invitation_id = $2",
        member.org.0,
        invitation_id,
        now
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(&mut tx, AuditEvent::new("member.invitation_revoked").target("invitation", invitation_id))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// An invitation whose link can still be used.
#[derive(sqlx::FromRow)]
struct LiveInvitation {
    #[sqlx(skip)]
    org: Option<OrgId>,
    invitation_id: Uuid,
    email: String,
    org_role: String,
    org_name: String,
    inviter_name: String,
    already_member: bool,
}

async fn live_invitation(state: &AppState, secret: &str) -> Result<Option<LiveInvitation>, AppError> {
    if secret.is_empty() || secret.len() > MAX_TOKEN_CHARS {
        return Ok(None);
    }
    let hash = token::hash(&SecretString::from(secret));
    let Some((org, invitation_id)) = state.db.resolve_invitation(&hash).await? else { return Ok(None) };
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    let found: Option<LiveInvitation> = sqlx::query_as!(
        LiveInvitation,
        r#"select i.org_id as "org?: OrgId", i.invitation_id as "invitation_id!", i.email as "email!", i.org_role as "org_role!", o.name as "org_name!",
                u.first_name || ' ' || u.last_name as "inviter_name!",
                exists (select from users m where m.org_id = i.org_id and m.email = i.email) as "already_member!"
         from invitations i
         join organizations o on o.org_id = i.org_id
         join users u on u.org_id = i.org_id and u.user_id = i.invited_by
         where i.org_id = $1 and i.invitation_id = $2
           and i.accepted_at is null and i.revoked_at is null and i.expires_at > $3"#,
        org.0,
        invitation_id,
        state.clock.now()
    )
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(found.map(|found| LiveInvitation { org: Some(org), ..found }))
}

/// The invitee's answer, as submitted.
#[derive(Deserialize)]
pub struct AcceptInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub job_title: String,
    #[serde(default = "empty_secret")]
    pub password: SecretString,
    #[serde(default)]
    pub adult: Option<String>,
    #[serde(default)]
    pub accepted_policy_version: String,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

struct ValidAcceptance {
    first_name: PersonName,
    last_name: PersonName,
    job_title: JobTitle,
    password: Password,
    policy_version: String,
}

/// Every field checked, every problem reported at once.
async fn validate(state: &AppState, input: AcceptInput) -> Result<ValidAcceptance, AppError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let first_name = PersonName::parse("first_name", &input.first_name).map_err(|e| errors.push(e)).ok();
    let last_name = PersonName::parse("last_name", &input.last_name).map_err(|e| errors.push(e)).ok();
    let job_title = JobTitle::parse("job_title", &input.job_title).map_err(|e| errors.push(e)).ok();
    let password = Password::parse("password", input.password).map_err(|e| errors.push(e)).ok();
    if !input.adult.as_deref().is_some_and(|v| matches!(v, "on" | "true" | "yes" | "1")) {
        errors.push(FieldError::new("adult", "must_be_adult", "Relais is for people aged 18 or over."));
    }
    let policy_version = match state.db.current_policy_version(state.clock.now()).await? {
        Some((version, _)) if version == input.accepted_policy_version => Some(version),
        Some(_) => {
            errors.push(FieldError::new(
                "accepted_policy_version",
                "policy_not_accepted",
                "Read and accept the current privacy policy.",
            ));
            None
        }
        None => return Err(AppError::Unavailable("no privacy policy is published".into())),
    };
    match (first_name, last_name, job_title, password, policy_version) {
        (Some(first_name), Some(last_name), Some(job_title), Some(password), Some(policy_version))
            if errors.is_empty() =>
        {
            Ok(ValidAcceptance { first_name, last_name, job_title, password, policy_version })
        }
        _ => Err(AppError::Validation(errors)),
    }
}

/// Accepts an invitation: creates the member with the invited role and opens their session.
/// `NotFound` when the link is unknown, expired, used or withdrawn; `Conflict` when the address
/// already has an account in the organization.
pub async fn accept(
    state: &AppState,
    secret: &str,
    input: AcceptInput,
    lang: Lang,
    client: &ClientInfo,
) -> Result<NewSession, AppError> {
    let Some(invitation) = live_invitation(state, secret).await? else { return Err(AppError::NotFound) };
    if invitation.already_member {
        return Err(AppError::Conflict("already_member".into()));
    }
    let valid = validate(state, input).await?;
    let org = invitation.org.ok_or(AppError::NotFound)?;
    let password_hash = hash_password(&valid.password).await?;
    let now = state.clock.now();
    let user = UserId::new();
    let mut tx = state.db.begin_org(org, Actor::User(user.0)).await?;
    // Lock the invitation and check it again: of two concurrent acceptances only one proceeds.
    let role: Option<String> = sqlx::query_scalar!(
        "select org_role from invitations
         where org_id = $1 and invitation_id = $2 and accepted_at is null and revoked_at is null and expires_at > $3
         for update",
        org.0,
        invitation.invitation_id,
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(role) = role else { return Err(AppError::NotFound) };
    sqlx::query!(
        "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                            language, adult_attested_at, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9, $9)",
        org.0,
        user.0,
        &invitation.email,
        valid.first_name.as_str(),
        valid.last_name.as_str(),
        valid.job_title.as_str(),
        &role,
        &password_hash,
        now,
        lang.code()
    )
    .execute(tx.conn())
    .await
    .map_err(accept_conflict)?;
    sqlx::query!(
        "update invitations set accepted_at = $3, accepted_user_id = $4 where org_id = $1 and invitation_id = $2",
        org.0,
        invitation.invitation_id,
        now,
        user.0
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "insert into policy_acceptances (org_id, user_id, version, accepted_at) values ($1, $2, $3, $4)",
        org.0,
        user.0,
        &valid.policy_version,
        now
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(
            &mut tx,
            AuditEvent::new("member.joined").target("user", user.0).payload(json!({
                "role": role,
                "invitation_id": invitation.invitation_id,
                "policy_version": valid.policy_version,
            })),
        )
        .await?;
    let session =
        service::open_session(state, &mut tx, user.0, "invitation", serde_json::json!({}), client, now).await?;
    tx.commit().await?;
    tracing::info!(org = %org, user = %user, "member joined by invitation");
    Ok(session)
}

fn accept_conflict(error: sqlx::Error) -> AppError {
    kernel::error::on_constraint(error, |name| {
        (name == "users_org_id_email_key").then(|| AppError::Conflict("already_member".into()))
    })
}

// ------------------------------------------------------------------ members page

#[derive(sqlx::FromRow)]
struct MemberRow {
    first_name: String,
    last_name: String,
    email: String,
    job_title: String,
    org_role: String,
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    invitation_id: Uuid,
    email: String,
    org_role: String,
    expires_at: OffsetDateTime,
    inviter_name: String,
}

impl PendingRow {
    fn expires(&self) -> String {
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        self.expires_at.format(&format).unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    page: Page,
    members: Vec<MemberRow>,
    pending: Vec<PendingRow>,
    /// The roles this member may invite (and whose invitations they may withdraw); empty: no form.
    can_invite: Vec<&'static str>,
    /// Whether to link to member management (`members.rs`).
    can_manage: bool,
    errors: FieldMessages,
    email: String,
    role: String,
}

impl MembersPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }

    fn selected(&self, role: &str) -> bool {
        self.role == role
    }

    fn can_revoke(&self, role: &str) -> bool {
        self.can_invite.contains(&role)
    }
}

fn invitable_roles(role: OrgRole) -> Vec<&'static str> {
    [OrgRole::Manager, OrgRole::User].into_iter().filter(|r| may_invite(role, *r)).map(|r| r.as_str()).collect()
}

async fn members_page(
    state: &AppState,
    signed_in: &SignedIn,
    errors: FieldMessages,
    email: String,
    role: String,
) -> Result<MembersPage, AppError> {
    let mut tx = state.db.begin_org(signed_in.org, signed_in.actor()).await?;
    // A department admin sees only their departments' members (P2-07, `members::reach`).
    let reach = crate::members::reach(&mut tx, signed_in.user_id, signed_in.role, actions::MEMBERS_VIEW).await?;
    let members: Vec<MemberRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select u.first_name, u.last_name, u.email, u.job_title, u.org_role from users u where u.org_id = $1 and {}
         order by case u.org_role when 'owner' then 0 when 'manager' then 1 else 2 end, u.last_name, u.first_name",
        crate::members::reach_condition("$2", "$3")
    )))
    .bind(signed_in.org)
    .bind(reach.department_filter())
    .bind(signed_in.user_id)
    .fetch_all(tx.conn())
    .await?;
    let pending: Vec<PendingRow> = sqlx::query_as!(
        PendingRow,
        r#"select i.invitation_id as "invitation_id!", i.email as "email!", i.org_role as "org_role!", i.expires_at as "expires_at!", u.first_name || ' ' || u.last_name as "inviter_name!"
         from invitations i join users u on u.org_id = i.org_id and u.user_id = i.invited_by
         where i.org_id = $1 and i.accepted_at is null and i.revoked_at is null and i.expires_at > $2
         order by i.created_at"#,
        signed_in.org.0,
        state.clock.now()
    )
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(MembersPage {
        page: signed_in.page(state, "/members"),
        members,
        pending,
        can_invite: invitable_roles(signed_in.role),
        can_manage: kernel::authz::grant(signed_in.role, actions::MEMBERS_MANAGE).allows(),
        errors,
        email,
        role,
    })
}

fn page_response(status: StatusCode, view: &MembersPage) -> Result<Response, PageError> {
    let html = render(view).map_err(|e| PageError::new(e, &view.page))?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /members`: every member, pending invitations, and the invite form for those who may invite.
pub async fn members(State(state): State<AppState>, signed_in: SignedIn) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/members");
    let view = members_page(&state, &signed_in, FieldMessages::default(), String::new(), "user".into())
        .await
        .map_err(|e| PageError::new(e, &page))?;
    page_response(StatusCode::OK, &view)
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /members/invite`.
pub async fn invite_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<InviteForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/members");
    signed_in.check_csrf(&state, &form.csrf)?;
    match invite(&state, &signed_in, &form.email, &form.role).await {
        Ok(_) => Ok(Redirect::to("/members").into_response()),
        Err(AppError::Validation(errors)) => {
            let view = members_page(&state, &signed_in, FieldMessages(errors), form.email, form.role)
                .await
                .map_err(|e| PageError::new(e, &page))?;
            page_response(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
        Err(other) => Err(PageError::new(other, &page)),
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /members/invitations/{invitation_id}/revoke`.
pub async fn revoke_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(invitation_id): Path<Uuid>,
    Form(form): Form<RevokeForm>,
) -> Result<Response, PageError> {
    let page = signed_in.page(&state, "/members");
    signed_in.check_csrf(&state, &form.csrf)?;
    revoke(&state, &signed_in, invitation_id).await.map_err(|e| PageError::new(e, &page))?;
    Ok(Redirect::to("/members").into_response())
}

// ------------------------------------------------------------------ accepting

#[derive(Template)]
#[template(path = "invitation_accept.html")]
struct AcceptPage {
    page: Page,
    title: String,
    intro: String,
    email: String,
    action: String,
    policy_version: String,
    errors: FieldMessages,
    values: AcceptValues,
}

#[derive(Default)]
struct AcceptValues {
    first_name: String,
    last_name: String,
    job_title: String,
    adult: bool,
}

impl AcceptPage {
    fn error(&self, field: &str) -> Option<String> {
        self.errors.for_field(&self.page, field)
    }
}

fn accept_view(
    page: &Page,
    invitation: &LiveInvitation,
    action: String,
    policy_version: String,
    errors: FieldMessages,
    values: AcceptValues,
) -> AcceptPage {
    let role = page.t.get(&format!("role.{}", invitation.org_role)).to_lowercase();
    AcceptPage {
        page: page.clone(),
        title: page.t.fmt("invitation.title", &[("org", &invitation.org_name)]),
        intro: page.t.fmt(
            "invitation.intro",
            &[("inviter", &invitation.inviter_name), ("org", &invitation.org_name), ("role", &role)],
        ),
        email: invitation.email.clone(),
        action,
        policy_version,
        errors,
        values,
    }
}

async fn policy_version(state: &AppState, page: &Page) -> Result<String, PageError> {
    match state.db.current_policy_version(state.clock.now()).await {
        Ok(Some((version, _))) => Ok(version),
        Ok(None) => Err(PageError::new(AppError::Unavailable("no privacy policy".into()), page)),
        Err(e) => Err(PageError::new(e, page)),
    }
}

fn already_member_page(page: &Page) -> Result<Response, PageError> {
    notice(
        page,
        StatusCode::CONFLICT,
        "invitation.already_member_title",
        "invitation.already_member",
        Some(("/login", "nav.login")),
    )
}

/// `GET /invitations/{token}`: the acceptance form if the invitation is live. Spends nothing.
pub async fn accept_form(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    Path(secret): Path<String>,
) -> Result<Response, PageError> {
    let action = format!("/invitations/{secret}");
    let page = Page::anonymous(lang, action.clone());
    let Some(invitation) = live_invitation(&state, &secret).await.map_err(|e| PageError::new(e, &page))? else {
        return link_invalid(&page);
    };
    if invitation.already_member {
        return already_member_page(&page);
    }
    let policy = policy_version(&state, &page).await?;
    let view = accept_view(&page, &invitation, action, policy, FieldMessages::default(), AcceptValues::default());
    Ok(no_store(StatusCode::OK, render(&view).map_err(|e| PageError::new(e, &page))?))
}

/// `POST /invitations/{token}`: creates the member, signs them in, sends them to the dashboard.
pub async fn accept_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Path(secret): Path<String>,
    Form(input): Form<AcceptInput>,
) -> Result<Response, PageError> {
    let action = format!("/invitations/{secret}");
    let page = Page::anonymous(lang, action.clone());
    let values = AcceptValues {
        first_name: input.first_name.clone(),
        last_name: input.last_name.clone(),
        job_title: input.job_title.clone(),
        adult: input.adult.is_some(),
    };
    match accept(&state, &secret, input, lang, &client).await {
        Ok(session) => {
            let jar = CookieJar::new().add(session_cookie(&state, &session.token));
            Ok((jar, Redirect::to("/dashboard")).into_response())
        }
        Err(AppError::NotFound) => link_invalid(&page),
        Err(AppError::Conflict(_)) => already_member_page(&page),
        Err(AppError::Validation(errors)) => {
            let Some(invitation) = live_invitation(&state, &secret).await.map_err(|e| PageError::new(e, &page))? else {
                return link_invalid(&page);
            };
            let policy = policy_version(&state, &page).await?;
            let view = accept_view(&page, &invitation, action, policy, FieldMessages(errors), values);
            Ok(no_store(StatusCode::UNPROCESSABLE_ENTITY, render(&view).map_err(|e| PageError::new(e, &page))?))
        }
        Err(other) => Err(PageError::new(other, &page)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_invite_managers_and_users_managers_only_users() {
        assert!(may_invite(OrgRole::Owner, OrgRole::Manager) && may_invite(OrgRole::Owner, OrgRole::User));
        assert!(may_invite(OrgRole::Manager, OrgRole::User));
        assert!(!may_invite(OrgRole::Manager, OrgRole::Manager));
        assert!(!may_invite(OrgRole::User, OrgRole::User));
        for role in OrgRole::ALL {
            assert!(!may_invite(role, OrgRole::Owner), "{role:?} may invite an owner");
        }
    }
}
