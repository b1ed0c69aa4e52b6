//! Changes to pipelines and moving deals, each with its audit event.

use super::*;
use crate::limits;
use kernel::audit::{AuditEvent, AuditLog};

pub async fn create_pipeline(
    tx: &mut OrgTx,
    audit: &AuditLog,
    input: &PipelineInput,
    now: time::OffsetDateTime,
) -> Result<Uuid, AppError> {
    let mut errors = Vec::new();
    let name = name_of("name", &input.name).map_err(|e| errors.push(e)).ok();
    if input.stages.is_empty() {
        errors.push(FieldError::new("stages", "required", "Give at least one stage."));
    } else if input.stages.len() > limits::STAGES_PER_PIPELINE {
        errors.push(limits::too_many("stages", "too_many_stages"));
    }
    let pipelines = sqlx::query_scalar!(r#"select count(*) as "count!" from pipelines where org_id = $1"#, tx.org().0)
        .fetch_one(tx.conn())
        .await?;
    if pipelines >= limits::PIPELINES_PER_ORG {
        errors.push(limits::too_many("name", "too_many_pipelines"));
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
    sqlx::query!(
        "insert into pipelines (org_id, pipeline_id, name, position, created_at)
         values ($1, $2, $3, (select coalesce(max(position) + 1, 0) from pipelines where org_id = $1), $4)",
        tx.org().0,
        pipeline,
        &name,
        now
    )
    .execute(tx.conn())
    .await
    .map_err(duplicate_name)?;
    for (position, stage) in stages.iter().enumerate() {
        insert_stage(tx, pipeline, &stage.name, position as i32, stage.probability, stage.outcome).await?;
    }
    audit.record(tx, AuditEvent::new("pipeline.created").target("pipeline", pipeline)).await?;
    Ok(pipeline)
}

pub async fn update_pipeline(
    tx: &mut OrgTx,
    audit: &AuditLog,
    current: &Pipeline,
    input: &PipelineUpdate,
) -> Result<(), AppError> {
    let mut errors = Vec::new();
    let name = match &input.name {
        Some(n) => name_of("name", n).map_err(|e| errors.push(e)).ok(),
        None => None,
    };
    let mut stages = Vec::new();
    if let Some(list) = &input.stages {
        if list.is_empty() {
            errors.push(FieldError::new("stages", "required", "Give at least one stage."));
        } else if list.len() > limits::STAGES_PER_PIPELINE {
            errors.push(limits::too_many("stages", "too_many_stages"));
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
        sqlx::query!(
            "update pipelines set name = $3 where org_id = $1 and pipeline_id = $2",
            tx.org().0,
            current.pipeline_id,
            name
        )
        .execute(tx.conn())
        .await
        .map_err(duplicate_name)?;
    }
    if input.stages.is_some() {
        let kept: Vec<Uuid> = stages.iter().filter_map(|(id, _)| *id).collect();
        for removed in current.stages.iter().filter(|s| !kept.contains(&s.stage_id)) {
            let in_use: bool = sqlx::query_scalar!(
                r#"select exists (select from deals where org_id = $1 and stage_id = $2) as "exists!""#,
                tx.org().0,
                removed.stage_id
            )
            .fetch_one(tx.conn())
            .await?;
            if in_use {
                return Err(AppError::field(
                    "stages",
                    "stage_in_use",
                    format!("Move the deals out of \"{}\" before removing it.", removed.name),
                ));
            }
            sqlx::query!(
                "delete from pipeline_stages where org_id = $1 and stage_id = $2",
                tx.org().0,
                removed.stage_id
            )
            .execute(tx.conn())
            .await?;
        }
        for (position, (id, stage)) in stages.iter().enumerate() {
            match id {
                Some(id) => {
                    sqlx::query!(
                        "update pipeline_stages set name = $3, position = $4, probability = $5, outcome = $6
                          where org_id = $1 and stage_id = $2",
                        tx.org().0,
                        id,
                        &stage.name,
                        position as i32,
                        stage.probability,
                        stage.outcome
                    )
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
    audit.record(tx, AuditEvent::new("pipeline.updated").target("pipeline", current.pipeline_id)).await?;
    Ok(())
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

/// Deletes a pipeline that no deal uses.
pub async fn delete_pipeline(tx: &mut OrgTx, audit: &AuditLog, pipeline: Uuid) -> Result<(), AppError> {
    load(tx, pipeline).await?;
    let in_use: bool = sqlx::query_scalar!(
        r#"select exists (select from deals where org_id = $1 and pipeline_id = $2) as "exists!""#,
        tx.org().0,
        pipeline
    )
    .fetch_one(tx.conn())
    .await?;
    if in_use {
        return Err(AppError::Conflict("Move or delete this pipeline's deals first.".into()));
    }
    sqlx::query!("delete from pipelines where org_id = $1 and pipeline_id = $2", tx.org().0, pipeline)
        .execute(tx.conn())
        .await?;
    audit.record(tx, AuditEvent::new("pipeline.deleted").target("pipeline", pipeline)).await?;
    Ok(())
}
