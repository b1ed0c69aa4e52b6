//! What a message read from a mailbox's inbox is, from its bytes alone (no database): a reply, an
//! auto-reply (RFC 3834 `Auto-Submitted`, the usual out-of-office markers), a bounce (a DSN of
//! RFC 3464, or a mailer daemon's recognizable failure notice), or an unsubscribe request sent to
//! the `mailto:` of `List-Unsubscribe`. It also gathers what lets the reader match it to an
//! outreach message: `In-Reply-To`/`References`, the bounced message's `Message-ID` and the failed
//! recipient.
//!
//! Parsing is mail-parser's (best effort, never panics); anything it cannot read is at worst a
//! message that matches nothing. Only the first [`super::FETCH_LIMIT`] bytes are read, so a huge
//! reply is classified from its headers and the start of its text.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

/// How a bounce is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Permanent (a 5.x.x status): the address is suppressed.
    Hard,
    /// Temporary (4.x.x), or a failure with no readable status: retried a bounded number of times.
    Soft,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft => "soft",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Reply,
    AutoReply,
    Bounce {
        severity: Severity,
        /// The DSN's status code (`5.1.1`), or empty.
        status: String,
        /// The address that failed (`Final-Recipient`), normalized, when the report names one.
        recipient: Option<String>,
    },
    /// A message whose subject asks to unsubscribe (the `mailto:` of `List-Unsubscribe`).
    Unsubscribe,
}

/// A message read from an inbox, as far as outreach cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub kind: Kind,
    /// The sender's address, normalized (empty when it has none).
    pub from: String,
    pub subject: String,
    /// The start of the text, for the timeline.
    pub excerpt: String,
    /// Message-IDs this message refers to, without angle brackets: `In-Reply-To`, `References`,
    /// and for a bounce the returned message's own `Message-ID`, most specific first.
    pub refers_to: Vec<String>,
    /// The `Date` header, when it parses.
    pub date: Option<time::OffsetDateTime>,
}

/// Characters of text kept as an excerpt.
const EXCERPT: usize = 500;

/// Reads a message. `None` when there is nothing that looks like a message at all.
pub fn classify(raw: &[u8]) -> Option<Inbound> {
    let message = MessageParser::default().parse(raw)?;
    let from = message
        .from()
        .and_then(|from| from.first())
        .and_then(|address| address.address())
        .map(|address| address.trim().to_lowercase())
        .unwrap_or_default();
    let subject = message.subject().unwrap_or_default().trim().to_owned();
    let mut refers_to = ids(message.in_reply_to().as_text_list(), message.in_reply_to().as_text());
    // The newest reference is the last one: look at it first.
    let mut references = ids(message.references().as_text_list(), message.references().as_text());
    references.reverse();
    refers_to.extend(references);
    let date = message.date().and_then(|date| time::OffsetDateTime::from_unix_timestamp(date.to_timestamp()).ok());
    let text = message.body_text(0).map(|text| text.into_owned()).unwrap_or_default();
    let excerpt = excerpt(&text);

    let kind = if let Some(report) = delivery_report(&message) {
        if let Some(original) = report.original_message_id {
            refers_to.insert(0, original);
        }
        match report.severity {
            Some(severity) => Kind::Bounce { severity, status: report.status, recipient: report.recipient },
            // A report that only says "delayed" or "delivered" is news, not a bounce.
            None => return None,
        }
    } else if is_failure_notice(&from, &subject) {
        let status = status_code(&text).unwrap_or_default();
        let severity = if status.starts_with('5') { Severity::Hard } else { Severity::Soft };
        if let Some(original) = returned_message_id(&message) {
            refers_to.insert(0, original);
        }
        Kind::Bounce { severity, status, recipient: None }
    } else if is_auto_reply(&message, &subject) {
        Kind::AutoReply
    } else if is_unsubscribe_request(&subject) {
        Kind::Unsubscribe
    } else {
        Kind::Reply
    };
    refers_to.dedup();
    // Anyone can write to a mailbox: a NUL or another control character (an encoded word can
    // carry one) would make PostgreSQL refuse the row and stop the inbox's reading at this message.
    let kind = match kind {
        Kind::Bounce { severity, status, recipient } => {
            Kind::Bounce { severity, status, recipient: recipient.map(|r| one_line(&r)).filter(|r| r.contains('@')) }
        }
        other => other,
    };
    let refers_to = refers_to.iter().map(|id| one_line(id)).filter(|id| !id.is_empty()).collect();
    Some(Inbound {
        kind,
        from: one_line(&from),
        subject: one_line(&subject).chars().take(1000).collect(),
        excerpt,
        refers_to,
        date,
    })
}

