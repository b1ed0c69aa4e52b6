//! `/settings/crm` and its forms.

use crate::http::Fields;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use identity::signed_in::SignedIn;
use kernel::AppError;
use kernel::AppResult;
use kernel::authz::Principal;
use kernel::web::CsrfForm;
use kernel::web::{AppState, Page, render};
use uuid::Uuid;

use crate::custom_fields::CustomFieldInput;
use crate::custom_fields::{self, CustomField, KINDS};
use crate::http::{error_texts, value};
use crate::object::ObjectType;
use crate::pipelines::{self, Pipeline, PipelineInput, PipelineUpdate, StageInput, StageUpdate};
use crate::visibility::{self, Visibility};

#[derive(Template)]
#[template(path = "crm_settings.html")]
pub(crate) struct SettingsView {
    page: Page,
    modes: Vec<(String, String)>,
    fields: Vec<CustomField>,
    kinds: &'static [&'static str],
    objects: Vec<&'static str>,
    pipelines: Vec<Pipeline>,
    errors: Vec<String>,
}

pub(crate) async fn view(
    state: &AppState,
    principal: &Principal,
    page: &Page,
    errors: Vec<String>,
) -> Result<SettingsView, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    pipelines::ensure_default(&mut tx, state.clock.now()).await?;
    let visibility = visibility::visibility(&mut tx).await?;
    let mut fields = Vec::new();
    for object in ObjectType::ALL {
        fields.extend(custom_fields::definitions(&mut tx, object).await?);
    }
    let pipelines = pipelines::all(&mut tx).await?;
    tx.commit().await?;
    Ok(SettingsView {
        page: page.clone(),
        modes: visibility.modes.into_iter().collect(),
        fields,
        kinds: KINDS,
        objects: ObjectType::ALL.iter().map(|o| o.as_str()).collect(),
        pipelines,
        errors,
    })
}

pub(crate) async fn show_page(
    state: &AppState,
    principal: &Principal,
    page: &Page,
    errors: Vec<String>,
) -> AppResult<Response> {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let v = view(state, principal, page, errors).await?;
    let html = render(&v)?;
    Ok(crate::http::page_response(status, html))
}

pub async fn page(State(state): State<AppState>, signed_in: SignedIn, principal: Principal) -> AppResult<Response> {
    let page = signed_in.page(&state, "/settings/crm");
    show_page(&state, &principal, &page, Vec::new()).await
}

/// Runs a change of a submitted form (its CSRF token already checked by `CsrfForm`) in a member
/// transaction; a validation error re-renders the page with it.
pub(crate) async fn apply<F, Fut>(
    state: &AppState,
    signed_in: &SignedIn,
    principal: &Principal,
    form: Fields,
    change: F,
) -> AppResult<Response>
where
    F: FnOnce(kernel::OrgTx, Vec<(String, String)>) -> Fut,
    Fut: std::future::Future<Output = Result<kernel::OrgTx, AppError>>,
{
    let page = signed_in.page(state, "/settings/crm");
    let tx = principal.begin(&state.db).await?;
    match change(tx, form).await {
        Ok(tx) => {
            tx.commit().await?;
            Ok(kernel::web::redirect_with_toast("/settings/crm", "crm.notice.saved"))
        }
        Err(AppError::Validation(errors)) => show_page(state, principal, &page, error_texts(&page, &errors)).await,
        Err(AppError::Conflict(text)) => show_page(state, principal, &page, vec![text]).await,
        Err(other) => Err(other),
    }
}

pub async fn visibility_submit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let audit = state.audit.clone();
    let now = state.clock.now();
    apply(&state, &signed_in, &principal, form, |mut tx, form| async move {
        let modes = ObjectType::ALL
            .iter()
            .map(|o| (o.as_str().to_string(), value(&form, &format!("mode.{}", o.as_str())).to_string()))
            .collect();
        let input = Visibility { modes };
        visibility::set_visibility(&mut tx, &audit, &input, now).await?;
        Ok(tx)
    })
    .await
}

