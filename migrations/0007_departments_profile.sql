-- Departments, department admins, and email changes confirmed by mail (issue #3: P0-12, P2-07).
--
-- A department groups members of one organization; a member may belong to several. A manager who
-- is an `admin` of at least one department is a department admin: where the permission matrix
-- grants managers `department` scope, they reach only the members of the departments they
-- administer. A manager who administers none is an organization admin.

-- ---------------------------------------------------------------- departments
create table departments (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    department_id  uuid not null,
    name           text not null check (length(name) between 1 and 100),
    created_at     timestamptz not null,
    primary key (org_id, department_id)
);
-- Names are unique per organization, whatever their case.
create unique index departments_name_key on departments (org_id, lower(name));
call app.make_tenant_table('departments');

create table department_members (
    org_id         uuid not null,
    department_id  uuid not null,
    user_id        uuid not null,
    role           text not null default 'member' check (role in ('member', 'admin')),
    added_at       timestamptz not null,
    primary key (org_id, department_id, user_id),
    foreign key (org_id, department_id) references departments (org_id, department_id) on delete cascade,
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade
);
create index department_members_user on department_members (org_id, user_id);
call app.make_tenant_table('department_members');

-- ---------------------------------------------------------------- email changes
-- A new address is used only once its owner follows the link mailed to it: a 256-bit token whose
-- SHA-256 alone is stored, good once for 24 hours. The link is followed by the signed-in member,
-- so the org is known from the session and no door before the org is needed.
create table email_changes (
    org_id      uuid not null,
    change_id   uuid not null,
    user_id     uuid not null,
    new_email   text not null check (new_email = lower(new_email) and length(new_email) <= 254),
    token_hash  bytea not null check (length(token_hash) = 32),
    created_at  timestamptz not null,
    expires_at  timestamptz not null,
    used_at     timestamptz,
    revoked_at  timestamptz,
    primary key (org_id, change_id),
    unique (org_id, token_hash),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade,
    constraint email_change_expires_after_creation check (expires_at > created_at)
);
create index email_changes_user on email_changes (org_id, user_id);
call app.make_tenant_table('email_changes');
