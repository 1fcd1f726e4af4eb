//! pow-rs extension: passkeys (WebAuthn). A user enrols passkeys on the account page and
//! signs in with one, with an address typed or without (the browser offers the passkeys it
//! holds for the site).
//!
//! **Guide**: [passkeys](https://github.com/pow-rs/pow-rs/blob/main/guides/passkeys.md).
//! [All guides](https://github.com/pow-rs/pow-rs/tree/main/guides): getting started, configuration, every extension.
//!
//! Enable it with one value; the pages and the JSON endpoints come with it:
//!
//! ```
//! use pow_actix::PowConfig;
//! use pow_ext_passkeys::Passkeys;
//!
//! let passkeys = Passkeys::new("example.com", "https://example.com")?;
//! let config = PowConfig::builder("s".repeat(64))
//!     .base_url("https://example.com")
//!     .extension(passkeys.rp_name("Example"))
//!     .build()
//!     .unwrap();
//! assert!(config.extensions().contains("pow_passkeys"));
//! # Ok::<(), pow_ext_passkeys::PasskeyError>(())
//! ```
//!
//! The pages (the passkeys list, the security key's page, the passkey sign-in, the step-up
//! page and the recovery of a passkey-only account) are routes of the engine's page table:
//! every framework layer mounts them with its pages, and they answer alike on each. A
//! routes backend
//! ([`Routes::extension_route`](pow_core::config::Routes::extension_route)) may move them.
//! So is the pages' script ([`SCRIPT`], at [`script_path`]), an engine asset.
//!
//! Enabling the extension in the config enables its JSON endpoints under the API prefix,
//! on every framework that serves the API (the routes are the engine's, like the pages):
//! enrolment (`POST <prefix>/passkeys/registration/options`, `POST
//! <prefix>/passkeys/registration`), the list and its changes (`GET <prefix>/passkeys`,
//! `PATCH` and `DELETE <prefix>/passkeys/{id}`), sign-in (`POST
//! <prefix>/passkeys/authentication/options`, `POST <prefix>/passkeys/authentication`:
//! the token pair), step-up (`POST <prefix>/passkeys/step-up/options`, `POST
//! <prefix>/passkeys/step-up`) and the recovery of a passkey-only account (`POST
//! <prefix>/passkeys/recovery/options`, `POST <prefix>/passkeys/recovery` with the
//! `recovery_token` of a `401 passkey_recovery_required`). `credential` is the
//! `PublicKeyCredential` JSON of the browser (`toJSON()`) or app; refusals answer the
//! codes of [`PasskeyError::code`].
//!
//! ## What it does
//!
//! - **Enrolment** (signed in, sudo mode): the server starts a ceremony, the browser asks
//!   the authenticator, the server checks the answer and stores the passkey under the name
//!   its owner gives. Passkeys ask for user verification (PIN, biometrics). The ceremony's
//!   state stays on the server, in the cache store: bound to the session that started it,
//!   [`ceremony_ttl`](Passkeys::ceremony_ttl) long (5 minutes), taken once.
//! - **Sign-in**: with an address (the user's passkeys are offered) or without (the
//!   browser's own list, and its autofill). Only an assertion with user verification signs
//!   in; the session records [`AuthMethod::PASSKEY`](pow_core::session::AuthMethod), a
//!   second factor by itself, so the two-factor extension asks for nothing more. An unknown
//!   address gets options shaped like a known one's.
//! - **Counters**: a sign-in moves the stored counter by compare and swap, so of two
//!   concurrent sign-ins with one credential one wins. A counter that goes back (a cloned
//!   authenticator) is refused with code `counter_regression`, audited, and mailed to the
//!   owner; authenticators that keep no counter (0, then 0 again: synced passkeys) pass.
//! - **Management**: list, rename, delete (sudo mode). The last passkey of an account
//!   without a password cannot be deleted.
//!
//! ## Stored data
//!
//! The migration (version `20261201000000`, SQLite and PostgreSQL) creates `passkeys`: a
//! globally unique credential id, a random per-user handle (never the user id), the
//! counter, backup flags, transports, the AAGUID when known, created and last used. The
//! credential record is kept with its storage [format](store::FORMAT); every format
//! stays readable. Account erasure deletes the rows; the data export lists them.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pow_core::audit::{self, AuditEvent};
use pow_core::error::{LimitReason, RateLimited};
use pow_core::extension::{ExtensionBuilder, Requirement, SecondFactor, SqlMigration, UserData};
use pow_core::messages::LanguageIdentifier;
use pow_core::request::RequestSource;
use pow_core::store::{Limit, Limiter, OneTimeSecrets, StoreError};
use pow_core::users::User;
use pow_core::{Extension, PowConfig, PowError};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, CredentialID, DiscoverableAuthentication, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn,
    WebauthnBuilder, WebauthnError,
};

mod api;
mod mail;
mod pages;
// The recovery's grant and enrolment, run by its page and its JSON endpoints beside its
// callback.
mod recovery;
mod routes;
pub mod store;

pub use routes::actions;
use store::{Deleted, NewPasskey};
pub use store::{Kind, StoredPasskey};

/// The extension's name, which prefixes its message keys.
pub const NAME: &str = "pow_passkeys";

/// The extension's migrations: the `passkeys` table.
pub const MIGRATIONS: &[SqlMigration] = &[pow_core::sql_migration!(
    "20261201000000",
    "create_passkeys"
)];

/// The notice mail of a passkey added to the account.
pub const MAIL_ADDED: &str = "passkeys/added";
/// The notice mail of a passkey removed from the account.
pub const MAIL_REMOVED: &str = "passkeys/removed";
/// The notice mail of a passkey whose counter went back (a possible clone).
pub const MAIL_COUNTER: &str = "passkeys/counter_regression";

/// How long a ceremony waits for the authenticator by default: 5 minutes.
pub const DEFAULT_CEREMONY_TTL: Duration = Duration::from_secs(5 * 60);

/// The default of [`Passkeys::sign_in_starts`]: 30 sign-in ceremonies per client a minute
/// (a person reloading the sign-in page now and then, many people behind one address).
pub const DEFAULT_SIGN_IN_STARTS: Limit = Limit::new(30, Duration::from_secs(60));

/// The longest name a passkey may have, in characters.
pub const MAX_NAME_CHARS: usize = 64;

const FTL: &[(&str, &str)] = &[
    ("en", include_str!("../locales/en/pow-ext-passkeys.ftl")),
    ("de", include_str!("../locales/de/pow-ext-passkeys.ftl")),
    ("fr", include_str!("../locales/fr/pow-ext-passkeys.ftl")),
];

/// Audit events of the extension.
pub mod events {
    use pow_core::audit::EventName;

