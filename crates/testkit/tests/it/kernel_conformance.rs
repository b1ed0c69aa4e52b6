//! Schema conformance: reads the live schema of a freshly migrated test database through
//! `pg_catalog` (as the superuser) and names the table and the rule that breaks. Each test collects
//! every violation of its rules and fails with the whole list.

use std::collections::{BTreeMap, BTreeSet};

use kernel::db::embedded::{ADMIN_ROLE, APP_ROLE, OWNER_ROLE};
use sqlx::{ConnectOptions, Connection, PgConnection};
use testkit::TestApp;

/// `(table, org_id NOT NULL?, org_id type, first primary-key column)`; `None`s when absent.
type TableShape = (String, Option<bool>, Option<String>, Option<String>);
/// `(table, policy, PERMISSIVE|RESTRICTIVE, roles, command, USING, WITH CHECK)` from `pg_policies`.
type Policy = (String, String, String, Vec<String>, String, Option<String>, Option<String>);
/// `(has org_id, table privileges, column privileges, referenced tables)` of a platform table.
type PlatformFacts = (bool, Vec<String>, Vec<String>, Vec<String>);

const PLATFORM_ROLE: &str = "relais_platform";
/// The migration bookkeeping table: not tenant data, not in the catalog, no RLS.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

fn assert_no_violations(rule: &str, violations: &[String]) {
    assert!(violations.is_empty(), "{rule}: {} violation(s):\n  - {}", violations.len(), violations.join("\n  - "));
}

/// `table -> tenant` from `web::data_catalog()`.
fn catalog() -> BTreeMap<&'static str, bool> {
    web::data_catalog().iter().map(|e| (e.table, e.tenant)).collect()
}

/// Ordinary and partitioned tables of schema `public`, migrations bookkeeping excluded.
async fn public_tables(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "select c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
         order by 1",
    )
    .fetch_all(conn)
    .await
}

/// Guards against a vacuous pass: the schema read must include the kernel's tables.
fn assert_schema_was_read(tables: &[String]) {
    for expected in ["organizations", "users", "sessions", "audit_events", "policy_versions"] {
        assert!(tables.iter().any(|t| t == expected), "the schema read found no `{expected}` table: {tables:?}");
    }
}

/// P0-21, P1-07: every table in `public` (bar the migrations bookkeeping) has row-level security
/// ENABLED and FORCED, so even the table owner goes through the policies; no table, view or
/// materialized view elsewhere escapes that rule, and the unprotected `_sqlx_migrations` is out of
/// the app role's reach.
#[tokio::test]
async fn p0_21_every_table_forces_row_level_security() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "select c.relname::text, c.relrowsecurity, c.relforcerowsecurity
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
         order by 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_schema_was_read(&tables.iter().map(|t| t.0.clone()).collect::<Vec<_>>());

    let mut violations = Vec::new();
    for (table, enabled, forced) in &tables {
        if !enabled {
            violations.push(format!("table `{table}`: row-level security is not ENABLED (relrowsecurity = false)"));
        }
        if !forced {
            violations.push(format!("table `{table}`: row-level security is not FORCED (relforcerowsecurity = false)"));
        }
    }

    // Relations outside the tables checked above would escape forced RLS: tables in another
    // schema, views that run with their owner's rights, materialized views, foreign tables.
    let elsewhere: Vec<(String, String, String)> = sqlx::query_as(
        "select n.nspname::text, c.relname::text, c.relkind::text
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p', 'v', 'm', 'f')
           and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
           and not (n.nspname = 'public' and c.relkind in ('r', 'p'))
           and not (c.relkind = 'v' and coalesce(c.reloptions && array['security_invoker=true', 'security_invoker=on',
                                                                         'security_invoker=1', 'security_invoker=yes'], false))
         order by 1, 2",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (schema, name, kind) in elsewhere {
        violations.push(format!(
            "relation `{schema}.{name}` (relkind {kind}): data outside the RLS-forced tables of `public` \
             (tables belong in `public`; views must be security_invoker)"
        ));
    }

    let migrations_privileges: Vec<String> = sqlx::query_scalar(
        "select p from unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
         where has_table_privilege($1::name, 'public._sqlx_migrations', p)",
    )
    .bind(APP_ROLE)
    .fetch_all(&mut db)
    .await
    .unwrap();
    for privilege in migrations_privileges {
        violations.push(format!("table `{MIGRATIONS_TABLE}` has no RLS, yet {APP_ROLE} holds {privilege} on it"));
    }
    assert_no_violations("every table forces row-level security", &violations);
}

