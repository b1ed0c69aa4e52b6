//! Identity and tenancy: organizations, members, sign-up, login, sessions.

pub mod actions;
pub mod activity;
pub mod api_auth;
pub mod api_keys;
pub mod catalog;
pub mod common_passwords;
pub mod dev_outbox;
pub mod doors;
pub mod invitations;
pub mod magic;
pub mod members;
pub mod mfa;
pub mod model;
pub mod notify;
pub mod pages;
pub mod platform_admin;
pub mod profile;
pub mod recovery;
pub mod service;
pub mod sessions;
pub mod signed_in;
pub mod signup;
pub mod throttle;

use axum::http::Method;
use kernel::authz::Access;
use kernel::web::RouteDef;

use api_auth::BearerSecurity;
use kernel::module::Module;
pub use signed_in::attach_principal;

/// The identity module as the application assembles it.
pub fn module() -> Module {
    Module {
        routes,
        tables: &[
            catalog::TABLES,
            recovery::TABLES,
            invitations::TABLES,
            api_auth::TABLES,
            activity::TABLES,
            members::TABLES,
            profile::TABLES,
            mfa::TABLES,
            magic::TABLES,
            platform_admin::TABLES,
            signup::TABLES,
        ],
        actions: actions::ALL,
        doors: doors::DOORS,
        openapi,
        ..Module::new("identity")
    }
}

