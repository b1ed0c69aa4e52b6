-- IMAP IDLE for replies and bounces (issue #12 item 4): the IDLE supervisor (`outreach::inbound::
-- idle`) runs in the worker process outside any organization, and must know which mailboxes to
-- watch before it can open an organization's tenant transaction. This door tells it that and
-- nothing more: the ids of the active mailboxes that have an IMAP server, in active
-- organizations. Their address, server, user name and secret are read afterwards, per mailbox,
-- in that organization's tenant transaction.
--
-- Ordered so that organizations take turns (every organization's first mailbox, then every
-- second one…): when there are more mailboxes than IDLE connections, one organization's many
-- mailboxes do not take them all.
create function app.outreach_idle_mailboxes()
returns table (org_id uuid, mailbox_id uuid)
language sql stable security definer set search_path = pg_catalog, pg_temp
as $$
  select m.org_id, m.mailbox_id
  from (
    select m.org_id, m.mailbox_id,
           row_number() over (partition by m.org_id order by m.mailbox_id) as turn
    from public.outreach_mailboxes m join public.organizations o on o.org_id = m.org_id
    where m.status = 'active' and m.imap_host <> '' and o.status = 'active'
  ) m
  order by m.turn, m.org_id, m.mailbox_id
$$;
revoke all on function app.outreach_idle_mailboxes() from public;
grant execute on function app.outreach_idle_mailboxes() to relais_app;
