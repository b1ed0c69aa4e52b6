-- Issue #11 ("import errors and rejects … are English in the French UI"): what background work
-- reports is stored as a stable code next to the English text, so pages show it in the member's
-- language while the API keeps its English `message` and gains a `code`. The codes are listed in
-- docs/crm.md.

-- Webhook delivery attempts: why an attempt failed (empty when it was delivered). The receiver's
-- HTTP status already has its own column; nothing else is a parameter.
alter table webhook_attempts
    add column error_code text not null default '' check (error_code ~ '^[a-z_]{0,40}$');
-- Attempts logged before this: their texts were a fixed list, each mapped to its code.
update webhook_attempts set error_code = case
    when error = '' then ''
    when error = 'timed out' then 'timeout'
    when error = 'could not connect' then 'connect_failed'
    when error = 'the request failed' then 'request_failed'
    when error = 'could not build the HTTP client' then 'client_failed'
    when error = 'the endpoint answered with a redirect, which is not followed' then 'redirect'
    when error like 'the endpoint answered HTTP %' then 'http_status'
    when error = 'the delivery job kept failing on our side and was given up' then 'gave_up'
    when error like 'the endpoint''s signing secret cannot be opened%' then 'secret_unreadable'
    when error = 'not a URL' then 'not_a_url'
    when error = 'the URL must start with https://' then 'https_required'
    when error = 'the URL must not contain a user name or password' then 'credentials_in_url'
    when error = 'the URL has no host' then 'no_host'
    when error = 'the URL has no port' then 'no_port'
    when error = 'the address is private or reserved' then 'private_address'
    when error = 'the host name does not resolve' then 'dns_failed'
    when error = 'the host resolves to a private or reserved address' then 'resolves_private'
    else 'failed' end
 where error <> '';

-- Imports: why a failed import failed. `file_missing` (the uploaded file is gone), `job_stopped`
-- (the queue gave the step's job up), `step_failed` (anything else; the English text, for the API
-- and the operator, keeps the detail).
alter table imports add column last_error_code text check (last_error_code ~ '^[a-z_]{1,40}$');
update imports set last_error_code = case
    when last_error like '%no longer on the server%' then 'file_missing'
    when last_error like 'the background job stopped%' then 'job_stopped'
    else 'step_failed' end
 where last_error is not null;

-- Rejected rows and warnings: each problem of the row as {field?, code, message, text?} — the
-- field's key, the code, the English sentence, and for a phone kept as a note the cell as
-- written. `reason` keeps the English text (the API's rejects file). Rows written before this have
-- none: the application reads their codes back from `reason`, whose format carried them.
alter table import_rejects
    add column problems jsonb check (problems is null or jsonb_typeof(problems) = 'array');
