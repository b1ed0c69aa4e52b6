-- Outreach (issue #12; P0-05, P0-09, P0-10, P0-17, P1-09): the members' connected mailboxes,
-- sequences and their steps, who is enrolled, every message planned or sent (the sending queue
-- itself), what comes back (replies, auto-replies, bounces) and the org-wide suppression list.

-- ---------------------------------------------------------------- connected mailboxes
-- A mailbox belongs to the member who connected it: only they send from it. Its secret (the
-- password, or the OAuth2 refresh token) is sealed by the vault; revoking deletes the row, so the
-- secret is gone at once (P0-17), and so does removing the member.
create table outreach_mailboxes (
    org_id           uuid not null references organizations (org_id) on delete cascade,
    mailbox_id       uuid not null,
    owner_id         uuid not null,
    provider         text not null check (provider in ('password', 'google', 'microsoft')),
    from_name        text not null default '' check (length(from_name) <= 100),
    from_address     text not null check (from_address = lower(from_address) and length(from_address) between 3 and 254),
    smtp_host        text not null default '' check (length(smtp_host) <= 253),
    smtp_port        integer not null default 587 check (smtp_port between 1 and 65535),
    smtp_security    text not null default 'starttls' check (smtp_security in ('tls', 'starttls', 'none')),
    smtp_username    text not null default '' check (length(smtp_username) <= 254),
    imap_host        text not null default '' check (length(imap_host) <= 253),
    imap_port        integer not null default 993 check (imap_port between 1 and 65535),
    imap_security    text not null default 'tls' check (imap_security in ('tls', 'starttls', 'none')),
    imap_username    text not null default '' check (length(imap_username) <= 254),
    -- The password (provider 'password') or the OAuth2 refresh token, sealed by the vault.
    secret_sealed    bytea not null,
    -- OAuth2 only: the current access token, sealed, and when it runs out.
    access_token_sealed     bytea,
    access_token_expires_at timestamptz,
    -- active: sends; paused: stopped itself (see pause_reason) until its owner fixes it;
    -- disabled: an owner of the organization stopped it.
    status           text not null default 'active' check (status in ('active', 'paused', 'disabled')),
    pause_reason     text not null default '' check (length(pause_reason) <= 64),
    daily_cap        integer not null default 50 check (daily_cap between 1 and 10000),
    min_gap_seconds  integer not null default 120 check (min_gap_seconds between 0 and 86400),
    jitter_seconds   integer not null default 60 check (jitter_seconds between 0 and 3600),
    -- The sending window: ISO weekdays (1 = Monday … 7 = Sunday) and minutes of the day,
    -- [start, end), in the recipient's time zone when known, else the mailbox's.
    window_days      smallint[] not null default '{1,2,3,4,5}'
                     check (cardinality(window_days) between 1 and 7 and window_days <@ '{1,2,3,4,5,6,7}'),
    window_start_minute smallint not null default 480 check (window_start_minute between 0 and 1439),
    window_end_minute   smallint not null default 1080 check (window_end_minute between 1 and 1440),
    time_zone        text not null default 'Europe/Paris' check (length(time_zone) between 1 and 64),
    signature        text not null default '' check (length(signature) <= 5000),
    -- The earliest time the next message may be planned on this mailbox (the gap, with jitter).
    next_slot_at     timestamptz,
    last_tested_at   timestamptz,
    -- The last connection test's outcome: '' when it passed, else a stable code (smtp_auth…).
    last_test_error  text not null default '' check (length(last_test_error) <= 64),
    -- Where reading the inbox stands (replies and bounces).
    imap_uid_validity bigint,
    imap_last_uid    bigint not null default 0,
    imap_polled_at   timestamptz,
    created_at       timestamptz not null,
    updated_at       timestamptz not null,
    primary key (org_id, mailbox_id),
    unique (org_id, owner_id, from_address),
    check (window_start_minute < window_end_minute),
    foreign key (org_id, owner_id) references users (org_id, user_id) on delete cascade
);
call app.make_tenant_table('outreach_mailboxes');

-- ---------------------------------------------------------------- suppression list
-- Addresses no sequence of the organization may send to again, whatever path put them here.
create table outreach_suppressions (
    org_id       uuid not null references organizations (org_id) on delete cascade,
    email        text not null check (email = lower(email) and length(email) between 3 and 254),
    reason       text not null check (reason in ('unsubscribed', 'hard_bounce', 'complaint', 'manual', 'imported')),
    note         text not null default '' check (length(note) <= 500),
    -- The message whose unsubscribe link or bounce put the address here.
    message_id   uuid,
    created_by   uuid,
    created_at   timestamptz not null,
    primary key (org_id, email),
    foreign key (org_id, created_by) references users (org_id, user_id) on delete set null (created_by)
);
create index outreach_suppressions_created on outreach_suppressions (org_id, created_at desc, email);
call app.make_tenant_table('outreach_suppressions');

-- ---------------------------------------------------------------- sequences
create table outreach_sequences (
    org_id        uuid not null references organizations (org_id) on delete cascade,
    sequence_id   uuid not null,
    name          text not null check (length(name) between 1 and 200),
    -- 'campaign': a one-off email (one step); 'sequence': ordered steps.
    kind          text not null default 'sequence' check (kind in ('sequence', 'campaign')),
    owner_id      uuid,
    status        text not null default 'draft' check (status in ('draft', 'active', 'paused', 'archived')),
    -- Open and click tracking: off unless the sequence's owner turns it on.
    tracking      boolean not null default false,
    -- The owner's mailboxes it sends from, in rotation.
    mailbox_ids   uuid[] not null default '{}' check (cardinality(mailbox_ids) <= 20),
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    primary key (org_id, sequence_id),
    foreign key (org_id, owner_id) references users (org_id, user_id) on delete set null (owner_id)
);
create index outreach_sequences_owner on outreach_sequences (org_id, owner_id);
call app.make_tenant_table('outreach_sequences');

create table outreach_steps (
    org_id        uuid not null,
    sequence_id   uuid not null,
    step_id       uuid not null,
    position      smallint not null check (position between 1 and 50),
    kind          text not null check (kind in ('email', 'wait', 'task')),
    wait_days     smallint not null default 0 check (wait_days between 0 and 365),
    subject       text not null default '' check (length(subject) <= 300),
    body          text not null default '' check (length(body) <= 50000),
    -- A follow-up that answers in the thread of the previous email (In-Reply-To, References).
    in_thread     boolean not null default false,
    task_title    text not null default '' check (length(task_title) <= 200),
    primary key (org_id, step_id),
    unique (org_id, sequence_id, position) deferrable initially deferred,
    foreign key (org_id, sequence_id) references outreach_sequences (org_id, sequence_id) on delete cascade
);
call app.make_tenant_table('outreach_steps');

-- One person in one sequence. A lead or a contact, never both; the address is the one the
-- sequence writes to, read when enrolled.
create table outreach_enrollments (
    org_id        uuid not null,
    enrollment_id uuid not null,
    sequence_id   uuid not null,
    contact_id    uuid,
    lead_id       uuid,
    email         text not null check (email = lower(email) and length(email) <= 254),
    state         text not null check (state in ('active', 'paused', 'replied', 'bounced', 'unsubscribed', 'finished', 'stopped', 'skipped')),
    -- Why it was skipped or stopped: a stable code (suppressed, no_email, mailbox_revoked…).
    state_reason  text not null default '' check (length(state_reason) <= 64),
    -- The step to run next, and when it is due (null while nothing is due).
    next_position smallint not null default 1,
    next_run_at   timestamptz,
    -- The mailbox of the thread: chosen by rotation at the first email, kept for the follow-ups.
    mailbox_id    uuid,
    enrolled_by   uuid,
    created_at    timestamptz not null,
    updated_at    timestamptz not null,
    primary key (org_id, enrollment_id),
    check (num_nonnulls(contact_id, lead_id) = 1),
    foreign key (org_id, sequence_id) references outreach_sequences (org_id, sequence_id) on delete cascade,
    foreign key (org_id, contact_id) references contacts (org_id, contact_id) on delete cascade,
    foreign key (org_id, lead_id) references leads (org_id, lead_id) on delete cascade,
    foreign key (org_id, mailbox_id) references outreach_mailboxes (org_id, mailbox_id) on delete set null (mailbox_id),
    foreign key (org_id, enrolled_by) references users (org_id, user_id) on delete set null (enrolled_by)
);
create unique index outreach_enrollments_contact on outreach_enrollments (org_id, sequence_id, contact_id) where contact_id is not null;
create unique index outreach_enrollments_lead on outreach_enrollments (org_id, sequence_id, lead_id) where lead_id is not null;
create index outreach_enrollments_due on outreach_enrollments (org_id, next_run_at) where state = 'active';
create index outreach_enrollments_email on outreach_enrollments (org_id, email);
create index outreach_enrollments_sequence on outreach_enrollments (org_id, sequence_id, created_at, enrollment_id);
call app.make_tenant_table('outreach_enrollments');

-- ---------------------------------------------------------------- messages (the sending queue)
-- One email, planned then sent. Its Message-ID is fixed when planned, before any SMTP
-- conversation; it is handed to SMTP only from 'sending', which a worker enters by committing,
-- so after a crash a 'sending' message whose lease ran out goes to 'review', never back to
-- 'planned': no message is sent twice.
create table outreach_messages (
    org_id          uuid not null,
    message_id      uuid not null,
    -- Null for a member's test send to themself.
    enrollment_id   uuid,
    sequence_id     uuid,
    step_id         uuid,
    mailbox_id      uuid,
    to_address      text not null check (length(to_address) between 3 and 254),
    subject         text not null check (length(subject) <= 1000),
    body_text       text not null check (length(body_text) <= 200000),
    body_html       text check (length(body_html) <= 400000),
    message_id_header text not null check (length(message_id_header) <= 300),
    in_reply_to     text check (length(in_reply_to) <= 300),
    references_header text check (length(references_header) <= 4000),
    state           text not null check (state in ('planned', 'sending', 'sent', 'failed', 'review', 'cancelled')),
    -- Why it failed, was cancelled or needs review: a stable code.
    state_reason    text not null default '' check (length(state_reason) <= 64),
    scheduled_at    timestamptz not null,
    lease_until     timestamptz,
    attempts        smallint not null default 0,
    sent_at         timestamptz,
    replied_at      timestamptz,
    bounced_at      timestamptz,
    opened_at       timestamptz,
    clicked_at      timestamptz,
    created_at      timestamptz not null,
    primary key (org_id, message_id),
    unique (org_id, message_id_header),
    foreign key (org_id, enrollment_id) references outreach_enrollments (org_id, enrollment_id) on delete cascade,
    foreign key (org_id, sequence_id) references outreach_sequences (org_id, sequence_id) on delete cascade,
    foreign key (org_id, step_id) references outreach_steps (org_id, step_id) on delete set null (step_id),
    foreign key (org_id, mailbox_id) references outreach_mailboxes (org_id, mailbox_id) on delete set null (mailbox_id)
);
create index outreach_messages_due on outreach_messages (org_id, mailbox_id, scheduled_at) where state = 'planned';
create index outreach_messages_sending on outreach_messages (org_id, lease_until) where state = 'sending';
create index outreach_messages_review on outreach_messages (org_id, created_at) where state = 'review';
create index outreach_messages_mailbox_sent on outreach_messages (org_id, mailbox_id, sent_at) where sent_at is not null;
create index outreach_messages_enrollment on outreach_messages (org_id, enrollment_id, created_at);
create index outreach_messages_sequence on outreach_messages (org_id, sequence_id, step_id);
call app.make_tenant_table('outreach_messages');

-- ---------------------------------------------------------------- what comes back
-- A message read from a mailbox's inbox that concerns outreach: a reply, an auto-reply, a
-- bounce. Only what the timeline and the metrics need is kept (sender, subject, a short excerpt),
-- never the whole message.
create table outreach_inbound (
    org_id          uuid not null,
    inbound_id      uuid not null,
    mailbox_id      uuid not null,
    kind            text not null check (kind in ('reply', 'auto_reply', 'bounce')),
    bounce_kind     text not null default '' check (bounce_kind in ('', 'hard', 'soft')),
    -- The outreach message it answers, when it could be matched.
    message_id      uuid,
    enrollment_id   uuid,
    from_address    text not null default '' check (length(from_address) <= 254),
    subject         text not null default '' check (length(subject) <= 1000),
    excerpt         text not null default '' check (length(excerpt) <= 2000),
    -- A DSN's status code (5.1.1…) or '' when it had none.
    status_code     text not null default '' check (length(status_code) <= 16),
    received_at     timestamptz not null,
    created_at      timestamptz not null,
    primary key (org_id, inbound_id),
    foreign key (org_id, mailbox_id) references outreach_mailboxes (org_id, mailbox_id) on delete cascade,
    foreign key (org_id, message_id) references outreach_messages (org_id, message_id) on delete set null (message_id),
    foreign key (org_id, enrollment_id) references outreach_enrollments (org_id, enrollment_id) on delete set null (enrollment_id)
);
create index outreach_inbound_enrollment on outreach_inbound (org_id, enrollment_id) where enrollment_id is not null;
create index outreach_inbound_mailbox on outreach_inbound (org_id, mailbox_id, received_at desc);
call app.make_tenant_table('outreach_inbound');
