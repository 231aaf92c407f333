//! Webhook delivery over HTTP(S), and the signature of the JSON body.
//!
//! Each `[[alerts.webhook]]` gets its own reqwest client (rustls with ring, certificates checked
//! against the system's trust store, no redirects followed: a redirect could carry the signed
//! body elsewhere) and a hard limit per request (`timeout`, connect to answer), so a receiver
//! that hangs costs one attempt of its own deliveries and nothing else. An attempt succeeds on
//! a 2xx answer; anything else is a failure that stays in the outbox: unreachable, timed out,
//! 408, 429 and 5xx say the destination is down ([`WebhookError::destination_down`]), other
//! answers say this body was refused.
//!
//! `kind = "json"` bodies are signed when `secret_env` names the secret:
//! `X-Skimwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, `t`
//! being the time of the attempt, so a receiver can reject replays ([`verify`] is the recipe).
//! Secrets stay out of everything else: the signing secret and a URL from `url_env` are read
//! from the environment at start, never logged or stored; logs, errors and `status` name a
//! webhook by its name and its URL's scheme and host only ([`redacted`]), since the path of a
//! Slack or Teams webhook URL is its token; error texts from the HTTP client are taken without
//! the URL and scrubbed of it anyway.

use super::payload::{self, WebhookBody};
use super::render::View;
use super::Alert;
use crate::config::{WebhookConfig, WebhookKind, WebhookUrl};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::time::Duration;

pub const SIGNATURE_HEADER: &str = "x-skimwatch-signature";
/// The alert's id (the body's `id`), on every kind.
pub const ALERT_HEADER: &str = "x-skimwatch-alert";
/// The alert's kind (`findings`, `recovered`, …), on every kind.
pub const EVENT_HEADER: &str = "x-skimwatch-event";
/// How much of a refusal's answer is kept for the error (Slack says `invalid_blocks` there).
const ANSWER_BYTES: usize = 300;
/// Signatures older or newer than this are refused by [`verify`] callers that use the default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("[[alerts.webhook]] {name}: {key}: the environment variable {var} is not set (or empty); export it in the daemon's environment (systemd: EnvironmentFile=), never in the config file")]
    NoEnv { name: String, key: &'static str, var: String },
    #[error("[[alerts.webhook]] {name}: url_env: the URL in ${var} is not usable: {reason}")]
    BadUrl { name: String, var: String, reason: String },
    #[error("webhook {name}: cannot set up the HTTP client: {reason}")]
    Client { name: String, reason: String },
    #[error("webhook {name} ({target}) did not take the alert: {reason}")]
    Send { name: String, target: String, reason: String },
    #[error("webhook {name} ({target}) refused the alert: HTTP {status}{answer}")]
    Status { name: String, target: String, status: u16, answer: String },
}

impl WebhookError {
    /// The destination is down (unreachable, timing out, overloaded), rather than refusing
    /// this one body: its other alerts would fail the same way now.
    pub fn destination_down(&self) -> bool {
        match self {
            WebhookError::Send { .. } => true,
            WebhookError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }
}

/// A URL as logs and `status` show it: scheme, host and port, never the path, query or
/// credentials (`https://hooks.slack.com`).
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(port) => format!("{}://{host}:{port}", u.scheme()),
                None => format!("{}://{host}", u.scheme()),
            }
        }
        Err(_) => "(not a URL)".to_string(),
    }
}

/// A configured webhook. Holds the URL and the signing secret; deliberately not `Debug`.
pub struct Webhook {
    name: String,
    kind: WebhookKind,
    client: reqwest::Client,
    url: reqwest::Url,
    target: String,
    secret: Option<Vec<u8>>,
    timeout: Duration,
}

type HmacSha256 = Hmac<Sha256>;

