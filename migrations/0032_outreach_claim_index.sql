-- The claim of a mailbox's next batch (`sending::store::claim`) must walk the index of planned
-- messages (`outreach_messages_due`). Migration 0030's `outreach_messages_day` had the same
-- columns and also covered planned messages, so PostgreSQL could take it for the claim, and did
-- while the table's statistics lagged behind a campaign: every claim then stepped over every
-- message of the mailbox already sent (seen with `auto_explain` during `relais bench send`, the
-- cost growing with the campaign). The day's count now adds this index (messages in flight, sent
-- or in review) to `outreach_messages_due` (planned), and no query about planned messages can
-- pick it.
drop index outreach_messages_day;
create index outreach_messages_day_taken on outreach_messages (org_id, mailbox_id, scheduled_at)
    where state in ('sending', 'sent', 'review');
