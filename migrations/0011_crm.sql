-- CRM core (issue #4): companies, contacts, leads, pipelines and deals, the work done on them
-- (notes, tasks, activities, files), their field-level history, custom fields, and per-object
-- visibility enforced by row-level security.
--
-- Conventions of this file:
-- * Text fields a person fills in are NOT NULL DEFAULT '' rather than nullable: one "empty" value
--   keeps sorting, keyset pagination and filters simple and their indexes usable.
-- * A record belongs to an owner (a member) and may be shared with a department. Removing a member
--   or a department clears the reference (`set null (col)`), never the record.
-- * Work items and history point at exactly one record through one nullable foreign key per
--   record table, so the database enforces the link and cascades an erasure.
-- * `search_text` is a generated, accent-folded, lower-cased text of the searchable fields, indexed
--   with trigrams: substring, prefix and typo-tolerant search ("Francois" finds "François").
-- * `custom` holds custom-field values as typed JSON (numbers as numbers, dates as ISO strings), so
--   jsonb ordering sorts them correctly and a GIN index serves equality filters.

create extension if not exists pg_trgm with schema public;
create extension if not exists unaccent with schema public;

-- unaccent() is only STABLE (its dictionary could change); pinning the dictionary makes this
-- wrapper safe to declare IMMUTABLE, which generated columns and indexes require.
create function app.fold(text) returns text
language sql immutable parallel safe strict
as $$ select lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$;
grant execute on function app.fold(text) to relais_app, relais_platform;

-- ---------------------------------------------------------------- visibility (issue #4 item 6)
-- Per object type: `all` (everyone in the org sees every record) or `own` (members with the User
-- role see records they own or that are shared with one of their departments; owners and
-- managers always see all). The effective role of the request is set by `Db::begin_member` as
-- `app.role`; a member transaction without it counts as the most restricted role (fail closed).
create table crm_visibility (
    org_id       uuid not null references organizations (org_id) on delete cascade,
    object_type  text not null check (object_type in ('lead', 'contact', 'company', 'deal')),
    mode         text not null check (mode in ('all', 'own')),
    updated_at   timestamptz not null,
    primary key (org_id, object_type)
);
call app.make_tenant_table('crm_visibility');

create function app.current_role() returns text
language sql stable parallel safe
as $$ select nullif(current_setting('app.role', true), '') $$;

-- True when the current transaction sees every record of `kind`: the system or an anonymous form
-- (no member acting), an owner or manager, or an org whose setting for `kind` is `all` (the default).
create function app.crm_sees_all(kind text) returns boolean
language sql stable parallel safe
as $$
  select app.current_actor() is null
      or coalesce(app.current_role(), 'user') in ('owner', 'manager')
      or coalesce((select v.mode from public.crm_visibility v
                    where v.org_id = app.current_org() and v.object_type = kind), 'all') = 'all'
$$;

create function app.actor_departments() returns uuid[]
language sql stable parallel safe
as $$
  select coalesce(array_agg(dm.department_id), '{}') from public.department_members dm
   where dm.org_id = app.current_org() and dm.user_id = app.current_actor()
$$;
grant execute on function app.current_role(), app.crm_sees_all(text), app.actor_departments()
  to relais_app, relais_platform;

-- Adds the restrictive visibility policy to a record table. The sub-selects make PostgreSQL
-- evaluate the settings once per statement (an InitPlan), not once per row.
create procedure app.make_visibility_policy(tbl regclass, kind text)
language plpgsql
as $$
begin
  execute format(
    'create policy crm_visibility on %s as restrictive to relais_app
       using ((select app.crm_sees_all(%L)) or owner_id = (select app.current_actor())
              or department_id = any ((select app.actor_departments())::uuid[]))
       with check ((select app.crm_sees_all(%L)) or owner_id = (select app.current_actor())
              or department_id = any ((select app.actor_departments())::uuid[]))', tbl, kind, kind);
end $$;

-- ---------------------------------------------------------------- custom fields (item 3)
create table custom_fields (
    org_id       uuid not null references organizations (org_id) on delete cascade,
    field_id     uuid not null,
    object_type  text not null check (object_type in ('lead', 'contact', 'company', 'deal')),
    key          text not null check (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    label        text not null check (length(label) between 1 and 100),
    kind         text not null check (kind in ('text', 'long_text', 'number', 'currency', 'date', 'boolean',
                                               'select', 'multi_select', 'url', 'email', 'phone')),
    -- For select and multi-select: the allowed values, an array of strings.
    options      jsonb not null default '[]' check (jsonb_typeof(options) = 'array'),
    required     boolean not null default false,
    position     integer not null default 0,
    created_at   timestamptz not null,
    primary key (org_id, field_id),
    unique (org_id, object_type, key)
);
call app.make_tenant_table('custom_fields');

-- ---------------------------------------------------------------- companies
create table companies (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    company_id     uuid not null,
    name           text not null check (length(name) between 1 and 200),
    domain         text not null default '' check (domain = lower(domain) and length(domain) <= 253),
    phone          text not null default '' check (phone = '' or phone ~ '^\+[1-9][0-9]{6,14}$'),
    address        text not null default '' check (length(address) <= 300),
    postal_code    text not null default '' check (length(postal_code) <= 20),
    city           text not null default '' check (length(city) <= 100),
    country        text not null default '' check (country = '' or country ~ '^[A-Z]{2}$'),
    size           text not null default '' check (size in ('', '1-10', '11-50', '51-200', '201-1000', '1001-5000', '5001+')),
    industry       text not null default '' check (length(industry) <= 100),
    owner_id       uuid,
    department_id  uuid,
    custom         jsonb not null default '{}' check (jsonb_typeof(custom) = 'object'),
    import_id      uuid,
    created_by     uuid,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    search_text    text generated always as (app.fold(name || ' ' || domain || ' ' || city)) stored,
    primary key (org_id, company_id),
    foreign key (org_id, owner_id) references users (org_id, user_id) on delete set null (owner_id),
    foreign key (org_id, department_id) references departments (org_id, department_id) on delete set null (department_id)
);
create index companies_name on companies (org_id, lower(name), company_id);
create index companies_updated on companies (org_id, updated_at, company_id);
create index companies_domain on companies (org_id, domain) where domain <> '';
create index companies_owner on companies (org_id, owner_id);
create index companies_import on companies (org_id, import_id) where import_id is not null;
create index companies_search on companies using gin (search_text gin_trgm_ops);
create index companies_custom on companies using gin (custom jsonb_path_ops);
call app.make_tenant_table('companies');
call app.make_visibility_policy('companies', 'company');

-- ---------------------------------------------------------------- contacts
create table contacts (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    contact_id     uuid not null,
    first_name     text not null default '' check (length(first_name) <= 100),
    last_name      text not null default '' check (length(last_name) <= 100),
    -- Normalized (trimmed, lower-cased); unique per organization when present.
    email          text not null default '' check (email = lower(email) and length(email) <= 254),
    phone          text not null default '' check (phone = '' or phone ~ '^\+[1-9][0-9]{6,14}$'),
    mobile         text not null default '' check (mobile = '' or mobile ~ '^\+[1-9][0-9]{6,14}$'),
    title          text not null default '' check (length(title) <= 100),
    language       text not null default '' check (language = '' or language ~ '^[a-z]{2}$'),
    time_zone      text not null default '' check (length(time_zone) <= 64),
    owner_id       uuid,
    department_id  uuid,
    custom         jsonb not null default '{}' check (jsonb_typeof(custom) = 'object'),
    import_id      uuid,
    created_by     uuid,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    search_text    text generated always as (app.fold(first_name || ' ' || last_name || ' ' || email || ' ' || title)) stored,
    primary key (org_id, contact_id),
    check (first_name <> '' or last_name <> '' or email <> ''),
    foreign key (org_id, owner_id) references users (org_id, user_id) on delete set null (owner_id),
    foreign key (org_id, department_id) references departments (org_id, department_id) on delete set null (department_id)
);
create unique index contacts_email on contacts (org_id, email) where email <> '';
create index contacts_phone on contacts (org_id, phone) where phone <> '';
create index contacts_name on contacts (org_id, lower(last_name), contact_id);
create index contacts_updated on contacts (org_id, updated_at, contact_id);
create index contacts_owner on contacts (org_id, owner_id);
create index contacts_import on contacts (org_id, import_id) where import_id is not null;
create index contacts_search on contacts using gin (search_text gin_trgm_ops);
create index contacts_custom on contacts using gin (custom jsonb_path_ops);
call app.make_tenant_table('contacts');
call app.make_visibility_policy('contacts', 'contact');

-- A contact may work for several companies, with a role at each.
create table contact_companies (
    org_id      uuid not null,
    contact_id  uuid not null,
    company_id  uuid not null,
    role        text not null default '' check (length(role) <= 100),
    is_primary  boolean not null default false,
    created_at  timestamptz not null,
    primary key (org_id, contact_id, company_id),
    foreign key (org_id, contact_id) references contacts (org_id, contact_id) on delete cascade,
    foreign key (org_id, company_id) references companies (org_id, company_id) on delete cascade
);
create index contact_companies_company on contact_companies (org_id, company_id);
call app.make_tenant_table('contact_companies');

-- ---------------------------------------------------------------- pipelines and stages
create table pipelines (
    org_id       uuid not null references organizations (org_id) on delete cascade,
    pipeline_id  uuid not null,
    name         text not null check (length(name) between 1 and 100),
    position     integer not null default 0,
    created_at   timestamptz not null,
    primary key (org_id, pipeline_id)
);
create unique index pipelines_name on pipelines (org_id, lower(name));
call app.make_tenant_table('pipelines');

create table pipeline_stages (
    org_id       uuid not null,
    pipeline_id  uuid not null,
    stage_id     uuid not null,
    name         text not null check (length(name) between 1 and 100),
    position     integer not null,
    -- Default win probability of a deal in this stage, in percent.
    probability  smallint not null default 0 check (probability between 0 and 100),
    outcome      text not null default 'open' check (outcome in ('open', 'won', 'lost')),
    primary key (org_id, stage_id),
    unique (org_id, pipeline_id, stage_id),
    foreign key (org_id, pipeline_id) references pipelines (org_id, pipeline_id) on delete cascade
);
create index pipeline_stages_order on pipeline_stages (org_id, pipeline_id, position);
call app.make_tenant_table('pipeline_stages');

-- ---------------------------------------------------------------- leads
create table leads (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    lead_id        uuid not null,
    first_name     text not null default '' check (length(first_name) <= 100),
    last_name      text not null default '' check (length(last_name) <= 100),
    email          text not null default '' check (email = lower(email) and length(email) <= 254),
    phone          text not null default '' check (phone = '' or phone ~ '^\+[1-9][0-9]{6,14}$'),
    company_name   text not null default '' check (length(company_name) <= 200),
    title          text not null default '' check (length(title) <= 100),
    status         text not null default 'new' check (status in ('new', 'contacted', 'qualified', 'unqualified', 'converted')),
    source         text not null default '' check (length(source) <= 100),
    utm_source     text not null default '' check (length(utm_source) <= 200),
    utm_medium     text not null default '' check (length(utm_medium) <= 200),
    utm_campaign   text not null default '' check (length(utm_campaign) <= 200),
    utm_term       text not null default '' check (length(utm_term) <= 200),
    utm_content    text not null default '' check (length(utm_content) <= 200),
    referrer       text not null default '' check (length(referrer) <= 2000),
    landing_url    text not null default '' check (length(landing_url) <= 2000),
    -- The consent wording shown to the person and when they agreed (landing-page forms, P1-11).
    consent_text   text not null default '' check (length(consent_text) <= 2000),
    consent_at     timestamptz,
    owner_id       uuid,
    department_id  uuid,
    custom         jsonb not null default '{}' check (jsonb_typeof(custom) = 'object'),
    converted_at   timestamptz,
    converted_contact_id uuid,
    converted_company_id uuid,
    converted_deal_id    uuid,
    import_id      uuid,
    created_by     uuid,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    search_text    text generated always as (app.fold(first_name || ' ' || last_name || ' ' || email || ' ' || company_name)) stored,
    primary key (org_id, lead_id),
    check (first_name <> '' or last_name <> '' or email <> '' or company_name <> ''),
    foreign key (org_id, owner_id) references users (org_id, user_id) on delete set null (owner_id),
    foreign key (org_id, department_id) references departments (org_id, department_id) on delete set null (department_id),
    foreign key (org_id, converted_contact_id) references contacts (org_id, contact_id) on delete set null (converted_contact_id),
    foreign key (org_id, converted_company_id) references companies (org_id, company_id) on delete set null (converted_company_id)
);
create index leads_email on leads (org_id, email) where email <> '';
create index leads_updated on leads (org_id, updated_at, lead_id);
create index leads_name on leads (org_id, lower(last_name), lead_id);
create index leads_status on leads (org_id, status);
create index leads_owner on leads (org_id, owner_id);
create index leads_import on leads (org_id, import_id) where import_id is not null;
create index leads_search on leads using gin (search_text gin_trgm_ops);
create index leads_custom on leads using gin (custom jsonb_path_ops);
call app.make_tenant_table('leads');
call app.make_visibility_policy('leads', 'lead');

-- ---------------------------------------------------------------- deals
create table deals (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    deal_id        uuid not null,
    name           text not null check (length(name) between 1 and 200),
    pipeline_id    uuid not null,
    stage_id       uuid not null,
    amount         numeric(18, 2),
    currency       text not null default 'EUR' check (currency ~ '^[A-Z]{3}$'),
    expected_close_date date,
    -- Overrides the stage's default probability when set.
    probability    smallint check (probability between 0 and 100),
    company_id     uuid,
    owner_id       uuid,
    department_id  uuid,
    custom         jsonb not null default '{}' check (jsonb_typeof(custom) = 'object'),
    stage_changed_at timestamptz not null,
    closed_at      timestamptz,
    import_id      uuid,
    created_by     uuid,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    search_text    text generated always as (app.fold(name)) stored,
    primary key (org_id, deal_id),
    foreign key (org_id, pipeline_id, stage_id) references pipeline_stages (org_id, pipeline_id, stage_id),
    foreign key (org_id, company_id) references companies (org_id, company_id) on delete set null (company_id),
    foreign key (org_id, owner_id) references users (org_id, user_id) on delete set null (owner_id),
    foreign key (org_id, department_id) references departments (org_id, department_id) on delete set null (department_id)
);
create index deals_stage on deals (org_id, pipeline_id, stage_id, updated_at);
create index deals_updated on deals (org_id, updated_at, deal_id);
create index deals_name on deals (org_id, lower(name), deal_id);
create index deals_company on deals (org_id, company_id);
create index deals_owner on deals (org_id, owner_id);
create index deals_import on deals (org_id, import_id) where import_id is not null;
create index deals_search on deals using gin (search_text gin_trgm_ops);
create index deals_custom on deals using gin (custom jsonb_path_ops);
call app.make_tenant_table('deals');
call app.make_visibility_policy('deals', 'deal');

alter table leads add foreign key (org_id, converted_deal_id) references deals (org_id, deal_id)
  on delete set null (converted_deal_id);

create table deal_contacts (
    org_id      uuid not null,
    deal_id     uuid not null,
    contact_id  uuid not null,
    role        text not null default '' check (length(role) <= 100),
    created_at  timestamptz not null,
    primary key (org_id, deal_id, contact_id),
    foreign key (org_id, deal_id) references deals (org_id, deal_id) on delete cascade,
    foreign key (org_id, contact_id) references contacts (org_id, contact_id) on delete cascade
);
create index deal_contacts_contact on deal_contacts (org_id, contact_id);
call app.make_tenant_table('deal_contacts');

-- ---------------------------------------------------------------- field-level history (item 2)
-- One row per changed field (or one `created` / `merged` / `converted` row), linked to exactly one
-- record so that erasing the record erases its history.
create table record_changes (
    org_id      uuid not null,
    change_id   uuid not null,
    lead_id     uuid,
    contact_id  uuid,
    company_id  uuid,
    deal_id     uuid,
    action      text not null check (action in ('created', 'updated', 'merged', 'converted', 'imported')),
    field       text not null default '' check (length(field) <= 64),
    old_value   jsonb,
    new_value   jsonb,
    changed_by  uuid,
    source      text not null check (source in ('ui', 'api', 'import', 'form', 'merge', 'system')),
    import_id   uuid,
    changed_at  timestamptz not null,
    primary key (org_id, change_id),
    check (num_nonnulls(lead_id, contact_id, company_id, deal_id) = 1),
    foreign key (org_id, lead_id) references leads (org_id, lead_id) on delete cascade,
    foreign key (org_id, contact_id) references contacts (org_id, contact_id) on delete cascade,
    foreign key (org_id, company_id) references companies (org_id, company_id) on delete cascade,
    foreign key (org_id, deal_id) references deals (org_id, deal_id) on delete cascade,
    foreign key (org_id, changed_by) references users (org_id, user_id) on delete set null (changed_by)
);
create index record_changes_lead on record_changes (org_id, lead_id, changed_at) where lead_id is not null;
create index record_changes_contact on record_changes (org_id, contact_id, changed_at) where contact_id is not null;
create index record_changes_company on record_changes (org_id, company_id, changed_at) where company_id is not null;
create index record_changes_deal on record_changes (org_id, deal_id, changed_at) where deal_id is not null;
create index record_changes_import on record_changes (org_id, import_id) where import_id is not null;
call app.make_tenant_table('record_changes');

-- ---------------------------------------------------------------- notes, tasks, activities
create table notes (
    org_id      uuid not null,
    note_id     uuid not null,
    lead_id     uuid,
    contact_id  uuid,
    company_id  uuid,
    deal_id     uuid,
    -- Markdown as written; rendered and sanitized on display, never stored as HTML.
    body        text not null check (length(body) between 1 and 100000),
    author_id   uuid,
    created_at  timestamptz not null,
    updated_at  timestamptz not null,
    primary key (org_id, note_id),
    check (num_nonnulls(lead_id, contact_id, company_id, deal_id) = 1),
    foreign key (org_id, lead_id) references leads (org_id, lead_id) on delete cascade,
    foreign key (org_id, contact_id) references contacts (org_id, contact_id) on delete cascade,
    foreign key (org_id, company_id) references companies (org_id, company_id) on delete cascade,
    foreign key (org_id, deal_id) references deals (org_id, deal_id) on delete cascade,
    foreign key (org_id, author_id) references users (org_id, user_id) on delete set null (author_id)
);
create index notes_lead on notes (org_id, lead_id) where lead_id is not null;
create index notes_contact on notes (org_id, contact_id) where contact_id is not null;
create index notes_company on notes (org_id, company_id) where company_id is not null;
create index notes_deal on notes (org_id, deal_id) where deal_id is not null;
call app.make_tenant_table('notes');

create table tasks (
    org_id       uuid not null,
    task_id      uuid not null,
    lead_id      uuid,
    contact_id   uuid,
    company_id   uuid,
    deal_id      uuid,
    title        text not null check (length(title) between 1 and 200),
    description  text not null default '' check (length(description) <= 10000),
    assignee_id  uuid,
    due_at       timestamptz,
    remind_at    timestamptz,
    reminded_at  timestamptz,
    status       text not null default 'open' check (status in ('open', 'done', 'cancelled')),
    completed_at timestamptz,
    created_by   uuid,
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    primary key (org_id, task_id),
    check (num_nonnulls(lead_id, contact_id, company_id, deal_id) <= 1),
    foreign key (org_id, lead_id) references leads (org_id, lead_id) on delete cascade,
    foreign key (org_id, contact_id) references contacts (org_id, contact_id) on delete cascade,
    foreign key (org_id, company_id) references companies (org_id, company_id) on delete cascade,
    foreign key (org_id, deal_id) references deals (org_id, deal_id) on delete cascade,
    foreign key (org_id, assignee_id) references users (org_id, user_id) on delete set null (assignee_id),
    foreign key (org_id, created_by) references users (org_id, user_id) on delete set null (created_by)
);
create index tasks_assignee on tasks (org_id, assignee_id, status, due_at);
create index tasks_reminders on tasks (remind_at) where reminded_at is null and status = 'open';
create index tasks_lead on tasks (org_id, lead_id) where lead_id is not null;
create index tasks_contact on tasks (org_id, contact_id) where contact_id is not null;
create index tasks_company on tasks (org_id, company_id) where company_id is not null;
create index tasks_deal on tasks (org_id, deal_id) where deal_id is not null;
call app.make_tenant_table('tasks');

create table activities (
    org_id       uuid not null,
    activity_id  uuid not null,
    lead_id      uuid,
    contact_id   uuid,
    company_id   uuid,
    deal_id      uuid,
    kind         text not null check (kind in ('call', 'meeting', 'email')),
    subject      text not null default '' check (length(subject) <= 200),
    body         text not null default '' check (length(body) <= 20000),
    outcome      text not null default '' check (length(outcome) <= 100),
    occurred_at  timestamptz not null,
    duration_minutes integer check (duration_minutes between 0 and 1440),
    author_id    uuid,
    created_at   timestamptz not null,
    primary key (org_id, activity_id),
    check (num_nonnulls(lead_id, contact_id, company_id, deal_id) = 1),
    foreign key (org_id, lead_id) references leads (org_id, lead_id) on delete cascade,
    foreign key (org_id, contact_id) references contacts (org_id, contact_id) on delete cascade,
    foreign key (org_id, company_id) references companies (org_id, company_id) on delete cascade,
    foreign key (org_id, deal_id) references deals (org_id, deal_id) on delete cascade,
    foreign key (org_id, author_id) references users (org_id, user_id) on delete set null (author_id)
);
create index activities_lead on activities (org_id, lead_id) where lead_id is not null;
create index activities_contact on activities (org_id, contact_id) where contact_id is not null;
create index activities_company on activities (org_id, company_id) where company_id is not null;
create index activities_deal on activities (org_id, deal_id) where deal_id is not null;
call app.make_tenant_table('activities');

-- ---------------------------------------------------------------- idempotency keys (item 11)
-- A creating POST that carries `Idempotency-Key` stores its answer here in the same transaction as
-- the record, so a retry (network failure, double click) gets the same answer instead of a second
-- record. The key row is inserted first: a concurrent retry waits on the unique index until the
-- first commits, then replays. Kept 24 hours.
create table idempotency_keys (
    org_id        uuid not null references organizations (org_id) on delete cascade,
    user_id       uuid not null,
    key           text not null check (length(key) between 1 and 200),
    route         text not null,
    request_hash  bytea not null check (length(request_hash) = 32),
    status        smallint,
    response      jsonb,
    created_at    timestamptz not null,
    primary key (org_id, user_id, key),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade
);
create index idempotency_keys_created on idempotency_keys (created_at);
call app.make_tenant_table('idempotency_keys');

-- ---------------------------------------------------------------- saved views (item 4)
-- A list's filters, sort, search and chosen columns under a name: personal (only its owner sees
-- it) or shared with the organization.
create table saved_views (
    org_id       uuid not null references organizations (org_id) on delete cascade,
    view_id      uuid not null,
    object_type  text not null check (object_type in ('lead', 'contact', 'company', 'deal')),
    name         text not null check (length(name) between 1 and 100),
    owner_id     uuid not null,
    shared       boolean not null default false,
    filters      jsonb not null default '[]' check (jsonb_typeof(filters) = 'array'),
    sort         text not null default '' check (length(sort) <= 80),
    q            text not null default '' check (length(q) <= 200),
    columns      jsonb not null default '[]' check (jsonb_typeof(columns) = 'array'),
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    primary key (org_id, view_id),
    foreign key (org_id, owner_id) references users (org_id, user_id) on delete cascade
);
create index saved_views_object on saved_views (org_id, object_type, name);
call app.make_tenant_table('saved_views');
