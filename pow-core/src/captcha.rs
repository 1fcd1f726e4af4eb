//! CAPTCHA checks on the actions bots aim at: sign-up, sign-in, and the extensions'
//! mail-sending requests (a password reset, a passwordless link).
//!
//! Set one with [`PowConfigBuilder::captcha`](crate::PowConfigBuilder::captcha). The action
//! pipeline then checks the answer of every posted sign-up and sign-in, and of every action
//! built with pow-actix's `Action::captcha`, after the rate limits and
//! before anything is hashed or mailed. Pages marked with
//! pow-actix's `Page::captcha` render the widget inside their form.
//!
//! A browser posts the widget's answer in its own form field ([`CaptchaWidget::field`]);
//! a JSON client sends it in the `X-Captcha-Response` header ([`CAPTCHA_HEADER`]). A
//! missing or refused answer is [`PowError::CaptchaInvalid`]; a verifier that fails or
//! does not answer within the timeout is [`PowError::CaptchaUnavailable`] (fail closed),
//! unless [`Captcha::fail_open`] is set.
//!
//! [`SiteVerify`] (feature `captcha`) verifies Cloudflare Turnstile, hCaptcha and Google
//! reCAPTCHA (v2) answers; any other service implements [`CaptchaVerifier`].
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::Duration;
//! use pow_core::captcha::{Captcha, CaptchaError, CaptchaVerifier, CaptchaWidget};
//!
//! /// Accepts the answer "human" (a test double; a real one asks its service).
//! struct Fixed;
//!
//! #[async_trait::async_trait]
//! impl CaptchaVerifier for Fixed {
//!     fn widget(&self) -> CaptchaWidget {
//!         CaptchaWidget {
//!             script_src: "/captcha.js".into(),
//!             class: "my-captcha",
//!             site_key: "site".into(),
//!             field: "captcha-answer",
//!         }
//!     }
//!
//!     async fn verify(
//!         &self,
//!         answer: &str,
//!         _ip: Option<IpAddr>,
//!         _timeout: Duration,
//!     ) -> Result<bool, CaptchaError> {
//!         Ok(answer == "human")
//!     }
//! }
//!
//! let captcha = Captcha::new(Fixed).timeout(Duration::from_secs(3));
//! let config = pow_core::PowConfig::builder("s".repeat(64)).captcha(captcha).build()?;
//! assert!(config.captcha().is_some());
//! # Ok::<_, pow_core::PowError>(())
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::PowError;

/// The header a JSON client sends the widget's answer in.
pub const CAPTCHA_HEADER: &str = "x-captcha-response";

/// The default time a verification may take before the check fails (closed): 5 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest timeout [`Captcha::timeout`] takes: 30 seconds (a request waits for it).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// What a page renders for the widget: its script, and an element of its class with the
/// site key, inside the form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptchaWidget {
    /// The widget's script URL.
    pub script_src: String,
    /// The class of the element the script turns into the widget (`cf-turnstile`,
    /// `h-captcha`, `g-recaptcha`).
    pub class: &'static str,
    /// The public site key.
    pub site_key: String,
    /// The form field the widget posts its answer in (`cf-turnstile-response`, ...).
    pub field: &'static str,
}

/// A verifier could not give an answer (the service is down, slow, or answered garbage).
#[derive(Debug, thiserror::Error)]
#[error("CAPTCHA verification failed: {0}")]
pub struct CaptchaError(pub String);

/// Asks a CAPTCHA service whether an answer is valid.
#[async_trait]
pub trait CaptchaVerifier: Send + Sync + 'static {
    /// What pages render.
    fn widget(&self) -> CaptchaWidget;

    /// Whether `answer` (never empty) is a valid, unused answer, from `client_ip` when
    /// known. The check gives up after `timeout`; bound the request by it too, so that a
    /// service that hangs holds no thread longer.
    ///
    /// # Errors
    /// [`CaptchaError`] when the service gave no answer.
    async fn verify(
        &self,
        answer: &str,
        client_ip: Option<IpAddr>,
        timeout: Duration,
    ) -> Result<bool, CaptchaError>;
}

