//! Recording opens and clicks: the first time only, and only while the message's sequence still
//! tracks (an owner who turns tracking off stops the recording at once, even for mail sent
//! before).

use kernel::{AppError, OrgTx};
use time::OffsetDateTime;
use uuid::Uuid;

pub async fn opened(tx: &mut OrgTx, message: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_messages m set opened_at = coalesce(m.opened_at, $3)
          where m.org_id = $1 and m.message_id = $2 and m.state = 'sent' and m.opened_at is null
            and exists (select 1 from outreach_sequences q
                         where q.org_id = m.org_id and q.sequence_id = m.sequence_id and q.tracking)",
        tx.org().0,
        message,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A click is also an open (the image may have been blocked).
pub async fn clicked(tx: &mut OrgTx, message: Uuid, now: OffsetDateTime) -> Result<(), AppError> {
    sqlx::query!(
        "update outreach_messages m set clicked_at = coalesce(m.clicked_at, $3), opened_at = coalesce(m.opened_at, $3)
          where m.org_id = $1 and m.message_id = $2 and m.state = 'sent' and m.clicked_at is null
            and exists (select 1 from outreach_sequences q
                         where q.org_id = m.org_id and q.sequence_id = m.sequence_id and q.tracking)",
        tx.org().0,
        message,
        now
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}
