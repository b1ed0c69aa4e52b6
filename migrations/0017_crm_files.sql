-- File attachments on CRM records (issue #4): a PDF, an image, an office document, a CSV... on a
-- lead, contact, company or deal.
--
-- The bytes are kept in an object store (today the local file system under the data directory,
-- `files/<org_id>/<file_id>`), never in the database: files would bloat the WAL and every backup.
-- The row keeps what the application needs to serve the file safely: the name as given (cleaned),
-- the content type sniffed from the bytes (never the one the client claimed), the size and the
-- SHA-256 of the stored bytes.
--
-- Like notes and tasks, a file points at exactly one record through one nullable foreign key per
-- record table, so the database enforces the link, the file follows the record's visibility (the
-- record is read first, under its own visibility policy), and erasing the record erases the row.
-- The blob of a row removed by such a cascade is removed by the application when it deletes the
-- record itself (crm::files::remove_blobs); see docs/crm.md for the paths that leave one behind.

create table files (
    org_id        uuid not null,
    file_id       uuid not null,
    lead_id       uuid,
    contact_id    uuid,
    company_id    uuid,
    deal_id       uuid,
    name          text not null check (length(name) between 1 and 255),
    content_type  text not null check (length(content_type) between 1 and 255),
    size_bytes    bigint not null check (size_bytes between 0 and 26214400),
    sha256        bytea not null check (length(sha256) = 32),
    storage_key   text not null check (length(storage_key) between 1 and 200),
    uploaded_by   uuid,
    created_at    timestamptz not null,
    primary key (org_id, file_id),
    check (num_nonnulls(lead_id, contact_id, company_id, deal_id) = 1),
    foreign key (org_id, lead_id) references leads (org_id, lead_id) on delete cascade,
    foreign key (org_id, contact_id) references contacts (org_id, contact_id) on delete cascade,
    foreign key (org_id, company_id) references companies (org_id, company_id) on delete cascade,
    foreign key (org_id, deal_id) references deals (org_id, deal_id) on delete cascade,
    foreign key (org_id, uploaded_by) references users (org_id, user_id) on delete set null (uploaded_by)
);
create index files_lead on files (org_id, lead_id, created_at) where lead_id is not null;
create index files_contact on files (org_id, contact_id, created_at) where contact_id is not null;
create index files_company on files (org_id, company_id, created_at) where company_id is not null;
create index files_deal on files (org_id, deal_id, created_at) where deal_id is not null;
call app.make_tenant_table('files');