/// P2-09: the data catalog, from which the record of processing is generated, lists exactly the
/// tables that exist: every live table has an entry and every entry names a live table.
#[tokio::test]
async fn p2_09_data_catalog_lists_exactly_the_live_tables() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let live: BTreeSet<String> = public_tables(&mut db).await.unwrap().into_iter().collect();
    assert_schema_was_read(&live.iter().cloned().collect::<Vec<_>>());

    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in web::data_catalog() {
        if !seen.insert(entry.table) {
            violations.push(format!("catalog entry `{}` appears more than once", entry.table));
        }
        if !live.contains(entry.table) {
            violations.push(format!(
                "catalog entry `{}` (module {}) names no table in schema public",
                entry.table, entry.module
            ));
        }
    }
    for table in &live {
        if !seen.contains(table.as_str()) {
            violations.push(format!("table `{table}` has no entry in web::data_catalog()"));
        }
    }
    assert_no_violations("catalog and schema list the same tables", &violations);
}

/// P0-21, P1-07: every tenant table carries the tenant identifier and is keyed, constrained and
/// policed by it: a NOT NULL `org_id uuid` column, a primary key led by `org_id`, every unique
/// index scoped by `org_id`, every foreign key to another tenant table matching `org_id` to
/// `org_id`, and a `tenant_isolation` policy for the app role whose USING and WITH CHECK compare
/// `org_id` to `app.current_org()`. No other permissive policy may open the table to the app role.
#[tokio::test]
async fn p0_21_tenant_tables_are_keyed_and_policed_by_org_id() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let catalog = catalog();
    let tenant = |t: &str| catalog.get(t).copied().unwrap_or(false);
    let tables = public_tables(&mut db).await.unwrap();
    assert_schema_was_read(&tables);
    let tenant_tables: Vec<&String> = tables.iter().filter(|t| tenant(t)).collect();
    assert!(tenant_tables.len() >= 5, "the catalog marks too few tenant tables: {tenant_tables:?}");

    let mut violations = Vec::new();

    // The org_id column and the primary key's first column, per table.
    let shape: Vec<TableShape> = sqlx::query_as(
        "select c.relname::text, a.attnotnull, format_type(a.atttypid, a.atttypmod),
                (select k.attname::text from pg_attribute k where k.attrelid = c.oid and k.attnum = pk.conkey[1])
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
         left join pg_attribute a on a.attrelid = c.oid and a.attname = 'org_id' and not a.attisdropped
         left join pg_constraint pk on pk.conrelid = c.oid and pk.contype = 'p'
         where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (table, not_null, org_type, pk_first) in shape.iter().filter(|s| tenant(&s.0)) {
        match (not_null, org_type.as_deref()) {
            (None, _) => violations.push(format!("tenant table `{table}`: has no `org_id` column")),
            (Some(not_null), org_type) => {
                if org_type != Some("uuid") {
                    violations.push(format!("tenant table `{table}`: `org_id` is {org_type:?}, not uuid"));
                }
                if !not_null {
                    violations.push(format!("tenant table `{table}`: `org_id` is nullable (must be NOT NULL)"));
                }
            }
        }
        match pk_first.as_deref() {
            Some("org_id") => {}
            Some(other) => {
                violations.push(format!("tenant table `{table}`: primary key starts with `{other}`, not `org_id`"))
            }
            None => violations.push(format!("tenant table `{table}`: has no primary key")),
        }
    }

    // Unique indexes (primary keys and unique constraints included): `org_id` among the key columns.
    let unique: Vec<(String, String, String, bool)> = sqlx::query_as(
        "select c.relname::text, i.relname::text, pg_get_indexdef(x.indexrelid),
                exists (select 1 from generate_series(0, x.indnkeyatts - 1) k
                        join pg_attribute a on a.attrelid = c.oid and a.attnum = x.indkey[k]
                        where a.attname = 'org_id')
         from pg_index x
         join pg_class i on i.oid = x.indexrelid
         join pg_class c on c.oid = x.indrelid
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and x.indisunique",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (table, index, definition, scoped) in unique.iter().filter(|u| tenant(&u.0)) {
        if !scoped {
            violations.push(format!(
                "tenant table `{table}`: unique index `{index}` does not include `org_id` among its key columns ({definition})"
            ));
        }
    }

    // Foreign keys to another tenant table must pair `org_id` with `org_id`.
    let foreign: Vec<(String, String, String, bool)> = sqlx::query_as(
        "select c.relname::text, con.conname::text, f.relname::text,
                exists (select 1 from unnest(con.conkey, con.confkey) as k(child, parent)
                        join pg_attribute ca on ca.attrelid = con.conrelid and ca.attnum = k.child
                        join pg_attribute pa on pa.attrelid = con.confrelid and pa.attnum = k.parent
                        where ca.attname = 'org_id' and pa.attname = 'org_id')
         from pg_constraint con
         join pg_class c on c.oid = con.conrelid
         join pg_class f on f.oid = con.confrelid
         join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and con.contype = 'f'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (table, constraint, parent, scoped) in &foreign {
        if tenant(table) && tenant(parent) && !scoped {
            violations.push(format!(
                "tenant table `{table}`: foreign key `{constraint}` to tenant table `{parent}` does not match org_id to org_id"
            ));
        }
    }

    // Policies: the isolation policy itself, and no permissive policy that lets the app role around it.
    let policies: Vec<Policy> = sqlx::query_as(
        "select tablename::text, policyname::text, permissive, roles::text[], cmd, qual, with_check
         from pg_policies where schemaname = 'public'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let org_check =
        |expr: &Option<String>| expr.as_deref().is_some_and(|e| e.contains("org_id") && e.contains("current_org()"));
    for table in &tenant_tables {
        let on_table: Vec<_> = policies.iter().filter(|p| &p.0 == *table).collect();
        match on_table.iter().find(|p| p.1 == "tenant_isolation") {
            None => violations.push(format!("tenant table `{table}`: has no policy named `tenant_isolation`")),
            Some((_, _, permissive, roles, cmd, qual, with_check)) => {
                if !roles.iter().any(|r| r == APP_ROLE) {
                    violations.push(format!(
                        "tenant table `{table}`: policy `tenant_isolation` is for {roles:?}, not {APP_ROLE}"
                    ));
                }
                if cmd != "ALL" {
                    violations
                        .push(format!("tenant table `{table}`: policy `tenant_isolation` covers {cmd} only, not ALL"));
                }
                if permissive != "PERMISSIVE" {
                    violations.push(format!(
                        "tenant table `{table}`: policy `tenant_isolation` is {permissive}; with no permissive policy nothing is visible"
                    ));
                }
                if !org_check(qual) {
                    violations.push(format!(
                        "tenant table `{table}`: policy `tenant_isolation` USING {qual:?} does not compare org_id to app.current_org()"
                    ));
                }
                if !org_check(with_check) {
                    violations.push(format!(
                        "tenant table `{table}`: policy `tenant_isolation` WITH CHECK {with_check:?} does not compare org_id to app.current_org()"
                    ));
                }
            }
        }
        // Permissive policies are OR-ed: one that applies to the app role without the org check
        // would open the table to every org.
        for (_, name, permissive, roles, _, qual, with_check) in &on_table {
            let applies = roles.iter().any(|r| r == APP_ROLE || r == "public");
            if !applies || permissive != "PERMISSIVE" {
                continue;
            }
            let unchecked = [("USING", qual), ("WITH CHECK", with_check)]
                .into_iter()
                .filter(|(_, expr)| expr.is_some() && !org_check(expr))
                .map(|(clause, expr)| format!("{clause} {expr:?}"))
                .collect::<Vec<_>>();
            if !unchecked.is_empty() || (qual.is_none() && with_check.is_none()) {
                violations.push(format!(
                    "tenant table `{table}`: permissive policy `{name}` for {roles:?} bypasses the org check ({})",
                    unchecked.join(", ")
                ));
            }
        }
    }
    assert_no_violations("tenant tables are keyed and policed by org_id", &violations);
}

/// P0-21: platform tables (the short list with `tenant: false`) hold no tenant rows: no `org_id`
/// column, no foreign key into tenant data, and the app role may read them but never write them.
#[tokio::test]
async fn p0_21_platform_tables_are_read_only_for_the_app_role() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let catalog = catalog();
    let tables = public_tables(&mut db).await.unwrap();
    assert_schema_was_read(&tables);
    let platform: Vec<&String> = tables.iter().filter(|t| catalog.get(t.as_str()) == Some(&false)).collect();
    assert!(platform.iter().any(|t| *t == "policy_versions"), "policy_versions is not a platform table: {platform:?}");

    let mut violations = Vec::new();
    for table in platform {
        let (has_org_id, writes, column_writes, tenant_parents): PlatformFacts = sqlx::query_as(
            "select exists (select 1 from pg_attribute where attrelid = c.oid and attname = 'org_id' and not attisdropped),
                    array(select p from unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p
                          where has_table_privilege($2::name, c.oid, p)),
                    array(select p from unnest(array['INSERT', 'UPDATE']) p
                          where has_any_column_privilege($2::name, c.oid, p)),
                    array(select f.relname::text from pg_constraint con join pg_class f on f.oid = con.confrelid
                          where con.conrelid = c.oid and con.contype = 'f')
             from pg_class c where c.oid = format('public.%I', $1::text)::regclass",
        )
        .bind(table)
        .bind(APP_ROLE)
        .fetch_one(&mut db)
        .await
        .unwrap();
        if has_org_id {
            violations.push(format!(
                "platform table `{table}`: has an `org_id` column (tenant data belongs in a tenant table)"
            ));
        }
        for privilege in writes {
            violations.push(format!(
                "platform table `{table}`: {APP_ROLE} holds {privilege} (platform tables are read-only to it)"
            ));
        }
        for privilege in column_writes {
            violations.push(format!("platform table `{table}`: {APP_ROLE} holds column-level {privilege}"));
        }
        for parent in tenant_parents.iter().filter(|p| catalog.get(p.as_str()) != Some(&false)) {
            violations.push(format!("platform table `{table}`: references tenant table `{parent}`"));
        }
    }
    assert_no_violations("platform tables are read-only for the app role", &violations);
}

/// P0-21, P1-07: the request role cannot step around the policies: it is not superuser, cannot
/// bypass RLS, create roles or databases, owns nothing (an owner could disable RLS), may create
/// nothing in the schemas, and is no member of the platform scope or the schema owner. Tables are
/// owned by `relais_owner`, itself neither superuser nor BYPASSRLS (FORCE then binds it too).
#[tokio::test]
async fn p0_21_app_role_owns_nothing_and_cannot_escalate() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let mut violations = Vec::new();

    for (role, must_not) in [
        (APP_ROLE, &["rolsuper", "rolbypassrls", "rolcreaterole", "rolcreatedb"][..]),
        (ADMIN_ROLE, &["rolsuper", "rolbypassrls", "rolcreaterole", "rolcreatedb"][..]),
        (OWNER_ROLE, &["rolsuper", "rolbypassrls"][..]),
    ] {
        let (superuser, bypassrls, createrole, createdb): (bool, bool, bool, bool) = sqlx::query_as(
            "select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = $1",
        )
        .bind(role)
        .fetch_one(&mut db)
        .await
        .unwrap();
        for (attribute, value) in [
            ("rolsuper", superuser),
            ("rolbypassrls", bypassrls),
            ("rolcreaterole", createrole),
            ("rolcreatedb", createdb),
        ] {
            if value && must_not.contains(&attribute) {
                violations.push(format!("role {role}: has {attribute}"));
            }
        }
    }

    for role in [APP_ROLE, ADMIN_ROLE] {
        let owned: Vec<String> = sqlx::query_scalar(
            "select 'relation ' || c.oid::regclass::text from pg_class c where c.relowner = to_regrole($1)
             union all select 'function ' || p.oid::regprocedure::text from pg_proc p where p.proowner = to_regrole($1)
             union all select 'schema ' || n.nspname::text from pg_namespace n where n.nspowner = to_regrole($1)
             union all select 'type ' || t.oid::regtype::text from pg_type t where t.typowner = to_regrole($1)
             union all select 'database ' || d.datname::text from pg_database d
                       where d.datdba = to_regrole($1) and d.datname = current_database()",
        )
        .bind(role)
        .fetch_all(&mut db)
        .await
        .unwrap();
        for object in owned {
            violations.push(format!("role {role}: owns {object}"));
        }
    }

    // The platform admin path's role reaches the backoffice's doors and nothing else: no table
    // privilege anywhere, no login of its own, no membership; only the schema owner may become it.
    let admin_table_privileges: Vec<String> = sqlx::query_scalar(
        "select c.oid::regclass::text || ': ' || p from pg_class c join pg_namespace n on n.oid = c.relnamespace
         cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p
         where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
           and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S') and has_table_privilege($1::name, c.oid, p)",
    )
    .bind(ADMIN_ROLE)
    .fetch_all(&mut db)
    .await
    .unwrap();
    for privilege in admin_table_privileges {
        violations.push(format!("role {ADMIN_ROLE}: holds {privilege}"));
    }
    let admin_login: bool = sqlx::query_scalar("select rolcanlogin from pg_roles where rolname = $1")
        .bind(ADMIN_ROLE)
        .fetch_one(&mut db)
        .await
        .unwrap();
    if admin_login {
        violations.push(format!("role {ADMIN_ROLE}: can log in (only the schema owner may become it)"));
    }
    let admin_memberships: Vec<String> = sqlx::query_scalar(
        "select r.rolname::text from pg_auth_members m join pg_roles r on r.oid = m.roleid where m.member = to_regrole($1)",
    )
    .bind(ADMIN_ROLE)
    .fetch_all(&mut db)
    .await
    .unwrap();
    for role in admin_memberships {
        violations.push(format!("role {ADMIN_ROLE}: is a member of {role}"));
    }

    let misowned: Vec<(String, String)> = sqlx::query_as(
        "select c.relname::text, pg_get_userbyid(c.relowner)::text
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relowner <> to_regrole($1)",
    )
    .bind(OWNER_ROLE)
    .fetch_all(&mut db)
    .await
    .unwrap();
    for (table, owner) in misowned {
        violations.push(format!("table `{table}`: owned by {owner}, not {OWNER_ROLE}"));
    }

    let memberships: Vec<String> = sqlx::query_scalar(
        "select r.rolname::text from pg_auth_members m join pg_roles r on r.oid = m.roleid where m.member = to_regrole($1)",
    )
    .bind(APP_ROLE)
    .fetch_all(&mut db)
    .await
    .unwrap();
    for role in memberships {
        violations.push(format!("role {APP_ROLE}: is a member of {role}"));
    }
    for role in [PLATFORM_ROLE, OWNER_ROLE, ADMIN_ROLE] {
        let member: bool = sqlx::query_scalar("select pg_has_role($1::name, $2::name, 'MEMBER')")
            .bind(APP_ROLE)
            .bind(role)
            .fetch_one(&mut db)
            .await
            .unwrap();
        if member {
            violations.push(format!("role {APP_ROLE}: is (directly or indirectly) a member of {role}"));
        }
    }

    let create_in: Vec<String> = sqlx::query_scalar(
        "select n.nspname::text from pg_namespace n
         where n.nspname in ('public', 'app') and has_schema_privilege($1::name, n.oid, 'CREATE')",
    )
    .bind(APP_ROLE)
    .fetch_all(&mut db)
    .await
    .unwrap();
    for schema in create_in {
        violations.push(format!("role {APP_ROLE}: may CREATE in schema {schema} (it would own what it creates)"));
    }
    assert_no_violations("the app role owns nothing and cannot escalate", &violations);
}

