//! Abuse protection: rate limits on sign-in, sign-up and mails, and account lockout.
//!
//! Every rule counts in the cache store with an atomic [`Store::incr`](crate::store::Store::incr)
//! (see [`Limiter`]), so limits hold across workers and across servers that share a store.
//! The action pipeline (pow-actix's `web::Action`) applies them before any password
//! is hashed:
//!
//! | rule | counts | default |
//! |---|---|---|
//! | [`sign_in_per_ip`](RateLimits::sign_in_per_ip) | every password sign-in from one client | 30 per minute |
//! | [`sign_in_failures`](RateLimits::sign_in_failures) | failed sign-ins for one identifier from one client (a success clears them) | 5 per 5 minutes |
//! | [`sign_up_per_ip`](RateLimits::sign_up_per_ip) | sign-up submissions from one client | 20 per minute |
//! | [`mails_per_ip`](RateLimits::mails_per_ip) | requests for a mailed link (reset, confirmation, ...) from one client | 20 per minute |
//! | [`lockout`](RateLimits::lockout) | consecutive failed sign-ins for one identifier, from anywhere | lock after 100, for 1 hour |
//! | [`max_in_flight_per_client`](RateLimits::max_in_flight_per_client) | password checks one client has under way at once (per process); once they fill half the hashing pool, those of its whole network (IPv4 /24, IPv6 /48) | 2 |
//! | [`max_in_flight_per_account`](RateLimits::max_in_flight_per_account) | password checks of one account under way at once from clients that failed on it (per process); once they fill half the hashing pool, from any client | 2 |
//!
//! Every password check counts: sign-in (HTML and JSON), sudo mode's password
//! confirmation and the current password of an account change run through the same rules,
//! the same failure counters and the same lock. A client that failed on an account before
//! shares two places in the hashing pool with every other such client of that account.
//!
//! Half of the hashing pool (its threads plus its queue) is reserved for checks with no
//! failures behind them. While the password checks under way fill the other half, a check
//! is shed (`503` with `Retry-After`, before it is queued) when its client failed on this
//! account, when its network or its account failed a password check recently (within
//! [`sign_in_failures`](RateLimits::sign_in_failures)' window, from any client; a correct
//! password clears the account's), or when its network or its account already has its
//! share under way (the two limits above). Fresh addresses do not help a flood: they
//! inherit their network's and their target's failures, and a network counts as one
//! client. A sign-in from another network on an account nobody is failing on finds its
//! place. What no rule tells apart is a botnet's first wave from many networks on
//! identifiers never tried: it looks like that many real visitors.
//!
//! A refused request gets `429 Too Many Requests` with `Retry-After`: a translated page for
//! browsers, `{"status": 429, "errors": [{"code": "rate_limited", ...}]}` for the API. Identifiers are
//! normalised and stored only as keyed hashes; an unknown identifier is counted, refused and
//! locked exactly like a known one, so the limiter tells nobody which accounts exist.
//!
//! The client is the peer address, or, when the peer is one of the
//! [`trusted_proxies`](RateLimits::trusted_proxies), the nearest untrusted address in
//! `X-Forwarded-For`. IPv6 clients are grouped by /64 (one subscriber's network). A request
//! without a peer address (a Unix socket, an in-process test request) skips the per-client
//! rules.
//!
//! Second factors and mailed codes count too ([`factor_failed`]): consecutive failures
//! for one account, from anywhere, lock it after [`Lockout::max_factor_failures`] (10),
//! and a correct password does not clear them (see [`factor_failed`]).
//!
//! The lockout cannot keep the owner out: the locked account's owner is mailed a notice
//! with a link that lifts the lock (once; it signs nobody in: the owner then signs in with
//! every factor the account has), a password reset unlocks it too, and the lock ends by
//! itself after [`Lockout::lock_for`].
//!
//! ```
//! use std::time::Duration;
//! use pow_core::limits::{Lockout, RateLimits};
//! use pow_core::store::Limit;
//!
//! let limits = RateLimits {
//!     sign_in_failures: Some(Limit::new(3, Duration::from_secs(600))),
//!     lockout: Some(Lockout { max_failures: 50, ..Lockout::default() }),
//!     trusted_proxies: vec!["10.0.0.0/8".parse()?],
//!     ..RateLimits::default()
//! };
//! let config = pow_core::PowConfig::builder("a".repeat(64)).rate_limits(limits).build()?;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

use std::net::IpAddr;
use std::time::Duration;

