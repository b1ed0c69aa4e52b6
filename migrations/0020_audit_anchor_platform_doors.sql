-- Hardening the audit chain and the platform doors (issue #10, items 2, 3 and 4).
--
-- Audit chain. What the database can enforce against its own schema owner is limited (the owner
-- can disable its triggers), so the end of each chain is also anchored outside the database
-- (`relais audit anchor`, checked by `relais audit verify`). What this migration adds inside:
--   * deleting audit rows needs a recorded purge: a row (event or checkpoint) may be deleted only
--     while the org's newest event is an `audit.purged` event covering its sequence number —
--     written, HMAC-signed, by `kernel::audit::AuditLog::purge`, which then deletes. Verification
--     knows what a purge may have removed and reports anything else missing from the start;
--   * a chain head is created only at sequence 0, never deleted or truncated (so it can no longer
--     be rewound by DELETE + INSERT), and it no longer goes away with its organization: the events
--     of a deleted organization stay verifiable until a purge records their removal;
--   * the platform group (the schema owner's) loses UPDATE, DELETE and TRUNCATE on the audit tables.
--
-- Platform doors. The `app.platform_*` SECURITY DEFINER functions (the super admin's setup, login,
-- session and backoffice) were executable by the request role `relais_app`, so any code on the
-- members' request path could suspend an organization, end sessions or list every organization.
-- They are now executable only by `relais_admin`, a NOLOGIN role the schema owner may SET ROLE to:
-- the backoffice's own connection (`kernel::Db::platform_admin`). `relais_admin` owns nothing and
-- holds no table privilege; the request role cannot become it.

do $$ begin
  if not exists (select from pg_roles where rolname = 'relais_admin') then
    raise exception 'the role relais_admin is missing. As a superuser, run: create role relais_admin nologin noinherit; grant relais_admin to relais_owner; (see docs/operations.md)';
  end if;
  if not pg_has_role(current_user, 'relais_admin', 'MEMBER') then
    raise exception 'the schema owner % must be a member of relais_admin. As a superuser, run: grant relais_admin to %; (see docs/operations.md)', current_user, current_user;
  end if;
end $$;

-- ---------------------------------------------------------------- audit: privileges
revoke update, delete, truncate on audit_events, audit_checkpoints from relais_platform;
revoke delete, truncate on audit_chain_heads from relais_platform;

-- ---------------------------------------------------------------- audit: heads
-- A head outlives its organization (its events do too, until a purge).
alter table audit_chain_heads drop constraint audit_chain_heads_org_id_fkey;

-- A new head starts the chain: sequence 0, no month yet (the app writes the genesis MAC, which a
-- wrong value would break at the first event). Rewinding a head by re-inserting it is refused.
create function app.audit_head_starts_at_zero() returns trigger
language plpgsql as $$
begin
  if new.last_seq <> 0 or new.last_month is not null then
    raise exception 'an audit chain head starts at sequence 0'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end $$;

create trigger audit_chain_heads_start before insert on audit_chain_heads
  for each row execute function app.audit_head_starts_at_zero();
create trigger audit_chain_heads_no_delete before delete on audit_chain_heads
  for each row execute function app.audit_is_append_only();
create trigger audit_chain_heads_no_truncate before truncate on audit_chain_heads
  for each statement execute function app.audit_is_append_only();

-- ---------------------------------------------------------------- audit: purges
-- A row may be deleted only while the org's newest event is an `audit.purged` event whose
-- `through_seq` covers it. The trigger argument names the row's sequence column.
create function app.audit_delete_only_when_purged() returns trigger
language plpgsql as $$
declare
  v_seq bigint := (to_jsonb(old) ->> tg_argv[0])::bigint;
begin
  if exists (
       select 1
       from public.audit_chain_heads h
       join public.audit_events p on p.org_id = h.org_id and p.seq = h.last_seq
       where h.org_id = old.org_id and p.action = 'audit.purged'
         and jsonb_typeof(p.payload -> 'through_seq') = 'number'
         and (p.payload ->> 'through_seq')::bigint >= v_seq)
  then
    return old;
  end if;
  raise exception 'audit rows are deleted only by a purge, after its audit.purged event (% refused on %)',
    tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end $$;

create trigger audit_events_no_delete before delete on audit_events
  for each row execute function app.audit_delete_only_when_purged('seq');
create trigger audit_checkpoints_no_delete before delete on audit_checkpoints
  for each row execute function app.audit_delete_only_when_purged('first_seq');

-- ---------------------------------------------------------------- platform doors: the admin path only
grant usage on schema app to relais_admin;

do $$
declare
  f text;
begin
  foreach f in array array[
    'app.platform_audit_append(uuid, timestamptz, text, uuid, text, text, uuid, jsonb)',
    'app.platform_admin_setup_resolve(bytea, timestamptz)',
    'app.platform_admin_setup_complete(bytea, timestamptz, text, bigint)',
    'app.platform_admin_login_candidate(text)',
    'app.platform_admin_open_session(uuid, bigint, uuid, bytea, timestamptz, timestamptz)',
    'app.platform_admin_resolve_session(bytea, timestamptz, integer)',
    'app.platform_admin_end_session(uuid)',
    'app.platform_overview_orgs()',
    'app.platform_overview_jobs()',
    'app.platform_overview_migrations()',
    'app.platform_overview_admins()',
    'app.platform_audit_recent(integer)',
    'app.platform_set_org_status(uuid, boolean)'
  ] loop
    execute format('revoke all on function %s from public, relais_app', f);
    execute format('grant execute on function %s to relais_admin', f);
  end loop;
end $$;