    /// A passkey was enrolled (`detail.passkey_id`).
    pub const ADDED: EventName = EventName::new("passkeys.added");
    /// A passkey was renamed.
    pub const RENAMED: EventName = EventName::new("passkeys.renamed");
    /// A passkey was deleted.
    pub const REMOVED: EventName = EventName::new("passkeys.removed");
    /// A passkey signed in (`detail.user_verified`).
    pub const SIGNED_IN: EventName = EventName::new("passkeys.signed_in");
    /// A passkey or security key passed a second step or a step-up (`detail.method`).
    pub const VERIFIED: EventName = EventName::new("passkeys.verified");
    /// A passkey sign-in was refused (`detail.code`).
    pub const FAILED: EventName = EventName::new("passkeys.failed");
    /// A passkey's counter went back: refused, a possible clone.
    pub const COUNTER_REGRESSION: EventName = EventName::new("passkeys.counter_regression");
    /// An account without a password recovered: an emailed proof, then a new passkey.
    pub const RECOVERED: EventName = EventName::new("passkeys.recovered");
}

/// Why a passkey ceremony or change failed. [`code`](Self::code) is the stable error code
/// of the JSON answers and the suffix of the message key (`pow_passkeys_error_<code>`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasskeyError {
    /// The relying party id or origin of the configuration is not valid.
    #[error("invalid passkey configuration: {0}")]
    Config(String),
    /// No such ceremony: never started, used already, or gone.
    #[error("the passkey ceremony is unknown or used")]
    UnknownCeremony,
    /// The ceremony is older than the ceremony lifetime.
    #[error("the passkey ceremony expired")]
    CeremonyExpired,
    /// The ceremony belongs to another session or user.
    #[error("the passkey ceremony belongs to another session")]
    WrongSession,
    /// The browser's answer could not be read.
    #[error("the passkey answer could not be read")]
    Malformed,
    /// The answer came from another origin than the site's.
    #[error("the passkey answer came from another origin")]
    Origin,
    /// The answer is for another relying party id.
    #[error("the passkey answer is for another site")]
    RpId,
    /// The authenticator did not verify the user (no PIN, no biometrics).
    #[error("the passkey did not verify the user")]
    UserVerification,
    /// The credential's counter went back: a possible clone.
    #[error("the passkey's counter went back")]
    CounterRegression,
    /// Another sign-in with the same credential won.
    #[error("another sign-in used this passkey at the same time")]
    Concurrent,
    /// No stored passkey (of this user) has the credential.
    #[error("unknown passkey")]
    UnknownCredential,
    /// The credential is enrolled already (to this or another account).
    #[error("the passkey is enrolled already")]
    CredentialTaken,
    /// The answer did not verify (signature, challenge, flags).
    #[error("the passkey answer did not verify: {0}")]
    Rejected(String),
    /// The name is empty or longer than [`MAX_NAME_CHARS`].
    #[error("a passkey's name has 1 to {MAX_NAME_CHARS} characters")]
    InvalidName,
    /// No passkey of the user has this id.
    #[error("no such passkey")]
    NotFound,
    /// The last passkey of an account without a password cannot be deleted.
    #[error("the last passkey of an account without a password cannot be deleted")]
    LastCredential,
    /// A stored credential could not be read (unknown storage format).
    #[error("a stored passkey could not be read: {0}")]
    UnreadableCredential(String),
    /// The users context, the store or the mailer failed.
    #[error(transparent)]
    Pow(#[from] PowError),
}

impl From<StoreError> for PasskeyError {
    fn from(err: StoreError) -> Self {
        Self::Pow(err.into())
    }
}

impl PasskeyError {
    /// The stable error code (`"counter_regression"`, `"user_verification_required"`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::UnknownCeremony => "unknown_ceremony",
            Self::CeremonyExpired => "ceremony_expired",
            Self::WrongSession => "wrong_session",
            Self::Malformed => "invalid_request",
            Self::Origin => "origin_mismatch",
            Self::RpId => "rp_id_mismatch",
            Self::UserVerification => "user_verification_required",
            Self::CounterRegression => "counter_regression",
            Self::Concurrent => "concurrent_use",
            Self::UnknownCredential => "unknown_credential",
            Self::CredentialTaken => "credential_taken",
            Self::Rejected(_) => "invalid_passkey",
            Self::InvalidName => "invalid_name",
            Self::NotFound => "not_found",
            Self::LastCredential => "last_credential",
            Self::UnreadableCredential(_) => "unreadable_credential",
            Self::Pow(_) => "unavailable",
        }
    }

    /// Whether the client can do something about it (a `4xx`), rather than the server.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            Self::Config(_) | Self::UnreadableCredential(_) | Self::Pow(_)
        )
    }

    fn from_webauthn(err: WebauthnError) -> Self {
        match err {
            WebauthnError::InvalidRPOrigin => Self::Origin,
            WebauthnError::InvalidRPIDHash => Self::RpId,
            WebauthnError::UserNotVerified => Self::UserVerification,
            WebauthnError::CredentialPossibleCompromise => Self::CounterRegression,
            WebauthnError::ParseNOMFailure
            | WebauthnError::ParseCBORFailure(_)
            | WebauthnError::ParseBase64Failure(_) => Self::Malformed,
            other => Self::Rejected(other.to_string()),
        }
    }
}

/// The passkeys extension; see the [crate docs](crate).
#[derive(Clone)]
pub struct Passkeys {
    rp_id: String,
    rp_name: String,
    origins: Vec<Url>,
    any_port: bool,
    ceremony_ttl: Duration,
    sign_in_starts: Option<Limit>,
    webauthn: Arc<Webauthn>,
}

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passkeys")
            .field("rp_id", &self.rp_id)
            .field("rp_name", &self.rp_name)
            .field("origins", &self.origins)
            .field("any_port", &self.any_port)
            .field("ceremony_ttl", &self.ceremony_ttl)
            .field("sign_in_starts", &self.sign_in_starts)
            .finish_non_exhaustive()
    }
}

fn build_webauthn(
    rp_id: &str,
    rp_name: &str,
    origins: &[Url],
    any_port: bool,
) -> Result<Webauthn, PasskeyError> {
    let config = |err: WebauthnError| PasskeyError::Config(err.to_string());
    let (first, rest) = origins
        .split_first()
        .ok_or_else(|| PasskeyError::Config("no origin".into()))?;
    let mut builder = WebauthnBuilder::new(rp_id, first)
        .map_err(config)?
        .rp_name(rp_name)
        .allow_any_port(any_port);
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(config)
}

