-- Reverting an import runs as background jobs in batches (issue #4 item 7): a million-row import
-- cannot be undone inside one web request. `reverting` is the state in between; the counters say
-- how far it got, so a crash resumes instead of leaving an unexplained half-revert.
alter table imports drop constraint imports_status_check;
alter table imports add constraint imports_status_check
    check (status in ('uploaded', 'dry_running', 'dry_run_done', 'running', 'done', 'failed', 'reverting', 'reverted'));
alter table imports
    -- Null until the fields the import updated are restored (the first step of a revert).
    add column revert_restored_fields bigint,
    add column revert_deleted bigint not null default 0,
    add column reverted_by uuid;
