//! What the app logs, for tests that check what is never logged (tokens, client-chosen text).
//!
//! One process-wide subscriber, installed by the first [`capture`]: tracing caches per call site
//! whether anyone listens, so a thread-scoped subscriber misses events when tests run in
//! parallel. It keeps every warning and error, the request spans (crate `relais_web`) and tower-http's
//! per-request events at debug level
//! (each carries the request spans' fields, which is where a path would leak). Tests share the
//! buffer: each looks only for the values it sent itself (unique request ids and tokens).

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing_subscriber::EnvFilter;

static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

/// Every log line captured so far (JSON, with each event's span fields), this test's included.
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl CapturedLogs {
    pub fn text(&self) -> String {
        let bytes = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The capture; the first call installs it for the rest of the test process.
pub fn capture() -> CapturedLogs {
    let buffer = BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(EnvFilter::new("warn,relais_web=info,tower_http=debug"))
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || SharedBuffer(writer.clone()))
            .finish();
        if tracing::subscriber::set_global_default(subscriber).is_err() {
            panic!("another global log subscriber is installed in this test process");
        }
        buffer
    });
    CapturedLogs { buffer: buffer.clone() }
}

struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