impl Passkeys {
    /// Passkeys for the site `rp_id` (the registrable domain, `example.com`), used from
    /// `origin` (`https://example.com`, or `http://localhost:8080` in development).
    ///
    /// The relying party id is part of every passkey: renaming the domain later makes the
    /// existing passkeys unusable, so pick the domain users keep.
    ///
    /// # Errors
    /// [`PasskeyError::Config`] when `origin` is no URL or does not belong to `rp_id`.
    pub fn new(rp_id: &str, origin: &str) -> Result<Self, PasskeyError> {
        let origin = Url::parse(origin).map_err(|err| PasskeyError::Config(err.to_string()))?;
        let origins = vec![origin];
        let webauthn = build_webauthn(rp_id, rp_id, &origins, false)?;
        Ok(Self {
            rp_id: rp_id.to_owned(),
            rp_name: rp_id.to_owned(),
            origins,
            any_port: false,
            ceremony_ttl: DEFAULT_CEREMONY_TTL,
            sign_in_starts: Some(DEFAULT_SIGN_IN_STARTS),
            webauthn: Arc::new(webauthn),
        })
    }

    /// The site's name as authenticators show it. The default is the relying party id.
    pub fn rp_name(mut self, name: impl Into<String>) -> Self {
        self.rp_name = name.into();
        self.rebuild();
        self
    }

    /// Accepts the origins on any port (for development on `localhost`, where each test
    /// server has its own port). Off by default.
    pub fn allow_any_port(mut self, allow: bool) -> Self {
        self.any_port = allow;
        self.rebuild();
        self
    }

    /// Builds the relying party again after a setting changed; the settings that can fail
    /// are checked where they are set.
    fn rebuild(&mut self) {
        if let Ok(webauthn) =
            build_webauthn(&self.rp_id, &self.rp_name, &self.origins, self.any_port)
        {
            self.webauthn = Arc::new(webauthn);
        }
    }

    /// Accepts ceremonies from one more origin of the same site (another subdomain).
    ///
    /// # Errors
    /// [`PasskeyError::Config`] when `origin` is no URL or does not belong to the site.
    pub fn allow_origin(mut self, origin: &str) -> Result<Self, PasskeyError> {
        let origin = Url::parse(origin).map_err(|err| PasskeyError::Config(err.to_string()))?;
        let of_site = origin.domain().is_some_and(|domain| {
            domain == self.rp_id || domain.ends_with(&format!(".{}", self.rp_id))
        });
        if !of_site {
            return Err(PasskeyError::Config(format!(
                "{origin} is not an origin of {}",
                self.rp_id
            )));
        }
        self.origins.push(origin);
        self.webauthn = Arc::new(build_webauthn(
            &self.rp_id,
            &self.rp_name,
            &self.origins,
            self.any_port,
        )?);
        Ok(self)
    }

    /// How long a ceremony waits for the authenticator. The default is 5 minutes.
    pub fn ceremony_ttl(mut self, ttl: Duration) -> Self {
        self.ceremony_ttl = ttl;
        self
    }

    /// How many sign-in ceremonies one client may start (the anonymous
    /// `GET /passkeys/sign-in` and `POST <api>/passkeys/authentication/options`, counted
    /// per client address like the core's rate limits); past it the client gets `429` with
    /// `Retry-After`, so nobody fills the store with ceremonies that push out other users'.
    /// The default is [`DEFAULT_SIGN_IN_STARTS`]; `None` counts nothing.
    pub fn sign_in_starts(mut self, limit: Option<Limit>) -> Self {
        self.sign_in_starts = limit;
        self
    }

