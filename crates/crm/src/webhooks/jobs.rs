//! The delivery job: one attempt of one webhook delivery, signed, sent to the pinned public
//! address, logged, then settled or retried on the queue's backoff.

use std::time::{Duration, Instant};

use axum::http::header;
use hmac::{Hmac, KeyInit, Mac};
use kernel::OrgTx;
use kernel::jobs::{GiveUp, JobRun, Registry};
use kernel::vault::Vault;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;
use uuid::Uuid;

use super::address::{Refusal, resolve};
use super::{JOB_KIND, MAX_ATTEMPTS, secret_context, store};

const TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong with one attempt. An attempt stores the stable [`code`](Failure::code) (what
/// pages translate into the member's language, and the API returns) next to the English
/// [`message`](Failure::message) (the API's text); the only parameter is the receiver's HTTP
/// status, stored in its own column — never the receiver's body or the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The queue gave the delivery's job up.
    GaveUp,
    /// The endpoint's signing secret cannot be opened.
    SecretUnreadable,
    /// The URL or its address is refused before any connection.
    Refused(Refusal),
    ClientFailed,
    Timeout,
    ConnectFailed,
    RequestFailed,
    Redirect,
    /// An answer outside 2xx and 3xx; the status is in the attempt's `status_code`.
    HttpStatus(u16),
}

impl Failure {
    pub fn code(self) -> &'static str {
        match self {
            Self::GaveUp => "gave_up",
            Self::SecretUnreadable => "secret_unreadable",
            Self::Refused(refusal) => refusal.code(),
            Self::ClientFailed => "client_failed",
            Self::Timeout => "timeout",
            Self::ConnectFailed => "connect_failed",
            Self::RequestFailed => "request_failed",
            Self::Redirect => "redirect",
            Self::HttpStatus(_) => "http_status",
        }
    }

    /// The English sentence the attempt's `error` keeps (unchanged from before the codes).
    pub fn message(self) -> String {
        match self {
            Self::GaveUp => "the delivery job kept failing on our side and was given up".into(),
            Self::SecretUnreadable => {
                "the endpoint's signing secret cannot be opened: delete the endpoint and create it again".into()
            }
            Self::Refused(refusal) => refusal.message().into(),
            Self::ClientFailed => "could not build the HTTP client".into(),
            Self::Timeout => "timed out".into(),
            Self::ConnectFailed => "could not connect".into(),
            Self::RequestFailed => "the request failed".into(),
            Self::Redirect => "the endpoint answered with a redirect, which is not followed".into(),
            Self::HttpStatus(code) => format!("the endpoint answered HTTP {code}"),
        }
    }
}

/// The header value for `body` sent at `timestamp`.
pub fn signature(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes a key of any length; this arm cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Clone)]
struct Deliverer {
    vault: Vault,
    allow_private: bool,
}

pub fn register(registry: &mut Registry, vault: Vault, allow_private: bool) {
    let deliverer = Deliverer { vault, allow_private };
    registry.register(JOB_KIND, move |run| {
        let deliverer = deliverer.clone();
        async move { deliverer.run(run).await }
    });
    registry.on_give_up(JOB_KIND, give_up);
}

