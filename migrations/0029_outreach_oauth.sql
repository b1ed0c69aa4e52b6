-- Gmail and Microsoft 365 mailboxes by OAuth2 (issue #12 item 1): the authorization code flows
-- under way, and what an OAuth2 mailbox row must hold.

-- ---------------------------------------------------------------- flows under way
-- One consent a member started: the `state` sent to the provider (only its SHA-256 here: the
-- state itself travels in the browser's URLs) bound to the member's session, and the PKCE
-- verifier, sealed by the vault (context outreach_oauth_state / state_id / verifier). The callback
-- deletes the row as it reads it, so a state works once; it is refused after expires_at (ten
-- minutes), from another session or member, and in another organization (row-level security).
-- Logging out (the session row deleted) ends the flows it started.
create table outreach_oauth_states (
    org_id          uuid not null,
    state_id        uuid not null,
    state_hash      bytea not null check (length(state_hash) = 32),
    session_id      uuid not null,
    user_id         uuid not null,
    provider        text not null check (provider in ('google', 'microsoft')),
    verifier_sealed bytea not null,
    -- Reconnecting: the member's mailbox whose tokens the flow renews (null: a new mailbox).
    mailbox_id      uuid,
    created_at      timestamptz not null,
    expires_at      timestamptz not null,
    primary key (org_id, state_id),
    unique (org_id, state_hash),
    check (expires_at > created_at),
    foreign key (org_id, session_id) references sessions (org_id, session_id) on delete cascade,
    foreign key (org_id, user_id) references users (org_id, user_id) on delete cascade,
    foreign key (org_id, mailbox_id) references outreach_mailboxes (org_id, mailbox_id) on delete cascade
);
create index outreach_oauth_states_expiry on outreach_oauth_states (org_id, expires_at);
create index outreach_oauth_states_session on outreach_oauth_states (org_id, session_id);
create index outreach_oauth_states_mailbox on outreach_oauth_states (org_id, mailbox_id) where mailbox_id is not null;
call app.make_tenant_table('outreach_oauth_states');

-- ---------------------------------------------------------------- OAuth2 mailboxes
-- A Google or Microsoft mailbox always has an access token (sealed) and its expiry; a password
-- mailbox never has one.
alter table outreach_mailboxes add constraint outreach_mailboxes_oauth_tokens check (
    (provider = 'password') = (access_token_sealed is null and access_token_expires_at is null)
);
