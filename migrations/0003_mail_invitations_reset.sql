-- Password reset and invitations (issue #3: P1-05, P2-12, ASVS 5.0 L2 V6).
--
-- Both hold a single-use bearer token that arrives by email. The database keeps only its SHA-256,
-- so a copy of the database (or a backup) grants nothing. Expiry, single use and revocation are
-- checked in the tenant transaction against the application clock.

-- ---------------------------------------------------------------- password resets
create table password_resets (
    org_id       uuid not null,
    reset_id     uuid not null,
    user_id      uuid not null,
    token_hash   bytea not null check (length(token_hash) = 32),
    created_at   timestamptz not null,
    expires_at   timestamptz not null,
    used_at      timestamptz,
    primary key (org_id, reset_id),
    unique (org_id, token_hash),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade,
    constraint password_reset_expires_after_creation check (expires_at > created_at)
);
-- The link is followed before the org is known: the plain index serves that lookup.
create index password_resets_token on password_resets (token_hash);
create index password_resets_user on password_resets (org_id, user_id, created_at);
call app.make_tenant_table('password_resets');

-- ---------------------------------------------------------------- invitations
create table invitations (
    org_id            uuid not null references organizations (org_id) on delete cascade,
    invitation_id     uuid not null,
    email             text not null check (email = lower(email) and length(email) <= 254),
    org_role          text not null check (org_role in ('manager', 'user')),
    token_hash        bytea not null check (length(token_hash) = 32),
    invited_by        uuid not null,
    created_at        timestamptz not null,
    expires_at        timestamptz not null,
    accepted_at       timestamptz,
    accepted_user_id  uuid,
    revoked_at        timestamptz,
    primary key (org_id, invitation_id),
    unique (org_id, token_hash),
    foreign key (org_id, invited_by) references users (org_id, user_id) on delete cascade,
    foreign key (org_id, accepted_user_id) references users (org_id, user_id) on delete cascade,
    constraint invitation_expires_after_creation check (expires_at > created_at),
    constraint invitation_accepted_or_revoked check (accepted_at is null or revoked_at is null),
    constraint invitation_acceptance_names_member check ((accepted_at is null) = (accepted_user_id is null))
);
create index invitations_token on invitations (token_hash);
create index invitations_email on invitations (org_id, email);
call app.make_tenant_table('invitations');

-- ---------------------------------------------------------------- narrow doors before an org is known
-- A reset or invitation link carries only its token. These two SECURITY DEFINER functions map the
-- token's hash to the ids needed to open the tenant transaction, and nothing else.
create function app.resolve_password_reset(p_token_hash bytea)
returns table (org_id uuid, reset_id uuid, user_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select r.org_id, r.reset_id, r.user_id
  from public.password_resets r join public.organizations o on o.org_id = r.org_id
  where r.token_hash = p_token_hash and o.status = 'active'
$$;

create function app.resolve_invitation(p_token_hash bytea)
returns table (org_id uuid, invitation_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select i.org_id, i.invitation_id
  from public.invitations i join public.organizations o on o.org_id = i.org_id
  where i.token_hash = p_token_hash and o.status = 'active'
$$;

revoke all on function app.resolve_password_reset(bytea), app.resolve_invitation(bytea) from public;
grant execute on function app.resolve_password_reset(bytea), app.resolve_invitation(bytea) to relais_app;
