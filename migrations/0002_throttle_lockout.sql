-- Rate limits (P1-16) and account lockout (P1-17).

-- ---------------------------------------------------------------- platform: rate-limit buckets
-- One row per (rule, subject): how many hits since `window_start`. Counted in PostgreSQL so a limit
-- holds across every node. Subjects are never stored in clear: the bucket name is
-- `<rule>:<HMAC-SHA256 hex of the IP address or account email>` (keyed by an instance key derived
-- from the master key), so the table holds neither emails nor readable addresses.
create table rate_limit_buckets (
    bucket        text primary key check (length(bucket) <= 200),
    window_start  timestamptz not null,
    expires_at    timestamptz not null,
    hits          integer not null check (hits > 0)
);
create index rate_limit_buckets_expiry on rate_limit_buckets (expires_at);
call app.make_platform_table('rate_limit_buckets');

-- The only write the request path makes to this platform table. Atomically counts one hit in the
-- bucket's window (a new window starts at the first hit after the previous one expired) and says
-- whether it is within `p_limit`, and if not, how many seconds until the window ends.
-- Each call also deletes up to 100 expired buckets, so old windows never pile up (retention:
-- until expiry).
create function app.rate_limit_hit(p_bucket text, p_window_secs integer, p_limit integer, p_now timestamptz)
returns table (allowed boolean, retry_after_secs integer)
language plpgsql volatile security definer set search_path = pg_catalog, pg_temp
as $$
declare
  v_hits integer;
  v_expires timestamptz;
begin
  if p_window_secs <= 0 or p_limit <= 0 or p_bucket is null or p_now is null then
    raise exception 'rate_limit_hit: bad arguments' using errcode = 'invalid_parameter_value';
  end if;
  delete from public.rate_limit_buckets b
   where b.ctid in (select x.ctid from public.rate_limit_buckets x
                     where x.expires_at <= p_now and x.bucket <> p_bucket limit 100);
  insert into public.rate_limit_buckets as b (bucket, window_start, expires_at, hits)
  values (p_bucket, p_now, p_now + make_interval(secs => p_window_secs), 1)
  on conflict (bucket) do update set
    window_start = case when b.expires_at <= p_now then p_now else b.window_start end,
    expires_at   = case when b.expires_at <= p_now then p_now + make_interval(secs => p_window_secs)
                        else b.expires_at end,
    hits         = case when b.expires_at <= p_now then 1 else least(b.hits, p_limit) + 1 end
  returning b.hits, b.expires_at into v_hits, v_expires;
  allowed := v_hits <= p_limit;
  retry_after_secs := case when v_hits <= p_limit then 0
                           else greatest(1, ceil(extract(epoch from (v_expires - p_now)))::integer) end;
  return next;
end $$;

revoke all on function app.rate_limit_hit(text, integer, integer, timestamptz) from public;
grant execute on function app.rate_limit_hit(text, integer, integer, timestamptz) to relais_app;

-- ---------------------------------------------------------------- account lockout (P1-17)
-- Consecutive failed password attempts since the last successful login, and until when the account
-- refuses every password. Reset by a successful login or by an owner's unlock.
alter table users
    add column failed_logins integer not null default 0 check (failed_logins >= 0),
    add column locked_until timestamptz;