    /// The relying party id.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    fn ceremonies(&self, config: &PowConfig, purpose: &'static str) -> OneTimeSecrets {
        // The store keeps a record at least a second; the record's own timestamp decides.
        let ttl = self.ceremony_ttl.max(Duration::from_secs(1));
        OneTimeSecrets::new(config, NAME, purpose, ttl)
    }

    /// Takes the ceremony record `ceremony` (once), refusing one older than the lifetime.
    async fn take<T: serde::de::DeserializeOwned>(
        &self,
        config: &PowConfig,
        purpose: &'static str,
        ceremony: &str,
    ) -> Result<Ceremony<T>, PasskeyError> {
        let record: Ceremony<T> = self
            .ceremonies(config, purpose)
            .take(ceremony)
            .await?
            .ok_or(PasskeyError::UnknownCeremony)?;
        let age = pow_core::time::now_ms().saturating_sub(record.started_at);
        if age >= pow_core::time::duration_ms(self.ceremony_ttl) {
            return Err(PasskeyError::CeremonyExpired);
        }
        Ok(record)
    }

    async fn put<T: Serialize>(
        &self,
        config: &PowConfig,
        purpose: &'static str,
        state: T,
        binding: Option<String>,
    ) -> Result<String, PasskeyError> {
        let ceremony = pow_core::token::generate_uuid();
        let record = Ceremony {
            started_at: pow_core::time::now_ms(),
            binding,
            state,
        };
        self.ceremonies(config, purpose)
            .put(&ceremony, &record)
            .await?;
        Ok(ceremony)
    }

    /// Starts enrolling a passkey (or, with [`Kind::SecurityKey`], a security key that is
    /// only ever a second factor) for `user`, bound to `binding` (the session's id): the
    /// ceremony id and the options for `navigator.credentials.create`.
    ///
    /// # Errors
    /// [`PasskeyError::Pow`] when the database or store fails.
    pub async fn start_enrolment(
        &self,
        config: &PowConfig,
        user: &User,
        binding: &str,
        kind: Kind,
    ) -> Result<Started, PasskeyError> {
        let table = store::Passkeys::new(config)?;
        let existing = table.for_user(user.id).await?;
        let handle = match existing.first() {
            Some(passkey) => {
                Uuid::parse_str(&passkey.user_handle).map_err(|_| PasskeyError::Malformed)?
            }
            None => Uuid::new_v4(),
        };
        let exclude: Vec<CredentialID> = existing
            .iter()
            .filter_map(|passkey| URL_SAFE_NO_PAD.decode(&passkey.credential_id).ok())
            .collect();
        let name = user
            .email()
            .map_or_else(|| user.id.to_string(), str::to_owned);
        let (options, state) = match kind {
            Kind::Passkey => self
                .webauthn
                .start_passkey_registration(handle, &name, &name, Some(exclude))
                .map(|(options, state)| (options, Registration::Passkey(state))),
            Kind::SecurityKey => self
                .webauthn
                .start_securitykey_registration(handle, &name, &name, Some(exclude), None, None)
                .map(|(options, state)| (options, Registration::SecurityKey(state))),
        }
        .map_err(PasskeyError::from_webauthn)?;
        let enrolment = Enrolment {
            user_id: user.id,
            handle: handle.to_string(),
            state,
        };
        let mut options = serde_json::to_value(options).map_err(|_| PasskeyError::Malformed)?;
        if kind == Kind::Passkey {
            // A passkey is a discoverable credential: the browser can offer it before any
            // address is typed. Authenticators that cannot keep one still enrol it (and
            // sign in with the address typed).
            if let Some(selection) = options
                .pointer_mut("/publicKey/authenticatorSelection")
                .and_then(serde_json::Value::as_object_mut)
            {
                selection.insert("residentKey".into(), "preferred".into());
            }
        }
        let ceremony = self
            .put(config, "enrol", enrolment, Some(binding.to_owned()))
            .await?;
        Ok(Started { ceremony, options })
    }

    /// Finishes enrolling: checks the authenticator's answer against the ceremony of `user`
    /// in session `binding`, stores the passkey, audits it and mails the owner the notice
    /// (in `lang`, else the default language).
    ///
    /// # Errors
    /// The ceremony's and the answer's [`PasskeyError`]s; [`PasskeyError::CredentialTaken`]
    /// when the credential is enrolled already.
    pub async fn finish_enrolment(
        &self,
        config: &PowConfig,
        user: &User,
        binding: &str,
        answer: &EnrolAnswer<'_>,
        lang: Option<&LanguageIdentifier>,
    ) -> Result<StoredPasskey, PasskeyError> {
        let name = valid_name(answer.name)?;
        let credential = answer.credential;
        let record: Ceremony<Enrolment> = self.take(config, "enrol", answer.ceremony).await?;
        if record.state.user_id != user.id || record.binding.as_deref() != Some(binding) {
            return Err(PasskeyError::WrongSession);
        }
        let response: RegisterPublicKeyCredential =
            serde_json::from_str(credential).map_err(|_| PasskeyError::Malformed)?;
        let (credential, kind): (Credential, Kind) = match &record.state.state {
            Registration::Passkey(state) => self
                .webauthn
                .finish_passkey_registration(&response, state)
                .map(|passkey| (passkey.into(), Kind::Passkey)),
            Registration::SecurityKey(state) => self
                .webauthn
                .finish_securitykey_registration(&response, state)
                .map(|key| (key.into(), Kind::SecurityKey)),
        }
        .map_err(PasskeyError::from_webauthn)?;
        let new = NewPasskey {
            user_id: user.id,
            credential_id: URL_SAFE_NO_PAD.encode(&credential.cred_id),
            user_handle: record.state.handle,
            name,
            kind,
            rp_id: self.rp_id.clone(),
            credential: serde_json::to_string(&credential).map_err(|_| PasskeyError::Malformed)?,
            sign_count: i64::from(credential.counter),
            user_verified: credential.user_verified,
            backup_eligible: credential.backup_eligible,
            backup_state: credential.backup_state,
            transports: transports(&credential),
            aaguid: aaguid(&credential),
        };
        let table = store::Passkeys::new(config)?;
        let id = table
            .insert(new)
            .await?
            .ok_or(PasskeyError::CredentialTaken)?;
        let stored = table
            .get(id, user.id)
            .await?
            .ok_or(PasskeyError::NotFound)?;
        audit::record(
            config,
            AuditEvent::new(events::ADDED)
                .user(user.id)
                .detail("passkey_id", id),
        );
        mail::notice(config, lang, user, MAIL_ADDED, &stored.name).await;
        Ok(stored)
    }

    /// Starts a sign-in: with `email`, the options list that user's passkeys (an unknown
    /// address gets a list shaped like a known one's); without, the browser offers the
    /// passkeys it holds for the site.
    ///
    /// # Errors
    /// [`PasskeyError::Pow`] when the database or store fails.
    pub async fn start_sign_in(
        &self,
        config: &PowConfig,
        client: &dyn RequestSource,
        email: Option<&str>,
    ) -> Result<Started, PasskeyError> {
        self.count_sign_in_start(config, client).await?;
        let email = email.map(str::trim).filter(|email| !email.is_empty());
        let (options, state) = match email {
            None => {
                let (options, state) = self
                    .webauthn
                    .start_discoverable_authentication()
                    .map_err(PasskeyError::from_webauthn)?;
                let mut options =
                    serde_json::to_value(options).map_err(|_| PasskeyError::Malformed)?;
                // The same options serve the button and the autofill: the script picks.
                if let Some(map) = options.as_object_mut() {
                    map.remove("mediation");
                }
                (options, SignInState::Discoverable(state))
            }
            Some(email) => {
                let user = config
                    .users()?
                    .get_by(config.user_id_field(), email.to_owned())
                    .await?;
                let passkeys: Vec<Passkey> = match &user {
                    Some(user) => self
                        .usable(config, user.id)
                        .await?
                        .iter()
                        .filter(|passkey| passkey.kind == Kind::Passkey)
                        .filter_map(|passkey| passkey.read_credential().ok())
                        .map(Passkey::from)
                        .collect(),
                    None => Vec::new(),
                };
                let user_id = user.as_ref().map(|user| user.id);
                let listed = self.listed(config, email, &passkeys)?;
                let (options, state) = self
                    .webauthn
                    .start_passkey_authentication(&listed)
                    .map_err(PasskeyError::from_webauthn)?;
                let mut options =
                    serde_json::to_value(options).map_err(|_| PasskeyError::Malformed)?;
                // Transports are known for real credentials only: listed without them, every
                // entry has one shape.
                if let Some(allowed) = options
                    .pointer_mut("/publicKey/allowCredentials")
                    .and_then(serde_json::Value::as_array_mut)
                {
                    for entry in allowed.iter_mut().filter_map(|e| e.as_object_mut()) {
                        entry.remove("transports");
                    }
                }
                (
                    options,
                    SignInState::Known {
                        user_id: user_id.filter(|_| !passkeys.is_empty()),
                        state,
                    },
                )
            }
        };
        let ceremony = self.put(config, "sign_in", state, None).await?;
        Ok(Started { ceremony, options })
    }

    /// Counts a sign-in ceremony started by `client` against
    /// [`sign_in_starts`](Self::sign_in_starts): [`PowError::RateLimited`] past it.
    async fn count_sign_in_start(
        &self,
        config: &PowConfig,
        client: &dyn RequestSource,
    ) -> Result<(), PowError> {
        let facts = client.facts();
        let (Some(limit), Some(ip)) = (self.sign_in_starts, facts.client_ip) else {
            return Ok(());
        };
        let subject = pow_core::limits::client_subject(ip);
        if Limiter::new(config, "passkeys_sign_in_start")
            .hit(limit, &subject)
            .await?
        {
            return Ok(());
        }
        Err(PowError::RateLimited(RateLimited {
            reason: LimitReason::TooManyAttempts,
            retry_after: limit.per,
        }))
    }

    /// The credentials a sign-in naming `email` lists: the address's passkeys, filled up
    /// with decoys to [`LISTED_CREDENTIALS`], in the order of their ids. Every address gets
    /// the same count (an unknown one, one without passkeys and one with a few alike), the
    /// decoys' id lengths are those real authenticators use, and the same address gets the
    /// same list each time, so the options tell nobody who holds passkeys.
    fn listed(
        &self,
        config: &PowConfig,
        email: &str,
        passkeys: &[Passkey],
    ) -> Result<Vec<Passkey>, PasskeyError> {
        let mut listed = passkeys.to_vec();
        for n in 0..LISTED_CREDENTIALS.saturating_sub(passkeys.len()) {
            listed.push(self.decoy(config, email, n)?);
        }
        listed.sort_by(|a, b| a.cred_id().as_slice().cmp(b.cred_id().as_slice()));
        Ok(listed)
    }

    /// The `n`th passkey that does not exist, the same for every request naming `email`:
    /// its id is keyed by the setup's secret, and its length one of the lengths real
    /// authenticators' ids have.
    fn decoy(&self, config: &PowConfig, email: &str, n: usize) -> Result<Passkey, PasskeyError> {
        let key = config.verifier().derive_key("pow passkeys decoy");
        let seed = format!("{}\n{n}", email.to_lowercase());
        let mut id = pow_core::token::hmac_sha256(&key, seed.as_bytes());
        id.extend(pow_core::token::hmac_sha256(&key, &id));
        let len = DECOY_ID_LENGTHS[usize::from(id[0]) % DECOY_ID_LENGTHS.len()];
        id.truncate(len);
        let mut credential: Credential = serde_json::from_str(DECOY_CREDENTIAL)
            .map_err(|err| PasskeyError::UnreadableCredential(err.to_string()))?;
        credential.cred_id = id;
        Ok(credential.into())
    }

    /// Finishes a sign-in: checks the assertion `credential` (the JSON of a
    /// `PublicKeyCredential` from `navigator.credentials.get`) against ceremony `ceremony`,
    /// requires user verification, moves the counter, and answers the user to sign in.
    /// Sessions it starts record [`AuthMethod::PASSKEY`](pow_core::session::AuthMethod).
    ///
    /// # Errors
    /// The ceremony's and the answer's [`PasskeyError`]s.
    pub async fn finish_sign_in(
        &self,
        config: &PowConfig,
        ceremony: &str,
        credential: &str,
    ) -> Result<SignedIn, PasskeyError> {
        let result = self.verify_sign_in(config, ceremony, credential).await;
        match &result {
            Ok(signed_in) => audit::record(
                config,
                AuditEvent::new(events::SIGNED_IN)
                    .user(signed_in.user.id)
                    .detail("passkey_id", signed_in.passkey.id)
                    .detail("user_verified", true),
            ),
            Err(PasskeyError::Pow(_)) => {}
            Err(err) => audit::record(
                config,
                AuditEvent::new(events::FAILED).detail("code", err.code()),
            ),
        }
        result
    }

    /// Signs the client in with a passkey: [`finish_sign_in`](Self::finish_sign_in), then a
    /// session started through `session` that recorded
    /// [`AuthMethod::PASSKEY`](pow_core::session::AuthMethod) and is fresh (a passkey with
    /// user verification is the strongest proof the account has). The inner error is the
    /// refusal of the passkey; the outer one is the session's.
    ///
    /// The flow runs without HTTP too, on a [`StoreSession`](pow_core::session::StoreSession):
    /// a started ceremony answered with a credential no passkey of the site made signs
    /// nobody in, and the ceremony is spent.
    ///
    /// ```
    /// use pow_core::request::RequestFacts;
    /// use pow_core::session::{SessionHandle, StoreSession};
    /// use pow_core::users::diesel::DieselUsersContext;
    /// use pow_core::PowConfig;
    /// use pow_ext_passkeys::Passkeys;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let users = DieselUsersContext::connect(":memory:")?;
    /// let passkeys = Passkeys::new("example.com", "https://example.com")?;
    /// let config = PowConfig::builder("s".repeat(64))
    ///     .base_url("https://example.com")
    ///     .users(users.clone())
    ///     .extension(passkeys.clone())
    ///     .build()?;
    /// users.migrate(&config)?;
    ///
    /// let started = passkeys.start_sign_in(&config, &RequestFacts::default(), None).await?;
    /// assert!(started.options["publicKey"]["challenge"].is_string());
    /// let forged = r#"{"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {}}"#;
    /// let mut session = StoreSession::new();
    /// let refused = passkeys.sign_in(&config, &started.ceremony, forged, &mut session).await?;
    /// assert_eq!(refused.unwrap_err().code(), "invalid_request");
    /// assert!(session.current().is_none());
    /// // The ceremony was taken: the same one cannot be answered again.
    /// let again = passkeys.sign_in(&config, &started.ceremony, forged, &mut session).await?;
    /// assert_eq!(again.unwrap_err().code(), "unknown_ceremony");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// `session`'s refusal to start, or the store's error.
    pub async fn sign_in<H: pow_core::session::SessionHandle + ?Sized>(
        &self,
        config: &PowConfig,
        ceremony: &str,
        credential: &str,
        session: &mut H,
    ) -> Result<Result<SignedIn, PasskeyError>, H::Error> {
        let signed_in = match self.finish_sign_in(config, ceremony, credential).await {
            Ok(signed_in) => signed_in,
            Err(PasskeyError::Pow(err)) => return Err(err.into()),
            Err(refused) => return Ok(Err(refused)),
        };
        let metadata = pow_core::session::SessionMetadata {
            authenticated_at: Some(pow_core::time::now_ms()),
            ..pow_core::session::SessionMetadata::new()
                .with_method(pow_core::session::AuthMethod::PASSKEY)
        };
        session.start(config, &signed_in.user, metadata).await?;
        Ok(Ok(signed_in))
    }

    async fn verify_sign_in(
        &self,
        config: &PowConfig,
        ceremony: &str,
        credential: &str,
    ) -> Result<SignedIn, PasskeyError> {
        let record: Ceremony<SignInState> = self.take(config, "sign_in", ceremony).await?;
        // A security key is a second factor only: it never signs in alone.
        let (table, response, stored) =
            assertion(config, credential, |stored| stored.kind == Kind::Passkey).await?;
        if stored.rp_id != self.rp_id {
            return Err(PasskeyError::RpId);
        }
        let result = match record.state {
            SignInState::Known { user_id, state } => {
                if user_id != Some(stored.user_id) {
                    return Err(PasskeyError::UnknownCredential);
                }
                self.webauthn
                    .finish_passkey_authentication(&response, &state)
            }
            SignInState::Discoverable(state) => {
                let (handle, _) = self
                    .webauthn
                    .identify_discoverable_authentication(&response)
                    .map_err(|_| PasskeyError::UnknownCredential)?;
                if handle.to_string() != stored.user_handle {
                    return Err(PasskeyError::UnknownCredential);
                }
                let stored_credential = stored.read_credential()?;
                self.webauthn.finish_discoverable_authentication_v2(
                    &response,
                    state,
                    &stored_credential,
                )
            }
        };
        self.record_use(config, &table, &stored, result).await?;
        let user = config
            .users()?
            .get(stored.user_id)
            .await?
            .ok_or(PasskeyError::UnknownCredential)?;
        Ok(SignedIn {
            user,
            passkey: stored,
        })
    }

    /// Records an assertion of `stored` that verified (`result`): refuses a counter that
    /// went back, and moves the counter by compare and swap (of two concurrent uses of one
    /// credential, one wins).
    async fn record_use(
        &self,
        config: &PowConfig,
        table: &store::Passkeys,
        stored: &StoredPasskey,
        result: Result<AuthenticationResult, WebauthnError>,
    ) -> Result<(), PasskeyError> {
        let result = match result {
            Ok(result) => result,
            Err(err) => {
                let err = PasskeyError::from_webauthn(err);
                if matches!(err, PasskeyError::CounterRegression) {
                    self.counter_regression(config, stored).await;
                }
                return Err(err);
            }
        };
        // The stored counter may have moved since the ceremony started: compare with the
        // row as it is now, and move it only from that value.
        let seen = stored.sign_count;
        let count = i64::from(result.counter());
        if (count > 0 || seen > 0) && count <= seen {
            self.counter_regression(config, stored).await;
            return Err(PasskeyError::CounterRegression);
        }
        let mut credential = Passkey::from(stored.read_credential()?);
        credential.update_credential(&result);
        let updated: Credential = credential.into();
        let record = serde_json::to_string(&updated).map_err(|_| PasskeyError::Malformed)?;
        if !table
            .record_use(stored.id, seen, count, result.backup_state(), record)
            .await?
        {
            return Err(PasskeyError::Concurrent);
        }
        Ok(())
    }

    /// Starts the second step of `user`'s sign-in with any of their passkeys and security
    /// keys (user verification preferred, not required).
    ///
    /// # Errors
    /// [`PasskeyError::Pow`] when the database or store fails.
    pub async fn start_second_factor(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<Started, PasskeyError> {
        let keys: Vec<SecurityKey> = self
            .usable(config, user.id)
            .await?
            .iter()
            .filter_map(|stored| stored.read_credential().ok())
            .map(SecurityKey::from)
            .collect();
        if keys.is_empty() {
            return Err(PasskeyError::UnknownCredential);
        }
        let (options, state) = self
            .webauthn
            .start_securitykey_authentication(&keys)
            .map_err(PasskeyError::from_webauthn)?;
        let options = serde_json::to_value(options).map_err(|_| PasskeyError::Malformed)?;
        let ceremony = self
            .put(config, "second_factor", state, Some(user.id.to_string()))
            .await?;
        Ok(Started { ceremony, options })
    }

    /// A step-up with a passkey or security key of the signed-in `user` (the row as
    /// stored): [`finish_second_factor`](Self::finish_second_factor), then the method it
    /// proved recorded on the client's session through `session`. The inner error is the
    /// refusal of the key; the outer one is the session's.
    ///
    /// # Errors
    /// The store's error, or nobody signed in.
    pub async fn step_up<H: pow_core::session::SessionHandle + ?Sized>(
        &self,
        config: &PowConfig,
        user: &User,
        ceremony: &str,
        credential: &str,
        session: &mut H,
    ) -> Result<Result<pow_core::session::AuthMethod, PasskeyError>, H::Error> {
        let method = match self
            .finish_second_factor(config, user, ceremony, credential)
            .await
        {
            Ok(method) => method,
            Err(PasskeyError::Pow(err)) => return Err(err.into()),
            Err(refused) => return Ok(Err(refused)),
        };
        session.record_method(config, method).await?;
        Ok(Ok(method))
    }

    /// Finishes the second step of `user`'s sign-in: the method it proved,
    /// [`AuthMethod::PASSKEY`] for an assertion with user verification of a passkey, else
    /// [`AuthMethod::SECURITY_KEY`].
    ///
    /// [`AuthMethod::PASSKEY`]: pow_core::session::AuthMethod::PASSKEY
    /// [`AuthMethod::SECURITY_KEY`]: pow_core::session::AuthMethod::SECURITY_KEY
    ///
    /// # Errors
    /// The ceremony's and the answer's [`PasskeyError`]s.
    pub async fn finish_second_factor(
        &self,
        config: &PowConfig,
        user: &User,
        ceremony: &str,
        credential: &str,
    ) -> Result<pow_core::session::AuthMethod, PasskeyError> {
        use pow_core::session::AuthMethod;

        let record: Ceremony<SecurityKeyAuthentication> =
            self.take(config, "second_factor", ceremony).await?;
        if record.binding.as_deref() != Some(user.id.to_string().as_str()) {
            return Err(PasskeyError::WrongSession);
        }
        let (table, response, stored) =
            assertion(config, credential, |stored| stored.user_id == user.id).await?;
        if stored.rp_id != self.rp_id {
            return Err(PasskeyError::RpId);
        }
        let result = self
            .webauthn
            .finish_securitykey_authentication(&response, &record.state);
        let verified = result
            .as_ref()
            .is_ok_and(AuthenticationResult::user_verified);
        self.record_use(config, &table, &stored, result).await?;
        let method = if verified && stored.kind == Kind::Passkey {
            AuthMethod::PASSKEY
        } else {
            AuthMethod::SECURITY_KEY
        };
        audit::record(
            config,
            AuditEvent::new(events::VERIFIED)
                .user(user.id)
                .detail("passkey_id", stored.id)
                .detail("method", method.as_str()),
        );
        Ok(method)
    }

    /// A counter that went back: audited, and the owner is told.
    async fn counter_regression(&self, config: &PowConfig, stored: &StoredPasskey) {
        audit::record(
            config,
            AuditEvent::new(events::COUNTER_REGRESSION)
                .user(stored.user_id)
                .detail("passkey_id", stored.id),
        );
        let owner = match config.users() {
            Ok(users) => users.get(stored.user_id).await.ok().flatten(),
            Err(_) => None,
        };
        if let Some(owner) = owner {
            mail::notice(config, None, &owner, MAIL_COUNTER, &stored.name).await;
        }
    }

    /// The passkeys of `user`, oldest first.
    ///
    /// # Errors
    /// [`PasskeyError::Pow`] when the database fails.
    pub async fn list(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<Vec<StoredPasskey>, PasskeyError> {
        Ok(store::Passkeys::new(config)?.for_user(user.id).await?)
    }

    /// The passkeys and security keys of user `user_id` made for this site (relying party
    /// id): after a move to another domain, those of the old one sign nobody in.
    ///
    /// # Errors
    /// [`PasskeyError::Pow`] when the database fails.
    pub async fn usable(
        &self,
        config: &PowConfig,
        user_id: i64,
    ) -> Result<Vec<StoredPasskey>, PasskeyError> {
        let stored = store::Passkeys::new(config)?.for_user(user_id).await?;
        Ok(stored
            .into_iter()
            .filter(|passkey| passkey.rp_id == self.rp_id)
            .collect())
    }

    /// Renames `user`'s passkey `id`.
    ///
    /// # Errors
    /// [`PasskeyError::InvalidName`], [`PasskeyError::NotFound`].
    pub async fn rename(
        &self,
        config: &PowConfig,
        user: &User,
        id: i64,
        name: &str,
    ) -> Result<(), PasskeyError> {
        let name = valid_name(name)?;
        if !store::Passkeys::new(config)?
            .rename(id, user.id, &name)
            .await?
        {
            return Err(PasskeyError::NotFound);
        }
        audit::record(
            config,
            AuditEvent::new(events::RENAMED)
                .user(user.id)
                .detail("passkey_id", id),
        );
        Ok(())
    }

    /// Deletes `user`'s passkey `id`, unless it is the last way into an account without a
    /// password.
    ///
    /// # Errors
    /// [`PasskeyError::NotFound`], [`PasskeyError::LastCredential`].
    pub async fn delete(
        &self,
        config: &PowConfig,
        user: &User,
        id: i64,
        lang: Option<&LanguageIdentifier>,
    ) -> Result<StoredPasskey, PasskeyError> {
        let table = store::Passkeys::new(config)?;
        let stored = table
            .get(id, user.id)
            .await?
            .ok_or(PasskeyError::NotFound)?;
        let keep_last = user.password_hash.is_none();
        match table.delete(id, user.id, keep_last).await? {
            Deleted::Done => {}
            Deleted::NotFound => return Err(PasskeyError::NotFound),
            Deleted::Last => return Err(PasskeyError::LastCredential),
        }
        audit::record(
            config,
            AuditEvent::new(events::REMOVED)
                .user(user.id)
                .detail("passkey_id", id),
        );
        mail::notice(config, lang, user, MAIL_REMOVED, &stored.name).await;
        Ok(stored)
    }
}

/// Reads the browser's assertion `credential` and finds its stored credential, if `fits`.
async fn assertion(
    config: &PowConfig,
    credential: &str,
    fits: impl FnOnce(&StoredPasskey) -> bool,
) -> Result<(store::Passkeys, PublicKeyCredential, StoredPasskey), PasskeyError> {
    let response: PublicKeyCredential =
        serde_json::from_str(credential).map_err(|_| PasskeyError::Malformed)?;
    let table = store::Passkeys::new(config)?;
    let credential_id = URL_SAFE_NO_PAD.encode(response.get_credential_id());
    let stored = table
        .by_credential_id(&credential_id)
        .await?
        .filter(fits)
        .ok_or(PasskeyError::UnknownCredential)?;
    Ok((table, response, stored))
}

fn valid_name(name: &str) -> Result<String, PasskeyError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(PasskeyError::InvalidName);
    }
    Ok(name.to_owned())
}

