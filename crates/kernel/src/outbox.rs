//! The local mail outbox (`RELAIS_MAIL_OUTBOX`): for a demo or tests, the platform's mail is
//! written as `.eml` files in a directory instead of being sent, and `/dev/outbox` shows them.
//!
//! Why our own writer rather than lettre's `file-transport`: lettre names files by a random UUID
//! and writes them with the process umask. We want names that sort by time (the page lists newest
//! first without reading every file's date) and files only their owner can read (mode 0600 in a
//! 0700 directory): the mails carry bearer links. The file content is the exact RFC 5322 message
//! lettre would send (`Message::formatted`).
//!
//! The configuration refuses an outbox unless the app listens on loopback only (see `config`).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes one message; returns the file's path. Names are `<unix nanoseconds, 20 digits>-<uuid>.eml`.
pub fn write(dir: &Path, message: &[u8], now: time::OffsetDateTime) -> std::io::Result<PathBuf> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // An existing directory keeps its mode with `create`: tighten it in case it was looser.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let nanos = u128::try_from(now.unix_timestamp_nanos()).unwrap_or(0);
    let path = dir.join(format!("{nanos:020}-{}.eml", uuid::Uuid::new_v4().simple()));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    file.write_all(message)?;
    file.sync_all()?;
    Ok(path)
}

/// One message of the outbox, parsed for display.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMail {
    /// The file name without `.eml`: what `/dev/outbox/{id}` names.
    pub id: String,
    pub to: String,
    pub subject: String,
    pub written_at: Option<time::OffsetDateTime>,
    pub text: String,
}

impl std::fmt::Debug for OutboxMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMail").field("id", &self.id).finish_non_exhaustive()
    }
}

/// Ids are exactly what [`write`] makes: 20 digits, a dash, 32 hex digits. Anything else (a path,
/// `..`) names no message.
fn valid_id(id: &str) -> bool {
    let Some((nanos, uuid)) = id.split_once('-') else { return false };
    nanos.len() == 20
        && nanos.bytes().all(|b| b.is_ascii_digit())
        && uuid.len() == 32
        && uuid.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

fn parse(id: &str, raw: &[u8]) -> OutboxMail {
    let written_at = id
        .split_once('-')
        .and_then(|(nanos, _)| nanos.parse::<i128>().ok())
        .and_then(|nanos| time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok());
    let message = mail_parser::MessageParser::default().parse(raw);
    let to = message
        .as_ref()
        .and_then(|m| m.to())
        .map(|a| a.iter().filter_map(|addr| addr.address().map(str::to_owned)).collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let subject = message.as_ref().and_then(|m| m.subject()).unwrap_or_default().to_owned();
    let text = message.as_ref().and_then(|m| m.body_text(0)).map(|t| t.into_owned()).unwrap_or_default();
    OutboxMail { id: id.to_owned(), to, subject, written_at, text }
}

/// Every message in `dir`, newest first. A missing directory is an empty outbox.
pub fn list(dir: &Path) -> std::io::Result<Vec<OutboxMail>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| entry.file_name().to_str().and_then(|n| n.strip_suffix(".eml")).map(str::to_owned))
        .filter(|id| valid_id(id))
        .collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let mut mails = Vec::with_capacity(ids.len());
    for id in ids {
        let raw = std::fs::read(dir.join(format!("{id}.eml")))?;
        mails.push(parse(&id, &raw));
    }
    Ok(mails)
}

/// The message `id`, if there is one.
pub fn read(dir: &Path, id: &str) -> std::io::Result<Option<OutboxMail>> {
    if !valid_id(id) {
        return Ok(None);
    }
    match std::fs::read(dir.join(format!("{id}.eml"))) {
        Ok(raw) => Ok(Some(parse(id, &raw))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_only_what_write_makes() {
        assert!(valid_id("01763800000000000000-0123456789abcdef0123456789abcdef"));
        for bad in ["../x", "", "0176-abc", "01763800000000000000-0123456789ABCDEF0123456789abcdef", "a/b-c"] {
            assert!(!valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn written_messages_are_private_and_listed_newest_first() {
        let dir = std::env::temp_dir().join(format!("relais-outbox-unit-{}", uuid::Uuid::new_v4().simple()));
        let t0 = time::OffsetDateTime::now_utc();
        let message = |subject: &str| {
            format!("To: ada@example.eu\r\nSubject: {subject}\r\nContent-Type: text/plain\r\n\r\nhttp://x/y\r\n")
        };
        let first = write(&dir, message("one").as_bytes(), t0).unwrap();
        write(&dir, message("two").as_bytes(), t0 + time::Duration::seconds(1)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&first), 0o600);
        let mails = list(&dir).unwrap();
        assert_eq!(mails.iter().map(|m| m.subject.as_str()).collect::<Vec<_>>(), ["two", "one"]);
        assert_eq!(mails[1].to, "ada@example.eu");
        assert!(mails[1].text.contains("http://x/y"));
        assert_eq!(read(&dir, &mails[0].id).unwrap().unwrap().subject, "two");
        assert!(read(&dir, "../../etc/passwd").unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
