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

/// An HTTP/1.1 request written by hand on a TCP connection, its body sent chunk by chunk when the
/// test says: for uploads that are slow, that stall, or that never end. The request asks the
/// server to close the connection after its answer.
pub struct RawRequest {
    writer: Option<tokio::net::tcp::OwnedWriteHalf>,
    reader: tokio::net::tcp::OwnedReadHalf,
}

impl RawRequest {
    /// Connects and sends the request line and headers, with `Transfer-Encoding: chunked`.
    pub async fn start(address: std::net::SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncWriteExt;
        let stream = tokio::net::TcpStream::connect(address).await.expect("connect");
        let (reader, mut writer) = stream.into_split();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes()).await.expect("request head");
        Self { writer: Some(writer), reader }
    }

    /// Sends `bytes` as one chunk of the body.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let writer = self.writer.as_mut().expect("the body is still open");
        send_chunk(writer, bytes).await
    }

    /// Ends the body.
    pub async fn finish(&mut self) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let writer = self.writer.as_mut().expect("the body is still open");
        writer.write_all(b"0\r\n\r\n").await?;
        writer.flush().await
    }

    /// The writing half, to send the body from another task (an endless body, say).
    pub fn take_writer(&mut self) -> tokio::net::tcp::OwnedWriteHalf {
        self.writer.take().expect("the body is still open")
    }

    /// The answer's status and body (read up to its Content-Length, or to the end).
    pub async fn response(mut self) -> (u16, String) {
        use tokio::io::AsyncReadExt;
        let mut received = Vec::new();
        let mut buffer = [0u8; 8192];
        let head_end = loop {
            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            let n = self.reader.read(&mut buffer).await.expect("response");
            assert!(n > 0, "the connection closed before an answer: {}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&buffer[..n]);
        };
        let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
        let length = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
            .and_then(|v| v.parse::<usize>().ok());
        let mut body = received[head_end..].to_vec();
        while length.is_none_or(|length| body.len() < length) {
            match self.reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&buffer[..n]),
            }
        }
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// Writes one chunk of a chunked body.
pub async fn send_chunk(writer: &mut tokio::net::tcp::OwnedWriteHalf, bytes: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    if bytes.is_empty() {
        return Ok(());
    }
    writer.write_all(format!("{:x}\r\n", bytes.len()).as_bytes()).await?;
    writer.write_all(bytes).await?;
    writer.write_all(b"\r\n").await?;
    writer.flush().await
}