/// The queue gave up an attempt's job (it kept failing for a reason of ours, or timed out): the
/// delivery is failed with the reason logged as an attempt, never left pending for ever.
async fn give_up(run: GiveUp) -> anyhow::Result<OrgTx> {
    let GiveUp { mut tx, payload, now, .. } = run;
    let Some(delivery) = payload.get("delivery_id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
    else {
        return Ok(tx);
    };
    let Some(pending) = store::lock_pending(&mut tx, delivery).await?.filter(|p| p.status == "pending") else {
        return Ok(tx);
    };
    let attempt = pending.attempts + 1;
    store::insert_attempt(&mut tx, now, delivery, attempt, None, Some(Failure::GaveUp), 0).await?;
    store::set_status(&mut tx, delivery, "failed", None, None).await?;
    store::set_attempts(&mut tx, delivery, attempt).await?;
    Ok(tx)
}

/// How one attempt went.
struct Outcome {
    status_code: Option<u16>,
    failure: Option<Failure>,
}

impl Deliverer {
    async fn run(&self, run: JobRun) -> anyhow::Result<OrgTx> {
        let JobRun { mut tx, payload, now, .. } = run;
        let Some(delivery) = payload.get("delivery_id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok())
        else {
            anyhow::bail!("webhook job without a delivery id");
        };
        let pending = store::lock_pending(&mut tx, delivery).await?;
        // Deleted with its endpoint, or already settled (a retry job that raced a manual resend).
        let Some(pending) = pending.filter(|p| p.status == "pending") else { return Ok(tx) };
        if !pending.active {
            store::set_status(&mut tx, delivery, "skipped", None, None).await?;
            return Ok(tx);
        }
        let attempt = pending.attempts + 1;
        let secret = match self.vault.open(&secret_context(tx.org(), pending.endpoint_id), &pending.secret_sealed) {
            Ok(secret) => secret,
            Err(_) => {
                // Retrying cannot help (the sealed secret is damaged, or the master key changed):
                // fail the delivery now with the reason instead of leaving it pending for ever.
                tracing::warn!(delivery = %delivery, "webhook secret cannot be opened: delivery failed");
                store::insert_attempt(&mut tx, now, delivery, attempt, None, Some(Failure::SecretUnreadable), 0)
                    .await?;
                store::set_status(&mut tx, delivery, "failed", None, None).await?;
                store::set_attempts(&mut tx, delivery, attempt).await?;
                return Ok(tx);
            }
        };
        let body = serde_json::to_vec(&pending.payload)?;
        let started = Instant::now();
        // One bound for the DNS lookup and the request together: a worker's queue is shared by
        // every organization, so no endpoint may hold it long.
        let outcome =
            tokio::time::timeout(TIMEOUT, self.send(&pending.url, &secret, &pending.event_type, delivery, now, body))
                .await
                .unwrap_or(Outcome { status_code: None, failure: Some(Failure::Timeout) });
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        store::insert_attempt(&mut tx, now, delivery, attempt, outcome.status_code, outcome.failure, duration_ms)
            .await?;
        let delivered = outcome.status_code.is_some_and(|c| (200..300).contains(&c));
        if delivered {
            store::set_status(&mut tx, delivery, "delivered", Some(now), None).await?;
        } else if attempt >= MAX_ATTEMPTS {
            store::set_status(&mut tx, delivery, "failed", None, None).await?;
        } else {
            let next = now + retry_delay(attempt, delivery);
            store::set_status(&mut tx, delivery, "pending", None, Some(next)).await?;
            store::enqueue_attempt(&mut tx, now, delivery, attempt + 1, next).await?;
        }
        store::set_attempts(&mut tx, delivery, attempt).await?;
        Ok(tx)
    }

    async fn send(
        &self,
        url: &str,
        secret: &SecretString,
        event_type: &str,
        delivery: Uuid,
        now: OffsetDateTime,
        body: Vec<u8>,
    ) -> Outcome {
        let failed = |failure: Failure| Outcome { status_code: None, failure: Some(failure) };
        let (url, address) = match resolve(url, self.allow_private).await {
            Ok(target) => target,
            Err(refusal) => return failed(Failure::Refused(refusal)),
        };
        let Some(host) = url.host_str() else { return failed(Failure::Refused(Refusal::NoHost)) };
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .resolve(host, address)
            // A proxy from the environment would resolve the name again, past the address check.
            .no_proxy()
            .user_agent("Relais-Webhooks/1")
            .build()
        {
            Ok(client) => client,
            Err(_) => return failed(Failure::ClientFailed),
        };
        let response = client
            .post(url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header("Relais-Signature", signature(secret, now.unix_timestamp(), &body))
            .header("Relais-Event", event_type)
            .header("Relais-Delivery", delivery.to_string())
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) => {
                let code = response.status().as_u16();
                let failure = if response.status().is_success() {
                    None
                } else if response.status().is_redirection() {
                    Some(Failure::Redirect)
                } else {
                    Some(Failure::HttpStatus(code))
                };
                Outcome { status_code: Some(code), failure }
            }
            Err(e) if e.is_timeout() => failed(Failure::Timeout),
            Err(e) if e.is_connect() => failed(Failure::ConnectFailed),
            Err(_) => failed(Failure::RequestFailed),
        }
    }
}

/// How long to wait after failed attempt `attempt` (1-based): 1 min, 5 min, 30 min, 2 h, 6 h,
/// 12 h, 24 h — about 45 hours in all, so a receiver down for a day loses nothing. Each delivery
/// is shifted by up to ±10 % (from its id) so a burst of failures does not retry in lockstep.
pub fn retry_delay(attempt: i32, delivery: Uuid) -> time::Duration {
    const MINUTES: [i64; 7] = [1, 5, 30, 120, 360, 720, 1440];
    let index = usize::try_from(attempt.max(1) - 1).unwrap_or(0).min(MINUTES.len() - 1);
    let seconds = MINUTES[index] * 60;
    let spread = i64::try_from(delivery.as_u128() % 21).unwrap_or(10) - 10;
    time::Duration::seconds(seconds + seconds * spread / 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every failure an attempt can store reads as a sentence in both languages, never as a code.
    #[test]
    fn every_failure_code_has_a_sentence_in_both_languages() {
        kernel::i18n::install(crate::module().locales);
        let refusals = [
            Refusal::NotAUrl,
            Refusal::HttpsRequired,
            Refusal::Credentials,
            Refusal::NoHost,
            Refusal::PrivateAddress,
            Refusal::NoPort,
            Refusal::DoesNotResolve,
            Refusal::ResolvesPrivate,
        ];
        let failures = [
            Failure::GaveUp,
            Failure::SecretUnreadable,
            Failure::ClientFailed,
            Failure::Timeout,
            Failure::ConnectFailed,
            Failure::RequestFailed,
            Failure::Redirect,
            Failure::HttpStatus(503),
        ];
        let codes: Vec<&str> =
            failures.iter().chain(refusals.map(Failure::Refused).iter()).map(|f| f.code()).chain(["failed"]).collect();
        for lang in kernel::i18n::Lang::ALL {
            for code in &codes {
                let key = format!("crm.webhooks.error_{code}");
                assert_ne!(kernel::i18n::T(lang).get(&key), key, "{lang:?}");
            }
        }
    }

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // RFC 4231-independent check: recompute with the same primitive over the documented input.
        let secret = SecretString::from("whsec_test");
        let sig = signature(&secret, 1_700_000_000, b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(sig, format!("t=1700000000,v1={}", hex::encode(mac.finalize().into_bytes())));
    }
}
