//! The identity module's part of the API description: its JSON routes and their schemas.

use crate::*;
use api_tokens::BearerSecurity;

/// This module's part of the API description.
pub fn document() -> serde_json::Value {
    use utoipa::OpenApi;
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        signup::api::api_request,
        signup::api::api_confirm,
        recovery::api::request_reset_api,
        api_tokens::api::token,
        api_tokens::api::refresh_handler,
        api_tokens::api::logout,
        api_tokens::api::logout_all,
        api_tokens::api::me,
        api_keys::api::api_list,
        api_keys::api::api_create,
        api_keys::api::api_revoke,
        members::api::api_list,
        members::api::api_update,
        members::api::api_remove
    ),
    modifiers(&BearerSecurity),
    components(schemas(
        signup::SignupInput,
        signup::NewAccount,
        signup::SignupAccepted,
        signup::SignupConfirmInput,
        recovery::PasswordResetRequest,
        recovery::PasswordResetAccepted,
        kernel::error::Problem,
        kernel::FieldError,
        api_tokens::TokenRequest,
        api_tokens::RefreshRequest,
        api_tokens::TokenPair,
        api_tokens::Me,
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
