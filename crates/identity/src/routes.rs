//! Every route of the identity module, with the access it requires, in one place: a newcomer finds
//! the handler of any URL here. Handlers live in their feature's `api.rs` or `pages.rs`.

use axum::http::Method;
use kernel::authz::Access;
use kernel::web::RouteDef;

use crate::*;

/// Every route of this module with the access it requires (see `kernel::authz`).
pub fn all() -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::page(M::GET, "/", Access::Public, dashboard::pages::home),
        RouteDef::page(M::GET, "/signup", Access::Public, signup::pages::signup_form),
        RouteDef::page(M::POST, "/signup", Access::Public, signup::pages::signup_submit),
        // Verified sign-up (signup/): the mailed link's landing page and its button.
        RouteDef::page(M::GET, "/signup/confirm", Access::Public, signup::pages::confirm_form),
        RouteDef::page(M::POST, "/signup/confirm", Access::Public, signup::pages::confirm_submit),
        RouteDef::page(M::GET, "/login", Access::Public, login::pages::login_form),
        RouteDef::page(M::POST, "/login", Access::Public, login::pages::login_submit),
        // Sign-in by emailed link or code (magic/; P2-07, P2-12).
        RouteDef::page(M::GET, "/login/email", Access::Public, magic::pages::request_form),
        RouteDef::page(M::POST, "/login/email", Access::Public, magic::pages::request_submit),
        RouteDef::page(M::GET, "/login/code", Access::Public, magic::pages::code_form),
        RouteDef::page(M::POST, "/login/code", Access::Public, magic::pages::code_submit),
        RouteDef::page(M::GET, "/login/link/{token}", Access::Public, magic::pages::link_form),
        RouteDef::page(M::POST, "/login/link/{token}", Access::Public, magic::pages::link_submit),
        // MFA (mfa/): the second login step, enrollment and settings (P2-18).
        RouteDef::page(M::GET, "/login/mfa", Access::Public, mfa::pages::login_mfa_form),
        RouteDef::page(M::POST, "/login/mfa", Access::Public, mfa::pages::login_mfa_submit),
        RouteDef::page(M::GET, "/settings/mfa", Access::SignedIn, mfa::pages::settings),
        RouteDef::page(M::POST, "/settings/mfa/enroll", Access::SignedIn, mfa::pages::enroll_submit),
        RouteDef::page(M::POST, "/settings/mfa/recovery-codes", Access::SignedIn, mfa::pages::regenerate_submit),
        RouteDef::page(M::POST, "/settings/mfa/disable", Access::SignedIn, mfa::pages::disable_submit),
        RouteDef::page(
            M::POST,
            "/settings/mfa/organization",
            Access::Can(actions::ORG_SETTINGS_MANAGE),
            mfa::pages::org_setting_submit,
        ),
        // The local mail outbox (dev_outbox/): 404 unless RELAIS_MAIL_OUTBOX is set.
        RouteDef::page(M::GET, "/dev/outbox", Access::Public, dev_outbox::pages::list),
        RouteDef::page(M::GET, "/dev/outbox/{id}", Access::Public, dev_outbox::pages::show),
        RouteDef::page(M::POST, "/logout", Access::SignedIn, login::pages::logout),
        RouteDef::page(M::POST, "/lang", Access::Public, profile::pages::switch_language),
        RouteDef::page(M::GET, "/dashboard", Access::Can(actions::DASHBOARD_VIEW), dashboard::pages::dashboard),
        RouteDef::page(M::GET, "/nav/counts", Access::Can(actions::DASHBOARD_VIEW), nav_counts::pages::nav_counts),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/unlock",
            Access::Can(actions::MEMBERS_MANAGE),
            throttle::pages::unlock_member,
        ),
        RouteDef::api(M::POST, "/api/v1/signup", Access::Public, signup::api::api_request),
        RouteDef::api(M::POST, "/api/v1/signup/confirm", Access::Public, signup::api::api_confirm),
        // API authentication (api_tokens/) and API keys (api_keys/): the API takes bearer credentials only.
        RouteDef::api(M::POST, "/api/v1/auth/token", Access::Public, api_tokens::api::token),
        RouteDef::api(M::POST, "/api/v1/auth/refresh", Access::Public, api_tokens::api::refresh_handler),
        RouteDef::api(M::POST, "/api/v1/auth/logout", Access::SignedIn, api_tokens::api::logout),
        RouteDef::api(M::POST, "/api/v1/auth/logout-all", Access::SignedIn, api_tokens::api::logout_all),
        RouteDef::api(M::GET, "/api/v1/me", Access::SignedIn, api_tokens::api::me),
        RouteDef::api(M::GET, "/api/v1/api-keys", Access::Can(actions::API_KEYS_MANAGE), api_keys::api::api_list),
        RouteDef::api(M::POST, "/api/v1/api-keys", Access::Can(actions::API_KEYS_MANAGE), api_keys::api::api_create),
        RouteDef::api(
            M::DELETE,
            "/api/v1/api-keys/{id}",
            Access::Can(actions::API_KEYS_MANAGE),
            api_keys::api::api_revoke,
        ),
        RouteDef::page(M::GET, "/settings/api-keys", Access::Can(actions::API_KEYS_MANAGE), api_keys::pages::page),
        RouteDef::page(
            M::POST,
            "/settings/api-keys",
            Access::Can(actions::API_KEYS_MANAGE),
            api_keys::pages::page_create,
        ),
        RouteDef::page(
            M::POST,
            "/settings/api-keys/{id}/revoke",
            Access::Can(actions::API_KEYS_MANAGE),
            api_keys::pages::page_revoke,
        ),
        // Password reset (recovery/) and invitations (invitations/): links mailed by kernel::mail.
        RouteDef::page(M::GET, "/password-reset", Access::Public, recovery::pages::request_form),
        RouteDef::page(M::POST, "/password-reset", Access::Public, recovery::pages::request_submit),
        RouteDef::page(M::GET, "/reset/{token}", Access::Public, recovery::pages::reset_form),
        RouteDef::page(M::POST, "/reset/{token}", Access::Public, recovery::pages::reset_submit),
        RouteDef::api(M::POST, "/api/v1/auth/password-reset", Access::Public, recovery::api::request_reset_api),
        RouteDef::page(M::GET, "/members", Access::Can(actions::MEMBERS_VIEW), invitations::pages::members),
        RouteDef::page(
            M::POST,
            "/members/invite",
            Access::Can(actions::MEMBERS_INVITE),
            invitations::pages::invite_submit,
        ),
        RouteDef::page(
            M::POST,
            "/members/invitations/{invitation_id}/revoke",
            Access::Can(actions::MEMBERS_INVITE),
            invitations::pages::revoke_submit,
        ),
        // Member management, departments (members/) and profile self-service (profile/).
        RouteDef::page(M::GET, "/members/manage", Access::Can(actions::MEMBERS_MANAGE), members::pages::manage_page),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/role",
            Access::Can(actions::MEMBERS_MANAGE),
            members::pages::role_submit,
        ),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/deactivate",
            Access::Can(actions::MEMBERS_MANAGE),
            members::pages::deactivate_submit,
        ),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/reactivate",
            Access::Can(actions::MEMBERS_MANAGE),
            members::pages::reactivate_submit,
        ),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/remove",
            Access::Can(actions::MEMBERS_MANAGE),
            members::pages::remove_submit,
        ),
        RouteDef::page(
            M::POST,
            "/departments",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::pages::department_create,
        ),
        RouteDef::page(
            M::POST,
            "/departments/{department_id}/rename",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::pages::department_rename,
        ),
        RouteDef::page(
            M::POST,
            "/departments/{department_id}/delete",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::pages::department_delete,
        ),
        RouteDef::page(
            M::POST,
            "/departments/{department_id}/members",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::pages::department_assign,
        ),
        RouteDef::page(
            M::POST,
            "/departments/{department_id}/members/{user_id}/remove",
            Access::Can(actions::DEPARTMENTS_MANAGE),
            members::pages::department_unassign,
        ),
        RouteDef::api(M::GET, "/api/v1/members", Access::Can(actions::MEMBERS_VIEW), members::api::api_list),
        RouteDef::api(M::PATCH, "/api/v1/members/{id}", Access::Can(actions::MEMBERS_MANAGE), members::api::api_update),
        RouteDef::api(
            M::DELETE,
            "/api/v1/members/{id}",
            Access::Can(actions::MEMBERS_MANAGE),
            members::api::api_remove,
        ),
        RouteDef::page(M::GET, "/settings/profile", Access::Can(actions::PROFILE_MANAGE), profile::pages::page),
        RouteDef::page(
            M::POST,
            "/settings/profile",
            Access::Can(actions::PROFILE_MANAGE),
            profile::pages::details_submit,
        ),
        RouteDef::page(
            M::POST,
            "/settings/profile/password",
            Access::Can(actions::PROFILE_MANAGE),
            profile::pages::password_submit,
        ),
        RouteDef::page(
            M::POST,
            "/settings/profile/email",
            Access::Can(actions::PROFILE_MANAGE),
            profile::pages::email_submit,
        ),
        RouteDef::page(
            M::GET,
            "/settings/profile/email/{token}",
            Access::Can(actions::PROFILE_MANAGE),
            profile::pages::confirm_form,
        ),
        RouteDef::page(
            M::POST,
            "/settings/profile/email/{token}",
            Access::Can(actions::PROFILE_MANAGE),
            profile::pages::confirm_submit,
        ),
        RouteDef::page(M::GET, "/invitations/{token}", Access::Public, invitations::pages::accept_form),
        RouteDef::page(M::POST, "/invitations/{token}", Access::Public, invitations::pages::accept_submit),
        // Sessions and activity (sessions/, activity/; P1-04).
        RouteDef::page(
            M::GET,
            "/settings/sessions",
            Access::Can(actions::SESSIONS_MANAGE_OWN),
            sessions::pages::own_page,
        ),
        RouteDef::page(
            M::POST,
            "/settings/sessions/{session_id}/revoke",
            Access::Can(actions::SESSIONS_MANAGE_OWN),
            sessions::pages::revoke_own_session,
        ),
        RouteDef::page(
            M::POST,
            "/settings/sessions/tokens/{family_id}/revoke",
            Access::Can(actions::SESSIONS_MANAGE_OWN),
            sessions::pages::revoke_own_family,
        ),
        RouteDef::page(
            M::GET,
            "/settings/members/{user_id}/sessions",
            Access::Can(actions::SESSIONS_MANAGE_MEMBERS),
            sessions::pages::member_page,
        ),
        RouteDef::page(
            M::POST,
            "/settings/members/{user_id}/sessions/end",
            Access::Can(actions::SESSIONS_MANAGE_MEMBERS),
            sessions::pages::end_member_sessions,
        ),
        RouteDef::page(M::GET, "/settings/activity", Access::Can(actions::LOGIN_ACTIVITY_VIEW), activity::pages::page),
        // The platform super admin (platform_admin/; P2-18): created only from the CLI, no route creates one.
        RouteDef::page(M::GET, "/admin/login", Access::Public, platform_admin::pages::login_form),
        RouteDef::page(M::POST, "/admin/login", Access::Public, platform_admin::pages::login_submit),
        RouteDef::page(M::GET, "/admin/setup/{token}", Access::Public, platform_admin::pages::setup_form),
        RouteDef::page(M::POST, "/admin/setup/{token}", Access::Public, platform_admin::pages::setup_submit),
        RouteDef::page(M::GET, "/admin", Access::PlatformAdmin, platform_admin::pages::overview),
        RouteDef::page(M::POST, "/admin/logout", Access::PlatformAdmin, platform_admin::pages::logout),
        RouteDef::page(
            M::POST,
            "/admin/orgs/{org_id}/suspend",
            Access::PlatformAdmin,
            platform_admin::pages::suspend_org,
        ),
        RouteDef::page(
            M::POST,
            "/admin/orgs/{org_id}/reactivate",
            Access::PlatformAdmin,
            platform_admin::pages::reactivate_org,
        ),
    ]
}
