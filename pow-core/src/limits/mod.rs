//! Abuse protection: rate limits on sign-in, sign-up and mails, and account lockout.
//!
//! Every rule counts in the cache store with an atomic [`Store::incr`](crate::store::Store::incr)
//! (see [`Limiter`]), so limits hold across workers and across servers that share a store.
//! The action pipeline ([`web::Action`](crate::web::Action)) applies them before any password
//! is hashed:
//!
//! | rule | counts | default |
//! |---|---|---|
//! | [`sign_in_per_ip`](RateLimits::sign_in_per_ip) | every password sign-in from one client | 30 per minute |
//! | [`sign_in_failures`](RateLimits::sign_in_failures) | failed sign-ins for one identifier from one client (a success clears them) | 5 per 5 minutes |
//! | [`sign_up_per_ip`](RateLimits::sign_up_per_ip) | sign-up submissions from one client | 20 per minute |
//! | [`mails_per_ip`](RateLimits::mails_per_ip) | requests for a mailed link (reset, confirmation, ...) from one client | 20 per minute |
//! | [`lockout`](RateLimits::lockout) | consecutive failed sign-ins for one identifier, from anywhere | lock after 100, for 1 hour |
//! | [`max_in_flight_per_client`](RateLimits::max_in_flight_per_client) | password checks one client has under way at once (per process) | 2 |
//!
//! A refused request gets `429 Too Many Requests` with `Retry-After`: a translated page for
//! browsers, `{"error": {"code": "rate_limited", ...}}` for the API. Identifiers are
//! normalised and stored only as keyed hashes; an unknown identifier is counted, refused and
//! locked exactly like a known one, so the limiter tells nobody which accounts exist.
//!
//! The client is the peer address, or, when the peer is one of the
//! [`trusted_proxies`](RateLimits::trusted_proxies), the nearest untrusted address in
//! `X-Forwarded-For`. IPv6 clients are grouped by /64 (one subscriber's network). A request
//! without a peer address (a Unix socket, an in-process test request) skips the per-client
//! rules.
//!
//! The lockout cannot keep the owner out: the locked account's owner is mailed a notice
//! with a link that unlocks the account and signs them in, a password reset unlocks it too,
//! and the lock ends by itself after [`Lockout::lock_for`].
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

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::HttpRequest;
pub use ipnet::IpNet;

use crate::config::PowConfig;
use crate::error::PowError;
use crate::store::{Limit, Limiter};
use crate::users::validation::normalize_user_id;
use crate::web::{ActionKind, Controller};

mod lockout;
pub(crate) use lockout::{unlock, Lockouts};
pub use lockout::{unlock_account, UNLOCK_MAIL};

/// Rule names (the first key segment of each counter).
const SIGN_IN_IP: &str = "sign_in_ip";
const SIGN_IN_FAILURES: &str = "sign_in_failures";
const SIGN_UP_IP: &str = "sign_up_ip";
const MAIL_IP: &str = "mail_ip";

/// The rate limits and lockout policy of a setup ([`PowConfigBuilder::rate_limits`](crate::PowConfigBuilder::rate_limits)).
/// `None` disables a rule. See the [module docs](self) for what each counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Password sign-ins per client. Default 30 per minute.
    pub sign_in_per_ip: Option<Limit>,
    /// Failed sign-ins per identifier and client. Default 5 per 5 minutes.
    pub sign_in_failures: Option<Limit>,
    /// Sign-up submissions per client. Default 20 per minute.
    pub sign_up_per_ip: Option<Limit>,
    /// Requests for a mailed link per client. Default 20 per minute.
    pub mails_per_ip: Option<Limit>,
    /// The hard per-account lock. Default [`Lockout::default`].
    pub lockout: Option<Lockout>,
    /// Password checks one client may have under way at once in this process (sign-ins
    /// and sign-ups waiting for the hashing pool), so one client cannot fill the pool and
    /// have everybody else's sign-in refused. Default 2.
    pub max_in_flight_per_client: Option<u32>,
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
}