fn transports(credential: &Credential) -> Option<String> {
    let list = credential.transports.as_ref()?;
    let names: Vec<String> = list
        .iter()
        .filter_map(|transport| serde_json::to_value(transport).ok())
        .filter_map(|value| value.as_str().map(str::to_owned))
        .collect();
    (!names.is_empty()).then(|| names.join(","))
}

fn aaguid(credential: &Credential) -> Option<String> {
    use webauthn_rs::prelude::AttestationMetadata;
    match &credential.attestation.metadata {
        AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => {
            Some(aaguid.to_string())
        }
        _ => None,
    }
}

/// The browser's answer to an enrolment: the ceremony id, the new passkey's name, and the
/// `PublicKeyCredential` of `navigator.credentials.create` as JSON.
#[derive(Clone, Copy, Debug)]
pub struct EnrolAnswer<'a> {
    /// The ceremony id of [`Started`].
    pub ceremony: &'a str,
    /// The name its owner gives it.
    pub name: &'a str,
    /// The browser's answer, as JSON.
    pub credential: &'a str,
}

/// The column of `pow-ext-two-factor` saying its TOTP second factor is on.
pub(crate) const TOTP_ENABLED_AT: &str = "totp_enabled_at";

/// A ceremony's id and the options the browser passes to `navigator.credentials`.
#[derive(Clone, Debug, Serialize)]
pub struct Started {
    /// The ceremony id, to send back with the answer.
    pub ceremony: String,
    /// The `{"publicKey": …}` options.
    pub options: serde_json::Value,
}

