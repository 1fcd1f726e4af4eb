//! The rate limits and lockout policy a setup holds: plain settings, read by the checks
//! in [`limits`](super).

use std::time::Duration;

use ipnet::IpNet;

use crate::store::Limit;

/// The rate limits and lockout policy of a setup ([`PowConfigBuilder::rate_limits`](crate::PowConfigBuilder::rate_limits)).
/// `None` disables a rule. See the [module docs](super) for what each counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Password sign-ins per client. Default 30 per minute.
    pub sign_in_per_ip: Option<Limit>,
    /// Failed sign-ins per identifier and client. Default 5 per 5 minutes. Its window is
    /// also how long the failures of a network and of an account shed their checks once
    /// the hashing pool is half full (see the [module docs](super)); `None` turns that off.
    pub sign_in_failures: Option<Limit>,
    /// Sign-up submissions per client. Default 20 per minute.
    pub sign_up_per_ip: Option<Limit>,
    /// Requests for a mailed link per client. Default 20 per minute.
    pub mails_per_ip: Option<Limit>,
    /// The hard per-account lock. Default [`Lockout::default`].
    pub lockout: Option<Lockout>,
    /// Password checks one client may have under way at once in this process (sign-ins
    /// and sign-ups waiting for the hashing pool), so one client cannot fill the pool and
    /// have everybody else's sign-in refused (`429`). Once the checks under way fill half
    /// the pool, a client's whole network (IPv4 /24, IPv6 /48) shares this many, and the
    /// next one is shed (`503`). Default 2.
    pub max_in_flight_per_client: Option<u32>,
    /// Password checks of one account (one identifier) under way at once in this process
    /// from clients that failed on it before, so a flood from many addresses on one account
    /// takes at most this many places in the hashing pool (`429`); below half the pool a
    /// client with no failures there (its owner, say) is not held back. Once the checks
    /// under way fill half the pool, checks of the account from any client share this
    /// many, and the next one is shed (`503`). Default 2.
    pub max_in_flight_per_account: Option<u32>,
    /// Proxies whose `X-Forwarded-For` is believed. Default none: the peer address is the
    /// client.
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sign_in_per_ip: Some(Limit::new(30, Duration::from_secs(60))),
            sign_in_failures: Some(Limit::new(5, Duration::from_secs(5 * 60))),
            sign_up_per_ip: Some(Limit::new(20, Duration::from_secs(60))),
            mails_per_ip: Some(Limit::new(20, Duration::from_secs(60))),
            lockout: Some(Lockout::default()),
            max_in_flight_per_client: Some(2),
            max_in_flight_per_account: Some(2),
            trusted_proxies: Vec::new(),
        }
    }
}

impl RateLimits {
    /// Every rule off (for tests that hammer one account on purpose).
    pub fn disabled() -> Self {
        Self {
            sign_in_per_ip: None,
            sign_in_failures: None,
            sign_up_per_ip: None,
            mails_per_ip: None,
            lockout: None,
            max_in_flight_per_client: None,
            max_in_flight_per_account: None,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The hard per-account lock: after `max_failures` failed sign-ins in a row (within
/// `failure_window` of the first), password sign-in for the identifier is refused for
/// `lock_for`, from every client, and the owner is mailed an unlock link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// Consecutive failures that lock. Default 100 (NIST 800-63B's ceiling).
    pub max_failures: u32,
    /// How long failures are remembered. Default 24 hours.
    pub failure_window: Duration,
    /// How long a lock lasts unless lifted earlier. Default 1 hour.
    pub lock_for: Duration,
    /// Consecutive failed second factors and mailed codes (TOTP, recovery codes,
    /// passwordless codes) that lock, counted apart from passwords; a correct password
    /// does not clear them. Default 10, at most [`MAX_FACTOR_FAILURES`]; see
    /// [`factor_failed`](super::factor_failed).
    pub max_factor_failures: u32,
}

/// The most [`Lockout::max_factor_failures`] may be (NIST 800-63B 5.2.2).
pub const MAX_FACTOR_FAILURES: u32 = 100;

impl Default for Lockout {
    fn default() -> Self {
        Self {
            max_failures: 100,
            failure_window: Duration::from_secs(24 * 3600),
            lock_for: Duration::from_secs(3600),
            max_factor_failures: DEFAULT_MAX_FACTOR_FAILURES,
        }
    }
}

/// The default of [`Lockout::max_factor_failures`]:
/// nobody mistypes a code ten times in a row, and ten guesses per lock period leave an
/// attacker who knows the password about 3 in 100 000 (10 guesses at 3 valid codes in a
/// million) per hour instead of one in 3 300 at NIST's ceiling of 100.
pub(crate) const DEFAULT_MAX_FACTOR_FAILURES: u32 = 10;
