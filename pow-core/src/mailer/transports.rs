//! The mailers pow-core ships.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Mail, Mailer};
use crate::error::PowError;

fn parse_mailbox(address: &str, role: &str) -> Result<Mailbox, PowError> {
    address
        .parse()
        .map_err(|e| PowError::Mailer(format!("invalid {role} address `{address}`: {e}")))
}

/// A recipient: a bare address.
fn parse_recipient(address: &str) -> Result<lettre::Address, PowError> {
    address
        .parse::<lettre::Address>()
        .map_err(|e| PowError::Mailer(format!("invalid recipient address `{address}`: {e}")))
}

/// Builds a multipart/alternative message (plain text, then HTML). The recipient is a bare
/// address, and the envelope is set from the parsed addresses rather than read back from the
/// headers, so quoted local parts such as `"john doe"@example.com` work, as registration's
/// [`validate_deliverable_email`](crate::users::validation::validate_deliverable_email)
/// promises.
fn build_message(from: &Mailbox, mail: &Mail) -> Result<Message, PowError> {
    let to = parse_recipient(&mail.to)?;
    let envelope = lettre::address::Envelope::new(Some(from.email.clone()), vec![to.clone()])
        .map_err(|e| PowError::Mailer(format!("could not build the envelope: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .envelope(envelope)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| PowError::Mailer(format!("could not build the message: {e}")))
}

/// Sends mails through an SMTP relay.
///
/// Without TLS only `smtp://` URLs work (plain SMTP, e.g. a local relay or a test server).
/// Enable the `smtp-tls` feature of pow-core for `smtps://host` (implicit TLS, port 465)
/// and `smtp://host?tls=required` (STARTTLS, port 587), verified with the webpki roots.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `url` (`smtp://user:pass@host:25`; user and password are
    /// percent-decoded) sending from `from` (`"App <noreply@example.com>"` or a bare
    /// address). Connects only when a mail is delivered.
    ///
    /// # Errors
    /// [`PowError::Config`] for an unparsable URL, a TLS URL without the `smtp-tls`
    /// feature, or an invalid sender address.
    pub fn from_url(url: &str, from: &str) -> Result<Self, PowError> {
        let from = parse_mailbox(from, "sender").map_err(|e| PowError::Config(e.to_string()))?;
        // Errors never echo the URL: it may hold a password.
        let parsed = url::Url::parse(url).map_err(|e| {
            PowError::Config(format!("SmtpMailer: the SMTP URL does not parse: {e}"))
        })?;
        let tls = parsed.query_pairs().any(|(k, _)| k == "tls");
        let transport = match (parsed.scheme(), tls) {
            ("smtp", false) => plain_transport(&parsed)?,
            ("smtps", _) | ("smtp", true) => tls_transport(url)?,
            (scheme, _) => {
                return Err(PowError::Config(format!(
                    "SmtpMailer: unknown URL scheme `{scheme}`; use `smtp://` or `smtps://`"
                )))
            }
        };
        Ok(Self { transport, from })
    }
}

/// An unencrypted transport for `smtp://[user[:password]@]host[:port][/hello-name]`.
fn plain_transport(url: &url::Url) -> Result<AsyncSmtpTransport<Tokio1Executor>, PowError> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::extension::ClientId;

    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| PowError::Config("SmtpMailer: the SMTP URL has no host".into()))?;
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(url.port().unwrap_or(lettre::transport::smtp::SMTP_PORT));
    let hello = url.path().trim_matches('/');
    if !hello.is_empty() {
        builder = builder.hello_name(ClientId::Domain(hello.to_owned()));
    }
    if let Some(password) = url.password() {
        builder = builder.credentials(Credentials::new(
            percent_decode(url.username())?,
            percent_decode(password)?,
        ));
    }
    Ok(builder.build())
}

#[cfg(feature = "smtp-tls")]
fn tls_transport(url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, PowError> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
        .map(lettre::transport::smtp::AsyncSmtpTransportBuilder::build)
        .map_err(|e| PowError::Config(format!("SmtpMailer: the SMTP URL is not usable: {e}")))
}

#[cfg(not(feature = "smtp-tls"))]
fn tls_transport(_url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, PowError> {
    Err(PowError::Config(
        "SmtpMailer: TLS URLs (`smtps://`, `?tls=...`) need pow-core's `smtp-tls` feature".into(),
    ))
}

/// Decodes `%XX` escapes of a URL user or password.
fn percent_decode(s: &str) -> Result<String, PowError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                // Two hex digits are always below 256.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| PowError::Config("SmtpMailer: the SMTP credentials are not UTF-8".into()))
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        let message = build_message(&self.from, &mail)?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| PowError::Mailer(format!("SMTP delivery failed: {e}")))
    }
}

/// Writes each mail as an `.eml` file into a directory (created when needed), named
/// `<UTC timestamp>-<uuid>.eml` so that a listing sorts by time. For development: open
/// the files with any mail client.
#[derive(Clone, Debug)]
pub struct FileMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl FileMailer {
    /// A mailer writing into `dir`, sending from `from`.
    ///
    /// # Errors
    /// [`PowError::Config`] for an invalid sender address.
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, PowError> {
        let from = parse_mailbox(from, "sender").map_err(|e| PowError::Config(e.to_string()))?;
        Ok(Self {
            dir: dir.into(),
            from,
        })
    }

