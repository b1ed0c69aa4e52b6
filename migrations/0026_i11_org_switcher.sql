-- The org switcher (issue #11): a member whose email also holds accounts in other organizations
-- sees those organizations in the profile menu, and signs in to one of them with that account's
-- own password (and second factor).

-- The member's other organizations: (org, name) for each ACTIVE account with exactly the signed-in
-- member's email in another ACTIVE organization, and nothing else. It takes no argument: the email
-- is the one of the member of the current tenant transaction (app.current_org, app.current_actor),
-- so no caller can ask about another address. One lookup on users_email per page.
create function app.member_other_orgs()
returns table (org_id uuid, name text)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select o.org_id, o.name
  from public.users me
  join public.users u on u.email = me.email and u.org_id <> me.org_id
  join public.organizations o on o.org_id = u.org_id
  where me.org_id = app.current_org() and me.user_id = app.current_actor() and me.status = 'active'
    and u.status = 'active' and o.status = 'active'
  order by o.name, o.org_id
  limit 20
$$;
revoke all on function app.member_other_orgs() from public;
grant execute on function app.member_other_orgs() to relais_app;

-- The login form may name the organization to sign in to (the switcher's login): then only that
-- organization's account of the email is a candidate, so a member whose passwords are equal in two
-- organizations reaches the one they chose. Without an organization (NULL, the default), as before.
drop function app.login_candidates(text);
create function app.login_candidates(p_email text, p_org uuid default null)
returns table (org_id uuid, user_id uuid, password_hash text, status text)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select u.org_id, u.user_id, u.password_hash, u.status
  from public.users u join public.organizations o using (org_id)
  where u.email = p_email and o.status = 'active' and (p_org is null or u.org_id = p_org)
  order by u.last_login_at desc nulls last, u.created_at
  limit 3
$$;
revoke all on function app.login_candidates(text, uuid) from public;
grant execute on function app.login_candidates(text, uuid) to relais_app;