/// The signature header's value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("the signature was made {age} s away from now, more than the tolerance allows (a replay?)")]
    Stale { age: i64 },
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// Checks a signature header against the raw `body` as received: `t` within `tolerance` of
/// `now` (Unix seconds) and one `v1` equal, in constant time, to HMAC-SHA256(secret, "t.body").
/// The recipe a receiver implements (docs/webhooks.md has it in Python).
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance: Duration) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", v)) => signatures.push(hex::decode(v).map_err(|_| VerifyError::Malformed)?),
            Some(_) => {} // other schemes, for later versions
            None => return Err(VerifyError::Malformed),
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let age = now.saturating_sub(timestamp);
    if age.unsigned_abs() > tolerance.as_secs() {
        return Err(VerifyError::Stale { age });
    }
    if signatures.iter().any(|s| mac(secret, timestamp, body).verify_slice(s).is_ok()) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// A variable of the daemon's environment, non-empty.
fn env(name: &str, key: &'static str, var: &str) -> Result<String, WebhookError> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(WebhookError::NoEnv { name: name.to_string(), key, var: var.to_string() }),
    }
}

impl Webhook {
    /// Builds the client from the config; reads the URL (`url_env`) and the secret from the
    /// environment.
    pub fn new(config: &WebhookConfig) -> Result<Webhook, WebhookError> {
        let name = config.name.clone();
        let url = match &config.url {
            WebhookUrl::Literal(url) => url.clone(),
            WebhookUrl::Env(var) => {
                let url = env(&name, "url_env", var)?.trim().to_string();
                // The URL may be the credential: the reason never quotes it.
                crate::config::check_webhook_url(&url).map_err(|_| WebhookError::BadUrl {
                    name: name.clone(),
                    var: var.clone(),
                    reason: "not an http:// or https:// URL with a host and without credentials".to_string(),
                })?;
                url
            }
        };
        let target = redacted(&url);
        // Checked when the config was read (`url`) or just above (`url_env`).
        let parsed = reqwest::Url::parse(&url)
            .map_err(|_| WebhookError::Client { name: name.clone(), reason: format!("{target} is not a URL") })?;
        let secret = config.secret_env.as_deref().map(|var| env(&name, "secret_env", var)).transpose()?;
        let client = client(config.timeout)
            .map_err(|e| WebhookError::Client { name: name.clone(), reason: scrub(&super::error_chain(&e), &url) })?;
        Ok(Webhook {
            name,
            kind: config.kind,
            client,
            url: parsed,
            target,
            secret: secret.map(String::into_bytes),
            timeout: config.timeout,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Scheme and host of the URL, for messages.
    pub fn target(&self) -> &str {
        &self.target
    }

    pub fn kind(&self) -> WebhookKind {
        self.kind
    }

    /// Whether bodies are signed (`kind = "json"` with `secret_env`).
    pub fn signed(&self) -> bool {
        self.secret.is_some()
    }

    /// The body this webhook sends for `alert` (already filtered for it), from its `view`.
    pub fn body(&self, alert: &Alert, view: &View, summary: &str, id: &str) -> Vec<u8> {
        let value = match self.kind {
            WebhookKind::Json => serde_json::to_value(WebhookBody::new(alert, view, summary, id)),
            WebhookKind::Slack => Ok(payload::slack(alert, view, summary, id)),
            WebhookKind::Teams => Ok(payload::teams(alert, view, summary, id)),
        };
        // Serialising plain structs and `json!` values cannot fail.
        value.and_then(|v| serde_json::to_vec(&v)).unwrap_or_default()
    }

    /// Posts one body; `Ok` only on a 2xx answer.
    pub async fn send(&self, body: Vec<u8>, id: &str, event: &str) -> Result<(), WebhookError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ALERT_HEADER, id)
            .header(EVENT_HEADER, event);
        if let Some(secret) = &self.secret {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            request = request.header(SIGNATURE_HEADER, sign(secret, now, &body));
        }
        let send_err = |reason: String| WebhookError::Send {
            name: self.name.clone(),
            target: self.target.clone(),
            reason: scrub(&reason, self.url.as_str()),
        };
        // reqwest's own timeout covers connect, send and answer; this one is the backstop.
        let attempt = async {
            let response =
                request.body(body).send().await.map_err(|e| send_err(super::error_chain(&e.without_url())))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let answer = answer(response).await;
            Err(WebhookError::Status {
                name: self.name.clone(),
                target: self.target.clone(),
                status: status.as_u16(),
                answer: scrub(&answer, self.url.as_str()),
            })
        };
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), attempt).await {
            Ok(result) => result,
            Err(_) => Err(send_err(format!("no answer within {}", humantime::format_duration(self.timeout)))),
        }
    }
}