/// A passkey sign-in that verified: whom to sign in, and with which passkey.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// The user.
    pub user: User,
    /// The passkey, as it was before this sign-in.
    pub passkey: StoredPasskey,
}

/// A ceremony record in the cache store.
#[derive(Serialize, Deserialize)]
struct Ceremony<T> {
    started_at: i64,
    binding: Option<String>,
    state: T,
}

#[derive(Serialize, Deserialize)]
struct Enrolment {
    user_id: i64,
    handle: String,
    state: Registration,
}

#[derive(Serialize, Deserialize)]
enum Registration {
    Passkey(PasskeyRegistration),
    SecurityKey(SecurityKeyRegistration),
}

#[derive(Serialize, Deserialize)]
enum SignInState {
    Known {
        user_id: Option<i64>,
        state: PasskeyAuthentication,
    },
    Discoverable(DiscoverableAuthentication),
}

/// How many credentials a sign-in naming an address lists at least (its passkeys, then
/// decoys): an account with more passkeys lists them all.
pub const LISTED_CREDENTIALS: usize = 4;

/// The lengths of decoy credential ids: those of common authenticators' ids (platform
/// passkeys of 16, 20 and 32 bytes; security keys' wrapped ids of 48 and 64).
const DECOY_ID_LENGTHS: [usize; 5] = [16, 20, 32, 48, 64];

