-- The platform super admin (issue #3 item 2, P2-18; ASVS 5.0 L2 V6, V7, V8).
--
-- Super admins are created only from the CLI (`relais admin create`, platform scope). They manage
-- the instance but never read tenant secrets: the request role reaches these tables and the tenant
-- tables only through the narrow SECURITY DEFINER doors below, which return aggregates and
-- organization names — never member emails, names, tokens, hashes or sealed secrets.
-- The platform tables are made with app.make_platform_table and then have even SELECT revoked from
-- relais_app: admin password hashes and TOTP secrets are read through one door, for one email.

-- ---------------------------------------------------------------- organizations: suspension
alter table organizations drop constraint organizations_status_check;
alter table organizations add constraint organizations_status_check
    check (status in ('active', 'closed', 'suspended'));

-- ---------------------------------------------------------------- super admins
create table platform_admins (
    admin_id            uuid primary key,
    email               text not null unique check (email = lower(email) and length(email) <= 254),
    status              text not null default 'pending' check (status in ('pending', 'active', 'disabled')),
    password_hash       text check (password_hash like '$2b$%'),
    totp_secret_sealed  bytea not null,
    totp_last_step      bigint,
    created_at          timestamptz not null,
    activated_at        timestamptz,
    disabled_at         timestamptz,
    last_login_at       timestamptz,
    check (status = 'pending' or password_hash is not null)
);
call app.make_platform_table('platform_admins');
revoke select on platform_admins from relais_app;

-- One-time setup links: SHA-256 of the token only, single use, short expiry (set by the CLI).
create table platform_admin_setup_tokens (
    token_hash  bytea primary key check (length(token_hash) = 32),
    admin_id    uuid not null references platform_admins (admin_id) on delete cascade,
    created_at  timestamptz not null,
    expires_at  timestamptz not null,
    used_at     timestamptz
);
create index platform_admin_setup_tokens_admin on platform_admin_setup_tokens (admin_id);
call app.make_platform_table('platform_admin_setup_tokens');
revoke select on platform_admin_setup_tokens from relais_app;

-- Admin sessions: their own table and cookie; idle timeout checked against last_seen_at,
-- absolute lifetime in expires_at.
create table platform_admin_sessions (
    session_id    uuid primary key,
    admin_id      uuid not null references platform_admins (admin_id) on delete cascade,
    token_hash    bytea not null unique check (length(token_hash) = 32),
    created_at    timestamptz not null,
    last_seen_at  timestamptz not null,
    expires_at    timestamptz not null
);
create index platform_admin_sessions_admin on platform_admin_sessions (admin_id);
call app.make_platform_table('platform_admin_sessions');
revoke select on platform_admin_sessions from relais_app;

-- ---------------------------------------------------------------- platform audit log
-- Append-only: inserts only (through app.platform_audit_append), and triggers refuse UPDATE,
-- TRUNCATE and the DELETE of any row younger than the 12-month retention, even to the owner.
create table platform_audit_events (
    event_id     uuid primary key,
    occurred_at  timestamptz not null,
    actor_kind   text not null check (actor_kind in ('admin', 'cli', 'anonymous')),
    actor_id     uuid,
    action       text not null,
    target_kind  text,
    target_id    uuid,
    payload      jsonb not null default '{}'
);
create index platform_audit_events_time on platform_audit_events (occurred_at);
call app.make_platform_table('platform_audit_events');
revoke select on platform_audit_events from relais_app;
revoke update, delete on platform_audit_events from relais_platform;

create function app.platform_audit_is_append_only() returns trigger
language plpgsql as $$
begin
  if tg_op = 'DELETE' and old.occurred_at < now() - interval '12 months' then
    return old;
  end if;
  raise exception 'the platform audit log is append-only (% refused on %)', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end $$;

create trigger platform_audit_no_update before update or delete on platform_audit_events
  for each row execute function app.platform_audit_is_append_only();
create trigger platform_audit_no_truncate before truncate on platform_audit_events
  for each statement execute function app.platform_audit_is_append_only();

-- ---------------------------------------------------------------- narrow doors for the request role
create function app.platform_audit_append(
    p_event_id uuid, p_now timestamptz, p_actor_kind text, p_actor_id uuid, p_action text,
    p_target_kind text, p_target_id uuid, p_payload jsonb)
returns void
language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$
  insert into public.platform_audit_events
    (event_id, occurred_at, actor_kind, actor_id, action, target_kind, target_id, payload)
  values (p_event_id, p_now, p_actor_kind, p_actor_id, p_action, p_target_kind, p_target_id, p_payload)
$$;

-- A setup link's admin: only for an unused, unexpired token of a pending admin.
create function app.platform_admin_setup_resolve(p_token_hash bytea, p_now timestamptz)
returns table (admin_id uuid, email text, totp_secret_sealed bytea)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select a.admin_id, a.email, a.totp_secret_sealed
  from public.platform_admin_setup_tokens t join public.platform_admins a using (admin_id)
  where t.token_hash = p_token_hash and t.used_at is null and t.expires_at > p_now and a.status = 'pending'
$$;

-- Completes a setup: spends the token (once) and activates the admin with its password hash and
-- the TOTP step that proved the enrollment. Returns the admin id, or nothing.
create function app.platform_admin_setup_complete(
    p_token_hash bytea, p_now timestamptz, p_password_hash text, p_step bigint)
returns uuid
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_admin uuid;
begin
  update public.platform_admin_setup_tokens t set used_at = p_now
  where t.token_hash = p_token_hash and t.used_at is null and t.expires_at > p_now
  returning t.admin_id into v_admin;
  if v_admin is null then
    return null;
  end if;
  update public.platform_admins a
  set password_hash = p_password_hash, status = 'active', activated_at = p_now, totp_last_step = p_step
  where a.admin_id = v_admin and a.status = 'pending';
  if not found then
    return null;
  end if;
  return v_admin;
end $$;

-- Login: the one admin an email could be (hash and sealed TOTP secret, to check both).
create function app.platform_admin_login_candidate(p_email text)
returns table (admin_id uuid, status text, password_hash text, totp_secret_sealed bytea, totp_last_step bigint)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select a.admin_id, a.status, a.password_hash, a.totp_secret_sealed, a.totp_last_step
  from public.platform_admins a where a.email = p_email
$$;

-- A successful login: spends the TOTP step (only a later step than the last one passes) and opens
-- the session, atomically. False if the admin is not active or the step was already used.
create function app.platform_admin_open_session(
    p_admin_id uuid, p_step bigint, p_session_id uuid, p_token_hash bytea, p_now timestamptz,
    p_expires_at timestamptz)
returns boolean
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
as $$
begin
  update public.platform_admins a set totp_last_step = p_step, last_login_at = p_now
  where a.admin_id = p_admin_id and a.status = 'active'
    and (a.totp_last_step is null or a.totp_last_step < p_step);
  if not found then
    return false;
  end if;
  insert into public.platform_admin_sessions (session_id, admin_id, token_hash, created_at, last_seen_at, expires_at)
  values (p_session_id, p_admin_id, p_token_hash, p_now, p_now, p_expires_at);
  return true;
end $$;

-- The admin cookie to (session, admin, email), touching the session. Expired, idle or disabled:
-- nothing.
create function app.platform_admin_resolve_session(p_token_hash bytea, p_now timestamptz, p_idle_secs integer)
returns table (session_id uuid, admin_id uuid, email text)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
as $$
begin
  return query
  update public.platform_admin_sessions s set last_seen_at = p_now
  from public.platform_admins a
  where s.token_hash = p_token_hash and s.expires_at > p_now
    and s.last_seen_at > p_now - make_interval(secs => p_idle_secs)
    and a.admin_id = s.admin_id and a.status = 'active'
  returning s.session_id, s.admin_id, a.email;
end $$;

create function app.platform_admin_end_session(p_session_id uuid)
returns void
language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$
  delete from public.platform_admin_sessions s where s.session_id = p_session_id
$$;

-- The backoffice: organizations with aggregates only (no member email, name or secret).
create function app.platform_overview_orgs()
returns table (org_id uuid, name text, status text, created_at timestamptz, member_count bigint,
               last_login_at timestamptz)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select o.org_id, o.name, o.status, o.created_at,
         (select count(*) from public.users u where u.org_id = o.org_id),
         (select max(u.last_login_at) from public.users u where u.org_id = o.org_id)
  from public.organizations o
  order by o.created_at desc
  limit 500
$$;

-- Job queue health: counts by kind and state, and the oldest job still waiting.
create function app.platform_overview_jobs()
returns table (kind text, status text, jobs bigint, oldest_waiting timestamptz)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select j.kind, j.status, count(*), min(j.run_at) filter (where j.status = 'queued')
  from public.jobs j
  group by j.kind, j.status
  order by j.kind, j.status
$$;

-- Migrations applied (version and description only).
create function app.platform_overview_migrations()
returns table (version bigint, description text, installed_on timestamptz, success boolean)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select m.version, m.description, m.installed_on, m.success from public._sqlx_migrations m order by m.version
$$;

-- The super admins (the operator's staff, shown to each other).
create function app.platform_overview_admins()
returns table (email text, status text, created_at timestamptz, last_login_at timestamptz)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select a.email, a.status, a.created_at, a.last_login_at from public.platform_admins a order by a.created_at
$$;

create function app.platform_audit_recent(p_limit integer)
returns table (occurred_at timestamptz, actor_kind text, actor_id uuid, action text, target_kind text,
               target_id uuid, payload jsonb)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select e.occurred_at, e.actor_kind, e.actor_id, e.action, e.target_kind, e.target_id, e.payload
  from public.platform_audit_events e
  order by e.occurred_at desc, e.event_id desc
  limit least(greatest(p_limit, 0), 200)
$$;

-- Suspends or reactivates an organization. Suspending ends its members' browser sessions at once;
-- its API credentials stop working because every bearer check requires an active organization.
-- Returns false when the org does not exist or is closed.
create function app.platform_set_org_status(p_org_id uuid, p_suspend boolean)
returns boolean
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
as $$
begin
  update public.organizations o
  set status = case when p_suspend then 'suspended' else 'active' end
  where o.org_id = p_org_id and o.status in ('active', 'suspended');
  if not found then
    return false;
  end if;
  if p_suspend then
    delete from public.sessions s where s.org_id = p_org_id;
  end if;
  return true;
end $$;

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
    execute format('revoke all on function %s from public', f);
    execute format('grant execute on function %s to relais_app', f);
  end loop;
end $$;