/// This module's part of the API description.
fn openapi() -> serde_json::Value {
    use utoipa::OpenApi;
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

/// Every route of this module with the access it requires (see `kernel::authz`).
pub fn routes() -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::page(M::GET, "/", Access::Public, pages::home),
        RouteDef::page(M::GET, "/signup", Access::Public, pages::signup_form),
        RouteDef::page(M::POST, "/signup", Access::Public, pages::signup_submit),
        // Verified sign-up (signup.rs): the mailed link's landing page and its button.
        RouteDef::page(M::GET, "/signup/confirm", Access::Public, signup::confirm_form),
        RouteDef::page(M::POST, "/signup/confirm", Access::Public, signup::confirm_submit),
        RouteDef::page(M::GET, "/login", Access::Public, pages::login_form),
        RouteDef::page(M::POST, "/login", Access::Public, pages::login_submit),
        // Sign-in by emailed link or code (magic.rs; P2-07, P2-12).
        RouteDef::page(M::GET, "/login/email", Access::Public, magic::request_form),
        RouteDef::page(M::POST, "/login/email", Access::Public, magic::request_submit),
        RouteDef::page(M::GET, "/login/code", Access::Public, magic::code_form),
        RouteDef::page(M::POST, "/login/code", Access::Public, magic::code_submit),
        RouteDef::page(M::GET, "/login/link/{token}", Access::Public, magic::link_form),
        RouteDef::page(M::POST, "/login/link/{token}", Access::Public, magic::link_submit),
        // MFA (mfa.rs): the second login step, enrollment and settings (P2-18).
        RouteDef::page(M::GET, "/login/mfa", Access::Public, mfa::login_mfa_form),
        RouteDef::page(M::POST, "/login/mfa", Access::Public, mfa::login_mfa_submit),
        RouteDef::page(M::GET, "/settings/mfa", Access::SignedIn, mfa::settings),
        RouteDef::page(M::POST, "/settings/mfa/enroll", Access::SignedIn, mfa::enroll_submit),
        RouteDef::page(M::POST, "/settings/mfa/recovery-codes", Access::SignedIn, mfa::regenerate_submit),
        RouteDef::page(M::POST, "/settings/mfa/disable", Access::SignedIn, mfa::disable_submit),
        RouteDef::page(
            M::POST,
            "/settings/mfa/organization",
            Access::Can(actions::ORG_SETTINGS_MANAGE),
            mfa::org_setting_submit,
        ),
        // The local mail outbox (dev_outbox.rs): 404 unless RELAIS_MAIL_OUTBOX is set.
        RouteDef::page(M::GET, "/dev/outbox", Access::Public, dev_outbox::list),
        RouteDef::page(M::GET, "/dev/outbox/{id}", Access::Public, dev_outbox::show),
        RouteDef::page(M::POST, "/logout", Access::SignedIn, pages::logout),
        RouteDef::page(M::POST, "/lang", Access::Public, pages::switch_language),
        RouteDef::page(M::GET, "/dashboard", Access::Can(actions::DASHBOARD_VIEW), pages::dashboard),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/unlock",
            Access::Can(actions::MEMBERS_MANAGE),
            throttle::unlock_member,
        ),
        RouteDef::api(M::POST, "/api/v1/signup", Access::Public, signup::api_request),
        RouteDef::api(M::POST, "/api/v1/signup/confirm", Access::Public, signup::api_confirm),
        // API authentication (api_auth.rs) and API keys (api_keys.rs): the API takes bearer credentials only.
        RouteDef::api(M::POST, "/api/v1/auth/token", Access::Public, api_auth::token),
        RouteDef::api(M::POST, "/api/v1/auth/refresh", Access::Public, api_auth::refresh_handler),
        RouteDef::api(M::POST, "/api/v1/auth/logout", Access::SignedIn, api_auth::logout),
        RouteDef::api(M::POST, "/api/v1/auth/logout-all", Access::SignedIn, api_auth::logout_all),
        RouteDef::api(M::GET, "/api/v1/me", Access::SignedIn, api_auth::me),
        RouteDef::api(M::GET, "/api/v1/api-keys", Access::Can(actions::API_KEYS_MANAGE), api_keys::api_list),
        RouteDef::api(M::POST, "/api/v1/api-keys", Access::Can(actions::API_KEYS_MANAGE), api_keys::api_create),
        RouteDef::api(M::DELETE, "/api/v1/api-keys/{id}", Access::Can(actions::API_KEYS_MANAGE), api_keys::api_revoke),
        RouteDef::page(M::GET, "/settings/api-keys", Access::Can(actions::API_KEYS_MANAGE), api_keys::page),
        RouteDef::page(M::POST, "/settings/api-keys", Access::Can(actions::API_KEYS_MANAGE), api_keys::page_create),
        RouteDef::page(
            M::POST,
            "/settings/api-keys/{id}/revoke",
            Access::Can(actions::API_KEYS_MANAGE),
            api_keys::page_revoke,
        ),
        // Password reset (recovery.rs) and invitations (invitations.rs): links mailed by kernel::mail.
        RouteDef::page(M::GET, "/password-reset", Access::Public, recovery::request_form),
        RouteDef::page(M::POST, "/password-reset", Access::Public, recovery::request_submit),
        RouteDef::page(M::GET, "/reset/{token}", Access::Public, recovery::reset_form),
        RouteDef::page(M::POST, "/reset/{token}", Access::Public, recovery::reset_submit),
        RouteDef::api(M::POST, "/api/v1/auth/password-reset", Access::Public, recovery::request_reset_api),
        RouteDef::page(M::GET, "/members", Access::Can(actions::MEMBERS_VIEW), invitations::members),
        RouteDef::page(M::POST, "/members/invite", Access::Can(actions::MEMBERS_INVITE), invitations::invite_submit),
        RouteDef::page(
            M::POST,
            "/members/invitations/{invitation_id}/revoke",
            Access::Can(actions::MEMBERS_INVITE),
            invitations::revoke_submit,
        ),
        // Member management, departments (members.rs) and profile self-service (profile.rs).
        RouteDef::page(M::GET, "/members/manage", Access::Can(actions::MEMBERS_MANAGE), members::manage_page),
        RouteDef::page(M::POST, "/members/{user_id}/role", Access::Can(actions::MEMBERS_MANAGE), members::role_submit),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/deactivate",
            Access::Can(actions::MEMBERS_MANAGE),
            members::deactivate_submit,
        ),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/reactivate",
            Access::Can(actions::MEMBERS_MANAGE),
            members::reactivate_submit,
        ),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/remove",
            Access::Can(actions::MEMBERS_MANAGE),
            members::remove_submit,
        ),
        RouteDef::page(M::POST, "/departments", Access::Can(actions::DEPARTMENTS_MANAGE), members::department_create),
        RouteDef::page(
            M::POST,
            "/departments/{department_id}/rename",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::department_rename,
        ),
        RouteDef::page(
            M::POST,
            "/departments/{department_id}/delete",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::department_delete,
        ),
        RouteDef::page(
            M::POST,
            "/departments/{department_id}/members",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::department_assign,
        ),
        RouteDef::page(
            M::POST,
            "/departments/{department_id}/members/{user_id}/remove",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::department_unassign,
        ),
        RouteDef::api(M::GET, "/api/v1/members", Access::Can(actions::MEMBERS_VIEW), members::api_list),
        RouteDef::api(M::PATCH, "/api/v1/members/{id}", Access::Can(actions::MEMBERS_MANAGE), members::api_update),
        RouteDef::api(M::DELETE, "/api/v1/members/{id}", Access::Can(actions::MEMBERS_MANAGE), members::api_remove),
        RouteDef::page(M::GET, "/settings/profile", Access::Can(actions::PROFILE_MANAGE), profile::page),
        RouteDef::page(M::POST, "/settings/profile", Access::Can(actions::PROFILE_MANAGE), profile::details_submit),
        RouteDef::page(
            M::POST,
            "/settings/profile/password",
            Access::Can(actions::PROFILE_MANAGE),
            profile::password_submit,
        ),
        RouteDef::page(M::POST, "/settings/profile/email", Access::Can(actions::PROFILE_MANAGE), profile::email_submit),
        RouteDef::page(
            M::GET,
            "/settings/profile/email/{token}",
            Access::Can(actions::PROFILE_MANAGE),
            profile::confirm_form,
        ),
        RouteDef::page(
            M::POST,
            "/settings/profile/email/{token}",
            Access::Can(actions::PROFILE_MANAGE),
            profile::confirm_submit,
        ),
        RouteDef::page(M::GET, "/invitations/{token}", Access::Public, invitations::accept_form),
        RouteDef::page(M::POST, "/invitations/{token}", Access::Public, invitations::accept_submit),
        // Sessions and activity (sessions.rs, activity.rs; P1-04).
        RouteDef::page(M::GET, "/settings/sessions", Access::Can(actions::SESSIONS_MANAGE_OWN), sessions::own_page),
        RouteDef::page(
            M::POST,
            "/settings/sessions/{session_id}/revoke",
            Access::Can(actions::SESSIONS_MANAGE_OWN),
            sessions::revoke_own_session,
        ),
        RouteDef::page(
            M::POST,
            "/settings/sessions/tokens/{family_id}/revoke",
            Access::Can(actions::SESSIONS_MANAGE_OWN),
            sessions::revoke_own_family,
        ),
        RouteDef::page(
            M::GET,
            "/settings/members/{user_id}/sessions",
            Access::Can(actions::SESSIONS_MANAGE_MEMBERS),
            sessions::member_page,
        ),
        RouteDef::page(
            M::POST,
            "/settings/members/{user_id}/sessions/end",
            Access::Can(actions::SESSIONS_MANAGE_MEMBERS),
            sessions::end_member_sessions,
        ),
        RouteDef::page(M::GET, "/settings/activity", Access::Can(actions::LOGIN_ACTIVITY_VIEW), activity::page),
        // The platform super admin (platform_admin.rs; P2-18): created only from the CLI, no route creates one.
        RouteDef::page(M::GET, "/admin/login", Access::Public, platform_admin::login_form),
        RouteDef::page(M::POST, "/admin/login", Access::Public, platform_admin::login_submit),
        RouteDef::page(M::GET, "/admin/setup/{token}", Access::Public, platform_admin::setup_form),
        RouteDef::page(M::POST, "/admin/setup/{token}", Access::Public, platform_admin::setup_submit),
        RouteDef::page(M::GET, "/admin", Access::PlatformAdmin, platform_admin::overview),
        RouteDef::page(M::POST, "/admin/logout", Access::PlatformAdmin, platform_admin::logout),
        RouteDef::page(M::POST, "/admin/orgs/{org_id}/suspend", Access::PlatformAdmin, platform_admin::suspend_org),
        RouteDef::page(
            M::POST,
            "/admin/orgs/{org_id}/reactivate",
            Access::PlatformAdmin,
            platform_admin::reactivate_org,
        ),
    ]
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        signup::api_request,
        signup::api_confirm,
        recovery::request_reset_api,
        api_auth::token,
        api_auth::refresh_handler,
        api_auth::logout,
        api_auth::logout_all,
        api_auth::me,
        api_keys::api_list,
        api_keys::api_create,
        api_keys::api_revoke,
        members::api_list,
        members::api_update,
        members::api_remove
    ),
    modifiers(&BearerSecurity),
    components(schemas(
        service::SignupInput,
        service::NewAccount,
        signup::SignupAccepted,
        signup::SignupConfirmInput,
        recovery::PasswordResetRequest,
        recovery::PasswordResetAccepted,
        kernel::error::Problem,
        kernel::FieldError,
        api_auth::TokenRequest,
        api_auth::RefreshRequest,
        api_auth::TokenPair,
        api_auth::Me,
        api_keys::NewApiKeyInput,
        api_keys::CreatedApiKey,
        api_keys::ApiKeySummary,
        kernel::authz::Role,
        members::MemberSummary,
        members::MemberDepartment,
        members::MemberStatus,
        members::MemberChangeInput
    ))
)]
pub struct ApiDoc;