/// The start of a refusal's answer, as `: <text>` on one line (empty when there is none).
async fn answer(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < ANSWER_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(ANSWER_BYTES);
    let text = crate::text::flatten(&String::from_utf8_lossy(&bytes));
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    crate::http::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
}

/// `text` without the URL or its path, in case a layer below quoted it.
fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redacted(url));
    if let Ok(u) = url::Url::parse(url) {
        let path = u.path();
        if path.len() > 1 {
            out = out.replace(path, "/…");
        }
        if let Some(q) = u.query().filter(|q| !q.is_empty()) {
            out = out.replace(q, "…");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_and_fails_for_a_changed_body_or_an_old_timestamp() {
        let secret = b"whsec_test";
        let body = br#"{"version":1,"kind":"findings"}"#;
        let header = sign(secret, 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        assert_eq!(header.len(), "t=1700000000,v1=".len() + 64);
        assert_eq!(verify(secret, &header, body, 1_700_000_100, DEFAULT_TOLERANCE), Ok(()));
        // The same recipe by hand: HMAC-SHA256 over "t.body".
        let mut m = HmacSha256::new_from_slice(secret).unwrap();
        m.update(b"1700000000.");
        m.update(body);
        assert_eq!(header, format!("t=1700000000,v1={}", hex::encode(m.finalize().into_bytes())));

        let changed = br#"{"version":1,"kind":"reminder"}"#;
        assert_eq!(verify(secret, &header, changed, 1_700_000_100, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
        assert_eq!(verify(b"other", &header, body, 1_700_000_100, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
        assert_eq!(
            verify(secret, &header, body, 1_700_000_301, DEFAULT_TOLERANCE),
            Err(VerifyError::Stale { age: 301 }),
            "an old signature is a replay"
        );
        assert!(matches!(
            verify(secret, &header, body, 1_699_999_000, DEFAULT_TOLERANCE),
            Err(VerifyError::Stale { .. })
        ));
        // A replayed body with a fresh timestamp but the old signature does not verify.
        let replay = header.replace("t=1700000000", "t=1700000400");
        assert_eq!(verify(secret, &replay, body, 1_700_000_400, DEFAULT_TOLERANCE), Err(VerifyError::Mismatch));
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(verify(secret, bad, body, 1, DEFAULT_TOLERANCE), Err(VerifyError::Malformed), "{bad}");
        }
        // Several v1 values (a secret being rotated): one match is enough.
        let two = format!("t=1700000000,v1={},{}", "0".repeat(64), header.split(',').nth(1).unwrap());
        assert_eq!(verify(secret, &two, body, 1_700_000_000, DEFAULT_TOLERANCE), Ok(()));
    }

    #[test]
    fn urls_are_shown_by_scheme_and_host_only() {
        assert_eq!(redacted("https://hooks.slack.com/services/T000/B000/XXXXSECRET"), "https://hooks.slack.com");
        assert_eq!(redacted("http://127.0.0.1:8080/hook?token=abc"), "http://127.0.0.1:8080");
        assert_eq!(redacted("smtp://mail.example:587?tls=required"), "smtp://mail.example:587");
        assert_eq!(redacted("not a url"), "(not a URL)");
        let url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        let scrubbed = scrub(&format!("error sending request for url ({url}): /services/T000/B000/XXXXSECRET"), url);
        assert!(!scrubbed.contains("XXXXSECRET"), "{scrubbed}");
    }

    #[test]
    fn down_or_refused() {
        let status =
            |status| WebhookError::Status { name: "n".into(), target: "t".into(), status, answer: String::new() };
        assert!(status(503).destination_down() && status(429).destination_down() && status(408).destination_down());
        assert!(!status(400).destination_down() && !status(404).destination_down() && !status(302).destination_down());
        assert!(
            WebhookError::Send { name: "n".into(), target: "t".into(), reason: "refused".into() }.destination_down()
        );
    }
}
