//! Pipelines and their ordered, editable stages (several per organization), the kanban board of a
//! pipeline with per-stage count and total, and moving a deal between stages.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use kernel::audit::AuditEvent;
use kernel::authz::Principal;
use kernel::error::ApiJson;
use kernel::error::on_constraint;
use kernel::i18n::Lang;
use kernel::web::AppState;
use kernel::{AppError, FieldError, OrgTx};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::http::{parse_id, write_ctx};
use crate::object::ObjectType;
use crate::records::{self, Source};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Stage {
    pub stage_id: Uuid,
    pub name: String,
    pub position: i32,
    pub probability: i16,
    /// `open`, `won` or `lost`.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Pipeline {
    pub pipeline_id: Uuid,
    pub name: String,
    pub position: i32,
    pub stages: Vec<Stage>,
}

const DEFAULT_STAGES_EN: [(&str, i16, &str); 6] = [
    ("Qualification", 10, "open"),
    ("Needs analysis", 25, "open"),
    ("Proposal", 50, "open"),
    ("Negotiation", 75, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
];

const DEFAULT_STAGES_FR: [(&str, i16, &str); 6] = [
    ("Qualification", 10, "open"),
    ("Analyse des besoins", 25, "open"),
    ("Proposition", 50, "open"),
    ("Négociation", 75, "open"),
    ("Gagné", 100, "won"),
    ("Perdu", 0, "lost"),
];

/// Gives an organization without any pipeline the usual sales pipeline, so deals work at once —
/// named in the language of the organization's first owner.
pub async fn ensure_default(tx: &mut OrgTx, now: time::OffsetDateTime) -> Result<(), AppError> {
    let exists: bool = sqlx::query_scalar("select exists (select from pipelines where org_id = $1)")
        .bind(tx.org())
        .fetch_one(tx.conn())
        .await?;
    if exists {
        return Ok(());
    }
    let language: Option<String> = sqlx::query_scalar(
        "select language from users where org_id = $1 and org_role = 'owner' order by created_at limit 1",
    )
    .bind(tx.org())
    .fetch_optional(tx.conn())
    .await?;
    let lang = Lang::parse(language.as_deref().unwrap_or("en")).unwrap_or(Lang::En);
    let (name, stages) = match lang {
        Lang::Fr => ("Ventes", DEFAULT_STAGES_FR),
        Lang::En => ("Sales", DEFAULT_STAGES_EN),
    };
    let pipeline = Uuid::now_v7();
    sqlx::query("insert into pipelines (org_id, pipeline_id, name, position, created_at) values ($1, $2, $3, 0, $4)")
        .bind(tx.org())
        .bind(pipeline)
        .bind(name)
        .bind(now)
        .execute(tx.conn())
        .await?;
    for (position, (stage, probability, outcome)) in stages.iter().enumerate() {
        insert_stage(tx, pipeline, stage, position as i32, *probability, outcome).await?;
    }
    Ok(())
}

async fn insert_stage(
    tx: &mut OrgTx,
    pipeline: Uuid,
    name: &str,
    position: i32,
    probability: i16,
    outcome: &str,
) -> Result<Uuid, AppError> {
    let stage = Uuid::now_v7();
    sqlx::query(
        "insert into pipeline_stages (org_id, pipeline_id, stage_id, name, position, probability, outcome)
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tx.org())
    .bind(pipeline)
    .bind(stage)
    .bind(name)
    .bind(position)
    .bind(probability)
    .bind(outcome)
    .execute(tx.conn())
    .await?;
    Ok(stage)
}

pub async fn all(tx: &mut OrgTx) -> Result<Vec<Pipeline>, AppError> {
    let pipelines: Vec<(Uuid, String, i32)> = sqlx::query_as(
        "select pipeline_id, name, position from pipelines where org_id = $1 order by position, created_at",
    )
    .bind(tx.org())
    .fetch_all(tx.conn())
    .await?;
    let mut out = Vec::with_capacity(pipelines.len());
    for (pipeline_id, name, position) in pipelines {
        let stages = stages_of(tx, pipeline_id).await?;
        out.push(Pipeline { pipeline_id, name, position, stages });
    }
    Ok(out)
}

pub async fn stages_of(tx: &mut OrgTx, pipeline: Uuid) -> Result<Vec<Stage>, AppError> {
    Ok(sqlx::query_as(
        "select stage_id, name, position, probability, outcome from pipeline_stages
          where org_id = $1 and pipeline_id = $2 order by position",
    )
    .bind(tx.org())
    .bind(pipeline)
    .fetch_all(tx.conn())
    .await?)
}

fn name_of(field: &str, text: &str) -> Result<String, FieldError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new(field, "invalid_length", "Give a name of 1 to 100 characters."));
    }
    Ok(name.to_string())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StageInput {
    pub name: String,
    #[serde(default)]
    pub probability: Option<i16>,
    /// `open` (default), `won` or `lost`.
    #[serde(default)]
    pub outcome: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PipelineInput {
    pub name: String,
    /// The stages in order; at least one.
    #[serde(default)]
    pub stages: Vec<StageInput>,
}

struct ValidStage {
    name: String,
    probability: i16,
    outcome: &'static str,
}

fn valid_stage(index: usize, input: &StageInput) -> Result<ValidStage, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = name_of(&format!("stages.{index}.name"), &input.name).map_err(|e| errors.push(e)).ok();
    let probability = input.probability.unwrap_or(0);
    if !(0..=100).contains(&probability) {
        errors.push(FieldError::new(format!("stages.{index}.probability"), "invalid_percent", "From 0 to 100."));
    }
    let outcome = match input.outcome.as_deref().unwrap_or("open") {
        "open" => "open",
        "won" => "won",
        "lost" => "lost",
        _ => {
            errors.push(FieldError::new(format!("stages.{index}.outcome"), "invalid_choice", "open, won or lost."));
            "open"
        }
    };
    match name {
        Some(name) if errors.is_empty() => Ok(ValidStage { name, probability, outcome }),
        _ => Err(errors),
    }
}

