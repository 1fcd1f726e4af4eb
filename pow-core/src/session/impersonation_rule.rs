//! [`Impersonation`]: who may open support access to whose account, and for how long.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::users::User;

/// The longest an impersonation session may last.
pub const MAX_IMPERSONATION: Duration = Duration::from_secs(3600);

/// Who may impersonate whom, and for how long (see
/// [`session::impersonation`](super::impersonation)). Off unless set with
/// [`PowConfigBuilder::impersonation`](crate::PowConfigBuilder::impersonation).
#[derive(Clone)]
pub struct Impersonation {
    is_admin: Arc<dyn Fn(&User) -> bool + Send + Sync>,
    idle: Duration,
    absolute: Duration,
    pub(super) admin_targets: bool,
    notify_user: bool,
}

impl fmt::Debug for Impersonation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Impersonation")
            .field("idle", &self.idle)
            .field("absolute", &self.absolute)
            .field("admin_targets", &self.admin_targets)
            .field("notify_user", &self.notify_user)
            .finish_non_exhaustive()
    }
}

impl Impersonation {
    /// Impersonation for the users `is_admin` accepts (the app's own role check), with the
    /// defaults: 15 minutes idle, 30 minutes in all, no admin targets, no notice mail.
    pub fn new(is_admin: impl Fn(&User) -> bool + Send + Sync + 'static) -> Self {
        Self {
            is_admin: Arc::new(is_admin),
            idle: Duration::from_secs(15 * 60),
            absolute: Duration::from_secs(30 * 60),
            admin_targets: false,
            notify_user: false,
        }
    }

    /// Ends a session after this long without a request (at most an hour).
    #[must_use]
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = idle.min(MAX_IMPERSONATION);
        self
    }

    /// Ends a session this long after it started, whatever its activity (at most an hour).
    #[must_use]
    pub fn absolute_timeout(mut self, absolute: Duration) -> Self {
        self.absolute = absolute.min(MAX_IMPERSONATION);
        self
    }

    /// Lets admins impersonate other admins (off by default).
    #[must_use]
    pub fn allow_admin_targets(mut self, allow: bool) -> Self {
        self.admin_targets = allow;
        self
    }

    /// Mails the user a notice when support access to their account starts (off by
    /// default; the activity list shows it either way).
    #[must_use]
    pub fn notify_user(mut self, notify: bool) -> Self {
        self.notify_user = notify;
        self
    }

    /// Whether `user` may impersonate.
    pub fn is_admin(&self, user: &User) -> bool {
        (self.is_admin)(user)
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The absolute timeout.
    pub fn absolute(&self) -> Duration {
        self.absolute
    }

    /// Whether the user is mailed a notice.
    pub fn notifies_user(&self) -> bool {
        self.notify_user
    }
}
