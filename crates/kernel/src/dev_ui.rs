//! `GET /dev/ui`: the living component page of the design system (docs/ui.md), served by the demo
//! only (`relais demo` sets [`crate::Config::demo`]); any other instance answers 404. It draws
//! every component with the markup the docs give, inside the signed-in shell when a member is
//! signed in, so a page author sees the real thing in both languages and both colour schemes.

use askama::Template;
use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, AppResult};
use crate::web::{AppState, LangPref, Page, SignedInPage, render};

#[derive(Template)]
#[template(path = "dev_ui.html")]
struct DevUiPage {
    page: Page,
}

/// `GET /dev/ui`
pub async fn page(
    State(state): State<AppState>,
    LangPref(lang): LangPref,
    signed_in: Option<axum::Extension<SignedInPage>>,
    uri: Uri,
) -> AppResult<Response> {
    if !state.config.demo {
        return Err(AppError::NotFound);
    }
    let page = match signed_in {
        Some(axum::Extension(SignedInPage(page))) => Page { path: uri.path().to_owned(), ..page },
        None => Page::anonymous(lang, uri.path()),
    };
    Ok(render(&DevUiPage { page })?.into_response())
}