/// P0-21: the SECURITY DEFINER functions (the doors used before an org is known) run as the schema
/// owner, so each must be owned by `relais_owner` (never a superuser, which would skip RLS), pin its
/// `search_path`, and be executable only by roles granted it, not by PUBLIC.
#[tokio::test]
async fn p0_21_security_definer_functions_are_narrow_doors() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let doors: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "select p.oid::regprocedure::text, pg_get_userbyid(p.proowner)::text,
                coalesce(exists (select 1 from unnest(p.proconfig) s where s like 'search_path=%'), false),
                has_function_privilege('public', p.oid, 'EXECUTE')
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
         order by 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let names: Vec<&str> = doors.iter().map(|d| d.0.as_str()).collect();
    for expected in ["app.login_candidates(text,uuid)", "app.resolve_session(bytea,timestamp with time zone)"] {
        assert!(names.contains(&expected), "{expected} is not a SECURITY DEFINER function: {names:?}");
    }

    let mut violations = Vec::new();
    for (function, owner, pinned, public) in &doors {
        if owner != OWNER_ROLE {
            violations.push(format!("SECURITY DEFINER {function}: owned by {owner}, not {OWNER_ROLE}"));
        }
        if !pinned {
            violations.push(format!("SECURITY DEFINER {function}: does not set search_path"));
        }
        if *public {
            violations.push(format!("SECURITY DEFINER {function}: PUBLIC may EXECUTE it"));
        }
    }
    assert_no_violations("security definer functions are narrow doors", &violations);
}

