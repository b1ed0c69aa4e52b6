-- Sessions and activity (issue #3 item 7; P1-04): the API request log, and the indexes the
-- activity and sessions pages read through.
--
-- One row per request to the JSON API that carried a credential: when, the method, the route
-- TEMPLATE (`/api/v1/api-keys/{id}`, never the concrete path), the status, who (member and kind of
-- credential, the API key if one was used) and from which address. Never bodies, query strings,
-- headers or secrets. Rows are written by the request path after the response, in the caller's
-- tenant transaction; the app role may only add and read them (retention purges run in platform
-- scope).
create table api_request_log (
    org_id      uuid not null,
    request_id  uuid not null,
    at          timestamptz not null,
    method      text not null check (method ~ '^[A-Z]{1,10}$'),
    route       text not null check (length(route) between 1 and 300),
    status      smallint not null check (status between 100 and 599),
    user_id     uuid not null,
    credential  text not null check (credential in ('session', 'access_token', 'api_key')),
    api_key_id  uuid,
    ip          inet,
    primary key (org_id, request_id),
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade,
    foreign key (org_id, api_key_id) references api_keys (org_id, key_id) on delete cascade,
    constraint api_request_key_only_for_keys check ((credential = 'api_key') = (api_key_id is not null))
);
-- Keyset pagination, newest first.
create index api_request_log_time on api_request_log (org_id, at desc, request_id desc);
create index api_request_log_user on api_request_log (org_id, user_id);
create index api_request_log_key on api_request_log (org_id, api_key_id) where api_key_id is not null;
call app.make_tenant_table('api_request_log', 'select, insert');

-- The activity page pages through login events newest first by (occurred_at, event_id).
create index login_events_keyset on login_events (org_id, occurred_at desc, event_id desc);
