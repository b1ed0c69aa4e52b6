//! `/members` (the members, pending invitations and the invite form) and `/invitations/{token}`.

use super::*;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::{AppState, ClientInfo, CsrfForm, LangPref, Page, render};
use serde::de::IgnoredAny;

use crate::actions;
use crate::http::{FormErrors, link_invalid, no_store, notice};
use crate::signed_in::{SignedIn, session_cookie};

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    page: Page,
    members: Vec<MemberRow>,
    pending: Vec<PendingRow>,
    /// The roles this member may invite (and whose invitations they may withdraw); empty: no form.
    can_invite: Vec<&'static str>,
    /// Whether to link to member management (`members::pages`).
    can_manage: bool,
    errors: FormErrors,
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
    principal: &Principal,
    errors: FormErrors,
    email: String,
    role: String,
) -> Result<MembersPage, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    // A department admin sees only their departments' members (P2-07, `members::reach`).
    let reach = crate::members::reach(&mut tx, signed_in.user_id, signed_in.role, actions::MEMBERS_VIEW).await?;
    let members = members_within_reach(&mut tx, signed_in.user_id, &reach).await?;
    let pending = pending(&mut tx, state.clock.now()).await?;
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

fn page_response(status: StatusCode, view: &MembersPage) -> AppResult<Response> {
    let html = render(view)?;
    Ok((status, [(header::CACHE_CONTROL, "no-store")], html).into_response())
}

/// `GET /members`: every member, pending invitations, and the invite form for those who may invite.
pub async fn members(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let view =
        members_page(&state, &signed_in, &principal, FormErrors::default(), String::new(), "user".into()).await?;
    page_response(StatusCode::OK, &view)
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /members/invite`.
pub async fn invite_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> AppResult<Response> {
    match invite(&state, &signed_in, &principal, &form.email, &form.role).await {
        Ok(_) => Ok(Redirect::to("/members").into_response()),
        Err(AppError::Validation(errors)) => {
            let view = members_page(&state, &signed_in, &principal, FormErrors(errors), form.email, form.role).await?;
            page_response(StatusCode::UNPROCESSABLE_ENTITY, &view)
        }
        Err(other) => Err(other),
    }
}

/// `POST /members/invitations/{invitation_id}/revoke`.
pub async fn revoke_submit(
    State(state): State<AppState>,
    principal: Principal,
    Path(invitation_id): Path<Uuid>,
    CsrfForm(_): CsrfForm<IgnoredAny>,
) -> AppResult<Response> {
    revoke(&state, &principal, invitation_id).await?;
    Ok(Redirect::to("/members").into_response())
}

#[derive(Template)]
#[template(path = "invitation_accept.html")]
struct AcceptPage {
    page: Page,
    title: String,
    intro: String,
    email: String,
    action: String,
    policy_version: String,
    errors: FormErrors,
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
    errors: FormErrors,
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

async fn policy_version(state: &AppState) -> AppResult<String> {
    match state.db.current_policy_version(state.clock.now()).await? {
        Some((version, _)) => Ok(version),
        None => Err(AppError::Unavailable("no privacy policy".into())),
    }
}

fn already_member_page(page: &Page) -> AppResult<Response> {
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
) -> AppResult<Response> {
    let action = format!("/invitations/{secret}");
    let page = Page::anonymous(lang, action.clone());
    let Some(invitation) = live_invitation(&state, &secret).await? else {
        return link_invalid(&page);
    };
    if invitation.already_member {
        return already_member_page(&page);
    }
    let policy = policy_version(&state).await?;
    let view = accept_view(&page, &invitation, action, policy, FormErrors::default(), AcceptValues::default());
    Ok(no_store(StatusCode::OK, render(&view)?))
}

/// `POST /invitations/{token}`: creates the member, signs them in, sends them to the dashboard.
pub async fn accept_submit(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    client: ClientInfo,
    Path(secret): Path<String>,
    Form(input): Form<AcceptInput>,
) -> AppResult<Response> {
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
            let Some(invitation) = live_invitation(&state, &secret).await? else {
                return link_invalid(&page);
            };
            let policy = policy_version(&state).await?;
            let view = accept_view(&page, &invitation, action, policy, FormErrors(errors), values);
            Ok(no_store(StatusCode::UNPROCESSABLE_ENTITY, render(&view)?))
        }
        Err(other) => Err(other),
    }
}