/// `text` without control characters: what a one-line field may store.
fn one_line(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

fn ids(list: Option<&[std::borrow::Cow<'_, str>]>, one: Option<&str>) -> Vec<String> {
    let raw: Vec<&str> = match (list, one) {
        (Some(list), _) => list.iter().map(|id| id.as_ref()).collect(),
        (None, Some(one)) => vec![one],
        (None, None) => Vec::new(),
    };
    raw.into_iter()
        .flat_map(|id| id.split_whitespace())
        .map(|id| id.trim_matches(|c| c == '<' || c == '>').to_owned())
        .filter(|id| !id.is_empty() && id.len() <= 300)
        .collect()
}

fn excerpt(text: &str) -> String {
    // Quoted history (`> …`) and the "On … wrote:" line are the message answered, not the reply.
    let mut kept = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('>') {
            continue;
        }
        if (trimmed.starts_with("On ") && trimmed.ends_with("wrote:"))
            || (trimmed.starts_with("Le ") && trimmed.ends_with("a écrit :"))
        {
            break;
        }
        if !kept.is_empty() {
            kept.push('\n');
        }
        kept.push_str(trimmed);
        if kept.chars().count() >= EXCERPT {
            break;
        }
    }
    let kept: String = kept.trim().chars().take(EXCERPT).collect();
    kept.chars().filter(|c| !c.is_control() || *c == '\n').collect()
}

/// What a `multipart/report; report-type=delivery-status` says (RFC 3464, RFC 6522).
struct Report {
    /// `None` when no recipient failed (only delayed, delivered, relayed or expanded).
    severity: Option<Severity>,
    status: String,
    recipient: Option<String>,
    original_message_id: Option<String>,
}

fn delivery_report(message: &Message<'_>) -> Option<Report> {
    let content_type = message.content_type()?;
    let is_report = content_type.ctype().eq_ignore_ascii_case("multipart")
        && content_type.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && content_type.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut report = Report { severity: None, status: String::new(), recipient: None, original_message_id: None };
    for part in message.parts.iter().skip(1) {
        let Some(part_type) = part.content_type() else { continue };
        let ctype = part_type.ctype().to_ascii_lowercase();
        let subtype = part_type.subtype().unwrap_or_default().to_ascii_lowercase();
        match (ctype.as_str(), subtype.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") => {
                read_status_fields(&String::from_utf8_lossy(part.contents()), &mut report);
            }
            ("text", "rfc822-headers") | ("message", "rfc822-headers") => {
                report.original_message_id = header_message_id(&String::from_utf8_lossy(part.contents()));
            }
            ("message", "rfc822" | "global") => {
                if let PartType::Message(returned) = &part.body {
                    report.original_message_id = returned.message_id().map(|id| id.trim_matches(['<', '>']).to_owned());
                }
            }
            _ => {}
        }
    }
    Some(report)
}

/// The per-recipient fields of a delivery-status body: blocks separated by blank lines, the first
/// about the message, the next one per recipient. The first recipient that failed decides.
fn read_status_fields(body: &str, report: &mut Report) {
    let body = body.replace("\r\n", "\n");
    for block in body.split("\n\n") {
        let mut action = None;
        let mut status = None;
        let mut recipient = None;
        for line in block.lines() {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "action" => action = Some(value.to_ascii_lowercase()),
                "status" => status = value.split_whitespace().next().map(str::to_owned),
                "final-recipient" | "original-recipient"
                    if recipient.is_none() || name.trim().eq_ignore_ascii_case("final-recipient") =>
                {
                    // `rfc822; someone@example.org`
                    let address = value.split_once(';').map_or(value, |(_, address)| address).trim();
                    recipient = Some(address.trim_matches(['<', '>']).to_lowercase());
                }
                _ => {}
            }
        }
        if action.as_deref() != Some("failed") {
            continue;
        }
        let status = status.filter(|s| is_status(s)).unwrap_or_default();
        // Only a permanent status suppresses an address: a report too broken to say is retried.
        report.severity = Some(if status.starts_with('5') { Severity::Hard } else { Severity::Soft });
        report.status = status;
        report.recipient = recipient.filter(|r| r.contains('@') && r.len() <= 254);
        return;
    }
}

/// `class.subject.detail` with class 2, 4 or 5 (RFC 3463).
fn is_status(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..].iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

fn status_code(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | ',' | ';' | ':'))
        .map(|word| word.trim_end_matches('.'))
        .find(|word| is_status(word) && !word.starts_with('2'))
        .map(str::to_owned)
}

