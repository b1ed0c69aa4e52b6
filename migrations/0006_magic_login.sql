-- Sign-in by email: a magic link and a one-time code in one mail (issue #3 item 5; P2-07, P2-12,
-- ASVS 5.0 L2 V6.6).
--
-- One row per mail. The link carries a 256-bit random token: the database keeps its SHA-256. The
-- six-digit code has only 10^6 values, so a plain hash could be reversed by trying them all: the
-- database keeps HMAC-SHA256(code) under an instance key derived from the master key (never in
-- the database), bound to the row's id. Five wrong codes burn the row; so does using its link or
-- its code (one credential, two ways to present it). The row keeps when and from which address it
-- was requested and used (P2-07), after it stopped working.

create table magic_logins (
    org_id           uuid not null,
    magic_id         uuid not null,
    user_id          uuid not null,
    token_hash       bytea not null check (length(token_hash) = 32),
    code_mac         bytea not null check (length(code_mac) = 32),
    failed_attempts  integer not null default 0 check (failed_attempts between 0 and 5),
    requested_at     timestamptz not null,
    requested_ip     inet,
    expires_at       timestamptz not null,
    used_at          timestamptz,
    used_ip          inet,
    used_method      text check (used_method in ('magic_link', 'email_otp')),
    -- Set when the row stopped working without being used: too many wrong codes, or replaced by a
    -- newer request.
    burned_at        timestamptz,
    primary key (org_id, magic_id),
    unique (org_id, token_hash),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade,
    constraint magic_login_expires_after_request check (expires_at > requested_at),
    constraint magic_login_use_names_method check ((used_at is null) = (used_method is null)),
    constraint magic_login_used_or_burned check (used_at is null or burned_at is null)
);
-- The link is followed before the org is known: the plain index serves that lookup.
create index magic_logins_token on magic_logins (token_hash);
create index magic_logins_user on magic_logins (org_id, user_id, requested_at);
-- Rows are burned, never deleted, from the request path; retention deletes them in platform scope.
call app.make_tenant_table('magic_logins', 'select, insert, update');

-- The link carries only its token: its hash to the ids that open the tenant transaction, and
-- nothing else. Expiry and single use are checked there, against the application clock.
create function app.resolve_magic_login(p_token_hash bytea)
returns table (org_id uuid, magic_id uuid, user_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select m.org_id, m.magic_id, m.user_id
  from public.magic_logins m join public.organizations o on o.org_id = m.org_id
  where m.token_hash = p_token_hash and o.status = 'active'
$$;

revoke all on function app.resolve_magic_login(bytea) from public;
grant execute on function app.resolve_magic_login(bytea) to relais_app;
