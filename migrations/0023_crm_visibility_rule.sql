-- Record visibility, defined once (issue #10 item 25), and a checked page cursor (item 15).
--
-- Until now the visibility rule was written three times: in the `crm_visibility` policies
-- (migration 0011) and in each search door (`app.crm_search`, 0015; `app.crm_search_words`, 0019),
-- which run as the schema owner and so must apply it themselves. A door that lost its copy leaked
-- records with every other check green. The rule is now two functions, and the policies and the
-- doors call them:
--
-- * `app.crm_scope(kind)`: what the current member sees of `kind`, computed once per statement
--   (callers write `(select app.crm_scope(kind))`, an InitPlan): the ids of the member and of
--   their departments, or the all-zero uuid alone when they see every record (no member acting,
--   an owner or a manager, or the organization's setting for `kind` is `all`).
-- * `app.crm_can_see(scope, owner, department)`: whether a record owned by `owner` and shared
--   with `department` is in that scope — an array overlap, so that PostgreSQL inlines the function
--   (its parameter is used once) and evaluates it per row as cheaply as the former expression.

create function app.crm_scope(kind text) returns uuid[]
language sql stable parallel safe
as $$
  select case when app.crm_sees_all(kind) then array['00000000-0000-0000-0000-000000000000'::uuid]
              else array[app.current_actor()] || app.actor_departments() end
$$;

create function app.crm_can_see(scope uuid[], owner uuid, department uuid) returns boolean
language sql immutable parallel safe
as $$ select scope operator(pg_catalog.&&) array[owner, department, '00000000-0000-0000-0000-000000000000'::uuid] $$;

grant execute on function app.crm_scope(text), app.crm_can_see(uuid[], uuid, uuid) to relais_app, relais_platform;

create or replace procedure app.make_visibility_policy(tbl regclass, kind text)
language plpgsql
as $$
begin
  execute format(
    'create policy crm_visibility on %s as restrictive to relais_app
       using (app.crm_can_see((select app.crm_scope(%L)), owner_id, department_id))
       with check (app.crm_can_see((select app.crm_scope(%L)), owner_id, department_id))', tbl, kind, kind);
end $$;

drop policy crm_visibility on companies;
call app.make_visibility_policy('companies', 'company');
drop policy crm_visibility on contacts;
call app.make_visibility_policy('contacts', 'contact');
drop policy crm_visibility on leads;
call app.make_visibility_policy('leads', 'lead');
drop policy crm_visibility on deals;
call app.make_visibility_policy('deals', 'deal');

-- The substring and typo pass (0015), with the shared rule.
create or replace function app.crm_search(q text, pattern text, max_hits integer, fuzzy boolean)
returns table (object text, id uuid, display_name text, score real)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select * from (
    (select 'lead'::text, t.lead_id,
            coalesce(nullif(trim(t.first_name || ' ' || t.last_name), ''), nullif(t.email, ''), nullif(t.company_name, ''), '—'),
            ((t.search_text like app.fold(pattern))::int + public.word_similarity(app.fold(q), t.search_text))::real
       from public.leads t
      where t.org_id = app.current_org()
        and app.crm_can_see((select app.crm_scope('lead')), t.owner_id, t.department_id)
        and (t.search_text like app.fold(pattern) or (fuzzy and app.fold(q) operator(public.<%) t.search_text))
      limit max_hits)
    union all
    (select 'contact', t.contact_id,
            coalesce(nullif(trim(t.first_name || ' ' || t.last_name), ''), nullif(t.email, ''), '—'),
            ((t.search_text like app.fold(pattern))::int + public.word_similarity(app.fold(q), t.search_text))::real
       from public.contacts t
      where t.org_id = app.current_org()
        and app.crm_can_see((select app.crm_scope('contact')), t.owner_id, t.department_id)
        and (t.search_text like app.fold(pattern) or (fuzzy and app.fold(q) operator(public.<%) t.search_text))
      limit max_hits)
    union all
    (select 'company', t.company_id, t.name,
            ((t.search_text like app.fold(pattern))::int + public.word_similarity(app.fold(q), t.search_text))::real
       from public.companies t
      where t.org_id = app.current_org()
        and app.crm_can_see((select app.crm_scope('company')), t.owner_id, t.department_id)
        and (t.search_text like app.fold(pattern) or (fuzzy and app.fold(q) operator(public.<%) t.search_text))
      limit max_hits)
    union all
    (select 'deal', t.deal_id, t.name,
            ((t.search_text like app.fold(pattern))::int + public.word_similarity(app.fold(q), t.search_text))::real
       from public.deals t
      where t.org_id = app.current_org()
        and app.crm_can_see((select app.crm_scope('deal')), t.owner_id, t.department_id)
        and (t.search_text like app.fold(pattern) or (fuzzy and app.fold(q) operator(public.<%) t.search_text))
      limit max_hits)
  ) hits (object, id, display_name, score)
  where app.current_org() is not null
  order by score desc, display_name
  limit max_hits
$$;
revoke all on function app.crm_search(text, text, integer, boolean) from public;
grant execute on function app.crm_search(text, text, integer, boolean) to relais_app;

-- The word pass (0019), with the shared rule.
create or replace function app.crm_search_words(q text, max_hits integer)
returns table (object text, id uuid, display_name text, score real)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  with query as (select app.words_query(q) as tsq)
  select * from (
    (select 'lead'::text, t.lead_id,
            coalesce(nullif(trim(t.first_name || ' ' || t.last_name), ''), nullif(t.email, ''), nullif(t.company_name, ''), '—'),
            (2 + public.word_similarity(app.fold(q), t.search_text))::real
       from public.leads t, query
      where t.org_id = app.current_org()
        and app.crm_can_see((select app.crm_scope('lead')), t.owner_id, t.department_id)
        and t.search_words @@ query.tsq
      limit max_hits)
    union all
    (select 'contact', t.contact_id,
            coalesce(nullif(trim(t.first_name || ' ' || t.last_name), ''), nullif(t.email, ''), '—'),
            (2 + public.word_similarity(app.fold(q), t.search_text))::real
       from public.contacts t, query
      where t.org_id = app.current_org()
        and app.crm_can_see((select app.crm_scope('contact')), t.owner_id, t.department_id)
        and t.search_words @@ query.tsq
      limit max_hits)
    union all
    (select 'company', t.company_id, t.name,
            (2 + public.word_similarity(app.fold(q), t.search_text))::real
       from public.companies t, query
      where t.org_id = app.current_org()
        and app.crm_can_see((select app.crm_scope('company')), t.owner_id, t.department_id)
        and t.search_words @@ query.tsq
      limit max_hits)
    union all
    (select 'deal', t.deal_id, t.name,
            (2 + public.word_similarity(app.fold(q), t.search_text))::real
       from public.deals t, query
      where t.org_id = app.current_org()
        and app.crm_can_see((select app.crm_scope('deal')), t.owner_id, t.department_id)
        and t.search_words @@ query.tsq
      limit max_hits)
  ) hits (object, id, display_name, score)
  where app.current_org() is not null
  order by score desc, display_name
  limit max_hits
$$;
revoke all on function app.crm_search_words(text, integer) from public;
grant execute on function app.crm_search_words(text, integer) to relais_app;

-- Item 15: whether `value` reads as `type` (PostgreSQL 16 has pg_input_is_valid; 15 is supported).
-- A page cursor carries its sort key as text; a forged one that is not a date, a number or JSON
-- is refused before the list's statement casts it.
create function app.reads_as(value text, type regtype) returns boolean
language plpgsql stable parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
  execute format('select %L::%s', value, type);
  return true;
exception when data_exception then
  return false;
end $$;
grant execute on function app.reads_as(text, regtype) to relais_app, relais_platform;
