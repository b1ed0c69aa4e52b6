//! Looking at the database behind the app's back: row counts, and scans for a secret that must
//! never be stored in clear.

use kernel::OrgId;
use sqlx::PgConnection;

use crate::TestApp;

impl TestApp {
    /// The one number `sql` selects (mostly a `count(*)`), run as the superuser: every org's rows,
    /// no row-level security in the way.
    pub async fn select_i64(&self, sql: &str) -> i64 {
        let mut db = self.superuser_connection().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut db).await.expect("select a number")
    }

    /// The one number `sql` selects (mostly a `count(*)`), with `$1` bound to `org`, run in the
    /// org's tenant transaction: what the org itself can see.
    pub async fn select_i64_in_org(&self, org: OrgId, sql: &str) -> i64 {
        let mut tx = self.db.begin_org(org, kernel::db::Actor::System).await.expect("tenant transaction");
        let count = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(org)
            .fetch_one(tx.conn())
            .await
            .expect("select a number");
        tx.commit().await.expect("commit");
        count
    }

    /// The rows `sql` selects, with `$1` bound to `org`, in the org's tenant transaction: what the
    /// org itself can see.
    pub async fn select_rows_in_org<T>(&self, org: OrgId, sql: &str) -> Vec<T>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        let mut tx = self.db.begin_org(org, kernel::db::Actor::System).await.expect("tenant transaction");
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(org)
            .fetch_all(tx.conn())
            .await
            .expect("select rows");
        tx.commit().await.expect("commit");
        rows
    }

    /// How many rows of `table` belong to `org`, counted in the org's tenant transaction.
    pub async fn count_table_in_org(&self, org: OrgId, table: &str) -> i64 {
        self.select_i64_in_org(org, &format!("select count(*) from {table} where org_id = $1")).await
    }
}

/// What [`find_in_database`] looked at and found.
#[derive(Debug)]
pub struct DatabaseScan {
    /// Every `schema.table.column` that holds the needle.
    pub found: Vec<String>,
    /// Every `schema.table.column` scanned.
    pub scanned: Vec<String>,
}

impl DatabaseScan {
    /// The `schema.table` of every column in `found`, each once, in order.
    pub fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self
            .found
            .iter()
            .map(|column| column.rsplit_once('.').expect("schema.table.column").0.to_string())
            .collect();
        tables.dedup();
        tables
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every column of every table (of every schema but PostgreSQL's own) whose value holds `needle`:
/// bytea columns compared byte for byte, every other column as the UTF-8 bytes of its text form —
/// and there also hex-encoded, as a bytea shows in text. Built from information_schema, so new
/// tables are scanned too. Tests prove with it that tokens, passwords and secrets are stored only
/// hashed or sealed; `needle` may be any bytes (a raw key), not only text.
pub async fn find_in_database(conn: &mut PgConnection, needle: impl AsRef<[u8]>) -> DatabaseScan {
    let needle = needle.as_ref();
    let columns: Vec<(String, String, String, String)> = sqlx::query!(
        r#"select c.table_schema::text as "table_schema!", c.table_name::text as "table_name!",
                  c.column_name::text as "column_name!", c.data_type::text as "data_type!"
           from information_schema.columns c
           join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
           where t.table_type = 'BASE TABLE'
             and c.table_schema not in ('pg_catalog', 'information_schema')
             and c.table_schema not like 'pg\_%'
           order by 1, 2, 3"#
    )
    .fetch_all(&mut *conn)
    .await
    .expect("list columns")
    .into_iter()
    .map(|row| (row.table_schema, row.table_name, row.column_name, row.data_type))
    .collect();
    let hex = hex::encode(needle);
    let mut scan = DatabaseScan { found: Vec::new(), scanned: Vec::new() };
    // One query a table: a count of the rows holding the needle, column by column.
    // ((schema, table), [(column, data type)]), in the listing's order.
    type Table<'a> = ((&'a str, &'a str), Vec<(&'a str, &'a str)>);
    let mut tables: Vec<Table> = Vec::new();
    for (schema, table, column, data_type) in &columns {
        match tables.last_mut() {
            Some((key, cols)) if *key == (schema.as_str(), table.as_str()) => cols.push((column, data_type)),
            _ => tables.push(((schema, table), vec![(column, data_type)])),
        }
    }
    for ((schema, table), table_columns) in tables {
        let counts: Vec<String> = table_columns
            .iter()
            .map(|(column, data_type)| {
                let col = quote_ident(column);
                let holds = if *data_type == "bytea" {
                    format!("position($1::bytea in {col}) > 0")
                } else {
                    format!("position($1::bytea in convert_to({col}::text, 'UTF8')) > 0 or strpos({col}::text, $2) > 0")
                };
                format!("count(*) filter (where {holds})")
            })
            .collect();
        // (`$2` is named in the `where` too, for tables whose every column is bytea.)
        let sql = format!(
            "select array[{}]::int8[] from {}.{} where $2::text is not null",
            counts.join(", "),
            quote_ident(schema),
            quote_ident(table)
        );
        let hits: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(needle)
            .bind(&hex)
            .fetch_one(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("scan {schema}.{table}: {e}"));
        for ((column, _), hits) in table_columns.iter().zip(hits) {
            let name = format!("{schema}.{table}.{column}");
            if hits > 0 {
                scan.found.push(name.clone());
            }
            scan.scanned.push(name);
        }
    }
    scan
}
