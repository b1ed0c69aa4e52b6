//! Security notices to a member by email (a reused refresh token, a locked account), queued through
//! the platform mail job in the caller's transaction: the notice exists only if the event does.

use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::web::AppState;
use kernel::{AppError, OrgTx};
use uuid::Uuid;

/// Where and how to write to a member: their address, first name, language and organization.
pub struct Recipient {
    pub email: String,
    pub first_name: String,
    pub language: String,
    pub org_name: String,
}

/// The active member's mail details, or `None` for a deactivated or unknown member. With `lock`,
/// the member's row stays locked until the transaction ends, so two simultaneous requests cannot
/// both pass a "one mail per interval" check.
pub async fn recipient(tx: &mut OrgTx, user: Uuid, lock: bool) -> Result<Option<Recipient>, sqlx::Error> {
    if lock {
        sqlx::query_as!(
            Recipient,
            "select u.email, u.first_name, u.language, o.name as org_name
             from users u join organizations o on o.org_id = u.org_id
             where u.org_id = $1 and u.user_id = $2 and u.status = 'active'
             for update of u",
            tx.org().0,
            user
        )
        .fetch_optional(tx.conn())
        .await
    } else {
        sqlx::query_as!(
            Recipient,
            "select u.email, u.first_name, u.language, o.name as org_name
             from users u join organizations o on o.org_id = u.org_id
             where u.org_id = $1 and u.user_id = $2 and u.status = 'active'",
            tx.org().0,
            user
        )
        .fetch_optional(tx.conn())
        .await
    }
}

/// Sends `<key>.subject` / `<key>.body` in the member's language. The body may use `{name}`,
/// `{org}`, `{link}` (the login page) and the `extra` placeholders. Deactivated members get nothing.
pub async fn security_notice(
    state: &AppState,
    tx: &mut OrgTx,
    user: Uuid,
    key: &str,
    extra: &[(&str, &str)],
) -> Result<(), AppError> {
    let recipient = recipient(tx, user, false).await?;
    let Some(recipient) = recipient else { return Ok(()) };
    let t = T(Lang::parse(&recipient.language).unwrap_or(Lang::En));
    let link = state.config.public_url.join("/login");
    let mut args =
        vec![("name", recipient.first_name.as_str()), ("org", recipient.org_name.as_str()), ("link", link.as_str())];
    args.extend_from_slice(extra);
    let message = OutgoingMail {
        to: recipient.email.clone(),
        subject: t.get(&format!("{key}.subject")).to_owned(),
        text: t.fmt(&format!("{key}.body"), &args),
        html: None,
    };
    mail::enqueue(tx, &state.clock, &state.vault, &message).await?;
    Ok(())
}
