//! Security notices to a member by email (a reused refresh token, a locked account), queued through
//! the platform mail job in the caller's transaction: the notice exists only if the event does.

use kernel::i18n::{Lang, T};
use kernel::mail::{self, OutgoingMail};
use kernel::web::AppState;
use kernel::{AppError, OrgTx};
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Recipient {
    email: String,
    first_name: String,
    language: String,
    org_name: String,
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
    let recipient: Option<Recipient> = sqlx::query_as(
        "select u.email, u.first_name, u.language, o.name as org_name
         from users u join organizations o on o.org_id = u.org_id
         where u.org_id = $1 and u.user_id = $2 and u.status = 'active'",
    )
    .bind(tx.org())
    .bind(user)
    .fetch_optional(tx.conn())
    .await?;
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