pub use ipnet::IpNet;

use crate::config::PowConfig;
use crate::error::PowError;
use crate::request::{RequestFacts, RequestSource};
use crate::store::{Limit, Limiter};

mod factors;
mod in_flight;
mod lockout;
mod settings;
pub use factors::{account_identifier, ensure_not_locked, factor_failed, factor_passed};
use in_flight::{Bound, Crowded};
pub(crate) use in_flight::{InFlight, InFlightSlot};
pub(crate) use lockout::{Counter, Lockouts};
pub use settings::{Lockout, RateLimits, MAX_FACTOR_FAILURES};

pub use lockout::{redeem_unlock_link, unlock_account, UNLOCK_MAIL};

/// Rule names (the first key segment of each counter).
const SIGN_IN_IP: &str = "sign_in_ip";
const SIGN_IN_FAILURES: &str = "sign_in_failures";
const SIGN_UP_IP: &str = "sign_up_ip";
const MAIL_IP: &str = "mail_ip";
/// Recent failed password checks per network and per account, from any client: what
/// sheds a check once the pool is half full.
const RECENT_FAILURES: &str = "recent_failures";

pub use crate::error::{LimitReason, RateLimited};

fn refused(reason: LimitReason, retry_after: Duration) -> PowError {
    PowError::RateLimited(RateLimited {
        reason,
        retry_after,
    })
}

/// The counter subject of a client address: an IPv4 address, or an IPv6 /64.
pub fn client_subject(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The network of a client address, whose failures follow its other addresses: an IPv4
/// /24, or an IPv6 /48 (one site's prefix).
fn network_subject(ip: IpAddr) -> String {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

fn client(facts: &RequestFacts) -> Option<String> {
    facts.client_ip.map(client_subject)
}

/// Counts one request of `rule` by the client of `facts`; refused when over `limit`.
async fn hit_client(
    config: &PowConfig,
    facts: &RequestFacts,
    rule: &'static str,
    limit: Option<Limit>,
) -> Result<(), PowError> {
    let (Some(limit), Some(client)) = (limit, client(facts)) else {
        return Ok(());
    };
    if Limiter::new(config, rule).hit(limit, &client).await? {
        Ok(())
    } else {
        Err(refused(LimitReason::TooManyAttempts, limit.per))
    }
}

/// Counts a request for a mailed link (reset, confirmation, magic link) against the
/// client's [`mails_per_ip`](RateLimits::mails_per_ip).
///
/// # Errors
/// [`PowError::RateLimited`] when the client is over the limit; the store's error.
pub async fn hit_mail_request(config: &PowConfig, req: &dyn RequestSource) -> Result<(), PowError> {
    let facts = req.facts();
    hit_client(config, &facts, MAIL_IP, config.rate_limits().mails_per_ip).await
}

/// What admission knows of a password check's failures.
#[derive(Clone, Copy, Debug, Default)]
struct History {
    /// This client failed on this account.
    client_on_account: bool,
    /// The client's network, or the account, failed recently (from anywhere).
    elsewhere: bool,
}

impl History {
    fn failing(self) -> bool {
        self.client_on_account || self.elsewhere
    }
}

/// Takes the in-flight place of a password check (or a sign-up, without `identifier`).
///
/// Always bounded: the request's client (its third concurrent check is refused with
/// `429`), and, when this client failed on this account before, the account's places for
/// such clients (at most two of them share them), so neither one client nor a flood on one
/// account fills the hashing pool.
///
/// The other half of the pool is reserved: once the checks under way fill half of it
/// (threads and queue), a check is shed (`503` with `Retry-After`) when it has failures
/// behind it (its client on this account, its network, or its account, from anywhere), or
/// when its network (IPv4 /24, IPv6 /48) has as many checks under way as one client may
/// have, or its account as many as `max_in_flight_per_account`. An attacker with fresh
/// addresses meets the account's and the network's failures and shares; a sign-in with no
/// failures behind it, from another network on another account, finds its place.
fn enter(
    config: &PowConfig,
    facts: &RequestFacts,
    identifier: Option<&str>,
    history: History,
) -> Result<InFlightSlot, PowError> {
    let limits = config.rate_limits();
    let mut bounds = Vec::with_capacity(4);
    if let (Some(max), Some(ip)) = (limits.max_in_flight_per_client, facts.client_ip) {
        // Line breaks keep the kinds of subjects apart.
        bounds.push(Bound::always(
            format!("client\n{}", client_subject(ip)),
            max,
        ));
        bounds.push(Bound::in_reserved_half(
            format!("network\n{}", network_subject(ip)),
            max,
        ));
    }
    if let (Some(max), Some(identifier)) = (limits.max_in_flight_per_account, identifier) {
        if history.client_on_account {
            bounds.push(Bound::always(format!("account\n{identifier}"), max));
        }
        bounds.push(Bound::in_reserved_half(
            format!("any account\n{identifier}"),
            max,
        ));
    }
    let options = config.hash_pool().options();
    let half = options
        .thread_count()
        .saturating_add(options.queue_len())
        .div_ceil(2);
    match config.in_flight().enter(bounds, half, history.failing()) {
        Ok(slot) => Ok(slot),
        Err(Crowded::Subject) => Err(refused(
            LimitReason::TooManyAttempts,
            Duration::from_secs(1),
        )),
        Err(Crowded::Shed) => {
            tracing::warn!(
                "a password check was shed: the checks under way fill half the hashing pool, \
                 and it has failures behind it or its network or account has its share"
            );
            Err(PowError::Busy)
        }
    }
}

/// What a password check is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// A sign-in with an identifier and a password.
    SignIn,
    /// A signed-in user proving the password again: sudo mode's confirmation, or the
    /// current password of an account change.
    Reauthenticate,
}

/// What an action is about to do that the limits count, before it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A sign-up: counted per client, and it takes an in-flight slot (it hashes).
    SignUp,
    /// A password check of the account `identifier` (normalised; see
    /// [`normalize_user_id`](crate::users::validation::normalize_user_id)).
    Password {
        /// The account.
        identifier: String,
        /// What for.
        kind: CheckKind,
    },
}

