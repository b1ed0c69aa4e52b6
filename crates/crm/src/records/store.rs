//! SQL over records: reading one as the API shows it, inserting a row, history rows, duplicates.

use super::*;

/// A record as the API shows it: every column except internal ones, plus `id`, `object` and
/// `display_name`.
/// A deal's amount is given as a decimal string ("48000.00"): as a JSON number it would pass
/// through binary floating point and lose cents on large amounts.
pub fn select_sql(object: ObjectType) -> String {
    let amount = if object == ObjectType::Deal { " || jsonb_build_object('amount', t.amount::text)" } else { "" };
    format!(
        "jsonb_build_object('id', t.{id}, 'object', '{name}', 'display_name', {title})
           || (to_jsonb(t) - 'org_id' - 'search_text' - 'search_words' - 'import_id' - '{id}' - 'last_name_key' - 'name_key'){amount}",
        id = object.id_column(),
        name = object.as_str(),
        title = object.title_sql(),
    )
}

/// The record, if it exists and the member may see it.
pub async fn get(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<Value, AppError> {
    find(tx, object, id, false).await?.ok_or(AppError::NotFound)
}

pub(crate) async fn find(tx: &mut OrgTx, object: ObjectType, id: Uuid, lock: bool) -> Result<Option<Value>, AppError> {
    let sql = format!(
        "select {} from {} t where t.org_id = $1 and t.{} = $2{}",
        select_sql(object),
        object.table(),
        object.id_column(),
        if lock { " for update" } else { "" }
    );
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).fetch_optional(tx.conn()).await?)
}