/// The shape of a decoy credential (its id is replaced): a P-256 key nobody holds.
const DECOY_CREDENTIAL: &str = include_str!("decoy.json");

/// The pages the extension renders, registered in its `build` (restyle them with
/// custom [`Views`](pow_core::views::Views)).
pub const PAGES: [pow_core::views::PageId; 5] = [
    pow_core::views::PageId::new("passkeys/index"),
    pow_core::views::PageId::new("passkeys/security_key"),
    pow_core::views::PageId::new("passkeys/sign_in"),
    pow_core::views::PageId::new("passkeys/step_up"),
    pow_core::views::PageId::new("passkeys/recovery"),
];

impl Extension for Passkeys {
    fn name(&self) -> &'static str {
        NAME
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.pages(PAGES);
        ext.migrations(MIGRATIONS)
            .messages(FTL.iter().copied())
            .mails([MAIL_ADDED, MAIL_REMOVED, MAIL_COUNTER])
            .user_table("passkeys", "user_id")
            .requires(Requirement::Before {
                name: "pow_persistent_session",
                why: "an emailed link that only recovers a passkey-only account must not get \
                      a remember-me cookie",
            })
            .user_data(Export)
            .second_factor(SecondStep(self.clone()))
            .factor_enrolment(Factors(self.clone()))
            .audit_events([
                events::ADDED,
                events::RENAMED,
                events::REMOVED,
                events::SIGNED_IN,
                events::VERIFIED,
                events::FAILED,
                events::COUNTER_REGRESSION,
                events::RECOVERED,
            ])
            .callbacks(self.clone())
            .step_up_page(pow_core::session::AuthMethod::PASSKEY, routes::step_up_path)
            .step_up_page(
                pow_core::session::AuthMethod::SECURITY_KEY,
                routes::step_up_path,
            )
            .page_extension(routes::page_links);
        for route in pages::page_routes(self) {
            ext.page_route(route);
        }
        ext.asset(pow_core::pages::routes::Asset {
            path: SCRIPT_PATH,
            extension: NAME,
            content_type: "text/javascript; charset=utf-8",
            body: SCRIPT,
        });
        for route in api::api_routes(self) {
            ext.api_route(route);
        }
        ext.api_hooks(self.clone())
            .api_document(pow_core::api::openapi_fragment(
                NAME,
                include_str!("../openapi.json"),
            ));
    }
}