/// A password check under way: what `after_check` records once the action is done.
#[derive(Debug)]
pub struct SignInAttempt {
    /// The account checked.
    pub identifier: String,
    client: Option<String>,
    network: Option<String>,
    /// What for.
    pub kind: CheckKind,
}

impl SignInAttempt {
    fn failures_subject(&self) -> Option<String> {
        self.client
            .as_ref()
            .map(|client| format!("{}\n{client}", self.identifier))
    }
}

/// What a flow holds while its action runs: the password check to record afterwards, and
/// its in-flight slot (dropping it frees the slot).
#[derive(Debug, Default)]
pub struct Admission {
    /// The password check to record with `after_check`.
    pub sign_in: Option<SignInAttempt>,
    _slot: Option<InFlightSlot>,
    /// A password check with no failures behind it (its client on the account, its
    /// network, its account).
    clean: bool,
}

impl Admission {
    /// Runs the admitted action `act`: the hashes of a password check with no failures
    /// behind it go ahead of the others in the hashing pool's queue, so that the half of
    /// the pool a flood with failures behind it may fill is never a wait in front of a
    /// clean sign-in.
    pub async fn run<F: std::future::Future>(&self, act: F) -> F::Output {
        crate::password::for_clean_check(self.clean, act).await
    }
}

/// Runs the rules that apply before `check` runs for the client of `facts`: per-client
/// counters, failures of this client on this account, the account lock, and the in-flight
/// bounds. Returns the admission to hold while the action runs.
///
/// # Errors
/// [`PowError::RateLimited`] when a rule refuses; [`PowError::Busy`] when the check is
/// shed; the store's error.
pub async fn admit(
    config: &PowConfig,
    facts: &RequestFacts,
    check: Option<Check>,
) -> Result<Admission, PowError> {
    let limits = config.rate_limits();
    let (identifier, kind) = match check {
        None => return Ok(Admission::default()),
        Some(Check::SignUp) => {
            hit_client(config, facts, SIGN_UP_IP, limits.sign_up_per_ip).await?;
            return Ok(Admission {
                sign_in: None,
                _slot: Some(enter(config, facts, None, History::default())?),
                clean: false,
            });
        }
        Some(Check::Password { identifier, kind }) => (identifier, kind),
    };
    hit_client(config, facts, SIGN_IN_IP, limits.sign_in_per_ip).await?;
    let attempt = SignInAttempt {
        identifier,
        client: client(facts),
        network: facts.client_ip.map(network_subject),
        kind,
    };
    let mut client_failures = 0;
    if let Some(subject) = attempt.failures_subject() {
        client_failures = Limiter::new(config, SIGN_IN_FAILURES)
            .count(&subject)
            .await?;
        if let Some(limit) = limits.sign_in_failures {
            if client_failures >= u64::from(limit.max) {
                return Err(refused(LimitReason::TooManyAttempts, limit.per));
            }
        }
    }
    if let Some(lockout) = limits.lockout {
        if Lockouts::new(config).is_locked(&attempt.identifier).await? {
            return Err(refused(LimitReason::Locked, lockout.lock_for));
        }
    }
    // Failures behind this check: part of a flood, perhaps.
    let history = History {
        client_on_account: client_failures > 0,
        elsewhere: failed_elsewhere(config, &attempt).await?,
    };
    let slot = enter(config, facts, Some(&attempt.identifier), history)?;
    Ok(Admission {
        sign_in: Some(attempt),
        _slot: Some(slot),
        clean: !history.failing(),
    })
}

