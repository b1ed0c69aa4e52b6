//! Small readers and writers of HTTP details that many tests check.

/// The value of a response header as text, or "" when it is absent.
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).map(|v| v.to_str().expect("a text header").to_string()).unwrap_or_default()
}

/// `text` percent-encoded for a query-string value: every byte but ASCII letters, digits, `-`, `_`
/// and `.` as `%XX`.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