/// The script of the pages, relative to the mount path.
pub(crate) const SCRIPT_PATH: &str = "/passkeys/passkeys.js";

/// The pages' script (`passkeys.js`, no build step): it runs the WebAuthn ceremony of a
/// passkey form in the browser and posts the answer with the form. Every framework layer
/// serves it at [`script_path`] (an engine asset, as `text/javascript; charset=utf-8`).
pub const SCRIPT: &str = include_str!("../assets/passkeys.js");

/// Where the pages load [`SCRIPT`] from: `/passkeys/passkeys.js` under the setup's mount
/// path, or where the routes backend moves it.
pub fn script_path(config: &PowConfig) -> String {
    pow_core::config::extension_path(config, NAME, SCRIPT_PATH, &[])
}

/// A user's passkeys and security keys, for the engine's rule on changing factors: once an
/// account has one, enrolling or deleting a passkey, turning two-factor off or new recovery
/// codes ask for a recent passkey or security key (or the account's other factor), and the
/// password alone changes none of them.
struct Factors(Passkeys);

#[async_trait::async_trait]
impl pow_core::extension::FactorEnrolment for Factors {
    async fn enrolled_methods(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<Vec<pow_core::session::AuthMethod>, PowError> {
        use pow_core::session::AuthMethod;
        let usable = self.0.usable(config, user.id).await.map_err(into_pow)?;
        Ok(match usable.is_empty() {
            true => Vec::new(),
            false => vec![AuthMethod::PASSKEY, AuthMethod::SECURITY_KEY],
        })
    }
}

/// A user's passkeys and security keys as the second step of a password sign-in (with
/// `pow-ext-two-factor`): user verification is not required there.
struct SecondStep(Passkeys);

#[async_trait::async_trait]
impl SecondFactor for SecondStep {
    fn name(&self) -> &'static str {
        "security_key"
    }

    /// A user with a password and passkeys or security keys. For an account without a
    /// password, passkeys are the first factor: an emailed link alone is a recovery.
    async fn is_enrolled(&self, config: &PowConfig, user: &User) -> Result<bool, PowError> {
        let has_password = match &user.password_hash {
            Some(_) => true,
            None => config
                .users()?
                .get(user.id)
                .await?
                .is_some_and(|stored| stored.password_hash.is_some()),
        };
        Ok(has_password
            && !self
                .0
                .usable(config, user.id)
                .await
                .map_err(into_pow)?
                .is_empty())
    }

    async fn challenge(
        &self,
        config: &PowConfig,
        user: &User,
    ) -> Result<serde_json::Map<String, serde_json::Value>, PowError> {
        let started = self
            .0
            .start_second_factor(config, user)
            .await
            .map_err(into_pow)?;
        let mut fields = serde_json::Map::new();
        fields.insert("ceremony".into(), started.ceremony.into());
        fields.insert("webauthn_options".into(), started.options);
        fields.insert("webauthn_mode".into(), "get".into());
        fields.insert("credential".into(), "".into());
        Ok(fields)
    }

    async fn verify(
        &self,
        config: &PowConfig,
        user: &User,
        answer: &serde_json::Value,
    ) -> Result<Option<pow_core::session::AuthMethod>, PowError> {
        let ceremony = answer["ceremony"].as_str().unwrap_or_default();
        let credential = match &answer["credential"] {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        match self
            .0
            .finish_second_factor(config, user, ceremony, &credential)
            .await
        {
            Ok(method) => Ok(Some(method)),
            Err(err) if !err.is_client_error() => Err(into_pow(err)),
            Err(err) => {
                audit::record(
                    config,
                    AuditEvent::new(events::FAILED)
                        .user(user.id)
                        .detail("code", err.code())
                        .detail("step", "second_factor"),
                );
                Ok(None)
            }
        }
    }

    fn script(&self, config: &PowConfig) -> Option<String> {
        Some(script_path(config))
    }

    fn button_key(&self) -> &'static str {
        "pow_passkeys_second_factor_button"
    }
}

/// `err` as the core's error (server-side failures).
pub(crate) fn into_pow(err: PasskeyError) -> PowError {
    match err {
        PasskeyError::Pow(err) => err,
        other => PowError::Other(other.to_string()),
    }
}

/// The user's passkeys in the data export (no keys, no credential ids); erased with the
/// account.
struct Export;

#[async_trait::async_trait]
impl UserData for Export {
    async fn export(&self, config: &PowConfig, user: &User) -> Result<serde_json::Value, PowError> {
        let passkeys = store::Passkeys::new(config)?.for_user(user.id).await?;
        let list: Vec<_> = passkeys
            .iter()
            .map(|passkey| {
                serde_json::json!({
                    "name": passkey.name,
                    "created_at": passkey.inserted_at.to_rfc3339(),
                    "last_used_at": passkey.last_used_at.map(|at| at.to_rfc3339()),
                    "synced": passkey.backup_state,
                })
            })
            .collect();
        Ok(serde_json::json!({ "passkeys": list }))
    }

    async fn erase(&self, config: &PowConfig, user: &User) -> Result<(), PowError> {
        store::Passkeys::new(config)?.delete_all(user.id).await?;
        Ok(())
    }
}