/// The CAPTCHA setting: a verifier, its timeout, and what a failing verifier means.
#[derive(Clone)]
pub struct Captcha {
    verifier: Arc<dyn CaptchaVerifier>,
    /// The verifier's widget, asked for once: pages and every checked request read it.
    widget: CaptchaWidget,
    timeout: Duration,
    fail_open: bool,
}

impl std::fmt::Debug for Captcha {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Captcha")
            .field("widget", &self.widget)
            .field("timeout", &self.timeout)
            .field("fail_open", &self.fail_open)
            .finish()
    }
}

impl Captcha {
    /// Checks answers with `verifier`, [`DEFAULT_TIMEOUT`], failing closed.
    pub fn new(verifier: impl CaptchaVerifier) -> Self {
        Self {
            widget: verifier.widget(),
            verifier: Arc::new(verifier),
            timeout: DEFAULT_TIMEOUT,
            fail_open: false,
        }
    }

    /// How long a verification may take (at most [`MAX_TIMEOUT`]). The default value is
    /// 5 seconds.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(MAX_TIMEOUT);
        self
    }

    /// Whether a verifier that fails or times out lets requests through. The default value
    /// is `false` (fail closed): an outage of the service then stops sign-ups and sign-ins
    /// (`503`). Turning it on trades that for letting bots through during the outage.
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// What pages render.
    pub fn widget(&self) -> &CaptchaWidget {
        &self.widget
    }

    /// Checks `answer` (from the widget's field or the header). A missing or empty answer
    /// is refused without asking the service.
    ///
    /// # Errors
    /// [`PowError::CaptchaInvalid`] for a missing or refused answer;
    /// [`PowError::CaptchaUnavailable`] when the verifier failed or timed out and the
    /// setting fails closed.
    pub async fn check(
        &self,
        answer: Option<&str>,
        client_ip: Option<IpAddr>,
    ) -> Result<(), PowError> {
        let Some(answer) = answer.map(str::trim).filter(|a| !a.is_empty()) else {
            return Err(PowError::CaptchaInvalid);
        };
        let verified = tokio::time::timeout(
            self.timeout,
            self.verifier.verify(answer, client_ip, self.timeout),
        )
        .await;
        match verified {
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(PowError::CaptchaInvalid),
            Ok(Err(err)) => self.unavailable(&err.to_string()),
            Err(_) => self.unavailable("timed out"),
        }
    }

    fn unavailable(&self, why: &str) -> Result<(), PowError> {
        if self.fail_open {
            tracing::warn!(
                why,
                "CAPTCHA verifier failed; letting the request through (fail_open)"
            );
            Ok(())
        } else {
            tracing::warn!(why, "CAPTCHA verifier failed; refusing the request");
            Err(PowError::CaptchaUnavailable)
        }
    }
}

#[cfg(feature = "captcha")]
pub use site_verify::{Provider, SiteVerify};

#[cfg(feature = "captcha")]
mod site_verify {
    use super::*;