impl Default for Lockout {
    fn default() -> Self {
        Self {
            max_failures: 100,
            failure_window: Duration::from_secs(24 * 3600),
            lock_for: Duration::from_secs(3600),
        }
    }
}

/// Why a request was refused with `429`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitReason {
    /// A rate limit: too many requests from this client or for this identifier.
    TooManyAttempts,
    /// The identifier's account is locked after too many failed sign-ins.
    Locked,
}

/// A refused request: `429 Too Many Requests`, try again after `retry_after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimited {
    /// Why.
    pub reason: LimitReason,
    /// When to try again (the rule's window, at most).
    pub retry_after: Duration,
}

impl RateLimited {
    /// `Retry-After` in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().max(1)
    }
}

fn refused(reason: LimitReason, retry_after: Duration) -> PowError {
    PowError::RateLimited(RateLimited {
        reason,
        retry_after,
    })
}

/// The client's address: the peer, or behind trusted proxies the nearest untrusted address
/// in `X-Forwarded-For`. `None` without a peer address.
pub fn client_ip(req: &HttpRequest, trusted_proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    // Walk from the proxy outwards: the first address no trusted proxy added is the client.
    Some(
        forwarded
            .iter()
            .rev()
            .find(|ip| !trusted(ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer),
    )
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

fn client(req: &HttpRequest, limits: &RateLimits) -> Option<String> {
    client_ip(req, &limits.trusted_proxies).map(client_subject)
}

/// Counts one request of `rule` by the client of `req`; refused when over `limit`.
async fn hit_client(
    config: &PowConfig,
    req: &HttpRequest,
    rule: &'static str,
    limit: Option<Limit>,
) -> Result<(), PowError> {
    let (Some(limit), Some(client)) = (limit, client(req, config.rate_limits())) else {
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
pub async fn hit_mail_request(config: &PowConfig, req: &HttpRequest) -> Result<(), PowError> {
    hit_client(config, req, MAIL_IP, config.rate_limits().mails_per_ip).await
}

/// Password checks under way per client, in this process.
#[derive(Debug, Default)]
pub(crate) struct InFlight(Mutex<HashMap<String, u32>>);

impl InFlight {
    /// Takes a slot for `client`, or `None` when it has `max` under way.
    fn enter(self: &Arc<Self>, client: String, max: u32) -> Option<InFlightSlot> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(client.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(InFlightSlot {
            owner: Arc::clone(self),
            client,
        })
    }
}

/// One password check under way; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct InFlightSlot {
    owner: Arc<InFlight>,
    client: String,
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        let mut counts = self.owner.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.client);
            }
        }
    }
}

/// What the pipeline holds while an action runs: the sign-in to record afterwards, and the
/// client's in-flight slot.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    pub(crate) sign_in: Option<SignInAttempt>,
    _slot: Option<InFlightSlot>,
}

/// Takes an in-flight slot for the request's client, or refuses the request.
fn enter(ctl: &Controller) -> Result<Option<InFlightSlot>, PowError> {
    let limits = ctl.config.rate_limits();
    let (Some(max), Some(client)) = (limits.max_in_flight_per_client, client(&ctl.req, limits))
    else {
        return Ok(None);
    };
    ctl.config
        .in_flight()
        .enter(client, max)
        .map(Some)
        .ok_or_else(|| refused(LimitReason::TooManyAttempts, Duration::from_secs(1)))
}

/// A password sign-in under way: what the pipeline records once the action is done.
#[derive(Debug)]
pub(crate) struct SignInAttempt {
    pub(crate) identifier: String,
    client: Option<String>,
}

impl SignInAttempt {
    fn failures_subject(&self) -> Option<String> {
        self.client
            .as_ref()
            .map(|client| format!("{}\n{client}", self.identifier))
    }
}

