-- Fast paths for CRM lists and search under row-level security (issue #4, Performance).
--
-- PostgreSQL evaluates a table's row-level-security conditions before any condition of the query
-- that is not LEAKPROOF, and such a condition cannot be an index condition. `lower()`, `LIKE` and
-- pg_trgm's operators are not leakproof (only a superuser can mark a function so, and Relais never
-- runs as one). Two consequences, and their fixes:
--
-- 1. A keyset page sorted on `lower(last_name)` could not seek the index to its cursor: page N
--    re-read pages 1 to N-1. The default text sorts now read stored, generated sort keys; text and
--    uuid comparisons are leakproof, so `(key, id) > (cursor)` is an index condition again.
-- 2. Search could not use the trigram indexes at all. It now runs in `app.crm_search`, a narrow
--    SECURITY DEFINER door that applies the organization and the visibility rule itself (the same
--    expressions as the `tenant_isolation` and `crm_visibility` policies), then searches with
--    the indexes.

alter table contacts add column last_name_key text generated always as (lower(last_name)) stored;
drop index contacts_name;
create index contacts_name on contacts (org_id, last_name_key, contact_id);

alter table leads add column last_name_key text generated always as (lower(last_name)) stored;
drop index leads_name;
create index leads_name on leads (org_id, last_name_key, lead_id);

alter table companies add column name_key text generated always as (lower(name)) stored;
drop index companies_name;
create index companies_name on companies (org_id, name_key, company_id);

alter table deals add column name_key text generated always as (lower(name)) stored;
drop index deals_name;
create index deals_name on deals (org_id, name_key, deal_id);

-- Hits for `q` in the current organization, among the records the current member may see:
-- `pattern` is the LIKE pattern of `q` (escaped by the caller); `fuzzy` adds typo-tolerant
-- word-similarity matches (threshold: pg_trgm.word_similarity_threshold of the transaction).
create function app.crm_search(q text, pattern text, max_hits integer, fuzzy boolean)
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
        and (app.crm_sees_all('lead') or t.owner_id = app.current_actor() or t.department_id = any (app.actor_departments()))
        and (t.search_text like app.fold(pattern) or (fuzzy and app.fold(q) operator(public.<%) t.search_text))
      limit max_hits)
    union all
    (select 'contact', t.contact_id,
            coalesce(nullif(trim(t.first_name || ' ' || t.last_name), ''), nullif(t.email, ''), '—'),
            ((t.search_text like app.fold(pattern))::int + public.word_similarity(app.fold(q), t.search_text))::real
       from public.contacts t
      where t.org_id = app.current_org()
        and (app.crm_sees_all('contact') or t.owner_id = app.current_actor() or t.department_id = any (app.actor_departments()))
        and (t.search_text like app.fold(pattern) or (fuzzy and app.fold(q) operator(public.<%) t.search_text))
      limit max_hits)
    union all
    (select 'company', t.company_id, t.name,
            ((t.search_text like app.fold(pattern))::int + public.word_similarity(app.fold(q), t.search_text))::real
       from public.companies t
      where t.org_id = app.current_org()
        and (app.crm_sees_all('company') or t.owner_id = app.current_actor() or t.department_id = any (app.actor_departments()))
        and (t.search_text like app.fold(pattern) or (fuzzy and app.fold(q) operator(public.<%) t.search_text))
      limit max_hits)
    union all
    (select 'deal', t.deal_id, t.name,
            ((t.search_text like app.fold(pattern))::int + public.word_similarity(app.fold(q), t.search_text))::real
       from public.deals t
      where t.org_id = app.current_org()
        and (app.crm_sees_all('deal') or t.owner_id = app.current_actor() or t.department_id = any (app.actor_departments()))
        and (t.search_text like app.fold(pattern) or (fuzzy and app.fold(q) operator(public.<%) t.search_text))
      limit max_hits)
  ) hits (object, id, display_name, score)
  where app.current_org() is not null
  order by score desc, display_name
  limit max_hits
$$;
revoke all on function app.crm_search(text, text, integer, boolean) from public;
grant execute on function app.crm_search(text, text, integer, boolean) to relais_app;