fn header_message_id(headers: &str) -> Option<String> {
    let headers = headers.replace("\r\n", "\n");
    let mut lines = headers.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else { continue };
        if name.trim().eq_ignore_ascii_case("message-id") {
            let mut value = value.trim().to_owned();
            // A folded header continues on lines that start with white space.
            while lines.peek().is_some_and(|next| next.starts_with([' ', '\t'])) {
                value.push_str(lines.next().unwrap_or_default().trim());
            }
            let id = value.trim_matches(['<', '>', ' ']).to_owned();
            return (!id.is_empty() && id.len() <= 300).then_some(id);
        }
    }
    None
}

/// The Message-ID of a message a failure notice returns, attached or quoted in its text.
fn returned_message_id(message: &Message<'_>) -> Option<String> {
    for part in message.parts.iter().skip(1) {
        if let PartType::Message(returned) = &part.body {
            return returned.message_id().map(|id| id.trim_matches(['<', '>']).to_owned());
        }
    }
    message.body_text(0).and_then(|text| header_message_id(&text))
}

/// A mailer daemon's own failure notice that is not a DSN (qmail, older Exchange, many MTAs).
fn is_failure_notice(from: &str, subject: &str) -> bool {
    let local = from.split('@').next().unwrap_or_default();
    let daemon = matches!(local, "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon");
    let subject = subject.to_lowercase();
    let failure = [
        "undeliverable",
        "undelivered",
        "delivery status notification",
        "delivery failure",
        "failure notice",
        "returned mail",
        "mail delivery failed",
        "non remis",
        "non distribuable",
        "échec de la remise",
    ]
    .iter()
    .any(|marker| subject.contains(marker));
    daemon && failure
}

/// RFC 3834 `Auto-Submitted` other than `no`, the headers auto-responders add, or an
/// out-of-office subject.
fn is_auto_reply(message: &Message<'_>, subject: &str) -> bool {
    let header = |name: &str| message.header_raw(name).map(|value| value.trim().to_ascii_lowercase());
    if header("Auto-Submitted").is_some_and(|value| !value.is_empty() && !value.starts_with("no")) {
        return true;
    }
    if header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("X-Auto-Response-Suppress").is_some()
    {
        return true;
    }
    if header("Precedence").is_some_and(|value| matches!(value.as_str(), "auto_reply" | "bulk" | "junk")) {
        return true;
    }
    let subject = subject.to_lowercase();
    [
        "automatic reply",
        "auto-reply",
        "autoreply",
        "out of office",
        "out of the office",
        "réponse automatique",
        "absence du bureau",
        "absent du bureau",
    ]
    .iter()
    .any(|marker| subject.starts_with(marker) || subject.contains(&format!(": {marker}")))
}

