#!/usr/bin/env bash
# Regenerates sqlx's offline query data (.sqlx/ at the workspace root), which lets every build
# type-check the `query!`-style macros without a database (SQLX_OFFLINE=true in .cargo/config.toml).
#
#   scripts/sqlx-prepare.sh          rewrite .sqlx/ (commit the result)
#   scripts/sqlx-prepare.sh --check  fail, naming the files, when .sqlx/ is not what the code and
#                                    the migrations produce (scripts/test.sh runs this)
#
# How: a throw-away PostgreSQL cluster (the system's initdb/pg_ctl, a Unix socket in a temp
# directory, no TCP port), the roles Relais's embedded cluster creates (crates/kernel/src/db/
# embedded.rs), every file of migrations/ applied with psql in order, one transaction each, as
# `relais_owner` (as sqlx's migrator does). Then the workspace is re-checked with SQLX_OFFLINE=false,
# DATABASE_URL at that database and SQLX_OFFLINE_DIR at a temp directory: sqlx's macros describe
# each query against the database and write their data there. No sqlx-cli needed, and no part of
# Relais has to compile first (the migrations are applied without it), so a stale .sqlx/ can
# always be regenerated.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

ensure_postgres
started=$(date +%s)

pg_bin() {
  local dir
  if command -v pg_ctl >/dev/null 2>&1 && [ -x "$(dirname "$(readlink -f "$(command -v pg_ctl)")")/initdb" ]; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] || { echo "error: PostgreSQL binaries not found" >&2; return 1; }
  echo "$dir"
}
BIN=$(pg_bin)
PSQL="$BIN/psql"
[ -x "$PSQL" ] || PSQL=psql

work=$(mktemp -d "${TMPDIR:-/tmp}/relais-sqlx.XXXXXX")
chmod 0755 "$work"
pgroot="$work/pg"
mkdir -m 0700 "$pgroot"

# PostgreSQL refuses to run as root: as root, the cluster runs as `postgres` (or `relais-pg`,
# created like the embedded cluster does).
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  pg_user=postgres
  if ! id "$pg_user" >/dev/null 2>&1; then
    pg_user=relais-pg
    id "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
  fi
  chown "$pg_user:" "$pgroot"
  as_pg=(runuser -u "$pg_user" --)
fi

cleanup() {
  "${as_pg[@]}" "$BIN/pg_ctl" stop --pgdata "$pgroot/data" --mode=immediate --silent >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

for var in PGDATA PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE; do unset "$var"; done
(cd "$pgroot" && "${as_pg[@]}" "$BIN/initdb" --pgdata "$pgroot/data" --username relais_super \
  --auth-local=trust --auth-host=reject --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$work/initdb.log" 2>&1) \
  || { cat "$work/initdb.log" >&2; exit 1; }
"${as_pg[@]}" mkdir -m 0700 "$pgroot/run"
(cd "$pgroot" && "${as_pg[@]}" "$BIN/pg_ctl" start --pgdata "$pgroot/data" --log "$pgroot/postgres.log" \
  --wait --timeout=60 --silent \
  -o "-c listen_addresses='' -k $pgroot/run -p 5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off") \
  || { cat "$pgroot/postgres.log" >&2; exit 1; }

db=relais_sqlx
psql_as() {
  local user="$1" database="$2"
  shift 2
  "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$pgroot/run" -p 5432 -U "$user" -d "$database" "$@"
}
# The roles and database of `EmbeddedPostgres::bootstrap` (crates/kernel/src/db/embedded.rs).
psql_as relais_super postgres <<SQL
create role relais_platform nologin;
create role relais_app login nosuperuser nobypassrls nocreatedb nocreaterole noinherit;
create role relais_owner login nosuperuser nobypassrls nocreatedb nocreaterole inherit;
create role relais_admin nologin nosuperuser nobypassrls nocreatedb nocreaterole noinherit;
grant relais_platform to relais_owner;
grant relais_admin to relais_owner;
create database $db owner relais_owner;
SQL
# sqlx's migrations table (sqlx-postgres's migrate.rs), which a migration's function reads.
psql_as relais_owner "$db" <<SQL
create table _sqlx_migrations (version bigint primary key, description text not null,
  installed_on timestamptz not null default now(), success boolean not null, checksum bytea not null,
  execution_time bigint not null);
SQL
for migration in migrations/*.sql; do
  if grep -q -- '-- no-transaction' "$migration"; then
    psql_as relais_owner "$db" -f "$migration"
  else
    psql_as relais_owner "$db" --single-transaction -f "$migration"
  fi >/dev/null
done
migrated=$(date +%s)

# The macros read SQLX_OFFLINE and DATABASE_URL without cargo tracking them, so they only run
# again when their crate is recompiled: touching the sources makes every target of the workspace
# stale (contents unchanged). `cargo check` shares the dependencies' build-script outputs with the
# normal build, so this costs one re-check of the workspace's own crates.
out="$work/sqlx"
mkdir -p "$out"
find crates -name '*.rs' -exec touch {} +
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$out" \
  DATABASE_URL="postgres://relais_owner@localhost/$db?host=$pgroot/run&port=5432" \
  cargo check --locked --quiet --workspace --all-targets
finished=$(date +%s)
echo "sqlx offline data: $(ls "$out" | wc -l) queries (database $((migrated - started)) s, macros $((finished - migrated)) s)" >&2

if [ "$mode" = write ]; then
  mkdir -p .sqlx
  rm -f .sqlx/query-*.json
  cp "$out"/query-*.json .sqlx/ 2>/dev/null || true
  echo "wrote .sqlx/; commit it" >&2
  exit 0
fi

problems=0
for file in "$out"/query-*.json; do
  [ -e "$file" ] || continue
  name=$(basename "$file")
  if [ ! -f ".sqlx/$name" ]; then
    echo "missing: .sqlx/$name ($(sed -n 's/^  "query": \(.\{0,80\}\).*/\1/p' "$file"))" >&2
    problems=$((problems + 1))
  elif ! cmp -s "$file" ".sqlx/$name"; then
    echo "stale: .sqlx/$name" >&2
    problems=$((problems + 1))
  fi
done
for file in .sqlx/query-*.json; do
  [ -e "$file" ] || continue
  if [ ! -f "$out/$(basename "$file")" ]; then
    echo "extra: $file (no query uses it any more)" >&2
    problems=$((problems + 1))
  fi
done
if [ "$problems" -gt 0 ]; then
  echo "error: .sqlx/ is out of date ($problems files); run scripts/sqlx-prepare.sh and commit .sqlx/" >&2
  exit 1
fi
echo ".sqlx/ is current" >&2