/// Runs the rules that apply to the action before it runs: sign-ins that carry an identifier
/// and a password, and sign-ups. Returns the sign-in to record afterwards.
pub(crate) async fn before_action(ctl: &Controller) -> Result<Guard, PowError> {
    let limits = ctl.config.rate_limits();
    match ctl.id.kind() {
        ActionKind::SignUp if !ctl.params.is_empty() => {
            hit_client(&ctl.config, &ctl.req, SIGN_UP_IP, limits.sign_up_per_ip).await?;
            Ok(Guard {
                sign_in: None,
                _slot: enter(ctl)?,
            })
        }
        ActionKind::SignIn => {
            let field = ctl.config.user_id_field();
            let (Some(raw), Some(_)) = (ctl.params.get(field), ctl.params.get("password")) else {
                return Ok(Guard::default());
            };
            hit_client(&ctl.config, &ctl.req, SIGN_IN_IP, limits.sign_in_per_ip).await?;
            let attempt = SignInAttempt {
                identifier: normalize_user_id(raw),
                client: client(&ctl.req, limits),
            };
            if let (Some(limit), Some(subject)) =
                (limits.sign_in_failures, attempt.failures_subject())
            {
                let failures = Limiter::new(&ctl.config, SIGN_IN_FAILURES)
                    .count(&subject)
                    .await?;
                if failures >= u64::from(limit.max) {
                    return Err(refused(LimitReason::TooManyAttempts, limit.per));
                }
            }
            if let Some(lockout) = limits.lockout {
                if Lockouts::new(&ctl.config)
                    .is_locked(&attempt.identifier)
                    .await?
                {
                    return Err(refused(LimitReason::Locked, lockout.lock_for));
                }
            }
            Ok(Guard {
                sign_in: Some(attempt),
                _slot: enter(ctl)?,
            })
        }
        _ => Ok(Guard::default()),
    }
}

/// Records the outcome of a sign-in: a success (the action set [`Controller::user`]) clears
/// the identifier's failures; a failure counts against it and may lock the account.
pub(crate) async fn after_sign_in(
    ctl: &Controller,
    attempt: SignInAttempt,
) -> Result<(), PowError> {
    let limits = ctl.config.rate_limits();
    let failures = Limiter::new(&ctl.config, SIGN_IN_FAILURES);
    let lockouts = Lockouts::new(&ctl.config);
    if ctl.user.is_some() {
        if let Some(subject) = attempt.failures_subject() {
            failures.reset(&subject).await?;
        }
        lockouts.forget_failures(&attempt.identifier).await?;
        return Ok(());
    }
    if let (Some(limit), Some(subject)) = (limits.sign_in_failures, attempt.failures_subject()) {
        failures.hit(limit, &subject).await?;
    }
    if let Some(lockout) = limits.lockout {
        lockouts
            .record_failure(ctl, lockout, &attempt.identifier)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use actix_web::test::TestRequest;

    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(peer.parse().unwrap());
        if let Some(value) = forwarded {
            req = req.insert_header(("X-Forwarded-For", value));
        }
        req.to_http_request()
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let direct = request("203.0.113.9:5000", Some("198.51.100.1"));
        assert_eq!(
            client_ip(&direct, &proxies),
            Some("203.0.113.9".parse().unwrap()),
            "an untrusted peer's header is ignored"
        );
        let proxied = request("10.1.2.3:5000", Some("198.51.100.1, 203.0.113.7, 10.9.9.9"));
        assert_eq!(
            client_ip(&proxied, &proxies),
            Some("203.0.113.7".parse().unwrap()),
            "the nearest untrusted hop is the client; what it forwarded is not believed"
        );
        let no_header = request("10.1.2.3:5000", None);
        assert_eq!(
            client_ip(&no_header, &proxies),
            Some("10.1.2.3".parse().unwrap())
        );
    }

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
}
