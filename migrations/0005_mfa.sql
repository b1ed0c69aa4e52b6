-- Multi-factor authentication (issue #3 item 4; P2-18, ASVS 5.0 L2 V6): TOTP factors, single-use
-- recovery codes and the pending second step of a login.
--
-- The TOTP secret is stored only sealed by the vault (XSalsa20-Poly1305 under the organization's
-- key, bound to this member and field): a copy of the database cannot compute codes. Recovery
-- codes and pending-login tokens are stored only as their SHA-256.

-- ---------------------------------------------------------------- organization setting
-- Owners and managers must always use MFA (P2-18); an owner may require it of every member.
alter table organizations add column require_mfa_all boolean not null default false;

-- ---------------------------------------------------------------- TOTP factors
-- At most one per member. A row with `enrolled_at` null is an enrollment in progress (the secret
-- was shown, no valid code was entered yet); it does not count as MFA. `last_used_step` is the
-- last accepted 30-second time step: a code is accepted only for a later step, so each step (and
-- so each code) works at most once (RFC 6238 §5.2).
create table mfa_factors (
    org_id          uuid not null,
    user_id         uuid not null,
    secret_sealed   bytea not null,
    created_at      timestamptz not null,
    enrolled_at     timestamptz,
    last_used_step  bigint,
    primary key (org_id, user_id),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade
);
call app.make_tenant_table('mfa_factors');

-- ---------------------------------------------------------------- recovery codes
-- Ten per enrollment, shown once. High-entropy random codes, so SHA-256 is enough (no bcrypt).
create table mfa_recovery_codes (
    org_id      uuid not null,
    code_id     uuid not null,
    user_id     uuid not null,
    code_hash   bytea not null check (length(code_hash) = 32),
    created_at  timestamptz not null,
    used_at     timestamptz,
    primary key (org_id, code_id),
    unique (org_id, user_id, code_hash),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade
);
call app.make_tenant_table('mfa_recovery_codes');

-- ---------------------------------------------------------------- pending logins
-- A correct password for a member with MFA yields no session, only one of these: a random token
-- (in a short-lived cookie scoped to /login/mfa) that lets the browser enter a code for five
-- minutes, once. A separate table rather than a flag on `sessions`, so no code path that reads
-- sessions can ever mistake a half-finished login for a session.
create table mfa_pending_logins (
    org_id      uuid not null,
    pending_id  uuid not null,
    user_id     uuid not null,
    token_hash  bytea not null check (length(token_hash) = 32),
    created_at  timestamptz not null,
    expires_at  timestamptz not null,
    used_at     timestamptz,
    primary key (org_id, pending_id),
    unique (org_id, token_hash),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade,
    constraint mfa_pending_expires_after_creation check (expires_at > created_at)
);
create index mfa_pending_logins_token on mfa_pending_logins (token_hash);
call app.make_tenant_table('mfa_pending_logins');

-- The pending token arrives before the org is known: its hash to the ids that open the tenant
-- transaction, and nothing else. Expiry and single use are checked there.
create function app.resolve_mfa_pending(p_token_hash bytea)
returns table (org_id uuid, pending_id uuid, user_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select p.org_id, p.pending_id, p.user_id
  from public.mfa_pending_logins p join public.organizations o on o.org_id = p.org_id
  where p.token_hash = p_token_hash and o.status = 'active'
$$;

revoke all on function app.resolve_mfa_pending(bytea) from public;
grant execute on function app.resolve_mfa_pending(bytea) to relais_app;
