//! [`StepUp`]: a rule on how recently a session proved which methods.

use std::time::Duration;

use super::metadata::SessionMetadata;
use super::methods::AuthMethod;
use crate::config::PowConfig;
use crate::time::duration_ms;

/// A step-up rule: the session must have proved one of `methods` within `within`.
///
/// Enforce one on a controller action with pow-actix's `Action::step_up`
/// or in a handler with [`is_met`](Self::is_met). A browser that does not meet it is sent
/// to a page that performs one of the accepted methods and returns; JSON answers `403`
/// with the code `step_up_required` and the accepted methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepUp {
    methods: Vec<AuthMethod>,
    /// Also any method that counts as a second factor, the setup's extensions' among them.
    any_second_factor: bool,
    /// `None`: the setup's [`sudo_window`](crate::SessionConfig::sudo_window).
    within: Option<Duration>,
}

impl StepUp {
    /// Any of `methods` within `within` of now.
    pub fn any_of(methods: impl IntoIterator<Item = AuthMethod>, within: Duration) -> Self {
        Self {
            methods: methods.into_iter().collect(),
            any_second_factor: false,
            within: Some(within),
        }
    }

    /// Any second factor within `within` of now: the core's
    /// ([`AuthMethod::SECOND_FACTORS`]) and those extensions register.
    pub fn second_factor(within: Duration) -> Self {
        Self {
            methods: Vec::new(),
            any_second_factor: true,
            within: Some(within),
        }
    }

    /// A second factor within the setup's
    /// [`sudo_window`](crate::SessionConfig::sudo_window) (10 minutes by default): what
    /// changing a second factor or a passkey asks by default.
    pub fn recent_second_factor() -> Self {
        Self {
            methods: Vec::new(),
            any_second_factor: true,
            within: None,
        }
    }

    /// The methods it accepts under `config`, in the order of their codes.
    pub fn methods(&self, config: &PowConfig) -> Vec<AuthMethod> {
        let mut methods = self.methods.clone();
        if self.any_second_factor {
            methods.extend(config.extensions().second_factor_methods());
        }
        methods.sort();
        methods.dedup();
        methods
    }

    /// Whether it accepts `method`.
    pub fn accepts(&self, method: AuthMethod) -> bool {
        self.methods.contains(&method) || (self.any_second_factor && method.is_second_factor())
    }

    /// How recent the method must be under `config`.
    pub fn within(&self, config: &PowConfig) -> Duration {
        self.within.unwrap_or(config.session().sudo_window)
    }

    /// Whether a session with `metadata` meets it under `config` (never an impersonation
    /// session).
    pub fn is_met(&self, metadata: &SessionMetadata, config: &PowConfig) -> bool {
        let window = duration_ms(self.within(config));
        let now = config.clock().now_ms();
        !metadata.is_impersonation()
            && metadata
                .methods
                .iter()
                .any(|used| self.accepts(used.method) && now.saturating_sub(used.at) <= window)
    }
}
