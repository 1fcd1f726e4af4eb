//! [`Gate`]: a sign-in policy a test closes and opens, to prove a way of signing in asks
//! the engine's policies ([`pow_core::session::admit`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use pow_core::extension::{Extension, ExtensionBuilder, SignInPolicy};
use pow_core::session::{AuthMethod, SignInRefusal};
use pow_core::users::User;
use pow_core::{PowConfig, PowError};

/// The message key of the gate's refusal.
pub const GATE_REFUSED: &str = "gate_refused";

macro_rules! refused_text {
    () => {
        "Sign in through the single sign-on of your company."
    };
}

/// The (English) text of the gate's refusal, shown on a refused sign-in's page.
pub const GATE_REFUSED_TEXT: &str = refused_text!();

/// An extension (named `"gate"`) whose [`SignInPolicy`] refuses one address (or, from
/// [`Default`], everybody) while the test keeps it closed, whatever the method; open, it
/// lets everybody in. Clones share their state: register one, [`close`](Self::close) and
/// [`open`](Self::open) another. It starts open.
///
/// ```no_run
/// let gate = pow_testkit::Gate::new("mallory@example.com");
/// let config = pow_core::PowConfig::builder("s".repeat(64))
///     .extension(gate.clone())
///     .build()
///     .unwrap();
/// gate.close(); // mallory's sign-ins are refused (`403`, `sign_in_refused`)
/// gate.open(); // and let in again
/// # let _ = config;
/// ```
#[derive(Clone, Debug, Default)]
pub struct Gate {
    closed: Arc<AtomicBool>,
    /// The address refused while closed; `None`: every user.
    email: Option<Arc<str>>,
}

impl Gate {
    /// A gate refusing `email` while closed; open for now.
    pub fn new(email: &str) -> Self {
        Self {
            closed: Arc::default(),
            email: Some(email.into()),
        }
    }

    /// Refuses the gate's address (or everybody) from now on.
    pub fn close(&self) {
        self.set(true);
    }

    /// Lets everybody in from now on.
    pub fn open(&self) {
        self.set(false);
    }

    /// Closes (`true`) or opens the gate.
    pub fn set(&self, closed: bool) {
        self.closed.store(closed, Ordering::SeqCst);
    }

    /// Whether the gate refuses `user` now.
    fn refuses(&self, user: &User) -> bool {
        self.closed.load(Ordering::SeqCst)
            && self
                .email
                .as_deref()
                .is_none_or(|email| user.email() == Some(email))
    }
}

#[async_trait]
impl SignInPolicy for Gate {
    async fn check(
        &self,
        _: &PowConfig,
        user: &User,
        _: &[AuthMethod],
    ) -> Result<Option<SignInRefusal>, PowError> {
        Ok(self.refuses(user).then_some(SignInRefusal {
            key: GATE_REFUSED,
            policy: "test gate",
        }))
    }
}

impl Extension for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.messages([("en", concat!("gate_refused = ", refused_text!()))])
            .sign_in_policy(self.clone());
    }
}
