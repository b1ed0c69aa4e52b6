//! The inbox reader's SQL: where a mailbox's reading stands, matching what came back to the
//! outreach message it concerns, and recording it.

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

/// What reading a mailbox needs: its IMAP server, its secret, and where reading stands.
#[derive(Debug)]
pub struct Reading {
    pub provider: String,
    pub status: String,
    pub imap_host: String,
    pub imap_port: i32,
    pub imap_security: String,
    pub imap_username: String,
    pub secret_sealed: Vec<u8>,
    pub imap_uid_validity: Option<i64>,
    pub imap_last_uid: i64,
}

pub async fn reading(tx: &mut OrgTx, mailbox: Uuid) -> Result<Option<Reading>, AppError> {
    Ok(sqlx::query_as!(
        Reading,
        "select provider, status, imap_host, imap_port, imap_security, imap_username, secret_sealed,
                imap_uid_validity, imap_last_uid
           from outreach_mailboxes where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        mailbox
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// Locks the mailbox's reading position: `(uid_validity, last_uid)`, `None` when it is gone.
/// Every message is recorded in the transaction that moves the position past it, so a message is
/// acted on once even when two workers read the same inbox, or one dies half-way.
pub async fn lock_position(tx: &mut OrgTx, mailbox: Uuid) -> Result<Option<(Option<i64>, i64)>, AppError> {
    Ok(sqlx::query!(
        "select imap_uid_validity, imap_last_uid from outreach_mailboxes
          where org_id = $1 and mailbox_id = $2 for update",
        tx.org().0,
        mailbox
    )
    .fetch_optional(tx.conn())
    .await?
    .map(|row| (row.imap_uid_validity, row.imap_last_uid)))
}

pub async fn set_position(
    tx: &mut OrgTx,
    mailbox: Uuid,
    uid_validity: i64,
    last_uid: i64,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes set imap_uid_validity = $3, imap_last_uid = $4, imap_polled_at = $5
          where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        mailbox,
        uid_validity,
        last_uid,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn polled(tx: &mut OrgTx, mailbox: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_mailboxes set imap_polled_at = $3 where org_id = $1 and mailbox_id = $2",
        tx.org().0,
        mailbox,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A sent outreach message something came back about.
#[derive(Debug, Clone)]
pub struct Matched {
    pub message_id: Uuid,
    pub enrollment_id: Uuid,
    pub to_address: String,
}

/// The mailbox's sent sequence message whose `Message-ID` is one of `headers` (with brackets),
/// in the order given (the most specific first).
pub async fn by_message_id(tx: &mut OrgTx, mailbox: Uuid, headers: &[String]) -> Result<Option<Matched>, AppError> {
    if headers.is_empty() {
        return Ok(None);
    }
    Ok(sqlx::query_as!(
        Matched,
        r#"select m.message_id, m.enrollment_id as "enrollment_id!", m.to_address
             from unnest($3::text[]) with ordinality as h (header, rank)
             join outreach_messages m on m.org_id = $1 and m.message_id_header = h.header
            where m.mailbox_id = $2 and m.enrollment_id is not null and m.sent_at is not null
            order by h.rank limit 1"#,
        tx.org().0,
        mailbox,
        headers
    )
    .fetch_optional(tx.conn())
    .await?)
}

/// The latest sequence message the mailbox sent to `address`.
pub async fn by_address(tx: &mut OrgTx, mailbox: Uuid, address: &str) -> Result<Option<Matched>, AppError> {
    Ok(sqlx::query_as!(
        Matched,
        r#"select m.message_id, m.enrollment_id as "enrollment_id!", m.to_address
             from outreach_enrollments e
             join outreach_messages m on m.org_id = e.org_id and m.enrollment_id = e.enrollment_id
            where e.org_id = $1 and e.email = $3 and m.mailbox_id = $2 and m.sent_at is not null
            order by m.sent_at desc limit 1"#,
        tx.org().0,
        mailbox,
        address
    )
    .fetch_optional(tx.conn())
    .await?)
}

pub struct NewInbound<'a> {
    pub mailbox_id: Uuid,
    pub kind: &'a str,
    pub bounce_kind: &'a str,
    pub matched: &'a Matched,
    pub from_address: &'a str,
    pub subject: &'a str,
    pub excerpt: &'a str,
    pub status_code: &'a str,
    pub received_at: OffsetDateTime,
}

pub async fn insert(tx: &mut OrgTx, now: OffsetDateTime, new: &NewInbound<'_>) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    let from: String = new.from_address.chars().take(254).collect();
    let subject: String = new.subject.chars().take(1000).collect();
    let excerpt: String = new.excerpt.chars().take(2000).collect();
    let status: String = new.status_code.chars().take(16).collect();
    sqlx::query!(
        "insert into outreach_inbound (org_id, inbound_id, mailbox_id, kind, bounce_kind, message_id, enrollment_id,
                                       from_address, subject, excerpt, status_code, received_at, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        tx.org().0,
        id,
        new.mailbox_id,
        new.kind,
        new.bounce_kind,
        new.matched.message_id,
        new.matched.enrollment_id,
        from,
        subject,
        excerpt,
        status,
        new.received_at,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(id)
}

pub async fn mark_replied(tx: &mut OrgTx, message: Uuid, at: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_messages set replied_at = coalesce(replied_at, $3) where org_id = $1 and message_id = $2",
        tx.org().0,
        message,
        at
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

pub async fn mark_bounced(tx: &mut OrgTx, message: Uuid, at: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_messages set bounced_at = coalesce(bounced_at, $3) where org_id = $1 and message_id = $2",
        tx.org().0,
        message,
        at
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Soft bounces recorded for an enrollment so far.
pub async fn soft_bounces(tx: &mut OrgTx, enrollment: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"select count(*) as "n!" from outreach_inbound
            where org_id = $1 and enrollment_id = $2 and kind = 'bounce' and bounce_kind = 'soft'"#,
        tx.org().0,
        enrollment
    )
    .fetch_one(tx.conn())
    .await?)
}

/// Plans `message` again as a new message (its own id and `Message-ID`, the same text and
/// thread) at `at`, when its enrollment is still going: the retry of a soft bounce. Returns
/// whether it was planned.
pub async fn plan_again(
    tx: &mut OrgTx,
    message: Uuid,
    at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool, AppError> {
    let id = Uuid::now_v7();
    let planned = sqlx::query!(
        r#"insert into outreach_messages (org_id, message_id, enrollment_id, sequence_id, step_id, mailbox_id, to_address,
                                        subject, body_text, body_html, message_id_header, in_reply_to, references_header,
                                        state, scheduled_at, created_at)
           select m.org_id, $3, m.enrollment_id, m.sequence_id, m.step_id, m.mailbox_id, m.to_address, m.subject,
                  m.body_text, m.body_html,
                  '<' || replace($3::uuid::text, '-', '') || '@' || split_part(trim(both '<>' from m.message_id_header), '@', 2) || '>',
                  m.in_reply_to, m.references_header, 'planned', $4, $5
             from outreach_messages m
             join outreach_enrollments e on e.org_id = m.org_id and e.enrollment_id = m.enrollment_id
            where m.org_id = $1 and m.message_id = $2 and e.state = 'active'"#,
        tx.org().0,
        message,
        id,
        at,
        now
    )
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(planned == 1)
}

/// The active mailboxes with an IMAP server, for the periodic reading.
pub async fn readable_mailboxes(tx: &mut OrgTx) -> Result<Vec<Uuid>, AppError> {
    Ok(sqlx::query_scalar!(
        "select mailbox_id from outreach_mailboxes where org_id = $1 and status = 'active' and imap_host <> ''",
        tx.org().0
    )
    .fetch_all(tx.conn())
    .await?)
}