/// P0-21: every SECURITY DEFINER function of the live schema is a door some module declares
/// (`kernel::module::Door`, with who may call it), exactly once, and every declared door exists:
/// a new door cannot slip in without saying who may open it.
#[tokio::test]
async fn p0_21_every_security_definer_function_is_a_declared_door() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let live: Vec<String> = sqlx::query_scalar(
        "select distinct n.nspname || '.' || p.proname
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
         order by 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let declared = web::modules().doors();
    let mut violations = Vec::new();
    for function in &live {
        let owners: Vec<&str> =
            declared.iter().filter(|(_, door)| door.function == function).map(|(module, _)| *module).collect();
        match owners.as_slice() {
            [] => violations.push(format!("{function}: SECURITY DEFINER, but no module declares it as a door")),
            [_] => {}
            many => violations.push(format!("{function}: declared by several modules: {many:?}")),
        }
    }
    for (module, door) in &declared {
        if !live.iter().any(|f| f == door.function) {
            violations.push(format!(
                "{module} declares the door {}, which is not a SECURITY DEFINER function",
                door.function
            ));
        }
        if door.purpose.is_empty() {
            violations.push(format!("{module}: the door {} says nothing of its purpose", door.function));
        }
    }
    assert_no_violations("every door is declared, with its caller", &violations);
}

