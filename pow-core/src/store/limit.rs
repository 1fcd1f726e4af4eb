//! [`Limit`]: how many attempts a rule allows per window.

use std::time::Duration;

/// At most `max` attempts per `per`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Most attempts per window; 0 allows none.
    pub max: u32,
    /// The window.
    pub per: Duration,
}

impl Limit {
    /// At most `max` attempts per `per`.
    pub const fn new(max: u32, per: Duration) -> Self {
        Self { max, per }
    }

    /// The default of the mails one address may get from one extension (reset links,
    /// confirmation links, sign-in links): 3 per hour.
    pub const MAILS_PER_ADDRESS: Limit = Limit::new(3, Duration::from_secs(3600));
}