pub async fn field_create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let audit = state.audit.clone();
    let now = state.clock.now();
    apply(&state, &signed_in, &principal, form, |mut tx, form| async move {
        let input = CustomFieldInput {
            object_type: value(&form, "object_type").into(),
            key: value(&form, "key").trim().into(),
            label: value(&form, "label").into(),
            kind: value(&form, "kind").into(),
            options: value(&form, "options").lines().map(str::to_owned).collect(),
            required: value(&form, "required") == "true",
        };
        custom_fields::create_field(&mut tx, &audit, &input, now).await?;
        Ok(tx)
    })
    .await
}

pub async fn field_delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let audit = state.audit.clone();
    let id: Option<Uuid> = id.parse().ok();
    apply(&state, &signed_in, &principal, form, |mut tx, _| async move {
        let id = id.ok_or(AppError::NotFound)?;
        custom_fields::delete_field(&mut tx, &audit, id).await?;
        Ok(tx)
    })
    .await
}

/// An outcome as a person types it, in English or French ("gagnée", "Perdu", "en cours"), as its
/// code; anything else is passed on for the pipeline's validation to name.
fn outcome_code(word: &str) -> String {
    match word.to_lowercase().as_str() {
        "open" | "en cours" | "ouvert" | "ouverte" => "open".into(),
        "won" | "gagné" | "gagnée" => "won".into(),
        "lost" | "perdu" | "perdue" => "lost".into(),
        _ => word.to_owned(),
    }
}

/// Stages as typed in the form: one per line, `Name | probability | outcome`.
pub(crate) fn stage_lines(text: &str) -> Vec<StageInput> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.split('|').map(str::trim);
            let name = parts.next().unwrap_or_default().to_string();
            let probability = parts.next().and_then(|p| p.trim_end_matches('%').parse().ok());
            let outcome = parts.next().filter(|o| !o.is_empty()).map(outcome_code);
            StageInput { name, probability, outcome }
        })
        .collect()
}

pub async fn pipeline_create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let audit = state.audit.clone();
    let now = state.clock.now();
    apply(&state, &signed_in, &principal, form, |mut tx, form| async move {
        let input = PipelineInput { name: value(&form, "name").into(), stages: stage_lines(value(&form, "stages")) };
        pipelines::create_pipeline(&mut tx, &audit, &input, now).await?;
        Ok(tx)
    })
    .await
}

/// Renames a pipeline and edits its stages: each existing stage is a row of the form
/// (`stage_id`, `stage_name`, `stage_probability`, `stage_outcome`, `stage_position`); a row with
/// an empty name is removed; `new_stage` adds one at the end.
pub async fn pipeline_update(
    State(state): State<AppState>,
    signed_in: SignedIn,
    principal: Principal,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Fields>,
) -> AppResult<Response> {
    let audit = state.audit.clone();
    let id: Option<Uuid> = id.parse().ok();
    apply(&state, &signed_in, &principal, form, |mut tx, form| async move {
        let id = id.ok_or(AppError::NotFound)?;
        let current =
            pipelines::all(&mut tx).await?.into_iter().find(|p| p.pipeline_id == id).ok_or(AppError::NotFound)?;
        let all = |name: &str| form.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect::<Vec<_>>();
        let (ids, names, probabilities, outcomes, positions) =
            (all("stage_id"), all("stage_name"), all("stage_probability"), all("stage_outcome"), all("stage_position"));
        let mut rows: Vec<(i64, StageUpdate)> = Vec::new();
        for (i, stage_id) in ids.iter().enumerate() {
            let name = names.get(i).cloned().unwrap_or_default();
            if name.trim().is_empty() {
                continue;
            }
            rows.push((
                positions.get(i).and_then(|p| p.parse().ok()).unwrap_or(i as i64),
                StageUpdate {
                    stage_id: stage_id.parse().ok(),
                    stage: StageInput {
                        name,
                        probability: probabilities.get(i).and_then(|p| p.parse().ok()),
                        outcome: outcomes.get(i).cloned(),
                    },
                },
            ));
        }
        rows.sort_by_key(|(position, _)| *position);
        let mut stages: Vec<StageUpdate> = rows.into_iter().map(|(_, s)| s).collect();
        stages.extend(
            stage_lines(value(&form, "new_stage")).into_iter().map(|stage| StageUpdate { stage_id: None, stage }),
        );
        let input = PipelineUpdate { name: Some(value(&form, "name").to_string()), stages: Some(stages) };
        pipelines::update_pipeline(&mut tx, &audit, &current, &input).await?;
        Ok(tx)
    })
    .await
}