/// The `mailto:` of `List-Unsubscribe` asks for the subject `unsubscribe`; a person typing it may
/// add a prefix (`Re:`) or capitals.
fn is_unsubscribe_request(subject: &str) -> bool {
    let subject = subject.trim().to_lowercase();
    let subject = subject.trim_start_matches("re:").trim_start_matches("tr:").trim_start_matches("fwd:").trim();
    matches!(subject, "unsubscribe" | "désabonner" | "se désabonner" | "désinscription")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> &'static str {
        "From: Ada Lovelace <Ada@Example.org>\r\nTo: camille@sender.example\r\nSubject: Re: Hello Ada\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <r1@example.org>\r\n\
         In-Reply-To: <m1@relais.localhost>\r\nReferences: <m0@relais.localhost> <m1@relais.localhost>\r\n\r\n\
         Yes, let's talk on Thursday.\r\n\r\nOn Mon, Camille wrote:\r\n> Hi Ada\r\n"
    }

    #[test]
    fn a_reply_names_its_sender_and_the_messages_it_answers_newest_first() {
        let inbound = classify(reply().as_bytes()).unwrap();
        assert_eq!(inbound.kind, Kind::Reply);
        assert_eq!(inbound.from, "ada@example.org");
        assert_eq!(inbound.subject, "Re: Hello Ada");
        assert_eq!(inbound.excerpt, "Yes, let's talk on Thursday.");
        assert_eq!(inbound.refers_to, ["m1@relais.localhost", "m0@relais.localhost"]);
        assert!(inbound.date.is_some());
    }

    #[test]
    fn auto_replies_are_recognized_by_header_or_subject() {
        let auto = reply().replace("Subject: Re: Hello Ada", "Subject: Re: Hello Ada\r\nAuto-Submitted: auto-replied");
        assert_eq!(classify(auto.as_bytes()).unwrap().kind, Kind::AutoReply);
        let not_auto = reply().replace("Subject: Re: Hello Ada", "Subject: Re: Hello Ada\r\nAuto-Submitted: no");
        assert_eq!(classify(not_auto.as_bytes()).unwrap().kind, Kind::Reply);
        let french = reply().replace("Subject: Re: Hello Ada", "Subject: Réponse automatique : absente");
        assert_eq!(classify(french.as_bytes()).unwrap().kind, Kind::AutoReply);
        let outlook = reply().replace("Subject: Re: Hello Ada", "Subject: Automatic reply: Hello Ada");
        assert_eq!(classify(outlook.as_bytes()).unwrap().kind, Kind::AutoReply);
    }

    fn dsn(action: &str, status: &str) -> String {
        format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: camille@sender.example\r\n\
             Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n\
             --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
             Final-Recipient: rfc822; Nobody@Example.org\r\nOriginal-Recipient: rfc822;nobody@example.org\r\n\
             Action: {action}\r\nStatus: {status}\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n\
             --b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: camille@sender.example\r\n\
             Message-ID:\r\n <m1@relais.localhost>\r\nSubject: Hello\r\n\r\n--b1--\r\n"
        )
    }

    #[test]
    fn a_dsn_is_a_bounce_hard_or_soft_by_its_status_naming_the_recipient_and_the_message() {
        let hard = classify(dsn("failed", "5.1.1").as_bytes()).unwrap();
        assert_eq!(
            hard.kind,
            Kind::Bounce {
                severity: Severity::Hard,
                status: "5.1.1".into(),
                recipient: Some("nobody@example.org".into())
            }
        );
        assert_eq!(hard.refers_to.first().map(String::as_str), Some("m1@relais.localhost"));
        let soft = classify(dsn("failed", "4.2.2").as_bytes()).unwrap();
        assert!(matches!(soft.kind, Kind::Bounce { severity: Severity::Soft, .. }));
        // "delayed" is not a failure: nothing to act on.
        assert_eq!(classify(dsn("delayed", "4.4.7").as_bytes()), None);
    }

    #[test]
    fn a_malformed_dsn_is_still_a_bounce_but_never_a_hard_one_without_a_status() {
        let broken = dsn("failed", "garbage").replace("Final-Recipient: rfc822; Nobody@Example.org\r\n", "");
        let inbound = classify(broken.as_bytes()).unwrap();
        assert_eq!(
            inbound.kind,
            Kind::Bounce {
                severity: Severity::Soft,
                status: String::new(),
                recipient: Some("nobody@example.org".into())
            }
        );
        // A report cut short (no closing boundary, no status part) reads as a report with no
        // failed recipient.
        let cut = dsn("failed", "5.1.1");
        let cut = &cut[..cut.find("--b1\r\nContent-Type: message/delivery-status").unwrap()];
        assert_eq!(classify(cut.as_bytes()), None);
        assert_eq!(classify(b"\xff\xfe\x00garbage"), classify(b"\xff\xfe\x00garbage"));
    }

    #[test]
    fn a_mailer_daemon_notice_without_a_report_is_a_bounce_read_from_its_text() {
        let notice = "From: MAILER-DAEMON@mx.example.org\r\nSubject: failure notice\r\n\r\n\
                      Sorry, we were unable to deliver your message to nobody@example.org.\r\n\
                      Remote host said: 550 5.1.1 <nobody@example.org>: Recipient address rejected\r\n\r\n\
                      --- Below this line is a copy of the message.\r\n\r\nMessage-ID: <m2@relais.localhost>\r\n";
        let inbound = classify(notice.as_bytes()).unwrap();
        assert!(matches!(&inbound.kind, Kind::Bounce { severity: Severity::Hard, status, .. } if status == "5.1.1"));
        assert_eq!(inbound.refers_to, ["m2@relais.localhost"]);
    }

    #[test]
    fn control_characters_from_a_sender_never_reach_what_is_stored_or_queried() {
        let mail = "From: =?utf-8?q?Ada?= <ada@example.org>\r\nSubject: =?utf-8?q?Re=3A_a=00b=07c?=\r\n\
                    In-Reply-To: <m1@relais.localhost>\r\n\r\nHi\u{0}there\r\n";
        let inbound = classify(mail.as_bytes()).unwrap();
        assert_eq!(inbound.subject, "Re: abc");
        assert!(inbound.excerpt.chars().all(|c| !c.is_control() || c == '\n'), "{:?}", inbound.excerpt);
        assert!(inbound.refers_to.iter().chain([&inbound.from]).all(|t| !t.chars().any(char::is_control)));
    }

    #[test]
    fn the_list_unsubscribe_mailto_is_an_unsubscribe_request() {
        let mail = "From: ada@example.org\r\nTo: camille@sender.example\r\nSubject: unsubscribe\r\n\r\n";
        assert_eq!(classify(mail.as_bytes()).unwrap().kind, Kind::Unsubscribe);
        let mail = "From: ada@example.org\r\nSubject: Re: unsubscribe me from nothing\r\n\r\nhi";
        assert_eq!(classify(mail.as_bytes()).unwrap().kind, Kind::Reply);
    }
}
