-- Word-prefix search (issue #4, search p95): a `tsvector` of the words of each record's folded
-- search text, with a GIN index. "mart 1234" finds "Martin 123456" through two lexeme-prefix scans
-- that PostgreSQL intersects rare-first, where the trigram index had to build the bitmap of every
-- row holding each common trigram of the query. Punctuation splits words, so an email gives its
-- parts ("c123", "bench", "exemple", "fr"). The trigram search stays for substrings inside a word
-- and for typos (migration 0015), used when no word matches.

create function app.search_words(folded text) returns tsvector
language sql immutable parallel safe strict
as $$ select to_tsvector('simple', regexp_replace(folded, '[^a-z0-9]+', ' ', 'g')) $$;
grant execute on function app.search_words(text) to relais_app, relais_platform;

-- The query: each word of `q`, folded, as a prefix, all required. Only [a-z0-9] reach to_tsquery,
-- so no input can inject tsquery syntax. NULL when `q` has no word.
create function app.words_query(q text) returns tsquery
language sql immutable parallel safe strict
as $$
  select to_tsquery('simple', string_agg(w || ':*', ' & '))
    from regexp_split_to_table(app.fold(q), '[^a-z0-9]+') w
   where w <> ''
$$;
grant execute on function app.words_query(text) to relais_app, relais_platform;

alter table companies add column search_words tsvector
    generated always as (app.search_words(app.fold(name || ' ' || domain || ' ' || city))) stored;
alter table contacts add column search_words tsvector
    generated always as (app.search_words(app.fold(first_name || ' ' || last_name || ' ' || email || ' ' || title))) stored;
alter table leads add column search_words tsvector
    generated always as (app.search_words(app.fold(first_name || ' ' || last_name || ' ' || email || ' ' || company_name))) stored;
alter table deals add column search_words tsvector
    generated always as (app.search_words(app.fold(name))) stored;
create index companies_words on companies using gin (search_words);
create index contacts_words on contacts using gin (search_words);
create index leads_words on leads using gin (search_words);
create index deals_words on deals using gin (search_words);

-- Like app.crm_search (0015), for the word pass: the org and visibility conditions applied here,
-- with the same expressions as the policies, so the GIN index serves the match under RLS.
create function app.crm_search_words(q text, max_hits integer)
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
        and (app.crm_sees_all('lead') or t.owner_id = app.current_actor() or t.department_id = any (app.actor_departments()))
        and t.search_words @@ query.tsq
      limit max_hits)
    union all
    (select 'contact', t.contact_id,
            coalesce(nullif(trim(t.first_name || ' ' || t.last_name), ''), nullif(t.email, ''), '—'),
            (2 + public.word_similarity(app.fold(q), t.search_text))::real
       from public.contacts t, query
      where t.org_id = app.current_org()
        and (app.crm_sees_all('contact') or t.owner_id = app.current_actor() or t.department_id = any (app.actor_departments()))
        and t.search_words @@ query.tsq
      limit max_hits)
    union all
    (select 'company', t.company_id, t.name,
            (2 + public.word_similarity(app.fold(q), t.search_text))::real
       from public.companies t, query
      where t.org_id = app.current_org()
        and (app.crm_sees_all('company') or t.owner_id = app.current_actor() or t.department_id = any (app.actor_departments()))
        and t.search_words @@ query.tsq
      limit max_hits)
    union all
    (select 'deal', t.deal_id, t.name,
            (2 + public.word_similarity(app.fold(q), t.search_text))::real
       from public.deals t, query
      where t.org_id = app.current_org()
        and (app.crm_sees_all('deal') or t.owner_id = app.current_actor() or t.department_id = any (app.actor_departments()))
        and t.search_words @@ query.tsq
      limit max_hits)
  ) hits (object, id, display_name, score)
  where app.current_org() is not null
  order by score desc, display_name
  limit max_hits
$$;
revoke all on function app.crm_search_words(text, integer) from public;
grant execute on function app.crm_search_words(text, integer) to relais_app;
