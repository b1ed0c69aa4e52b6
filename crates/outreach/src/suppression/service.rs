//! The suppression list's rules, called by the API, the pages, the unsubscribe endpoint and the
//! bounce reader alike: adding an address stops, in the same transaction, every sequence writing
//! to it and cancels what was planned for it; the change is audited. The audit trail records the
//! reason and how many addresses, never the addresses themselves: the log is append-only and an
//! erased person's address must not stay in it.

use identity::model::EmailAddress;
use kernel::audit::{AuditEvent, AuditLog};
use kernel::{AppError, FieldError, OrgTx};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Reason, store};
use crate::sending;

/// At most this many addresses in one import: bigger lists go in several.
pub const IMPORT_MAX: usize = 10_000;

/// What adding addresses did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Suppressed {
    /// Addresses newly on the list (an address already there keeps its first reason).
    pub added: u64,
    /// Enrollments stopped because they wrote to one of them.
    pub stopped: u64,
}

/// The enrollment state an address's reason ends a sequence in.
fn ending(reason: Reason) -> &'static str {
    match reason {
        Reason::Unsubscribed | Reason::Complaint => "unsubscribed",
        Reason::HardBounce => "bounced",
        Reason::Manual | Reason::Imported => "stopped",
    }
}

/// Puts `emails` (normalized) on the list and stops every sequence writing to them.
async fn suppress_all(
    tx: &mut OrgTx,
    now: OffsetDateTime,
    emails: &[String],
    reason: Reason,
    note: &str,
    message: Option<Uuid>,
    by: Option<Uuid>,
) -> Result<Suppressed, AppError> {
    let added = match emails {
        [one] => u64::from(store::insert(tx, now, one, reason, note, message, by).await?),
        many => store::insert_many(tx, now, many, reason, note, by).await?,
    };
    let enrollments = store::enrollments_writing_to(tx, emails).await?;
    let code = format!("suppressed:{}", reason.as_str());
    for enrollment in &enrollments {
        sending::service::stop_enrollment(tx, *enrollment, ending(reason), &code, now).await?;
    }
    sending::service::cancel_messages_to(tx, emails, "suppressed").await?;
    Ok(Suppressed { added, stopped: enrollments.len() as u64 })
}

fn note_text(note: &str) -> Result<String, AppError> {
    let note = note.trim();
    if note.chars().count() > 500 || note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::field("note", "too_long", "At most 500 characters, on one line."));
    }
    Ok(note.to_owned())
}

/// A member adds one address (reason `manual`).
pub async fn add(
    tx: &mut OrgTx,
    audit: &AuditLog,
    now: OffsetDateTime,
    email: &str,
    note: &str,
    by: Uuid,
) -> Result<Suppressed, AppError> {
    let mut errors = Vec::new();
    let email = EmailAddress::parse("email", email).map_err(|e| errors.push(e)).ok();
    let note = note_text(note).map_err(|e| errors.extend(e.field_errors().iter().cloned())).ok();
    let (Some(email), Some(note)) = (email, note) else {
        return Err(AppError::Validation(errors));
    };
    let done = suppress_all(tx, now, &[email.as_str().to_owned()], Reason::Manual, &note, None, Some(by)).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.suppression.added")
                .payload(json!({ "reason": "manual", "added": done.added, "stopped": done.stopped })),
        )
        .await?;
    Ok(done)
}

/// Why pasted addresses cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// Line `line` (from 1) holds `word`, which is not an address.
    NotAnAddress {
        line: usize,
        word: String,
    },
    Empty,
    TooMany,
}

impl From<ImportError> for AppError {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::NotAnAddress { line, word } => AppError::Validation(vec![FieldError::new(
                "emails",
                "invalid_email_line",
                format!("Line {line}: “{word}” is not an email address."),
            )]),
            ImportError::Empty => AppError::field("emails", "required", "Paste at least one email address."),
            ImportError::TooMany => {
                AppError::field("emails", "too_many_addresses", "At most 10,000 addresses at a time.")
            }
        }
    }
}

/// The addresses of an import: one or more per line, separated by commas, semicolons, spaces
/// or tabs (a column pasted from a spreadsheet, a CSV of addresses). A header line whose only
/// word is `email` is skipped. Any address that is not one refuses the whole import, naming its
/// line: nothing is half-imported.
pub fn parse_import(text: &str) -> Result<Vec<String>, ImportError> {
    let mut emails = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for word in line.split([',', ';', ' ', '\t']).map(|w| w.trim().trim_matches('"')).filter(|w| !w.is_empty()) {
            if index == 0 && word.eq_ignore_ascii_case("email") {
                continue;
            }
            let email = EmailAddress::parse("emails", word)
                .map_err(|_| ImportError::NotAnAddress { line: index + 1, word: word.chars().take(80).collect() })?;
            emails.push(email.as_str().to_owned());
            if emails.len() > 2 * IMPORT_MAX {
                return Err(ImportError::TooMany);
            }
        }
    }
    emails.sort_unstable();
    emails.dedup();
    if emails.is_empty() {
        return Err(ImportError::Empty);
    }
    if emails.len() > IMPORT_MAX {
        return Err(ImportError::TooMany);
    }
    Ok(emails)
}

