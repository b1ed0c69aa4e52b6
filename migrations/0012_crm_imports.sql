-- CSV import of CRM records (issue #4 item 7).
--
-- The uploaded file itself is kept on disk under the data directory (normalized to UTF-8), never in
-- the database: a 1,000,000-row file would bloat the WAL and backups for a file that is only read
-- while the import runs. The database keeps the state machine, the column mapping, the counters,
-- the resume checkpoint and the rejected rows, so a crash resumes from the last committed batch.

create table imports (
    org_id        uuid not null references organizations (org_id) on delete cascade,
    import_id     uuid not null,
    object_type   text not null check (object_type in ('lead', 'contact', 'company', 'deal')),
    status        text not null default 'uploaded'
                  check (status in ('uploaded', 'dry_running', 'dry_run_done', 'running', 'done', 'failed', 'reverted')),
    file_name     text not null check (length(file_name) between 1 and 255),
    -- Size of the stored (UTF-8) file, and what was detected on upload.
    size_bytes    bigint not null check (size_bytes >= 0),
    encoding      text not null check (encoding in ('utf-8', 'utf-8-bom', 'windows-1252')),
    delimiter     text not null check (delimiter in (',', ';', 'tab')),
    headers       jsonb not null default '[]' check (jsonb_typeof(headers) = 'array'),
    -- Column index (as a string) → field key or `custom.<key>`; unmapped columns are absent.
    mapping       jsonb not null default '{}' check (jsonb_typeof(mapping) = 'object'),
    -- Dry-run findings: counts and the first per-row errors.
    dry_run       jsonb,
    -- Byte offset of the first data row (after the header line) in the stored file.
    data_offset   bigint not null default 0,
    -- Checkpoint: where the next batch starts in the stored file, and how many batches are done.
    -- A batch's records, rejects, counters and this checkpoint commit in one transaction.
    next_offset   bigint not null default 0,
    next_row      bigint not null default 0,
    batches_done  integer not null default 0,
    batch_rows    integer not null default 5000 check (batch_rows between 1 and 50000),
    rows_done     bigint not null default 0,
    created_count bigint not null default 0,
    updated_count bigint not null default 0,
    duplicate_count bigint not null default 0,
    error_count   bigint not null default 0,
    last_error    text,
    created_by    uuid,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    finished_at   timestamptz,
    reverted_at   timestamptz,
    primary key (org_id, import_id),
    foreign key (org_id, created_by) references users (org_id, user_id) on delete set null (created_by)
);
create index imports_created on imports (org_id, created_at desc);
call app.make_tenant_table('imports');

-- Rows the import refused (invalid) or skipped (a duplicate earlier in the file), with the reason
-- and the original cells, for the downloadable rejects CSV.
create table import_rejects (
    org_id      uuid not null,
    import_id   uuid not null,
    row_number  bigint not null,
    kind        text not null check (kind in ('error', 'duplicate')),
    reason      text not null check (length(reason) <= 2000),
    cells       jsonb not null check (jsonb_typeof(cells) = 'array'),
    primary key (org_id, import_id, row_number),
    foreign key (org_id, import_id) references imports (org_id, import_id) on delete cascade
);
call app.make_tenant_table('import_rejects');

-- Keys (normalized email or domain) of existing records an import updated, so that a second row
-- with the same key later in the file is reported as a duplicate instead of updating twice.
-- Records the import created are recognized by their `import_id`.
create table import_touched (
    org_id      uuid not null,
    import_id   uuid not null,
    key         text not null,
    primary key (org_id, import_id, key),
    foreign key (org_id, import_id) references imports (org_id, import_id) on delete cascade
);
call app.make_tenant_table('import_touched');