    /// The directory mails are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn write_eml(dir: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let name = format!(
        "{}-{}.eml",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"),
        uuid::Uuid::new_v4()
    );
    let path = dir.join(&name);
    // Write then rename, so a reader never sees half a mail.
    let partial = dir.join(format!(".{name}.partial"));
    write_private(&partial, bytes)?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// Writes `bytes` to a new file only its owner can read (mode `0600` on Unix): a mail holds
/// sign-in links and codes.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[async_trait::async_trait]
impl Mailer for FileMailer {
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        let bytes = build_message(&self.from, &mail)?.formatted();
        let dir = self.dir.clone();
        let path = tokio::task::spawn_blocking(move || write_eml(&dir, &bytes))
            .await
            .map_err(|e| PowError::Blocking(e.to_string()))?
            .map_err(|e| {
                PowError::Mailer(format!(
                    "could not write a mail into `{}`: {e}",
                    self.dir.display()
                ))
            })?;
        tracing::debug!(path = %path.display(), "mail written");
        Ok(())
    }
}

/// Keeps delivered mails in memory, for tests. Clones share the same mailbox: keep one
/// handle, give the config another.
///
/// ```
/// use pow_core::mailer::{Mail, Mailer, MemoryMailer};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mailer = MemoryMailer::new();
/// let handle = mailer.clone();
/// let mail = Mail { to: "jane@example.com".into(), subject: "Hi".into(), text: "t".into(), html: "h".into() };
/// mailer.deliver(mail).await.unwrap();
/// assert_eq!(handle.count_to("jane@example.com"), 1);
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryMailer {
    mails: Arc<Mutex<Vec<Mail>>>,
    /// Woken on every delivery, for [`next_to`](Self::next_to).
    delivered: Arc<tokio::sync::Notify>,
}

impl MemoryMailer {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Mail>> {
        // A panic elsewhere while holding the lock leaves the list intact.
        self.mails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every mail delivered so far, oldest first.
    pub fn deliveries(&self) -> Vec<Mail> {
        self.lock().clone()
    }

    /// The newest mail to `address` (compared ignoring ASCII case).
    pub fn last_to(&self, address: &str) -> Option<Mail> {
        self.lock()
            .iter()
            .rev()
            .find(|m| m.to.eq_ignore_ascii_case(address))
            .cloned()
    }

    /// How many mails went to `address` (compared ignoring ASCII case).
    pub fn count_to(&self, address: &str) -> usize {
        self.lock()
            .iter()
            .filter(|m| m.to.eq_ignore_ascii_case(address))
            .count()
    }

    /// Forgets every mail.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Waits until `address` has more than `before` mails and returns the newest; `None`
    /// when none came `within` that time. For mails sent in a task of their own or by
    /// another thread (background delivery): the wait ends on the delivery itself, not
    /// on a poll.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pow_core::mailer::{Mail, Mailer, MemoryMailer};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let mailer = MemoryMailer::new();
    /// let sender = mailer.clone();
    /// tokio::spawn(async move {
    ///     let mail = Mail { to: "jane@example.com".into(), subject: "Hi".into(), text: "t".into(), html: "h".into() };
    ///     sender.deliver(mail).await.unwrap();
    /// });
    /// let mail = mailer.next_to("jane@example.com", 0, Duration::from_secs(30)).await;
    /// assert_eq!(mail.unwrap().subject, "Hi");
    /// # });
    /// ```
    pub async fn next_to(&self, address: &str, before: usize, within: Duration) -> Option<Mail> {
        let arrived = async {
            loop {
                // Registered before the count is read, so a delivery in between still wakes
                // this wait.
                let delivered = self.delivered.notified();
                tokio::pin!(delivered);
                delivered.as_mut().enable();
                if self.count_to(address) > before {
                    return self.last_to(address);
                }
                delivered.await;
            }
        };
        tokio::time::timeout(within, arrived).await.ok().flatten()
    }
}

#[async_trait::async_trait]
impl Mailer for MemoryMailer {
    /// Records `mail`; like the real mailers, refuses an invalid recipient address.
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        parse_recipient(&mail.to)?;
        self.lock().push(mail);
        self.delivered.notify_waiters();
        Ok(())
    }
}

/// Logs each mail at `info` (recipient, subject, text body) and sends nothing. The default
/// mailer, for development. An app that installs no `tracing` subscriber would see
/// nothing of it, so then the mail is printed to standard error instead: the
/// confirmation link of a first app's first sign-up is in its terminal.
///
/// # Warning
/// Mail bodies hold sign-in capable links; configure a real mailer in production.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogMailer;

impl LogMailer {
    /// The text printed for `mail` when no subscriber logs it.
    fn printed(mail: &Mail) -> String {
        format!(
            "---- mail not sent (LogMailer; configure a mailer to deliver it) ----\n\
             To: {}\nSubject: {}\n\n{}\n---- end of mail ----\n",
            mail.to,
            mail.subject,
            mail.text.trim_end()
        )
    }
}

#[async_trait::async_trait]
impl Mailer for LogMailer {
    async fn deliver(&self, mail: Mail) -> Result<(), PowError> {
        if !tracing::dispatcher::has_been_set() {
            use std::io::Write as _;
            let _ = std::io::stderr().write_all(Self::printed(&mail).as_bytes());
            return Ok(());
        }
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.text,
            "mail not sent (LogMailer); configure a mailer to deliver it"
        );
        Ok(())
    }
}