/// A member imports addresses (reason `imported`): all or nothing.
pub async fn import(
    tx: &mut OrgTx,
    audit: &AuditLog,
    now: OffsetDateTime,
    emails: &[String],
    note: &str,
    by: Uuid,
) -> Result<Suppressed, AppError> {
    let note = note_text(note)?;
    let done = suppress_all(tx, now, emails, Reason::Imported, &note, None, Some(by)).await?;
    audit
        .record(
            tx,
            AuditEvent::new("outreach.suppression.imported").payload(
                json!({ "reason": "imported", "given": emails.len(), "added": done.added, "stopped": done.stopped }),
            ),
        )
        .await?;
    Ok(done)
}

/// What an unsubscribe did: the address and the mailbox that wrote to it.
#[derive(Debug, Clone)]
pub struct Unsubscribed {
    pub email: String,
    pub from_address: Option<String>,
    pub done: Suppressed,
}

/// The recipient of `message` unsubscribes (the one-click link or its confirmation page):
/// suppressed at once for every sequence of the organization. `None`: no such message (it was
/// erased with its record). Doing it twice is harmless.
pub async fn unsubscribe(
    tx: &mut OrgTx,
    audit: &AuditLog,
    now: OffsetDateTime,
    message: Uuid,
) -> Result<Option<Unsubscribed>, AppError> {
    let Some((email, from_address)) = store::message_recipient(tx, message).await? else {
        return Ok(None);
    };
    let email = email.to_lowercase();
    let done =
        suppress_all(tx, now, std::slice::from_ref(&email), Reason::Unsubscribed, "", Some(message), None).await?;
    if done.added > 0 || done.stopped > 0 {
        audit
            .record(
                tx,
                AuditEvent::new("outreach.suppression.unsubscribed")
                    .target("outreach_message", message)
                    .payload(json!({ "reason": "unsubscribed", "added": done.added, "stopped": done.stopped })),
            )
            .await?;
    }
    Ok(Some(Unsubscribed { email, from_address, done }))
}

/// The bounce reader: a permanent failure for `email` (the message it answered, if known).
pub async fn hard_bounce(
    tx: &mut OrgTx,
    audit: &AuditLog,
    now: OffsetDateTime,
    email: &str,
    message: Option<Uuid>,
) -> Result<Suppressed, AppError> {
    let email = email.trim().to_lowercase();
    let done = suppress_all(tx, now, std::slice::from_ref(&email), Reason::HardBounce, "", message, None).await?;
    if done.added > 0 {
        let mut event = AuditEvent::new("outreach.suppression.bounced");
        if let Some(message) = message {
            event = event.target("outreach_message", message);
        }
        audit.record(tx, event.payload(json!({ "reason": "hard_bounce", "added": done.added }))).await?;
    }
    Ok(done)
}

/// An owner takes an address off the list (it was added by mistake; the person asked to hear
/// from the organization again). Sequences it stopped stay stopped.
pub async fn remove(tx: &mut OrgTx, audit: &AuditLog, email: &str) -> Result<(), AppError> {
    let email = email.trim().to_lowercase();
    let reason = store::delete(tx, &email).await?.ok_or(AppError::NotFound)?;
    audit.record(tx, AuditEvent::new("outreach.suppression.removed").payload(json!({ "reason": reason }))).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_import_reads_columns_lists_and_a_header_and_names_a_bad_line() {
        let text = "email\nLea@Example.eu\n\"bob@example.eu\"; ana@example.eu\tlea@example.eu\n";
        assert_eq!(
            parse_import(text),
            Ok(vec!["ana@example.eu".to_owned(), "bob@example.eu".to_owned(), "lea@example.eu".to_owned()])
        );
        assert_eq!(
            parse_import("a@example.eu\nnot-an-address\n"),
            Err(ImportError::NotAnAddress { line: 2, word: "not-an-address".into() })
        );
        assert_eq!(parse_import(" \n\n"), Err(ImportError::Empty));
        assert_eq!(parse_import("email\n"), Err(ImportError::Empty));
        let many: String = (0..=IMPORT_MAX).map(|i| format!("p{i}@example.eu\n")).collect();
        assert_eq!(parse_import(&many), Err(ImportError::TooMany));
    }
}
