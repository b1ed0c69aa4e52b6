//! SQL over pipelines and stages, and the board query.

use super::*;

/// Gives an organization without any pipeline the usual sales pipeline, so deals work at once —
/// named in the language of the organization's first owner.
pub async fn ensure_default(tx: &mut OrgTx, now: time::OffsetDateTime) -> Result<(), AppError> {
    let exists: bool =
        sqlx::query_scalar!(r#"select exists (select from pipelines where org_id = $1) as "exists!""#, tx.org().0)
            .fetch_one(tx.conn())
            .await?;
    if exists {
        return Ok(());
    }
    let language: Option<String> = sqlx::query_scalar!(
        "select language from users where org_id = $1 and org_role = 'owner' order by created_at limit 1",
        tx.org().0
    )
    .fetch_optional(tx.conn())
    .await?;
    let lang = Lang::parse(language.as_deref().unwrap_or("en")).unwrap_or(Lang::En);
    let (name, stages) = match lang {
        Lang::Fr => ("Ventes", DEFAULT_STAGES_FR),
        Lang::En => ("Sales", DEFAULT_STAGES_EN),
    };
    let pipeline = Uuid::now_v7();
    sqlx::query!(
        "insert into pipelines (org_id, pipeline_id, name, position, created_at) values ($1, $2, $3, 0, $4)",
        tx.org().0,
        pipeline,
        name,
        now
    )
    .execute(tx.conn())
    .await?;
    for (position, (stage, probability, outcome)) in stages.iter().enumerate() {
        insert_stage(tx, pipeline, stage, position as i32, *probability, outcome).await?;
    }
    Ok(())
}

pub(crate) async fn insert_stage(
    tx: &mut OrgTx,
    pipeline: Uuid,
    name: &str,
    position: i32,
    probability: i16,
    outcome: &str,
) -> Result<Uuid, AppError> {
    let stage = Uuid::now_v7();
    sqlx::query!(
        "insert into pipeline_stages (org_id, pipeline_id, stage_id, name, position, probability, outcome)
         values ($1, $2, $3, $4, $5, $6, $7)",
        tx.org().0,
        pipeline,
        stage,
        name,
        position,
        probability,
        outcome
    )
    .execute(tx.conn())
    .await?;
    Ok(stage)
}

pub async fn all(tx: &mut OrgTx) -> Result<Vec<Pipeline>, AppError> {
    let pipelines: Vec<(Uuid, String, i32)> = sqlx::query!(
        "select pipeline_id, name, position from pipelines where org_id = $1 order by position, created_at",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| (row.pipeline_id, row.name, row.position))
    .collect();
    let mut out = Vec::with_capacity(pipelines.len());
    for (pipeline_id, name, position) in pipelines {
        let stages = stages_of(tx, pipeline_id).await?;
        out.push(Pipeline { pipeline_id, name, position, stages });
    }
    Ok(out)
}

pub async fn stages_of(tx: &mut OrgTx, pipeline: Uuid) -> Result<Vec<Stage>, AppError> {
    Ok(sqlx::query_as!(
        Stage,
        "select stage_id, name, position, probability, outcome from pipeline_stages
          where org_id = $1 and pipeline_id = $2 order by position",
        tx.org().0,
        pipeline
    )
    .fetch_all(tx.conn())
    .await?)
}

pub(crate) fn name_of(field: &str, text: &str) -> Result<String, FieldError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(FieldError::new(field, "invalid_length", "Give a name of 1 to 100 characters."));
    }
    Ok(name.to_string())
}

pub(crate) fn duplicate_name(error: sqlx::Error) -> AppError {
    on_constraint(error, |name| {
        (name == "pipelines_name").then(|| AppError::field("name", "duplicate", "A pipeline already has this name."))
    })
}

pub(crate) async fn load(tx: &mut OrgTx, pipeline: Uuid) -> Result<Pipeline, AppError> {
    all(tx).await?.into_iter().find(|p| p.pipeline_id == pipeline).ok_or(AppError::NotFound)
}

pub async fn board(tx: &mut OrgTx, pipeline: Uuid, per_stage: u32) -> Result<Board, AppError> {
    let p = load(tx, pipeline).await?;
    let totals: Vec<(Uuid, i64, Value)> = sqlx::query!(
        r#"select s.stage_id, coalesce(c.count, 0) as "count!", coalesce(c.totals, '{}'::jsonb) as "totals!"
           from pipeline_stages s
           left join lateral (
             select count(*) as count,
                    (select coalesce(jsonb_object_agg(currency, total::text), '{}'::jsonb)
                       from (select currency, sum(amount) as total from deals d2
                              where d2.org_id = s.org_id and d2.stage_id = s.stage_id and d2.amount is not null
                              group by currency) sums) as totals
               from deals d where d.org_id = s.org_id and d.stage_id = s.stage_id) c on true
          where s.org_id = $1 and s.pipeline_id = $2"#,
        tx.org().0,
        pipeline
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| (row.stage_id, row.count, row.totals))
    .collect();
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
        let weighted = weighted(&totals, stage.probability);
        columns.push(BoardColumn { stage, count, totals, weighted, deals });
    }
    Ok(Board { pipeline_id: p.pipeline_id, name: p.name, columns })
}

/// The due date of each deal's next open task (the earliest due), for the board's cards.
pub async fn next_task_due(tx: &mut OrgTx, deals: &[Uuid]) -> Result<Vec<(Uuid, time::OffsetDateTime)>, AppError> {
    Ok(sqlx::query!(
        r#"select deal_id as "deal_id!", min(due_at) as "due!" from tasks
            where org_id = $1 and deal_id = any($2) and status = 'open' and due_at is not null
            group by deal_id"#,
        tx.org().0,
        deals
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| (row.deal_id, row.due))
    .collect())
}
