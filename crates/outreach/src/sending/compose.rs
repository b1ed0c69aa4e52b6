//! The email as it leaves: MIME with a plain-text part always and an HTML alternative made from
//! it, the fixed `Message-ID`, threading headers for a follow-up, and the RFC 8058 one-click
//! unsubscribe headers on every outreach email.

use lettre::Message;
use lettre::address::Envelope;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use time::OffsetDateTime;

/// What one message says, rendered.
pub struct Composed<'a> {
    pub from: &'a Mailbox,
    pub to: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub message_id_header: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: Option<&'a str>,
    /// `https://…/u/{token}`: the one-click unsubscribe link of this message.
    pub unsubscribe_url: &'a str,
    pub date: OffsetDateTime,
    /// Set when the message's sequence tracks opens and clicks.
    pub tracker: Option<&'a crate::tracking::Tracker<'a>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("the recipient's address is not valid")]
    Recipient,
    #[error("the message could not be built")]
    Build,
}

impl ComposeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Recipient => "invalid_recipient",
            Self::Build => "build_failed",
        }
    }
}

#[derive(Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_owned())
    }
}

/// The envelope and the bytes to hand to SMTP.
pub fn compose(message: &Composed<'_>) -> Result<(Envelope, Vec<u8>), ComposeError> {
    let to: Mailbox = message.to.parse().map_err(|_| ComposeError::Recipient)?;
    // The mailto form goes to the sending mailbox itself, which the inbox reader reads.
    let mailto = format!("mailto:{}?subject=unsubscribe", message.from.email);
    let mut builder = Message::builder()
        .from(message.from.clone())
        .to(to)
        .subject(message.subject)
        .message_id(Some(message.message_id_header.to_owned()))
        .date(std::time::SystemTime::from(message.date))
        .header(ListUnsubscribe(format!("<{}>, <{mailto}>", message.unsubscribe_url)))
        .header(ListUnsubscribePost);
    if let Some(parent) = message.in_reply_to {
        builder = builder.in_reply_to(parent.to_owned());
    }
    if let Some(references) = message.references {
        builder = builder.references(references.to_owned());
    }
    let built = builder
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(message.body_text.to_owned()))
                .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html(
                    message.body_text,
                    message.tracker,
                    message.unsubscribe_url,
                ))),
        )
        .map_err(|_| ComposeError::Build)?;
    Ok((built.envelope().clone(), built.formatted()))
}

/// The HTML alternative of a plain-text body: escaped, paragraphs and line breaks kept, web
/// links made clickable. Untracked, nothing is loaded from anywhere; tracked, the links but
/// `unsubscribe_url` go through the click redirect and a 1×1 image closes the body.
pub fn html(text: &str, tracker: Option<&crate::tracking::Tracker<'_>>, unsubscribe_url: &str) -> String {
    let mut out = String::from("<!doctype html><html><body>");
    for paragraph in text.split("\n\n") {
        out.push_str("<p>");
        for (i, line) in paragraph.lines().enumerate() {
            if i > 0 {
                out.push_str("<br>");
            }
            push_line(&mut out, line, tracker, unsubscribe_url);
        }
        out.push_str("</p>");
    }
    if let Some(tracker) = tracker {
        out.push_str(&format!("<img src=\"{}\" width=\"1\" height=\"1\" alt=\"\">", escape(&tracker.open_url())));
    }
    out.push_str("</body></html>");
    out
}

fn push_line(out: &mut String, line: &str, tracker: Option<&crate::tracking::Tracker<'_>>, unsubscribe_url: &str) {
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let is_link = (word.starts_with("https://") || word.starts_with("http://")) && word.len() > 8;
        if is_link {
            let escaped = escape(word);
            let href = match tracker {
                Some(tracker) if word != unsubscribe_url => escape(&tracker.click_url(word)),
                _ => escaped.clone(),
            };
            out.push_str(&format!("<a href=\"{href}\">{escaped}</a>"));
        } else {
            out.push_str(&escape(word));
        }
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_html_part_escapes_the_text_and_links_urls() {
        assert_eq!(
            html("Hi <b>Ada</b> & co\nsee https://x.example/u/t?a=1&b=2\n\nBye", None, ""),
            "<!doctype html><html><body><p>Hi &lt;b&gt;Ada&lt;/b&gt; &amp; co<br>see <a href=\"https://x.example/u/t?a=1&amp;b=2\">https://x.example/u/t?a=1&amp;b=2</a></p><p>Bye</p></body></html>"
        );
    }

    #[test]
    fn every_message_carries_one_click_unsubscribe_and_its_message_id() {
        let from: Mailbox = "Ada <ada@sender.example>".parse().unwrap();
        let composed = Composed {
            from: &from,
            to: "bob@example.org",
            subject: "Hello",
            body_text: "Hi Bob",
            message_id_header: "<m1@sender.example>",
            in_reply_to: Some("<m0@sender.example>"),
            references: Some("<m0@sender.example>"),
            unsubscribe_url: "https://relais.example/u/tok",
            date: OffsetDateTime::UNIX_EPOCH,
            tracker: None,
        };
        let (envelope, bytes) = compose(&composed).unwrap();
        // Long header lines are folded (RFC 5322 §2.2.3): read them unfolded.
        let text = String::from_utf8(bytes).unwrap().replace("\r\n ", " ");
        assert_eq!(envelope.to()[0].to_string(), "bob@example.org");
        assert!(text.contains(
            "List-Unsubscribe: <https://relais.example/u/tok>, <mailto:ada@sender.example?subject=unsubscribe>"
        ));
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(text.contains("Message-ID: <m1@sender.example>"));
        assert!(text.contains("In-Reply-To: <m0@sender.example>"));
        assert!(text.contains("text/plain") && text.contains("text/html"));
    }
}