/// P0-21 (issue #10 item 4): every SECURITY DEFINER function of the live schema is listed with who
/// may call it — its declared caller and the roles that hold EXECUTE on it — and exactly its
/// caller's role ([`kernel::module::DoorCaller::role`]) may: the request role opens the doors used
/// before an org is known, in a member's transaction and for the platform's counters, and none of
/// the platform super admin's, which only the admin path (`relais_admin`) may open. A function no
/// module declares fails, whoever may call it.
#[tokio::test]
async fn p0_21_only_its_callers_role_may_execute_each_door() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    // (function, name, roles holding EXECUTE, whether PUBLIC does)
    let functions: Vec<(String, String, Vec<String>, bool)> = sqlx::query_as(
        "select p.oid::regprocedure::text, n.nspname || '.' || p.proname,
                array(select r.rolname::text from pg_roles r
                      where r.rolname like 'relais\\_%' and not r.rolsuper and r.oid <> p.proowner
                        and has_function_privilege(r.oid, p.oid, 'EXECUTE') order by 1),
                has_function_privilege('public', p.oid, 'EXECUTE')
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
         order by 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let names: Vec<&str> = functions.iter().map(|f| f.1.as_str()).collect();
    for expected in ["app.login_candidates", "app.platform_set_org_status", "app.rate_limit_hit"] {
        assert!(names.contains(&expected), "{expected} is not a SECURITY DEFINER function: {names:?}");
    }
    let declared = web::modules().doors();
    let mut listing = Vec::new();
    let mut violations = Vec::new();
    for (function, name, roles, public) in &functions {
        let door = declared.iter().find(|(_, door)| door.function == name);
        let caller = door.map_or("UNDECLARED", |(_, door)| door.caller.as_str());
        listing.push(format!(
            "{function}: {caller}; EXECUTE: {}{}",
            roles.join(", "),
            if *public { ", PUBLIC" } else { "" }
        ));
        let Some((module, door)) = door else {
            violations.push(format!("{function}: SECURITY DEFINER, but no module says who may call it"));
            continue;
        };
        let expected = [door.caller.role().to_string()];
        if roles.as_slice() != expected || *public {
            violations.push(format!(
                "{function} ({module}, caller {caller}): executable by {roles:?}{}, expected exactly {expected:?}",
                if *public { " and PUBLIC" } else { "" }
            ));
        }
    }
    println!("SECURITY DEFINER functions and who may call them:\n  {}", listing.join("\n  "));
    assert!(
        listing
            .iter()
            .any(|l| l.starts_with("app.platform_set_org_status(uuid,boolean): platform admin; EXECUTE: relais_admin")),
        "{listing:#?}"
    );
    assert_no_violations("only its caller's role may execute a door", &violations);
}

