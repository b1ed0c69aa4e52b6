-- Landing-page forms (issue #4 item 9, P1-11) and outgoing webhooks (item 10).

-- ---------------------------------------------------------------- landing-page forms
-- A form an owner or manager publishes at `/f/{public_id}`. Submissions create or update a lead
-- with the UTM parameters, referrer, landing URL and the consent wording shown to the person.
create table lead_forms (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    form_id        uuid not null,
    -- 256 random bits, so unique across orgs in practice: the public URL names no org.
    public_id      text not null check (public_id ~ '^[A-Za-z0-9_-]{22,64}$'),
    name           text not null check (length(name) between 1 and 100),
    title          text not null default '' check (length(title) <= 200),
    intro          text not null default '' check (length(intro) <= 2000),
    -- Lead fields shown, in order; `required_fields` is a subset.
    fields         text[] not null check (cardinality(fields) between 1 and 10
                                          and fields <@ array['first_name', 'last_name', 'email', 'phone',
                                                             'company_name', 'title']::text[]),
    required_fields text[] not null default '{}' check (required_fields <@ fields),
    consent_text   text not null default '' check (length(consent_text) <= 2000),
    thank_you      text not null check (length(thank_you) between 1 and 2000),
    language       text not null default 'en' check (language in ('en', 'fr')),
    lead_source    text not null default '' check (length(lead_source) <= 100),
    -- New leads go to this member (else unowned); deleting the member keeps the form.
    owner_id       uuid,
    active         boolean not null default true,
    submissions    bigint not null default 0,
    created_by     uuid,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    primary key (org_id, form_id),
    unique (org_id, public_id),
    foreign key (org_id, owner_id) references users (org_id, user_id) on delete set null (owner_id)
);
create index lead_forms_public on lead_forms (public_id);
call app.make_tenant_table('lead_forms');

-- The public form page and its POST know only the public id: this door resolves it to the org
-- (and only for an active form of an active org), like the other emailed-link doors.
create function app.resolve_lead_form(p_public_id text)
returns table (org_id uuid, form_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select f.org_id, f.form_id
  from public.lead_forms f join public.organizations o on o.org_id = f.org_id
  where f.public_id = p_public_id and f.active and o.status = 'active'
$$;
revoke all on function app.resolve_lead_form(text) from public;
grant execute on function app.resolve_lead_form(text) to relais_app;

-- ---------------------------------------------------------------- outgoing webhooks
create table webhook_endpoints (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    endpoint_id    uuid not null,
    url            text not null check (length(url) between 8 and 2000),
    description    text not null default '' check (length(description) <= 200),
    -- Event names such as `contact.created`, `deal.stage_changed`; `*` for all.
    events         text[] not null check (cardinality(events) between 1 and 32),
    -- The signing secret, sealed by the vault (never in clear); shown once at creation.
    secret_sealed  bytea not null,
    secret_hint    text not null check (length(secret_hint) <= 16),
    active         boolean not null default true,
    created_by     uuid,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    primary key (org_id, endpoint_id)
);
create index webhook_endpoints_active on webhook_endpoints (org_id) where active;
call app.make_tenant_table('webhook_endpoints');

-- One event for one endpoint: the payload as signed, and where its delivery stands. Each attempt
-- is a row of `webhook_attempts`, so the log shows every try, not only the last.
create table webhook_deliveries (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    delivery_id    uuid not null,
    endpoint_id    uuid not null,
    event_id       uuid not null,
    event_type     text not null check (length(event_type) <= 64),
    payload        jsonb not null,
    status         text not null default 'pending' check (status in ('pending', 'delivered', 'failed', 'skipped')),
    attempts       integer not null default 0,
    next_attempt_at timestamptz,
    delivered_at   timestamptz,
    created_at     timestamptz not null,
    primary key (org_id, delivery_id),
    foreign key (org_id, endpoint_id) references webhook_endpoints (org_id, endpoint_id) on delete cascade
);
create index webhook_deliveries_endpoint on webhook_deliveries (org_id, endpoint_id, created_at desc, delivery_id);
create index webhook_deliveries_created on webhook_deliveries (org_id, created_at);
call app.make_tenant_table('webhook_deliveries');

create table webhook_attempts (
    org_id         uuid not null references organizations (org_id) on delete cascade,
    attempt_id     uuid not null,
    delivery_id    uuid not null,
    attempt        integer not null,
    -- The HTTP status the receiver answered, or null when none came (refused, timeout).
    status_code    integer,
    -- A short, fixed description of what went wrong; never the receiver's response body.
    error          text not null default '' check (length(error) <= 300),
    duration_ms    integer not null,
    attempted_at   timestamptz not null,
    primary key (org_id, attempt_id),
    foreign key (org_id, delivery_id) references webhook_deliveries (org_id, delivery_id) on delete cascade
);
create index webhook_attempts_delivery on webhook_attempts (org_id, delivery_id, attempt);
call app.make_tenant_table('webhook_attempts');