/// The subjects of [`RECENT_FAILURES`]: the account `identifier` and the client's
/// `network` (if known).
fn recent_failure_subjects(identifier: &str, network: Option<&str>) -> Vec<String> {
    let mut subjects = vec![format!("account\n{identifier}")];
    if let Some(network) = network {
        subjects.push(format!("network\n{network}"));
    }
    subjects
}

/// Whether the client's network or the account `identifier` failed a password check
/// recently (within [`sign_in_failures`](RateLimits::sign_in_failures)' window, from any
/// client). Counted for unknown identifiers as for known ones.
async fn failed_elsewhere(config: &PowConfig, attempt: &SignInAttempt) -> Result<bool, PowError> {
    if config.rate_limits().sign_in_failures.is_none() {
        return Ok(false);
    }
    let recent = Limiter::new(config, RECENT_FAILURES);
    for subject in recent_failure_subjects(&attempt.identifier, attempt.network.as_deref()) {
        if recent.count(&subject).await? > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Records the outcome of a password check: `Some(true)` (the password was right) clears
/// the identifier's failures; `Some(false)` counts against it and may lock the account
/// (mailing its owner in `lang`); `None` (an account change that failed for another
/// reason) records nothing.
///
/// # Errors
/// The store's error.
pub(crate) async fn after_check(
    config: &PowConfig,
    req: &dyn RequestSource,
    lang: &crate::messages::LanguageIdentifier,
    attempt: SignInAttempt,
    proved: Option<bool>,
) -> Result<(), PowError> {
    let limits = config.rate_limits();
    let failures = Limiter::new(config, SIGN_IN_FAILURES);
    let lockouts = Lockouts::new(config);
    match proved {
        None => return Ok(()),
        Some(true) => {
            if let Some(subject) = attempt.failures_subject() {
                failures.reset(&subject).await?;
            }
            // The owner proved the account; its network's failures stay.
            if limits.sign_in_failures.is_some() {
                Limiter::new(config, RECENT_FAILURES)
                    .reset(&format!("account\n{}", attempt.identifier))
                    .await?;
            }
            lockouts.forget_failures(&attempt.identifier).await?;
            return Ok(());
        }
        Some(false) => {}
    }
    if let Some(limit) = limits.sign_in_failures {
        if let Some(subject) = attempt.failures_subject() {
            failures.hit(limit, &subject).await?;
        }
        let recent = Limiter::new(config, RECENT_FAILURES);
        for subject in recent_failure_subjects(&attempt.identifier, attempt.network.as_deref()) {
            recent.add(limit, &subject).await?;
        }
    }
    if let Some(lockout) = limits.lockout {
        lockouts
            .record(req, lang, Counter::Password, lockout, &attempt.identifier)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let a = client_subject("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = client_subject("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = client_subject("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(
            client_subject("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1"
        );
    }

    #[test]
    fn networks_are_ipv4_24_and_ipv6_48() {
        let net = |ip: &str| network_subject(ip.parse().unwrap());
        assert_eq!(net("198.51.100.7"), "198.51.100.0/24");
        assert_eq!(net("198.51.100.200"), net("198.51.100.7"));
        assert_ne!(net("198.51.101.7"), net("198.51.100.7"));
        assert_eq!(net("::ffff:198.51.100.9"), "198.51.100.0/24");
        assert_eq!(net("2001:db8:1:2::1"), "2001:db8:1::/48");
        assert_eq!(net("2001:db8:1:ffff::9"), net("2001:db8:1:2::1"));
        assert_ne!(net("2001:db8:2:2::1"), net("2001:db8:1:2::1"));
    }
}