/// Fills a deal's pipeline and stage: the stage's pipeline, else the pipeline's first stage, else
/// the organization's first pipeline.
pub(crate) async fn resolve_deal_stage(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    cells: &mut Vec<(&'static FieldDef, Cell)>,
    errors: &mut Vec<FieldError>,
) -> Result<(), AppError> {
    let pipeline = cell_of(cells, "pipeline_id").and_then(|c| c.sql.clone());
    let stage = cell_of(cells, "stage_id").and_then(|c| c.sql.clone());
    // The cells hold the ids as the text bound to the record's columns: `$2::text::uuid` makes the
    // checked macro take that text, cast in SQL as before.
    let found: Option<(Uuid, Uuid)> = match (&pipeline, &stage) {
        (_, Some(stage)) => sqlx::query!(
            "select pipeline_id, stage_id from pipeline_stages where org_id = $1 and stage_id = $2::text::uuid",
            tx.org().0,
            stage
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|row| (row.pipeline_id, row.stage_id)),
        (Some(pipeline), None) => sqlx::query!(
            "select pipeline_id, stage_id from pipeline_stages where org_id = $1 and pipeline_id = $2::text::uuid
              order by position limit 1",
            tx.org().0,
            pipeline
        )
        .fetch_optional(tx.conn())
        .await?
        .map(|row| (row.pipeline_id, row.stage_id)),
        (None, None) => {
            crate::pipelines::ensure_default(tx, now).await?;
            sqlx::query!(
                "select s.pipeline_id, s.stage_id from pipelines p join pipeline_stages s using (org_id, pipeline_id)
              where p.org_id = $1 order by p.position, p.created_at, s.position limit 1",
                tx.org().0
            )
            .fetch_optional(tx.conn())
            .await?
            .map(|row| (row.pipeline_id, row.stage_id))
        }
    };
    let Some((found_pipeline, found_stage)) = found else {
        let field = if stage.is_some() { "stage_id" } else { "pipeline_id" };
        errors.push(FieldError::new(field, "not_found", "No such pipeline or stage."));
        return Ok(());
    };
    if let Some(p) = &pipeline
        && *p != found_pipeline.to_string()
    {
        errors.push(FieldError::new("stage_id", "stage_not_in_pipeline", "This stage belongs to another pipeline."));
        return Ok(());
    }
    set_cell(cells, "pipeline_id", found_pipeline);
    set_cell(cells, "stage_id", found_stage);
    Ok(())
}

/// A reference to another record (a deal's `company_id`) must name one the member can see. The
/// foreign key alone would accept a record hidden from them (it is checked without row-level
/// security), and its answer would tell hidden ids from random ones: a hidden record is refused
/// exactly like a missing one.
pub(crate) async fn check_record_refs(
    tx: &mut OrgTx,
    cells: &[(&'static FieldDef, Cell)],
    errors: &mut Vec<FieldError>,
) -> Result<(), AppError> {
    for (def, cell) in cells {
        let target = match def.kind {
            Kind::Ref(RefKind::Company) => ObjectType::Company,
            Kind::Ref(RefKind::Contact) => ObjectType::Contact,
            Kind::Ref(RefKind::Deal) => ObjectType::Deal,
            _ => continue,
        };
        let Some(id) = cell.sql.as_deref().and_then(|text| Uuid::parse_str(text).ok()) else {
            continue;
        };
        if find(tx, target, id, false).await?.is_none() {
            errors.push(reference_not_found(def.key));
        }
    }
    Ok(())
}

/// The one answer for a reference to a record that does not exist or that the member cannot see.
pub(crate) fn reference_not_found(field: &str) -> FieldError {
    FieldError::new(field, "not_found", "The referenced record does not exist.")
}

/// Maps a refused write to the field that caused it; anything unexpected stays internal.
pub(crate) fn map_db_error(object: ObjectType, error: sqlx::Error) -> AppError {
    if let sqlx::Error::Database(db) = &error {
        if db.code().as_deref() == Some("42501") {
            return AppError::field(
                "owner_id",
                "outside_visibility",
                "You can only own records yourself or share them with one of your departments.",
            );
        }
        if let Some(name) = db.constraint() {
            if name.ends_with("_email") && object == ObjectType::Contact {
                return AppError::field("email", "duplicate", "Another contact already has this email address.");
            }
            for def in object.fields() {
                if name.contains(&format!("_{}_fkey", def.key))
                    || (def.key == "stage_id" && name.contains("stage_id_fkey"))
                {
                    return AppError::Validation(vec![reference_not_found(def.key)]);
                }
            }
        }
    }
    error.into()
}

pub(crate) async fn insert_row(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    cells: &[(&'static FieldDef, Cell)],
    custom_values: &Map<String, Value>,
    ctx: &WriteCtx,
) -> Result<(), AppError> {
    let mut columns =
        vec!["org_id", object.id_column(), "custom", "created_by", "created_at", "updated_at", "import_id"];
    let mut values =
        vec!["$1".to_string(), "$2".into(), "$3".into(), "$4".into(), "$5".into(), "$5".into(), "$6".into()];
    if object == ObjectType::Deal {
        columns.push("stage_changed_at");
        values.push("$5".into());
    }
    for (i, (def, _)) in cells.iter().enumerate() {
        columns.push(def.key);
        values.push(format!("${}::{}", i + 7, def.kind.sql_type()));
    }
    let sql = format!("insert into {} ({}) values ({})", object.table(), columns.join(", "), values.join(", "));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(id)
        .bind(sqlx::types::Json(custom_values))
        .bind(ctx.user)
        .bind(ctx.now)
        .bind(ctx.import_id);
    for (_, cell) in cells {
        query = query.bind(cell.sql.clone());
    }
    query.execute(tx.conn()).await.map_err(|e| map_db_error(object, e))?;
    Ok(())
}

/// Writes one history row.
#[allow(clippy::too_many_arguments)]
pub async fn record_change(
    tx: &mut OrgTx,
    object: ObjectType,
    id: Uuid,
    action: &str,
    field: &str,
    old: Option<&Value>,
    new: Option<&Value>,
    ctx: &WriteCtx,
) -> Result<(), AppError> {
    let sql = format!(
        "insert into record_changes (org_id, change_id, {}, action, field, old_value, new_value, changed_by, source,
                                     import_id, changed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        object.id_column()
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tx.org())
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(action)
        .bind(field)
        .bind(old.map(sqlx::types::Json))
        .bind(new.map(sqlx::types::Json))
        .bind(ctx.user)
        .bind(ctx.source.as_str())
        .bind(ctx.import_id)
        .bind(ctx.now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// Deletes one row of an org's table by its id; `NotFound` when there is none (or RLS hides it).
/// `table` and `id_column` are names from the code, never from input.
pub(crate) async fn delete_by_id(
    tx: &mut OrgTx,
    table: &'static str,
    id_column: &'static str,
    id: Uuid,
) -> Result<(), AppError> {
    let sql = format!("delete from {table} where org_id = $1 and {id_column} = $2");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tx.org()).bind(id).execute(tx.conn()).await?;
    if done.rows_affected() == 0 { Err(AppError::NotFound) } else { Ok(()) }
}

/// Other records that share the record's normalized email, E.164 phone or domain.
pub async fn duplicates_of(tx: &mut OrgTx, object: ObjectType, id: Uuid) -> Result<Vec<DuplicateHint>, AppError> {
    // Every column is computed or comes through a self-join: never NULL, which the database cannot infer.
    let hints = match object {
        ObjectType::Contact => {
            sqlx::query_as!(
                DuplicateHint,
                r#"select 'contact' as "object!", o.contact_id as "id!",
                    coalesce(nullif(trim(o.first_name || ' ' || o.last_name), ''), o.email) as "display_name!",
                    case when o.email <> '' and o.email = c.email then 'email' else 'phone' end as "matched_on!"
               from contacts c join contacts o on o.org_id = c.org_id and o.contact_id <> c.contact_id
              where c.org_id = $1 and c.contact_id = $2
                and ((c.email <> '' and o.email = c.email) or (c.phone <> '' and o.phone = c.phone)
                     or (c.mobile <> '' and o.mobile = c.mobile))
              limit 10"#,
                tx.org().0,
                id
            )
            .fetch_all(tx.conn())
            .await?
        }
        ObjectType::Lead => {
            sqlx::query_as!(
                DuplicateHint,
                r#"select 'lead' as "object!", o.lead_id as "id!",
                    coalesce(nullif(trim(o.first_name || ' ' || o.last_name), ''), o.email) as "display_name!",
                    case when o.email <> '' and o.email = c.email then 'email' else 'phone' end as "matched_on!"
               from leads c join leads o on o.org_id = c.org_id and o.lead_id <> c.lead_id
              where c.org_id = $1 and c.lead_id = $2
                and ((c.email <> '' and o.email = c.email) or (c.phone <> '' and o.phone = c.phone))
             union all
             select 'contact', o.contact_id, coalesce(nullif(trim(o.first_name || ' ' || o.last_name), ''), o.email),
                    'email'
               from leads c join contacts o on o.org_id = c.org_id and o.email = c.email
              where c.org_id = $1 and c.lead_id = $2 and c.email <> ''
              limit 10"#,
                tx.org().0,
                id
            )
            .fetch_all(tx.conn())
            .await?
        }
        ObjectType::Company => {
            sqlx::query_as!(
                DuplicateHint,
                r#"select 'company' as "object!", o.company_id as "id!", o.name as "display_name!",
                    'domain' as "matched_on!"
               from companies c join companies o on o.org_id = c.org_id and o.company_id <> c.company_id
              where c.org_id = $1 and c.company_id = $2 and c.domain <> '' and o.domain = c.domain
              limit 10"#,
                tx.org().0,
                id
            )
            .fetch_all(tx.conn())
            .await?
        }
        ObjectType::Deal => Vec::new(),
    };
    Ok(hints)
}

/// The organization's active members, (id, full name), by name: the choices of an owner field.
pub(crate) async fn active_members(tx: &mut OrgTx) -> Result<Vec<(Uuid, String)>, AppError> {
    Ok(sqlx::query!(
        r#"select user_id, first_name || ' ' || last_name as "name!" from users where org_id = $1 and status = 'active'
          order by last_name, first_name"#,
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?
    .into_iter()
    .map(|row| (row.user_id, row.name))
    .collect())
}