/// P0-20: the audit log is append-only. Neither the app role nor the platform group holds UPDATE,
/// DELETE or TRUNCATE on `audit_events` and `audit_checkpoints` (nor DELETE or TRUNCATE on
/// `audit_chain_heads`), and the three tables carry enabled BEFORE UPDATE (the heads: advance
/// only), BEFORE DELETE (only what a recorded purge covers; heads never) and BEFORE TRUNCATE
/// triggers that refuse even the schema owner.
#[tokio::test]
async fn p0_20_audit_tables_are_append_only() {
    let app = TestApp::spawn().await;
    // A sign-up writes an audit event and the month's checkpoint, so row triggers have rows to fire on.
    app.sign_up("audit-owner@example.eu").await;
    let mut db = app.superuser_connection().await;
    let mut violations = Vec::new();

    for (table, role, refused) in [
        ("audit_events", APP_ROLE, "array['UPDATE', 'DELETE', 'TRUNCATE']"),
        ("audit_checkpoints", APP_ROLE, "array['UPDATE', 'DELETE', 'TRUNCATE']"),
        ("audit_chain_heads", APP_ROLE, "array['DELETE', 'TRUNCATE']"),
        ("audit_events", PLATFORM_ROLE, "array['UPDATE', 'DELETE', 'TRUNCATE']"),
        ("audit_checkpoints", PLATFORM_ROLE, "array['UPDATE', 'DELETE', 'TRUNCATE']"),
        ("audit_chain_heads", PLATFORM_ROLE, "array['DELETE', 'TRUNCATE']"),
    ] {
        let column_update = if refused.contains("UPDATE") {
            " union all select 'column-level UPDATE' where has_any_column_privilege($1::name, $2::text, 'UPDATE')"
        } else {
            ""
        };
        let granted: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "select p from unnest({refused}) p where has_table_privilege($1::name, $2::text, p){column_update}"
        )))
        .bind(role)
        .bind(format!("public.{table}"))
        .fetch_all(&mut db)
        .await
        .unwrap();
        for privilege in granted {
            violations.push(format!("table `{table}`: {role} holds {privilege}"));
        }
    }

    for table in ["audit_events", "audit_checkpoints", "audit_chain_heads"] {
        let qualified = format!("public.{table}");

        // tgtype bits: 2 = BEFORE, 8 = DELETE, 16 = UPDATE, 32 = TRUNCATE, 64 = INSTEAD OF.
        // tgenabled 'O' (origin) and 'A' (always) fire in normal sessions; 'R' and 'D' do not.
        let triggers: Vec<(String, i32, String)> = sqlx::query_as(
            "select t.tgname::text, t.tgtype::int4, t.tgenabled::text from pg_trigger t
             where t.tgrelid = $1::regclass and not t.tgisinternal",
        )
        .bind(&qualified)
        .fetch_all(&mut db)
        .await
        .unwrap();
        for (event, bit) in [("UPDATE", 16), ("DELETE", 8), ("TRUNCATE", 32)] {
            let found = triggers.iter().any(|(_, tgtype, enabled)| {
                tgtype & 2 != 0 && tgtype & 64 == 0 && tgtype & bit != 0 && (enabled == "O" || enabled == "A")
            });
            if !found {
                violations.push(format!("table `{table}`: no enabled BEFORE {event} trigger (found {triggers:?})"));
            }
        }
    }

    // The triggers refuse, not merely exist: the schema owner (who owns the tables, so holds every
    // privilege) is refused too — rows leave only through a purge, after its recorded event.
    let mut owner = app.connect_options(OWNER_ROLE).connect().await.unwrap();
    for (table, statement) in [
        ("audit_events", "update audit_events set action = action"),
        ("audit_events", "delete from audit_events"),
        ("audit_events", "truncate audit_events"),
        ("audit_checkpoints", "update audit_checkpoints set mac = mac"),
        ("audit_checkpoints", "delete from audit_checkpoints"),
        ("audit_checkpoints", "truncate audit_checkpoints"),
        ("audit_chain_heads", "update audit_chain_heads set last_seq = 0"),
        ("audit_chain_heads", "delete from audit_chain_heads"),
        ("audit_chain_heads", "truncate audit_chain_heads"),
    ] {
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select count(*) from {table}")))
            .fetch_one(&mut owner)
            .await
            .unwrap();
        assert!(rows > 0, "no rows in {table} after a sign-up: the probe would prove nothing");
        let mut tx = owner.begin().await.unwrap();
        match sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx).await {
            Ok(done) => violations.push(format!(
                "table `{table}`: `{statement}` as {OWNER_ROLE} succeeded ({} rows)",
                done.rows_affected()
            )),
            Err(error) => {
                let code = error.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
                let refused = ["append-only", "only by a purge", "only advances"];
                if code.as_deref() != Some("42501") || !refused.iter().any(|r| error.to_string().contains(r)) {
                    violations.push(format!("table `{table}`: `{statement}` failed for another reason: {error}"));
                }
            }
        }
        tx.rollback().await.unwrap();
    }
    assert_no_violations("the audit log is append-only", &violations);
}

