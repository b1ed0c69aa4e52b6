-- Hardening the background jobs (issue #10 items 5–6).
--
-- A job given up (attempts exhausted, timed out, or its worker died on the last attempt) now puts
-- its import in `failed` with the reason, and remembers which step failed so the person can retry
-- that step from its checkpoint, or discard the import (`discarded`: closed, nothing more runs; the
-- records already written stay and can still be reverted).
alter table imports drop constraint imports_status_check;
alter table imports add constraint imports_status_check
    check (status in ('uploaded', 'dry_running', 'dry_run_done', 'running', 'done', 'failed', 'reverting',
                      'reverted', 'discarded'));
alter table imports
    add column failed_step text check (failed_step in ('dry_run', 'run', 'revert')),
    -- Bumped by each retry, so the retried step's jobs get fresh idempotency keys.
    add column retries integer not null default 0;
-- Imports a timed-out job left "in progress" for ever before this fix: fail them now, with the
-- reason, so they can be retried or discarded.
update imports i set status = 'failed', failed_step = case i.status when 'dry_running' then 'dry_run'
                                                                   when 'running' then 'run' else 'revert' end,
       last_error = 'the background job stopped without finishing'
 where i.status in ('dry_running', 'running', 'reverting')
   and not exists (select 1 from jobs j
                    where j.org_id = i.org_id and j.status in ('queued', 'running')
                      and j.kind in ('crm.import.dry_run', 'crm.import.run', 'crm.import.revert')
                      and j.payload ->> 'import_id' = i.import_id::text);
-- Failed before this migration: a revert if one was started, else the run if it wrote anything,
-- else (nothing written) the dry run, which is harmless to retry.
update imports set failed_step = case when reverted_by is not null then 'revert'
                                      when batches_done > 0 or rows_done > 0 then 'run' else 'dry_run' end
 where status = 'failed' and failed_step is null;

-- ---------------------------------------------------------------- rate limits: look without counting
-- The per-account login limit counts failed attempts only (issue #10 item 22): a login first looks
-- at the account's bucket without counting, and only a failure counts a hit (`app.rate_limit_hit`).
-- Answers whether `p_bucket` is still under `p_limit` and, if not, how many seconds until its window
-- ends. Reads one row; writes nothing.
create function app.rate_limit_peek(p_bucket text, p_limit integer, p_now timestamptz)
returns table (allowed boolean, retry_after_secs integer)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select coalesce(b.hits < p_limit, true),
         case when b.hits is null or b.hits < p_limit then 0
              else greatest(1, ceil(extract(epoch from (b.expires_at - p_now)))::integer) end
    from (select 1) one
    left join public.rate_limit_buckets b on b.bucket = p_bucket and b.expires_at > p_now
$$;

revoke all on function app.rate_limit_peek(text, integer, timestamptz) from public;
grant execute on function app.rate_limit_peek(text, integer, timestamptz) to relais_app;

-- ---------------------------------------------------------------- MFA: the first factor of a pending login
-- A sign-in by emailed link or code that goes through the second step must record its own method on
-- the session and login history, not `password` (issue #10 item 23).
alter table mfa_pending_logins
    add column first_factor text not null default 'password'
        check (first_factor in ('password', 'magic_link', 'email_otp'));
