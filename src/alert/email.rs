//! Email delivery over SMTP with lettre, async on tokio.
//!
//! `smtp://host[:port]` submits with STARTTLS when the server offers it (`?tls=required`
//! refuses to go on without it, `?tls=none` never uses it), default port 587; `smtps://` speaks
//! TLS from the start, default port 465. With a `username` STARTTLS is always required
//! (lettre's `Tls::Required`): a server that does not offer it gets no AUTH and no message,
//! the send fails with [`EmailError::NoStartTls`], and the alert stays in the outbox for the
//! next retry; `?tls=none` with a username is refused when the config is read. Certificates are checked against the system's trust
//! store. The password is read from the environment variable named by `password_env` and is
//! never logged or stored. Each outbox row keeps one `Message-ID` across retries, so in the rare
//! case of a crash between the server's acceptance and the outbox update, the resent copy is
//! recognisably the same message.

use super::render::Rendered;
use crate::config::EmailConfig;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Limit for one SMTP conversation (connect, TLS, auth, data).
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("[alerts.email] password_env: the environment variable {name} is not set; export it in the daemon's environment (systemd: EnvironmentFile=), never in the config file")]
    NoPassword { name: String },
    #[error("[alerts.email] smtp = {url:?}: {reason}")]
    Server { url: String, reason: String },
    #[error("[alerts.email] {key} = {value:?} is not an email address: {reason}")]
    Address { key: &'static str, value: String, reason: String },
    #[error("cannot build the alert email: {0}")]
    Build(String),
    #[error("mail server {server} did not accept the alert: {reason}")]
    Send { server: String, reason: String },
    #[error("mail server {server} does not offer STARTTLS, and SMTP credentials are never sent in clear: enable STARTTLS on the server or use smtps:// ({reason}); the alert stays in the outbox and is retried")]
    NoStartTls { server: String, reason: String },
}

/// A configured SMTP sender. Holds the credentials; deliberately not `Debug`.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// `host:port` for messages (never the credentials).
    server: String,
    /// STARTTLS is required (credentials over `smtp://`): a failure is then said to be that.
    starttls_required: bool,
}

impl Mailer {
    /// Builds the transport from the config; reads the password from the environment.
    pub fn new(config: &EmailConfig) -> Result<Mailer, EmailError> {
        let server_err = |reason: String| EmailError::Server { url: config.smtp.clone(), reason };
        crate::config::check_smtp_url(&config.smtp).map_err(server_err)?;
        let url = url::Url::parse(&config.smtp).map_err(|e| server_err(e.to_string()))?;
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let tls_mode = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.to_string());
        let params = || TlsParameters::new(host.clone()).map_err(|e| server_err(e.to_string()));
        let credentials = config.username.is_some();
        let (tls, default_port) = match (url.scheme(), tls_mode.as_deref()) {
            ("smtps", _) => (Tls::Wrapper(params()?), 465),
            (_, Some("required")) => (Tls::Required(params()?), 587),
            (_, Some("none")) if credentials => {
                return Err(server_err("?tls=none with a username would send the password in clear".to_string()))
            }
            (_, Some("none")) => (Tls::None, 587),
            // Opportunistic TLS falls back to clear text, which must never carry a password.
            _ if credentials => (Tls::Required(params()?), 587),
            _ => (Tls::Opportunistic(params()?), 587),
        };
        let port = url.port().unwrap_or(default_port);
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(SMTP_TIMEOUT));
        if let Some(user) = &config.username {
            let password = match &config.password_env {
                Some(name) => std::env::var(name).map_err(|_| EmailError::NoPassword { name: name.clone() })?,
                None => String::new(),
            };
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        let from = parse_mailbox("from", &config.from)?;
        let to = config.to.iter().map(|t| parse_mailbox("to", t)).collect::<Result<Vec<_>, _>>()?;
        let starttls_required = credentials && url.scheme() == "smtp";
        Ok(Mailer { transport: builder.build(), from, to, server: format!("{host}:{port}"), starttls_required })
    }

    /// `host:port` of the mail server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The multipart (text + HTML) message for one outbox row. `message_key` makes the
    /// Message-ID stable across retries of that row.
    /// With `pictures` (file name, PNG), the message is `multipart/mixed`: the text and HTML,
    /// then each picture as an attachment.
    pub fn message(
        &self,
        email: &Rendered,
        message_key: &str,
        pictures: &[(&str, &[u8])],
    ) -> Result<Message, EmailError> {
        let domain = self.from.email.domain().to_string();
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(super::render::subject_line(&email.subject))
            .message_id(Some(format!("<skimwatch.{message_key}@{domain}>")));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let body = MultiPart::alternative_plain_html(email.text.clone(), email.html.clone());
        if pictures.is_empty() {
            return builder.multipart(body).map_err(|e| EmailError::Build(e.to_string()));
        }
        let png_type = ContentType::parse("image/png").map_err(|e| EmailError::Build(e.to_string()))?;
        let mut mixed = MultiPart::mixed().multipart(body);
        for (name, png) in pictures {
            mixed = mixed.singlepart(Attachment::new(name.to_string()).body(png.to_vec(), png_type.clone()));
        }
        builder.multipart(mixed).map_err(|e| EmailError::Build(e.to_string()))
    }

    /// Sends one message; `Ok` only once the server accepted it.
    pub async fn send(&self, message: Message) -> Result<(), EmailError> {
        let send = self.transport.send(message);
        match tokio::time::timeout(SMTP_TIMEOUT + Duration::from_secs(5), send).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                let reason = super::error_chain(&e);
                if self.starttls_required && reason.to_ascii_lowercase().contains("starttls") {
                    return Err(EmailError::NoStartTls { server: self.server.clone(), reason });
                }
                Err(EmailError::Send { server: self.server.clone(), reason })
            }
            Err(_) => Err(EmailError::Send { server: self.server.clone(), reason: "timed out".to_string() }),
        }
    }
}

fn parse_mailbox(key: &'static str, value: &str) -> Result<Mailbox, EmailError> {
    value.parse().map_err(|e: lettre::address::AddressError| EmailError::Address {
        key,
        value: value.to_string(),
        reason: e.to_string(),
    })
}
