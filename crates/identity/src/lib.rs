//! Identity and tenancy: organizations, members, sign-up, login, sessions.

pub mod api;
pub mod catalog;
pub mod model;
pub mod pages;
pub mod service;
pub mod session;

use axum::Router;
use axum::routing::{get, post};
use kernel::web::AppState;

/// Browser pages of this module.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/signup", get(pages::signup_form).post(pages::signup_submit))
        .route("/login", get(pages::login_form).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/lang", post(pages::switch_language))
        .route("/dashboard", get(pages::dashboard))
}

/// JSON API of this module, mounted under `/api/v1`.
pub fn api() -> Router<AppState> {
    Router::new().route("/signup", post(api::signup))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(api::signup),
    components(schemas(service::SignupInput, service::NewAccount, kernel::error::Problem, kernel::FieldError))
)]
pub struct ApiDoc;
