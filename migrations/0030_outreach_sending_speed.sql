-- A mailbox's daily cap counts its messages planned, in flight or sent on a day
-- (`sending::store::count_in_span`). The planner asks once per pass and mailbox; without this
-- index each ask scanned the organization's messages, growing with every campaign.
create index outreach_messages_day on outreach_messages (org_id, mailbox_id, scheduled_at)
    where state in ('planned', 'sending', 'sent', 'review');

-- One sending session per mailbox (`sending::store::claim`): while a worker's claimed batch is
-- out, the mailbox row says until when. Asking the messages instead ("any of this mailbox's in
-- `sending` with a live lease?") walked the partial index of messages in `sending`, which holds an
-- entry for every message that ever passed through that state until vacuum removes it: during a
-- campaign, thousands of dead entries per batch.
alter table outreach_mailboxes add column sending_until timestamptz;

-- A message holds a lease exactly while it is being sent: the engine's updates of messages in
-- `sending` find them by `lease_until is not null` (see `sending::store::extend_lease`).
alter table outreach_messages add constraint outreach_messages_lease_while_sending
    check ((state = 'sending') = (lease_until is not null));
