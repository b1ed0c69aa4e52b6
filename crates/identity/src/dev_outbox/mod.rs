//! `/dev/outbox`: the local mail outbox (`RELAIS_MAIL_OUTBOX`, kernel::outbox), read-only, for a
//! demo or tests: the messages newest first, and each one's text with its links clickable. It
//! exists only when the outbox is configured (404 otherwise), and the configuration accepts an
//! outbox only on a loopback listener: its links are bearer credentials.
//!
//! Files: `pages.rs` (the list and one message).

pub mod pages;

/// One piece of a mail's text: plain, or a link to this instance.
enum Piece {
    Text(String),
    Link(String),
}

/// When a mail was written, as the page shows dates (nobody is signed in here: the visitor's
/// language, the default time zone); empty when the file does not say.
fn when(page: &kernel::web::Page, at: Option<time::OffsetDateTime>) -> String {
    at.map(|at| page.date_time(&at)).unwrap_or_default()
}

/// Splits `text` so that links to `origin` become clickable; nothing else is (the page links
/// nowhere but this instance).
fn pieces(text: &str, origin: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(origin) {
        let (before, from) = rest.split_at(start);
        let end = from.find(char::is_whitespace).unwrap_or(from.len());
        if !before.is_empty() {
            out.push(Piece::Text(before.to_owned()));
        }
        out.push(Piece::Link(from[..end].to_owned()));
        rest = &from[end..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_links_to_this_instance_are_clickable() {
        let parts = pieces(
            "Open\nhttp://localhost:8080/signup/confirm?token=abc\nnot https://evil.example/x",
            "http://localhost:8080",
        );
        let links: Vec<&str> =
            parts.iter().filter_map(|p| if let Piece::Link(l) = p { Some(l.as_str()) } else { None }).collect();
        assert_eq!(links, ["http://localhost:8080/signup/confirm?token=abc"]);
    }
}
