-- Kernel schema: tenancy helpers, organizations, accounts, sessions, audit log, jobs.
--
-- Two database roles exist before this runs (created by `relais` for the embedded cluster, or by the
-- operator, see docs/operations.md):
--   relais_app       the request path. Owns nothing, no SUPERUSER, no BYPASSRLS. Sees one org at a time.
--   relais_platform  a NOLOGIN group the migration owner belongs to: the explicit platform scope
--                    (migrations, job claiming, retention, super admin), never used by a request.

create schema if not exists app;
revoke all on schema app from public;
grant usage on schema app to relais_app, relais_platform;
grant usage on schema public to relais_app;

-- The org of the current tenant transaction, or NULL when none is set (which matches no row).
create function app.current_org() returns uuid
language sql stable parallel safe
as $$ select nullif(current_setting('app.org_id', true), '')::uuid $$;

create function app.current_actor() returns uuid
language sql stable parallel safe
as $$ select nullif(current_setting('app.actor_id', true), '')::uuid $$;

grant execute on function app.current_org(), app.current_actor() to relais_app, relais_platform;

-- Every tenant table goes through this, so that none can be created without forced RLS and the
-- two policies. `privileges` lets append-only tables (the audit log) grant less.
create procedure app.make_tenant_table(tbl regclass, privileges text default 'select, insert, update, delete')
language plpgsql
as $$
begin
  execute format('alter table %s enable row level security', tbl);
  execute format('alter table %s force row level security', tbl);
  execute format('create policy tenant_isolation on %s to relais_app
                    using (org_id = app.current_org()) with check (org_id = app.current_org())', tbl);
  execute format('create policy platform_scope on %s to relais_platform using (true) with check (true)', tbl);
  execute format('revoke all on %s from public', tbl);
  execute format('grant %s on %s to relais_app', privileges, tbl);
  execute format('grant select, insert, update, delete on %s to relais_platform', tbl);
end $$;

-- Platform tables (not owned by any org) are a short, explicit list; each is readable by the app
-- role through its own policy and written only in platform scope.
create procedure app.make_platform_table(tbl regclass)
language plpgsql
as $$
begin
  execute format('alter table %s enable row level security', tbl);
  execute format('alter table %s force row level security', tbl);
  execute format('create policy app_read on %s for select to relais_app using (true)', tbl);
  execute format('create policy platform_scope on %s to relais_platform using (true) with check (true)', tbl);
  execute format('revoke all on %s from public', tbl);
  execute format('grant select on %s to relais_app', tbl);
  execute format('grant select, insert, update, delete on %s to relais_platform', tbl);
end $$;

-- ---------------------------------------------------------------- platform: policy versions
create table policy_versions (
    version       text primary key,
    published_at  timestamptz not null,
    effective_at  timestamptz not null,
    summary       text not null,
    constraint policy_notice_period check (effective_at >= published_at)
);
call app.make_platform_table('policy_versions');

-- ---------------------------------------------------------------- organizations (the tenant)
create table organizations (
    org_id      uuid primary key,
    name        text not null check (length(name) between 1 and 200),
    status      text not null default 'active' check (status in ('active', 'closed')),
    created_at  timestamptz not null,
    closed_at   timestamptz
);
call app.make_tenant_table('organizations');

-- ---------------------------------------------------------------- users (account holders)
create table users (
    org_id           uuid not null references organizations (org_id) on delete cascade,
    user_id          uuid not null,
    email            text not null check (email = lower(email) and length(email) <= 254),
    first_name       text not null check (length(first_name) between 1 and 100),
    last_name        text not null check (length(last_name) between 1 and 100),
    job_title        text not null check (length(job_title) between 1 and 100),
    org_role         text not null check (org_role in ('owner', 'manager', 'user')),
    password_hash    text not null check (password_hash like '$2b$%'),
    language         text not null default 'en' check (language in ('en', 'fr')),
    status           text not null default 'active' check (status in ('active', 'deactivated')),
    adult_attested_at timestamptz not null,
    created_at       timestamptz not null,
    updated_at       timestamptz not null,
    last_login_at    timestamptz,
    primary key (org_id, user_id),
    unique (org_id, email)
);
create index users_email on users (email);
call app.make_tenant_table('users');

create table policy_acceptances (
    org_id       uuid not null,
    user_id      uuid not null,
    version      text not null references policy_versions (version),
    accepted_at  timestamptz not null,
    primary key (org_id, user_id, version),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade
);
call app.make_tenant_table('policy_acceptances');

-- ---------------------------------------------------------------- browser sessions
create table sessions (
    org_id         uuid not null,
    session_id     uuid not null,
    user_id        uuid not null,
    token_hash     bytea not null check (length(token_hash) = 32),
    created_at     timestamptz not null,
    last_seen_at   timestamptz not null,
    expires_at     timestamptz not null,
    ip             inet,
    user_agent     text,
    primary key (org_id, session_id),
    -- Scoped by org like every key; a 256-bit random token never collides in practice, and the
    -- plain index below serves the lookup that happens before the org is known.
    unique (org_id, token_hash),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade
);
create index sessions_token on sessions (token_hash);
create index sessions_user on sessions (org_id, user_id);
call app.make_tenant_table('sessions');

-- ---------------------------------------------------------------- login events (P0-03)
create table login_events (
    org_id       uuid not null,
    event_id     uuid not null,
    user_id      uuid not null,
    occurred_at  timestamptz not null,
    outcome      text not null check (outcome in ('success', 'failure')),
    method       text not null,
    ip           inet,
    user_agent   text,
    primary key (org_id, event_id),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade
);
create index login_events_time on login_events (org_id, occurred_at);
call app.make_tenant_table('login_events');

-- ---------------------------------------------------------------- audit log (P0-04, P0-20)
-- One HMAC chain per org. The head row is locked to append, so concurrent appends serialise per
-- org without "read the last row" races.
create table audit_chain_heads (
    org_id     uuid primary key references organizations (org_id) on delete cascade,
    last_seq   bigint not null,
    last_mac   bytea not null,
    last_month date
);
call app.make_tenant_table('audit_chain_heads', 'select, insert, update');

create table audit_events (
    org_id       uuid not null,
    seq          bigint not null check (seq > 0),
    event_id     uuid not null,
    occurred_at  timestamptz not null,
    actor_kind   text not null,
    actor_id     uuid,
    action       text not null,
    target_kind  text,
    target_id    uuid,
    payload      jsonb not null default '{}',
    mac          bytea not null check (length(mac) = 32),
    primary key (org_id, seq)
);
call app.make_tenant_table('audit_events', 'select, insert');

-- The first event of each calendar month records the MAC it chained from, so that once months older
-- than the retention window are purged, the chain is still verifiable from the oldest checkpoint.
create table audit_checkpoints (
    org_id      uuid not null,
    month       date not null,
    first_seq   bigint not null,
    anchor_mac  bytea not null,
    mac         bytea not null,
    primary key (org_id, month)
);
call app.make_tenant_table('audit_checkpoints', 'select, insert');

-- The app role may update a chain head only to advance it by one, onto the event it just appended,
-- so it cannot rewind a chain or poison it with a MAC or month of its choosing.
create function app.audit_head_advances() returns trigger
language plpgsql as $$
begin
  if new.org_id <> old.org_id
     or new.last_seq <> old.last_seq + 1
     or not exists (
          select 1 from audit_events e
          where e.org_id = new.org_id and e.seq = new.last_seq and e.mac = new.last_mac
            and new.last_month is not distinct from
                greatest(old.last_month, date_trunc('month', e.occurred_at at time zone 'UTC')::date))
  then
    raise exception 'an audit chain head only advances onto the event just appended'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end $$;

create trigger audit_chain_heads_advance before update on audit_chain_heads
  for each row execute function app.audit_head_advances();

create function app.audit_is_append_only() returns trigger
language plpgsql as $$
begin
  raise exception 'the audit log is append-only (% refused on %)', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end $$;

create trigger audit_events_no_update before update on audit_events
  for each row execute function app.audit_is_append_only();
create trigger audit_events_no_truncate before truncate on audit_events
  for each statement execute function app.audit_is_append_only();
create trigger audit_checkpoints_no_update before update on audit_checkpoints
  for each row execute function app.audit_is_append_only();
create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
  for each statement execute function app.audit_is_append_only();

-- ---------------------------------------------------------------- job queue
create table jobs (
    org_id           uuid not null references organizations (org_id) on delete cascade,
    job_id           uuid not null,
    kind             text not null,
    payload          jsonb not null,
    idempotency_key  text not null,
    status           text not null default 'queued'
                     check (status in ('queued', 'running', 'done', 'failed')),
    attempts         integer not null default 0,
    max_attempts     integer not null default 8 check (max_attempts > 0),
    run_at           timestamptz not null,
    locked_by        text,
    locked_until     timestamptz,
    last_error       text,
    created_at       timestamptz not null,
    finished_at      timestamptz,
    primary key (org_id, job_id),
    unique (org_id, kind, idempotency_key)
);
create index jobs_ready on jobs (run_at) where status in ('queued', 'running');
call app.make_tenant_table('jobs');

-- ---------------------------------------------------------------- narrow doors before an org is known
-- Login and session lookup happen before the request knows its org. These two SECURITY DEFINER
-- functions run in platform scope and return only what is needed to open the tenant transaction.
-- Tables are schema-qualified and pg_temp comes last, so a caller's temporary table cannot
-- shadow them (and the app role may not create temporary tables at all, below).
create function app.login_candidates(p_email text)
returns table (org_id uuid, user_id uuid, password_hash text, status text)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select u.org_id, u.user_id, u.password_hash, u.status
  from public.users u join public.organizations o using (org_id)
  where u.email = p_email and o.status = 'active'
  order by u.last_login_at desc nulls last, u.created_at
  limit 3
$$;

create function app.resolve_session(p_token_hash bytea, p_now timestamptz)
returns table (org_id uuid, session_id uuid, user_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select s.org_id, s.session_id, s.user_id
  from public.sessions s
  where s.token_hash = p_token_hash and s.expires_at > p_now
$$;

revoke all on function app.login_candidates(text), app.resolve_session(bytea, timestamptz) from public;
grant execute on function app.login_candidates(text), app.resolve_session(bytea, timestamptz) to relais_app;

-- Least privilege: the request role needs no temporary tables.
do $$ begin
  execute format('revoke temporary on database %I from public', current_database());
end $$;

insert into policy_versions (version, published_at, effective_at, summary)
values ('2026-11-01', '2026-11-01T00:00:00Z', '2026-11-01T00:00:00Z', 'First version of the Relais privacy policy.');
