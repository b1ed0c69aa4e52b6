//! The `outreach_mailboxes` table as this feature reads and writes it. Nothing here ever selects
//! `secret_sealed` into a row that leaves the feature: the sealed secret is read by
//! [`sealed_secret`] only, to be opened for a connection test or a revocation (and by
//! `oauth::login`, to be used).

use kernel::{AppError, OrgTx};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// A mailbox as the API and pages show it: settings and state, never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct MailboxRow {
    pub mailbox_id: Uuid,
    pub owner_id: Uuid,
    pub owner_name: String,
    pub provider: String,
    pub from_name: String,
    pub from_address: String,
    pub smtp_host: String,
    pub smtp_port: i32,
    pub smtp_security: String,
    pub smtp_username: String,
    pub imap_host: String,
    pub imap_port: i32,
    pub imap_security: String,
    pub imap_username: String,
    pub status: String,
    pub pause_reason: String,
    pub daily_cap: i32,
    pub min_gap_seconds: i32,
    pub jitter_seconds: i32,
    pub window_days: Vec<i16>,
    pub window_start_minute: i16,
    pub window_end_minute: i16,
    pub time_zone: String,
    pub signature: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_tested_at: Option<OffsetDateTime>,
    pub last_test_error: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Every mailbox of the organization, or only `owner`'s, by address.
pub async fn list(tx: &mut OrgTx, owner: Option<Uuid>) -> Result<Vec<MailboxRow>, AppError> {
    Ok(sqlx::query_as!(
        MailboxRow,
        r#"select m.mailbox_id, m.owner_id, trim(u.first_name || ' ' || u.last_name) as "owner_name!", m.provider,
                  m.from_name, m.from_address, m.smtp_host, m.smtp_port, m.smtp_security, m.smtp_username,
                  m.imap_host, m.imap_port, m.imap_security, m.imap_username, m.status, m.pause_reason,
                  m.daily_cap, m.min_gap_seconds, m.jitter_seconds, m.window_days, m.window_start_minute,
                  m.window_end_minute, m.time_zone, m.signature, m.last_tested_at, m.last_test_error,
                  m.created_at, m.updated_at
             from outreach_mailboxes m
             join users u on u.org_id = m.org_id and u.user_id = m.owner_id
            where m.org_id = $1 and ($2::uuid is null or m.owner_id = $2)
            order by m.from_address, m.mailbox_id"#,
        tx.org().0,
        owner
    )
    .fetch_all(tx.conn())
    .await?)
}

