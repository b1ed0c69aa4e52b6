//! Identity and tenancy: organizations, members, sign-up, login, sessions.

pub mod api;
pub mod api_auth;
pub mod api_keys;
pub mod catalog;
pub mod common_passwords;
pub mod invitations;
pub mod model;
pub mod notify;
pub mod pages;
pub mod recovery;
pub mod service;
pub mod session;
pub mod throttle;

use axum::http::Method;
use kernel::authz::{Access, Action};
use kernel::web::RouteDef;

use api_auth::BearerSecurity;
pub use session::attach_principal;

/// Every route of this module with the access it requires (see `kernel::authz`).
pub fn routes() -> Vec<RouteDef> {
    use Method as M;
    vec![
        RouteDef::page(M::GET, "/", Access::Public, pages::home),
        RouteDef::page(M::GET, "/signup", Access::Public, pages::signup_form),
        RouteDef::page(M::POST, "/signup", Access::Public, pages::signup_submit),
        RouteDef::page(M::GET, "/login", Access::Public, pages::login_form),
        RouteDef::page(M::POST, "/login", Access::Public, pages::login_submit),
        RouteDef::page(M::POST, "/logout", Access::SignedIn, pages::logout),
        RouteDef::page(M::POST, "/lang", Access::Public, pages::switch_language),
        RouteDef::page(M::GET, "/dashboard", Access::Can(Action::DashboardView), pages::dashboard),
        RouteDef::page(
            M::POST,
            "/members/{user_id}/unlock",
            Access::Can(Action::MembersManage),
            throttle::unlock_member,
        ),
        RouteDef::api(M::POST, "/api/v1/signup", Access::Public, api::signup),
        // API authentication (api_auth.rs) and API keys (api_keys.rs): the API takes bearer credentials only.
        RouteDef::api(M::POST, "/api/v1/auth/token", Access::Public, api_auth::token),
        RouteDef::api(M::POST, "/api/v1/auth/refresh", Access::Public, api_auth::refresh_handler),
        RouteDef::api(M::POST, "/api/v1/auth/logout", Access::SignedIn, api_auth::logout),
        RouteDef::api(M::POST, "/api/v1/auth/logout-all", Access::SignedIn, api_auth::logout_all),
        RouteDef::api(M::GET, "/api/v1/me", Access::SignedIn, api_auth::me),
        RouteDef::api(M::GET, "/api/v1/api-keys", Access::Can(Action::ApiKeysManage), api_keys::api_list),
        RouteDef::api(M::POST, "/api/v1/api-keys", Access::Can(Action::ApiKeysManage), api_keys::api_create),
        RouteDef::api(M::DELETE, "/api/v1/api-keys/{id}", Access::Can(Action::ApiKeysManage), api_keys::api_revoke),
        RouteDef::page(M::GET, "/settings/api-keys", Access::Can(Action::ApiKeysManage), api_keys::page),
        RouteDef::page(M::POST, "/settings/api-keys", Access::Can(Action::ApiKeysManage), api_keys::page_create),
        RouteDef::page(
            M::POST,
            "/settings/api-keys/{id}/revoke",
            Access::Can(Action::ApiKeysManage),
            api_keys::page_revoke,
        ),
        // Password reset (recovery.rs) and invitations (invitations.rs): links mailed by kernel::mail.
        RouteDef::page(M::GET, "/password-reset", Access::Public, recovery::request_form),
        RouteDef::page(M::POST, "/password-reset", Access::Public, recovery::request_submit),
        RouteDef::page(M::GET, "/reset/{token}", Access::Public, recovery::reset_form),
        RouteDef::page(M::POST, "/reset/{token}", Access::Public, recovery::reset_submit),
        RouteDef::api(M::POST, "/api/v1/auth/password-reset", Access::Public, recovery::request_reset_api),
        RouteDef::page(M::GET, "/members", Access::Can(Action::MembersView), invitations::members),
        RouteDef::page(M::POST, "/members/invite", Access::Can(Action::MembersInvite), invitations::invite_submit),
        RouteDef::page(
            M::POST,
            "/members/invitations/{invitation_id}/revoke",
            Access::Can(Action::MembersInvite),
            invitations::revoke_submit,
        ),
        RouteDef::page(M::GET, "/invitations/{token}", Access::Public, invitations::accept_form),
        RouteDef::page(M::POST, "/invitations/{token}", Access::Public, invitations::accept_submit),
    ]
}

/// Routes still being moved onto the access table by work in progress; empty when released.
pub fn pages() -> axum::Router<kernel::web::AppState> {
    axum::Router::new()
}

/// See [`pages`].
pub fn api() -> axum::Router<kernel::web::AppState> {
    axum::Router::new()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::signup,
        recovery::request_reset_api,
        api_auth::token,
        api_auth::refresh_handler,
        api_auth::logout,
        api_auth::logout_all,
        api_auth::me,
        api_keys::api_list,
        api_keys::api_create,
        api_keys::api_revoke
    ),
    modifiers(&BearerSecurity),
    components(schemas(
        service::SignupInput,
        service::NewAccount,
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
        kernel::authz::Role
    ))
)]
pub struct ApiDoc;
