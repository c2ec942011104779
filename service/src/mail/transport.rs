//! Sending: SMTP through lettre's pooled async transport, or `.eml` files for development.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lettre::message::header::MessageId;
use lettre::transport::{file, smtp};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Why a message was not sent. The texts never hold a message body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Worth retrying later: a 4xx reply, a refused or broken connection, a timeout, or a 5xx
    /// that refused Kalends' use of the server rather than the message (a refused login,
    /// relaying denied), which lasts only until the operator fixes the mail settings.
    #[error("mail not sent, try again later: {0}")]
    Transient(String),
    /// Retrying will not help: a 5xx reply about the message or its recipient (with the
    /// server's words), a message the transport cannot take, or a bad configuration.
    #[error("mail refused: {message}")]
    Permanent {
        /// The SMTP reply code, when a server refused.
        code: Option<u16>,
        /// What went wrong; for a reply, the code and the server's text.
        message: String,
    },
}

impl MailError {
    /// Whether sending the same message again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Transient(_))
    }

    /// A permanent failure that no server reply caused.
    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        MailError::Permanent { code: None, message: message.into() }
    }
}

/// A message handed over to the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Its `Message-ID` header, angle brackets included.
    pub message_id: String,
}

/// Sends messages; cheap to clone (clones share the SMTP connection pool).
#[derive(Clone)]
pub struct Mailer {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    Smtp(Arc<Smtp>),
    Files { transport: AsyncFileTransport<Tokio1Executor>, dir: PathBuf },
}

/// The SMTP transport and what is needed to replace it after a timeout.
struct Smtp {
    builder: smtp::AsyncSmtpTransportBuilder,
    transport: Mutex<AsyncSmtpTransport<Tokio1Executor>>,
    timeout: Duration,
    /// `scheme://host:port`, without credentials.
    endpoint: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Inner::Smtp(smtp) => f
                .debug_struct("Mailer::Smtp")
                .field("endpoint", &smtp.endpoint)
                .field("timeout", &smtp.timeout)
                .finish_non_exhaustive(),
            Inner::Files { dir, .. } => f.debug_struct("Mailer::Files").field("dir", dir).finish(),
        }
    }
}

impl Mailer {
    /// An SMTP mailer for `smtp://host[:port]` (plain; `?tls=required` for STARTTLS,
    /// `?tls=opportunistic` to use it when offered) or `smtps://host[:port]` (implicit TLS), with
    /// optional `user:password@` (percent-encoded). `timeout` bounds each send, connecting
    /// included. Must be called inside a Tokio runtime: the connection pool starts a task.
    pub fn smtp(url: &SecretString, timeout: Duration) -> Result<Mailer, MailError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MailError::permanent("the SMTP mailer needs a Tokio runtime"));
        }
        let url = url.expose_secret();
        let endpoint = endpoint(url)?;
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError::permanent(format!("invalid SMTP URL {endpoint}: {e}")))?
            .timeout(Some(timeout));
        let transport = Mutex::new(builder.clone().build());
        let smtp = Smtp { builder, transport, timeout, endpoint };
        Ok(Mailer { inner: Inner::Smtp(Arc::new(smtp)) })
    }

    /// A mailer that writes each message to `<uuid>.eml` in `dir`, created if missing.
    pub fn files(dir: impl AsRef<Path>) -> Result<Mailer, MailError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| {
            MailError::permanent(format!("cannot create the mail directory {}: {e}", dir.display()))
        })?;
        let transport = AsyncFileTransport::new(&dir);
        Ok(Mailer { inner: Inner::Files { transport, dir } })
    }

    /// Sends `message` to the recipients of its envelope (its `To`, `Cc` and `Bcc`). A message
    /// without a `Message-ID` gets one.
    pub async fn send(&self, mut message: Message) -> Result<Sent, MailError> {
        let message_id = message_id(&mut message);
        match &self.inner {
            Inner::Smtp(smtp) => smtp.send(&message).await?,
            Inner::Files { transport, .. } => {
                transport.send(message).await.map_err(file_error)?;
            }
        }
        Ok(Sent { message_id })
    }
}

impl Smtp {
    async fn send(&self, message: &Message) -> Result<(), MailError> {
        let transport = self.current();
        let raw = message.formatted();
        let sending = transport.send_raw(message.envelope(), &raw);
        match tokio::time::timeout(self.timeout, sending).await {
            Ok(result) => result.map(drop).map_err(smtp_error),
            Err(_) => {
                self.replace(&transport);
                Err(MailError::Transient(format!(
                    "no answer from {} within {:?}",
                    self.endpoint, self.timeout
                )))
            }
        }
    }

    fn current(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        self.transport.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Swaps in a new pool after a timeout and shuts the old one down. lettre would otherwise
    /// recycle the connection whose command was cut off, and the next send on it would read
    /// that command's late reply as its own.
    fn replace(&self, stale: &AsyncSmtpTransport<Tokio1Executor>) {
        *self.transport.lock().unwrap_or_else(PoisonError::into_inner) =
            self.builder.clone().build();
        let stale = stale.clone();
        tokio::spawn(async move { stale.shutdown().await });
    }
}

/// The message's `Message-ID`, after giving it one if it had none.
fn message_id(message: &mut Message) -> String {
    if let Some(id) = message.headers().get_raw("Message-ID") {
        return id.trim().to_owned();
    }
    let id = format!("<{}@kalends>", uuid::Uuid::now_v7());
    message.headers_mut().set(MessageId::from(id.clone()));
    id
}

/// `scheme://host:port` of an SMTP URL, for messages: no credentials, no query.
fn endpoint(url: &str) -> Result<String, MailError> {
    let parsed =
        Url::parse(url).map_err(|e| MailError::permanent(format!("invalid SMTP URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    Ok(match parsed.port() {
        Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
        None => format!("{}://{host}", parsed.scheme()),
    })
}

/// Sorts a lettre SMTP error by whether a retry can help.
fn smtp_error(error: smtp::Error) -> MailError {
    if let Some(code) = error.status() {
        let code = u16::from(code);
        let text = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
        let message = format!("{code} {text}").trim_end().to_owned();
        return if error.is_permanent() && refuses_the_message(code, &text) {
            MailError::Permanent { code: Some(code), message }
        } else {
            MailError::Transient(message)
        };
    }
    if error.is_client() {
        // lettre refused the message itself (e.g. 8-bit content the server does not announce)
        // or found no usable authentication mechanism.
        return MailError::permanent(error.to_string());
    }
    MailError::Transient(error.to_string())
}

/// Whether a permanent reply (`code`, then `text`) refuses this message or its recipient (an
/// unknown or full mailbox, a recipient's policy, a message too big), which no retry mends,
/// rather than Kalends' use of the server: a refused login (530, 534, 535, 538), or a reply
/// about relaying, authentication, the sender or a suspended account, which mends once the
/// operator fixes the mail settings, so the message is retried meanwhile instead of lost.
fn refuses_the_message(code: u16, text: &str) -> bool {
    if matches!(code, 530 | 534 | 535 | 538) {
        return false;
    }
    let text = text.to_ascii_lowercase();
    let setup = ["relay", "auth", "login", "credential", "suspend", "not verified", "sender"];
    !setup.iter().any(|word| text.contains(word))
}

fn file_error(error: file::Error) -> MailError {
    if error.is_io() {
        MailError::Transient(format!("cannot write the mail file: {error}"))
    } else {
        MailError::permanent(format!("cannot write the mail file: {error}"))
    }
}