/// One mailbox of the organization.
pub async fn get(tx: &mut OrgTx, id: Uuid) -> Result<Option<MailboxRow>, AppError> {
    Ok(sqlx::query_as!(
        MailboxRow,
        r#"select m.mailbox_id, m.owner_id, trim(u.first_name || ' ' || u.last_name) as "owner_name!", m.provider,
                  m.from_name, m.from_address, m.smtp_host, m.smtp_port, m.smtp_security, m.smtp_username,
                  m.imap_host, m.imap_port, m.imap_security, m.imap_username, m.status, m.pause_reason,
                  m.daily_cap, m.min_gap_seconds, m.jitter_seconds, m.window_days, m.window_start_minute,
                  m.window_end_minute, m.time_zone, m.signature, m.last_tested_at, m.last_test_error,
                  m.created_at, m.updated_at
             from outreach_mailboxes m
             join users u on u.org_id = m.org_id and u.user_id = m.owner_id
            where m.org_id = $1 and m.mailbox_id = $2
            for update of m"#,
        tx.org().0,
        id
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// The sealed secret of a mailbox, to open for a connection test.
pub async fn sealed_secret(tx: &mut OrgTx, id: Uuid) -> Result<Option<Vec<u8>>, AppError> {
    Ok(sqlx::query_scalar!(
        "select secret_sealed from outreach_mailboxes where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        id
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// How many messages a mailbox sent in `[from, to)`.
pub async fn sent_between(
    tx: &mut OrgTx,
    mailbox: Uuid,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from outreach_messages
            where org_id = $1 and mailbox_id = $2 and state = 'sent' and sent_at >= $3 and sent_at < $4"#,
        tx.org().0,
        mailbox,
        from,
        to
    )
    .fetch_one(tx.conn())
    .await?)
}

/// A new mailbox, validated, its secret already sealed for its id.
#[derive(Debug)]
pub struct NewMailbox<'a> {
    pub mailbox_id: Uuid,
    pub owner_id: Uuid,
    /// `password`, `google` or `microsoft`.
    pub provider: &'a str,
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub smtp_host: &'a str,
    pub smtp_port: i32,
    pub smtp_security: &'a str,
    pub smtp_username: &'a str,
    pub imap_host: &'a str,
    pub imap_port: i32,
    pub imap_security: &'a str,
    pub imap_username: &'a str,
    /// Sealed by the vault; its `Debug` would print ciphertext only. The password, or the OAuth2
    /// refresh token.
    pub secret_sealed: &'a [u8],
    /// OAuth2 only: the access token, sealed, and when it runs out.
    pub access_token: Option<(&'a [u8], OffsetDateTime)>,
}

/// The unique (org, owner, address) constraint's name, mapped to a field error by the service.
pub const UNIQUE_ADDRESS: &str = "outreach_mailboxes_org_id_owner_id_from_address_key";

pub async fn insert(tx: &mut OrgTx, new: &NewMailbox<'_>, now: OffsetDateTime) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into outreach_mailboxes (org_id, mailbox_id, owner_id, provider, from_name, from_address,
             smtp_host, smtp_port, smtp_security, smtp_username, imap_host, imap_port, imap_security, imap_username,
             secret_sealed, access_token_sealed, access_token_expires_at, last_tested_at, last_test_error,
             created_at, updated_at)
         values ($1, $2, $3, $16, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $17, $18, $15, '', $15, $15)",
        tx.org().0,
        new.mailbox_id,
        new.owner_id,
        new.from_name,
        new.from_address,
        new.smtp_host,
        new.smtp_port,
        new.smtp_security,
        new.smtp_username,
        new.imap_host,
        new.imap_port,
        new.imap_security,
        new.imap_username,
        new.secret_sealed,
        now,
        new.provider,
        new.access_token.map(|(sealed, _)| sealed),
        new.access_token.map(|(_, expires_at)| expires_at)
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// An OAuth2 mailbox connected again: its new tokens (sealed), and a passing test. A mailbox that
/// had paused itself (its grant refused) is active again; a disabled one stays disabled (an owner
/// decided that).
pub async fn reconnect(
    tx: &mut OrgTx,
    id: Uuid,
    secret_sealed: &[u8],
    access_token_sealed: &[u8],
    access_token_expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes
            set secret_sealed = $3, access_token_sealed = $4, access_token_expires_at = $5,
                last_tested_at = $6, last_test_error = '', updated_at = $6,
                status = case when status = 'paused' then 'active' else status end,
                pause_reason = case when status = 'paused' then '' else pause_reason end
          where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        id,
        secret_sealed,
        access_token_sealed,
        access_token_expires_at,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A mailbox's settings as saved (every field; the service merges a partial change first).
#[derive(Debug, Clone)]
pub struct Settings {
    pub from_name: String,
    pub daily_cap: i32,
    pub min_gap_seconds: i32,
    pub jitter_seconds: i32,
    pub window_days: Vec<i16>,
    pub window_start_minute: i16,
    pub window_end_minute: i16,
    pub time_zone: String,
    pub signature: String,
}

pub async fn update_settings(
    tx: &mut OrgTx,
    id: Uuid,
    settings: &Settings,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes
            set from_name = $3, daily_cap = $4, min_gap_seconds = $5, jitter_seconds = $6, window_days = $7,
                window_start_minute = $8, window_end_minute = $9, time_zone = $10, signature = $11, updated_at = $12
          where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        id,
        settings.from_name,
        settings.daily_cap,
        settings.min_gap_seconds,
        settings.jitter_seconds,
        &settings.window_days,
        settings.window_start_minute,
        settings.window_end_minute,
        settings.time_zone,
        settings.signature,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A new password, sealed, after it passed a connection test.
pub async fn update_secret(tx: &mut OrgTx, id: Uuid, sealed: &[u8], now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes set secret_sealed = $3, updated_at = $4 where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        id,
        sealed,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Records a connection test's outcome (`''` when it passed). A passing test brings a mailbox
/// that paused itself back to active; a disabled one stays disabled (an owner decided that).
pub async fn record_test(tx: &mut OrgTx, id: Uuid, error: &str, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes
            set last_tested_at = $3, last_test_error = $4,
                status = case when $4 = '' and status = 'paused' then 'active' else status end,
                pause_reason = case when $4 = '' and status = 'paused' then '' else pause_reason end
          where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        id,
        now,
        error
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn set_status(tx: &mut OrgTx, id: Uuid, status: &str, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes set status = $3, pause_reason = '', updated_at = $4
          where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        id,
        status,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Deletes the row, and the sealed secret in it (P0-17).
pub async fn delete(tx: &mut OrgTx, id: Uuid) -> Result<bool, AppError> {
    let deleted = sqlx::query!("delete from outreach_mailboxes where org_id = $1 and mailbox_id = $2", tx.org().0, id)
        .execute(tx.conn())
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

/// How many of `owner`'s mailboxes stopped themselves (`paused`) and wait for them to fix it.
pub async fn paused_count(tx: &mut OrgTx, owner: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from outreach_mailboxes where org_id = $1 and owner_id = $2 and status = 'paused'"#,
        tx.org().0,
        owner
    )
    .fetch_one(tx.conn())
    .await?)
}