/// P0-21: a SECURITY DEFINER function must list `pg_temp` last in its `search_path`; otherwise
/// PostgreSQL searches the caller's temporary schema first for tables, and a caller can shadow
/// `users` or `sessions` with a temp table the function then reads with the owner's rights
/// ("Writing SECURITY DEFINER Functions Safely" in the PostgreSQL manual). Checked by behaviour
/// too: a temp `users` table of the app role must not change what `app.login_candidates` returns.
#[tokio::test]
async fn p0_21_security_definer_functions_search_pg_temp_last() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let paths: Vec<(String, Option<String>)> = sqlx::query_as(
        "select p.oid::regprocedure::text,
                (select s from unnest(p.proconfig) s where s like 'search_path=%')
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
         where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
         order by 1",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(!paths.is_empty(), "no SECURITY DEFINER function found");
    let mut violations = Vec::new();
    for (function, path) in &paths {
        let last = path.as_deref().and_then(|p| p.rsplit([',', '=']).next()).map(str::trim);
        if last != Some("pg_temp") {
            violations.push(format!("SECURITY DEFINER {function}: {path:?} does not end with pg_temp"));
        }
    }

    // Two layers stop a shadowing attack: the app role may not create temporary tables at all,
    // and if it could, the doors would still not look in pg_temp first.
    let mut raw = app.connect_options(APP_ROLE).connect().await.unwrap();
    let shadowed = sqlx::raw_sql(
        "create temp table users (org_id uuid, user_id uuid, password_hash text, status text, email text,
                                  last_login_at timestamptz, created_at timestamptz);
         create temp table organizations (org_id uuid, status text);
         grant select on users, organizations to public;
         insert into organizations values ('00000000-0000-0000-0000-000000000001', 'active');
         insert into users values ('00000000-0000-0000-0000-000000000001', gen_random_uuid(), 'forged', 'active',
                                   'shadow@example.eu', null, now());",
    )
    .execute(&mut raw)
    .await;
    match shadowed {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {}
        Err(other) => panic!("unexpected error creating temporary tables: {other}"),
        Ok(_) => {
            violations.push("relais_app may create temporary tables (TEMP should be revoked)".to_string());
            let forged: i64 = sqlx::query_scalar("select count(*) from app.login_candidates('shadow@example.eu')")
                .fetch_one(&mut raw)
                .await
                .unwrap();
            if forged != 0 {
                violations.push(format!(
                    "app.login_candidates read {forged} row(s) from the caller's temporary `users` table"
                ));
            }
        }
    }
    assert_no_violations("security definer functions search pg_temp last", &violations);
}