    /// A CAPTCHA service speaking the `siteverify` protocol.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum Provider {
        /// Cloudflare Turnstile.
        Turnstile,
        /// hCaptcha.
        HCaptcha,
        /// Google reCAPTCHA v2 (checkbox or invisible).
        ReCaptcha,
    }

    impl Provider {
        fn verify_url(self) -> &'static str {
            match self {
                Self::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
                Self::HCaptcha => "https://api.hcaptcha.com/siteverify",
                Self::ReCaptcha => "https://www.google.com/recaptcha/api/siteverify",
            }
        }

        fn script_src(self) -> &'static str {
            match self {
                Self::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/api.js",
                Self::HCaptcha => "https://js.hcaptcha.com/1/api.js",
                Self::ReCaptcha => "https://www.google.com/recaptcha/api.js",
            }
        }

        fn class(self) -> &'static str {
            match self {
                Self::Turnstile => "cf-turnstile",
                Self::HCaptcha => "h-captcha",
                Self::ReCaptcha => "g-recaptcha",
            }
        }

        fn field(self) -> &'static str {
            match self {
                Self::Turnstile => "cf-turnstile-response",
                Self::HCaptcha => "h-captcha-response",
                Self::ReCaptcha => "g-recaptcha-response",
            }
        }
    }

    /// Verifies answers with a `siteverify` service (feature `captcha`): a form `POST` of
    /// the secret, the answer and the client's address, answered with
    /// `{"success": bool, "hostname": ...}`. The request runs on the blocking pool, bounded
    /// by the [`Captcha`] timeout.
    #[derive(Clone)]
    pub struct SiteVerify {
        provider: Provider,
        site_key: String,
        secret: String,
        verify_url: String,
        hostname: Option<String>,
        agent: ureq::Agent,
    }

    impl std::fmt::Debug for SiteVerify {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // Never the secret.
            f.debug_struct("SiteVerify")
                .field("provider", &self.provider)
                .field("site_key", &self.site_key)
                .field("verify_url", &self.verify_url)
                .field("hostname", &self.hostname)
                .finish_non_exhaustive()
        }
    }

    impl SiteVerify {
        /// A verifier for `provider` with the site's public key and its secret.
        pub fn new(
            provider: Provider,
            site_key: impl Into<String>,
            secret: impl Into<String>,
        ) -> Self {
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(MAX_TIMEOUT))
                .http_status_as_error(false)
                .build()
                .into();
            Self {
                provider,
                site_key: site_key.into(),
                secret: secret.into(),
                verify_url: provider.verify_url().to_owned(),
                hostname: None,
                agent,
            }
        }

        /// Cloudflare Turnstile.
        pub fn turnstile(site_key: impl Into<String>, secret: impl Into<String>) -> Self {
            Self::new(Provider::Turnstile, site_key, secret)
        }

        /// hCaptcha.
        pub fn hcaptcha(site_key: impl Into<String>, secret: impl Into<String>) -> Self {
            Self::new(Provider::HCaptcha, site_key, secret)
        }

        /// Google reCAPTCHA v2.
        pub fn recaptcha(site_key: impl Into<String>, secret: impl Into<String>) -> Self {
            Self::new(Provider::ReCaptcha, site_key, secret)
        }

        /// Sends verifications to `url` instead of the provider's (a proxy, an enterprise
        /// endpoint, or a local fake in tests).
        pub fn verify_url(mut self, url: impl Into<String>) -> Self {
            self.verify_url = url.into();
            self
        }

        /// Refuses answers solved on another site than `hostname` (the service reports
        /// where the widget was solved).
        pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
            self.hostname = Some(hostname.into());
            self
        }
    }

    #[derive(serde::Deserialize)]
    struct Answer {
        success: bool,
        #[serde(default)]
        hostname: Option<String>,
    }

    #[async_trait]
    impl CaptchaVerifier for SiteVerify {
        fn widget(&self) -> CaptchaWidget {
            CaptchaWidget {
                script_src: self.provider.script_src().to_owned(),
                class: self.provider.class(),
                site_key: self.site_key.clone(),
                field: self.provider.field(),
            }
        }

        async fn verify(
            &self,
            answer: &str,
            client_ip: Option<IpAddr>,
            timeout: Duration,
        ) -> Result<bool, CaptchaError> {
            let (agent, url, secret) = (
                self.agent.clone(),
                self.verify_url.clone(),
                self.secret.clone(),
            );
            let answer = answer.to_owned();
            let ip = client_ip.map(|ip| ip.to_string());
            let body = tokio::task::spawn_blocking(move || {
                let mut form = vec![("secret", secret.as_str()), ("response", answer.as_str())];
                if let Some(ip) = &ip {
                    form.push(("remoteip", ip.as_str()));
                }
                let mut res = agent
                    .post(&url)
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .send_form(form)
                    .map_err(|err| CaptchaError(format!("{url}: {err}")))?;
                if !res.status().is_success() {
                    return Err(CaptchaError(format!("{url}: status {}", res.status())));
                }
                res.body_mut()
                    .with_config()
                    .limit(64 * 1024)
                    .read_to_string()
                    .map_err(|err| CaptchaError(format!("{url}: {err}")))
            })
            .await
            .map_err(|err| CaptchaError(err.to_string()))??;
            let answer: Answer = serde_json::from_str(&body)
                .map_err(|err| CaptchaError(format!("not a siteverify answer: {err}")))?;
            let host_ok = match (&self.hostname, &answer.hostname) {
                (None, _) => true,
                (Some(expected), Some(got)) => expected.eq_ignore_ascii_case(got),
                (Some(_), None) => false,
            };
            Ok(answer.success && host_ok)
        }
    }
}
