-- API authentication (issue #3 item 6; P1-13, P1-14): refresh-token families behind short-lived
-- JWT access tokens, per-member token revocation, and API keys.
--
-- Every bearer secret (refresh token, API key) is stored only as its SHA-256: a copy of the
-- database grants no access. Expiry, rotation and revocation are checked in the tenant transaction
-- against the application clock.

-- ---------------------------------------------------------------- per-member revocation
-- Access tokens issued before this instant are refused, although their signature and expiry are
-- fine: a password change or "log out everywhere" sets it, so revocation does not wait for expiry.
alter table users add column tokens_not_before timestamptz;

-- ---------------------------------------------------------------- refresh tokens
-- One row per refresh token. Tokens of one login form a family: each use marks the token used and
-- issues its successor in the same family. A used token presented again means it was copied, so
-- the whole family is revoked (every row gets `revoked_at`). A family lives at most 30 days from
-- its login (`family_expires_at`), and dies after 7 idle days (`expires_at` of its newest token).
create table refresh_tokens (
    org_id             uuid not null,
    token_id           uuid not null,
    family_id          uuid not null,
    user_id            uuid not null,
    token_hash         bytea not null check (length(token_hash) = 32),
    created_at         timestamptz not null,
    expires_at         timestamptz not null,
    family_expires_at  timestamptz not null,
    used_at            timestamptz,
    revoked_at         timestamptz,
    primary key (org_id, token_id),
    unique (org_id, token_hash),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade,
    constraint refresh_token_expires_after_creation check (expires_at > created_at),
    constraint refresh_token_within_family_lifetime check (expires_at <= family_expires_at)
);
-- The token is presented before the org is known: the plain index serves that lookup.
create index refresh_tokens_token on refresh_tokens (token_hash);
create index refresh_tokens_family on refresh_tokens (org_id, family_id);
create index refresh_tokens_user on refresh_tokens (org_id, user_id);
call app.make_tenant_table('refresh_tokens');

-- ---------------------------------------------------------------- API keys
-- `rk_<prefix>_<secret>`: the prefix is shown in lists so a key can be recognised; only the
-- SHA-256 of the whole key is kept. A key acts for its creator, with the lesser of its scope and
-- the creator's current role; a deactivated creator disables it.
create table api_keys (
    org_id        uuid not null,
    key_id        uuid not null,
    created_by    uuid not null,
    name          text not null check (length(name) between 1 and 100),
    scope         text not null check (scope in ('owner', 'manager', 'user')),
    prefix        text not null check (prefix ~ '^[0-9a-f]{12}$'),
    key_hash      bytea not null check (length(key_hash) = 32),
    created_at    timestamptz not null,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    primary key (org_id, key_id),
    unique (org_id, key_hash),
    unique (org_id, prefix),
    foreign key (org_id, created_by) references users (org_id, user_id) on delete cascade,
    constraint api_key_expires_after_creation check (expires_at is null or expires_at > created_at)
);
create index api_keys_hash on api_keys (key_hash);
call app.make_tenant_table('api_keys');

-- ---------------------------------------------------------------- narrow doors before an org is known
-- A refresh token or an API key arrives alone. These SECURITY DEFINER functions map its hash to the
-- ids needed to open the tenant transaction, and nothing else; every other check happens there.
create function app.resolve_refresh_token(p_token_hash bytea)
returns table (org_id uuid, token_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select r.org_id, r.token_id
  from public.refresh_tokens r join public.organizations o on o.org_id = r.org_id
  where r.token_hash = p_token_hash and o.status = 'active'
$$;

create function app.resolve_api_key(p_key_hash bytea)
returns table (org_id uuid, key_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select k.org_id, k.key_id
  from public.api_keys k join public.organizations o on o.org_id = k.org_id
  where k.key_hash = p_key_hash and o.status = 'active'
$$;

revoke all on function app.resolve_refresh_token(bytea), app.resolve_api_key(bytea) from public;
grant execute on function app.resolve_refresh_token(bytea), app.resolve_api_key(bytea) to relais_app;