fn duplicate_name(error: sqlx::Error) -> AppError {
    on_constraint(error, |name| {
        (name == "pipelines_name").then(|| AppError::field("name", "duplicate", "A pipeline already has this name."))
    })
}

pub async fn create_pipeline(
    tx: &mut OrgTx,
    input: &PipelineInput,
    now: time::OffsetDateTime,
) -> Result<Uuid, AppError> {
    let mut errors = Vec::new();
    let name = name_of("name", &input.name).map_err(|e| errors.push(e)).ok();
    if input.stages.is_empty() {
        errors.push(FieldError::new("stages", "required", "Give at least one stage."));
    }
    let mut stages = Vec::new();
    for (i, stage) in input.stages.iter().enumerate() {
        match valid_stage(i, stage) {
            Ok(s) => stages.push(s),
            Err(e) => errors.extend(e),
        }
    }
    let Some(name) = name.filter(|_| errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let pipeline = Uuid::now_v7();
    sqlx::query(
        "insert into pipelines (org_id, pipeline_id, name, position, created_at)
         values ($1, $2, $3, (select coalesce(max(position) + 1, 0) from pipelines where org_id = $1), $4)",
    )
    .bind(tx.org())
    .bind(pipeline)
    .bind(&name)
    .bind(now)
    .execute(tx.conn())
    .await
    .map_err(duplicate_name)?;
    for (position, stage) in stages.iter().enumerate() {
        insert_stage(tx, pipeline, &stage.name, position as i32, stage.probability, stage.outcome).await?;
    }
    Ok(pipeline)
}

async fn load(tx: &mut OrgTx, pipeline: Uuid) -> Result<Pipeline, AppError> {
    all(tx).await?.into_iter().find(|p| p.pipeline_id == pipeline).ok_or(AppError::NotFound)
}

// ---------------------------------------------------------------- API

pub async fn api_list(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Pipeline>>, AppError> {
    let mut tx = principal.begin(&state.db).await?;
    ensure_default(&mut tx, state.clock.now()).await?;
    let pipelines = all(&mut tx).await?;
    tx.commit().await?;
    Ok(Json(pipelines))
}

pub async fn api_create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<PipelineInput>,
) -> Result<(StatusCode, Json<Pipeline>), AppError> {
    let mut tx = principal.begin(&state.db).await?;
    let id = create_pipeline(&mut tx, &input, state.clock.now()).await?;
    state.audit.record(&mut tx, AuditEvent::new("pipeline.created").target("pipeline", id)).await?;
    let pipeline = load(&mut tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(pipeline)))
}

