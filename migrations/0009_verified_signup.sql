-- Verified sign-up without email enumeration (OWASP ASVS 5.0 L2 V6.3): a sign-up is only a
-- pending request until the address confirms it by a mailed link. The request answers the same
-- whether or not the address already has an account.
--
-- ---------------------------------------------------------------- platform: pending sign-ups
-- One row per address waiting for confirmation (a new request for the same address replaces the
-- old one). No organization exists yet, so this is a platform table. It holds the sign-up form as
-- submitted (validated), the password only as its bcrypt hash, and the link's token only as its
-- SHA-256. Rows live at most 24 hours: deleted when confirmed, and expired rows are purged by
-- every new request (retention: until expiry).
create table pending_signups (
    signup_id          uuid primary key,
    email              text not null unique check (email = lower(email) and length(email) <= 254),
    token_hash         bytea not null unique check (length(token_hash) = 32),
    first_name         text not null check (length(first_name) between 1 and 100),
    last_name          text not null check (length(last_name) between 1 and 100),
    job_title          text not null check (length(job_title) between 1 and 100),
    organization_name  text not null check (length(organization_name) between 1 and 200),
    password_hash      text not null check (password_hash like '$2%'),
    language           text not null check (language in ('en', 'fr')),
    policy_version     text not null references policy_versions (version),
    created_at         timestamptz not null,
    expires_at         timestamptz not null,
    constraint pending_signup_expires_after_creation check (expires_at > created_at)
);
create index pending_signups_expiry on pending_signups (expires_at);
call app.make_platform_table('pending_signups');
-- Stricter than a usual platform table: the request role may not even read these rows (password
-- hashes and addresses of people who have no account); it goes through the two doors below.
revoke select on pending_signups from relais_app;

-- The only write the request path makes: purges expired rows, replaces any pending request for
-- the same address, stores the new one.
create function app.pending_signup_put(
    p_signup_id uuid, p_email text, p_token_hash bytea, p_first_name text, p_last_name text,
    p_job_title text, p_organization_name text, p_password_hash text, p_language text,
    p_policy_version text, p_now timestamptz, p_expires_at timestamptz)
returns void
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
as $$
begin
  if p_now is null or p_expires_at is null or p_expires_at <= p_now then
    raise exception 'pending_signup_put: bad arguments' using errcode = 'invalid_parameter_value';
  end if;
  delete from public.pending_signups s where s.expires_at <= p_now or s.email = p_email;
  insert into public.pending_signups (signup_id, email, token_hash, first_name, last_name, job_title,
                                      organization_name, password_hash, language, policy_version,
                                      created_at, expires_at)
  values (p_signup_id, p_email, p_token_hash, p_first_name, p_last_name, p_job_title,
          p_organization_name, p_password_hash, p_language, p_policy_version, p_now, p_expires_at);
end $$;

-- Confirmation: deletes the row of this token (single use: a second call finds nothing) and
-- returns it only if it had not expired. Called inside the transaction that creates the
-- organization, so the row is spent only if the organization is created.
create function app.pending_signup_take(p_token_hash bytea, p_now timestamptz)
returns table (signup_id uuid, email text, first_name text, last_name text, job_title text,
               organization_name text, password_hash text, language text, policy_version text)
language sql volatile security definer set search_path = pg_catalog, pg_temp
as $$
  with taken as (
    delete from public.pending_signups s where s.token_hash = p_token_hash
    returning s.*
  )
  select t.signup_id, t.email, t.first_name, t.last_name, t.job_title, t.organization_name,
         t.password_hash, t.language, t.policy_version
  from taken t
  where t.expires_at > p_now
$$;

-- The landing page says whether a link still works without spending it.
create function app.pending_signup_live(p_token_hash bytea, p_now timestamptz)
returns boolean
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select exists (select from public.pending_signups s where s.token_hash = p_token_hash and s.expires_at > p_now)
$$;

revoke all on function app.pending_signup_put(uuid, text, bytea, text, text, text, text, text, text, text,
                                              timestamptz, timestamptz),
                       app.pending_signup_take(bytea, timestamptz),
                       app.pending_signup_live(bytea, timestamptz) from public;
grant execute on function app.pending_signup_put(uuid, text, bytea, text, text, text, text, text, text, text,
                                                 timestamptz, timestamptz),
                          app.pending_signup_take(bytea, timestamptz),
                          app.pending_signup_live(bytea, timestamptz) to relais_app;