/// Renames a pipeline and/or replaces its stages' names, order, probability and outcome. Stages
/// listed with a `stage_id` are kept (so their deals stay); new ones are added; a stage left out is
/// removed only if no deal is in it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PipelineUpdate {
    pub name: Option<String>,
    pub stages: Option<Vec<StageUpdate>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StageUpdate {
    pub stage_id: Option<Uuid>,
    #[serde(flatten)]
    pub stage: StageInput,
}

pub async fn api_update(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PipelineUpdate>,
) -> Result<Json<Pipeline>, AppError> {
    let pipeline = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let current = load(&mut tx, pipeline).await?;
    update_pipeline(&mut tx, &current, &input).await?;
    state.audit.record(&mut tx, AuditEvent::new("pipeline.updated").target("pipeline", pipeline)).await?;
    let updated = load(&mut tx, pipeline).await?;
    tx.commit().await?;
    Ok(Json(updated))
}

pub async fn update_pipeline(tx: &mut OrgTx, current: &Pipeline, input: &PipelineUpdate) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let name = match &input.name {
        Some(n) => name_of("name", n).map_err(|e| errors.push(e)).ok(),
        None => None,
    };
    let mut stages = Vec::new();
    if let Some(list) = &input.stages {
        if list.is_empty() {
            errors.push(FieldError::new("stages", "required", "Give at least one stage."));
        }
        for (i, s) in list.iter().enumerate() {
            if let Some(id) = s.stage_id
                && !current.stages.iter().any(|c| c.stage_id == id)
            {
                errors.push(FieldError::new(format!("stages.{i}.stage_id"), "not_found", "No such stage here."));
            }
            match valid_stage(i, &s.stage) {
                Ok(v) => stages.push((s.stage_id, v)),
                Err(e) => errors.extend(e),
            }
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if let Some(name) = name {
        sqlx::query("update pipelines set name = $3 where org_id = $1 and pipeline_id = $2")
            .bind(tx.org())
            .bind(current.pipeline_id)
            .bind(name)
            .execute(tx.conn())
            .await
            .map_err(duplicate_name)?;
    }
    if input.stages.is_some() {
        let kept: Vec<Uuid> = stages.iter().filter_map(|(id, _)| *id).collect();
        for removed in current.stages.iter().filter(|s| !kept.contains(&s.stage_id)) {
            let in_use: bool =
                sqlx::query_scalar("select exists (select from deals where org_id = $1 and stage_id = $2)")
                    .bind(tx.org())
                    .bind(removed.stage_id)
                    .fetch_one(tx.conn())
                    .await?;
            if in_use {
                return Err(AppError::field(
                    "stages",
                    "stage_in_use",
                    format!("Move the deals out of \"{}\" before removing it.", removed.name),
                ));
            }
            sqlx::query("delete from pipeline_stages where org_id = $1 and stage_id = $2")
                .bind(tx.org())
                .bind(removed.stage_id)
                .execute(tx.conn())
                .await?;
        }
        for (position, (id, stage)) in stages.iter().enumerate() {
            match id {
                Some(id) => {
                    sqlx::query(
                        "update pipeline_stages set name = $3, position = $4, probability = $5, outcome = $6
                          where org_id = $1 and stage_id = $2",
                    )
                    .bind(tx.org())
                    .bind(id)
                    .bind(&stage.name)
                    .bind(position as i32)
                    .bind(stage.probability)
                    .bind(stage.outcome)
                    .execute(tx.conn())
                    .await?;
                }
                None => {
                    insert_stage(
                        tx,
                        current.pipeline_id,
                        &stage.name,
                        position as i32,
                        stage.probability,
                        stage.outcome,
                    )
                    .await?;
                }
            }
        }
    }
    Ok(())
}

pub async fn api_delete(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let pipeline = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    load(&mut tx, pipeline).await?;
    let in_use: bool = sqlx::query_scalar("select exists (select from deals where org_id = $1 and pipeline_id = $2)")
        .bind(tx.org())
        .bind(pipeline)
        .fetch_one(tx.conn())
        .await?;
    if in_use {
        return Err(AppError::Conflict("Move or delete this pipeline's deals first.".into()));
    }
    sqlx::query("delete from pipelines where org_id = $1 and pipeline_id = $2")
        .bind(tx.org())
        .bind(pipeline)
        .execute(tx.conn())
        .await?;
    state.audit.record(&mut tx, AuditEvent::new("pipeline.deleted").target("pipeline", pipeline)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------- board

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BoardColumn {
    #[serde(flatten)]
    pub stage: Stage,
    /// Deals in the stage (visible to the member), all of them counted.
    pub count: i64,
    /// Sum of the amounts per currency, e.g. `{"EUR": "12500.00"}`.
    #[schema(value_type = Object)]
    pub totals: Value,
    /// The most recently moved deals, at most `per_stage`.
    #[schema(value_type = Vec<Object>)]
    pub deals: Vec<Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Board {
    pub pipeline_id: Uuid,
    pub name: String,
    pub columns: Vec<BoardColumn>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct BoardParams {
    pub per_stage: Option<u32>,
}

pub async fn board(tx: &mut OrgTx, pipeline: Uuid, per_stage: u32) -> Result<Board, AppError> {
    let p = load(tx, pipeline).await?;
    let totals: Vec<(Uuid, i64, Value)> = sqlx::query_as(
        "select s.stage_id, coalesce(c.count, 0), coalesce(c.totals, '{}'::jsonb)
           from pipeline_stages s
           left join lateral (
             select count(*) as count,
                    (select coalesce(jsonb_object_agg(currency, total::text), '{}'::jsonb)
                       from (select currency, sum(amount) as total from deals d2
                              where d2.org_id = s.org_id and d2.stage_id = s.stage_id and d2.amount is not null
                              group by currency) sums) as totals
               from deals d where d.org_id = s.org_id and d.stage_id = s.stage_id) c on true
          where s.org_id = $1 and s.pipeline_id = $2",
    )
    .bind(tx.org())
    .bind(pipeline)
    .fetch_all(tx.conn())
    .await?;
    let mut columns = Vec::with_capacity(p.stages.len());
    for stage in p.stages {
        let sql = format!(
            "select {} from deals t where t.org_id = $1 and t.stage_id = $2
              order by t.stage_changed_at desc, t.deal_id limit $3",
            records::select_sql(ObjectType::Deal)
        );
        let deals: Vec<Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(tx.org())
            .bind(stage.stage_id)
            .bind(i64::from(per_stage.clamp(1, 200)))
            .fetch_all(tx.conn())
            .await?;
        let (count, totals) = totals
            .iter()
            .find(|(id, _, _)| *id == stage.stage_id)
            .map(|(_, c, t)| (*c, t.clone()))
            .unwrap_or((0, json!({})));
        columns.push(BoardColumn { stage, count, totals, deals });
    }
    Ok(Board { pipeline_id: p.pipeline_id, name: p.name, columns })
}

pub async fn api_board(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(params): Query<BoardParams>,
) -> Result<Json<Board>, AppError> {
    let pipeline = parse_id(&id)?;
    let mut tx = principal.begin(&state.db).await?;
    let board = board(&mut tx, pipeline, params.per_stage.unwrap_or(50)).await?;
    tx.commit().await?;
    Ok(Json(board))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MoveInput {
    pub stage_id: Uuid,
}

/// Moves a deal to a stage (of the same or another pipeline): the kanban's drag and drop.
pub async fn move_deal(
    state: &AppState,
    principal: &Principal,
    deal: Uuid,
    stage: Uuid,
    source: Source,
) -> Result<Value, AppError> {
    // The move is kept in the deal's field history like any other change.
    let mut tx = principal.begin(&state.db).await?;
    let patch: Map<String, Value> = [("stage_id".to_string(), json!(stage))].into_iter().collect();
    let after = records::update(&mut tx, ObjectType::Deal, deal, &patch, &write_ctx(state, principal, source)).await?;
    tx.commit().await?;
    Ok(after)
}

pub async fn api_move(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MoveInput>,
) -> Result<Json<Value>, AppError> {
    let deal = parse_id(&id)?;
    Ok(Json(move_deal(&state, &principal, deal, input.stage_id, Source::Api).await?))
}
