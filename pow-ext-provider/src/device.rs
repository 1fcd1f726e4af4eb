//! The device authorization grant (RFC 8628): a device without a browser (a TV, a
//! command-line tool on a server) shows a short code; the user enters it on this site,
//! signed in, sees which client asks and where the request came from, and allows it; the
//! device, polling the token endpoint, gets its tokens once.
//!
//! Three records per request, none holding a secret: the device code's and the user code's
//! (each under its keyed digest, pointing at a random id), and the request's state under
//! that id. The state is written only by the user's steps; the device's polls keep their
//! times apart, so a poll never overwrites an approval. The tokens go to the one poll that
//! takes the device code's record.

use std::time::Duration;

use pow_core::audit::{self, AuditEvent};
use pow_core::session::CurrentSession;
use pow_core::store::{Cache, Key, Limit, Limiter, OneTimeSecrets};
use pow_core::{PowConfig, PowError};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::clients::{ClientRegistration, GrantType};
use crate::flows::{field, OAuthError, TokenAnswer};
use crate::tokens::{Family, Taken, Tokens};
use crate::{events, Provider};

/// `POST`: where a device asks for codes.
pub const DEVICE_AUTHORIZATION_PATH: &str = "/oauth/device_authorization";
/// The page where the user enters the code.
pub const DEVICE_PATH: &str = "/oauth/device";
/// Where the confirmation page posts the user's answer.
pub const DEVICE_CONFIRM_PATH: &str = "/oauth/device/confirm";
/// The token endpoint's grant type of a polling device.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The letters of user codes: consonants only (no words, no `0`/`O`, `1`/`I` confusion).
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// The letters in a user code: 20^8, about 2.6 × 10^10.
const USER_CODE_LEN: usize = 8;
/// How long a request lives: 10 minutes.
const TTL: Duration = Duration::from_secs(600);
/// User codes a client address (and a user) may try per 10 minutes.
const ENTRY_LIMIT: u32 = 10;
/// The store namespace (the provider's).
const NAMESPACE: &str = "pow_provider";

/// What a device's request is waiting for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
enum Status {
    Pending,
    Approved { user_id: i64, auth_time: i64 },
    Denied,
}

/// A device's request.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct State {
    client_id: String,
    scopes: Vec<String>,
    resource: Option<String>,
    /// Where the request came from: the client's address and user agent, as seen here.
    from: String,
    status: Status,
}

/// What the confirmation page waits for: the request, the user and session that entered
/// its code.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Confirming {
    id: String,
    user_id: i64,
    session_id: String,
}

/// The provider's device records in `config`'s store.
struct Devices {
    device_codes: OneTimeSecrets,
    user_codes: OneTimeSecrets,
    confirming: OneTimeSecrets,
    states: Cache,
    entries: Limiter,
}

impl Devices {
    fn new(config: &PowConfig) -> Self {
        let secrets = |purpose| OneTimeSecrets::new(config, NAMESPACE, purpose, TTL);
        Self {
            device_codes: secrets("device_code"),
            user_codes: secrets("user_code"),
            confirming: secrets("device_confirm"),
            states: Cache::new(
                std::sync::Arc::clone(config.store()),
                config.namespaced(NAMESPACE),
                Some(TTL),
            ),
            entries: Limiter::new(config, "provider_user_code"),
        }
    }

    async fn state(&self, id: &str) -> Result<Option<State>, PowError> {
        Ok(self.states.get(&state_key(id)).await?)
    }
}

fn state_key(id: &str) -> Key {
    Key(vec!["device".to_owned(), id.to_owned()])
}

fn poll_key(id: &str) -> Key {
    Key(vec!["device_poll".to_owned(), id.to_owned()])
}

/// A new user code, `BCDF-GHJK`.
fn user_code() -> String {
    let mut rng = rand::thread_rng();
    let letters: String = (0..USER_CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// A user code as typed (any case, spaces, dashes), normalised; `None` when it cannot be one.
fn normalise(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (letters.len() == USER_CODE_LEN && letters.bytes().all(|b| ALPHABET.contains(&b)))
        .then_some(letters)
}

/// `POST /oauth/device_authorization`: a device's request, answered with its codes.
pub(crate) async fn start(
    config: &PowConfig,
    provider: &Provider,
    client: &ClientRegistration,
    form: &[(String, String)],
    from: String,
) -> Result<Result<Value, OAuthError>, PowError> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Ok(Err(OAuthError::new(
            "unauthorized_client",
            "the client may not use the device grant",
        )));
    }
    let (scope, resource) = match (field(form, "scope"), field(form, "resource")) {
        (Ok(scope), Ok(resource)) => (scope, resource),
        (Err(err), _) | (_, Err(err)) => return Ok(Err(err)),
    };
    let scopes = match crate::flows::checked_scopes(provider, client, scope.unwrap_or_default()) {
        Some(scopes) => scopes,
        None => {
            return Ok(Err(OAuthError::new(
                "invalid_scope",
                "a scope asked for is unknown or not allowed",
            )))
        }
    };
    if let Some(refused) =
        resource.and_then(|uri| crate::flows::refused_target(provider, client, uri))
    {
        return Ok(Err(refused));
    }
    let devices = Devices::new(config);
    let id = crate::tokens::secret("");
    let device_code = crate::tokens::secret("powdc_");
    let shown = user_code();
    let state = State {
        client_id: client.id().to_owned(),
        scopes,
        resource: resource.map(str::to_owned),
        from,
        status: Status::Pending,
    };
    devices.states.put(&state_key(&id), &state).await?;
    devices.device_codes.put(&device_code, &id).await?;
    let typed = normalise(&shown).unwrap_or_default();
    devices.user_codes.put(&typed, &id).await?;
    let page = crate::endpoints::url(config, DEVICE_PATH);
    Ok(Ok(json!({
        "device_code": device_code,
        "user_code": shown,
        "verification_uri": page,
        "verification_uri_complete": format!("{page}?user_code={shown}"),
        "expires_in": TTL.as_secs(),
        "interval": provider.device_interval,
    })))
}

/// What entering a user code came to.
#[derive(Debug)]
pub enum Entered {
    /// A request waits: confirm it on the page kept under `pending`.
    Confirm {
        /// The id the confirmation page posts back.
        pending: String,
        /// The client's name.
        client: String,
        /// The scopes asked for.
        scopes: Vec<String>,
        /// The resource asked for.
        resource: Option<String>,
        /// Where the request came from.
        from: String,
    },
    /// No waiting request has this code.
    Unknown,
    /// Too many codes tried from this address or by this user: wait.
    Limited,
}

/// A signed-in user enters `typed` from `address`.
pub async fn enter(
    config: &PowConfig,
    provider: &Provider,
    current: &CurrentSession,
    typed: &str,
    address: &str,
) -> Result<Entered, PowError> {
    let devices = Devices::new(config);
    let limit = Limit::new(ENTRY_LIMIT, TTL);
    let by_address = devices
        .entries
        .hit(limit, &format!("address:{address}"))
        .await?;
    let by_user = devices
        .entries
        .hit(limit, &format!("user:{}", current.user.id))
        .await?;
    if !(by_address && by_user) {
        return Ok(Entered::Limited);
    }
    let Some(code) = normalise(typed) else {
        return Ok(Entered::Unknown);
    };
    let Some(id) = devices.user_codes.get::<String>(&code).await? else {
        return Ok(Entered::Unknown);
    };
    let Some(state) = devices.state(&id).await? else {
        return Ok(Entered::Unknown);
    };
    if state.status != Status::Pending {
        return Ok(Entered::Unknown);
    }
    let pending = crate::tokens::secret("");
    let confirming = Confirming {
        id,
        user_id: current.user.id,
        session_id: current.session_id.clone(),
    };
    devices.confirming.put(&pending, &confirming).await?;
    let client = crate::clients::name_of(config, provider, &state.client_id).await?;
    Ok(Entered::Confirm {
        pending,
        client,
        scopes: state.scopes,
        resource: state.resource,
        from: state.from,
    })
}

/// The confirmation page's answer for `pending`, by the session that entered the code:
/// `Some(allowed)`, or `None` when there is no such confirmation for this session.
pub async fn confirm(
    config: &PowConfig,
    current: &CurrentSession,
    pending: &str,
    allow: bool,
) -> Result<Option<bool>, PowError> {
    let devices = Devices::new(config);
    let Some(confirming) = devices.confirming.get::<Confirming>(pending).await? else {
        return Ok(None);
    };
    if confirming.user_id != current.user.id || confirming.session_id != current.session_id {
        return Ok(None);
    }
    if devices
        .confirming
        .take::<Confirming>(pending)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let Some(mut state) = devices.state(&confirming.id).await? else {
        return Ok(None);
    };
    if state.status != Status::Pending {
        return Ok(None);
    }
    let auth_time = crate::flows::auth_time(current);
    state.status = match allow {
        true => Status::Approved {
            user_id: current.user.id,
            auth_time,
        },
        false => Status::Denied,
    };
    if allow {
        // Recorded as the user's grant: listed on their account's applications page,
        // where withdrawing it ends the device's tokens, as removing the client does.
        crate::consents::Consents::new(config)?
            .grant(
                current.user.id,
                &state.client_id,
                &state.scopes,
                state.resource.as_deref(),
            )
            .await?;
    }
    devices
        .states
        .put(&state_key(&confirming.id), &state)
        .await?;
    let event = if allow {
        events::CONSENTED
    } else {
        events::DENIED
    };
    audit::record(
        config,
        AuditEvent::new(event)
            .user(current.user.id)
            .detail("client", state.client_id.clone())
            .detail("grant", "device_code"),
    );
    Ok(Some(allow))
}

/// The token endpoint's device grant: the device's poll.
pub(crate) async fn poll(
    config: &PowConfig,
    provider: &Provider,
    client: &ClientRegistration,
    form: &[(String, String)],
) -> Result<TokenAnswer, PowError> {
    let device_code = match field(form, "device_code") {
        Ok(Some(code)) if code.starts_with("powdc_") && code.len() <= 200 => code,
        Ok(_) => {
            return Ok(Err(OAuthError::new(
                "invalid_grant",
                "device_code is missing or unknown",
            )))
        }
        Err(err) => return Ok(Err(err)),
    };
    let devices = Devices::new(config);
    let Some(id) = devices.device_codes.get::<String>(device_code).await? else {
        return Ok(Err(OAuthError::new(
            "expired_token",
            "the device code expired or was used",
        )));
    };
    let Some(state) = devices.state(&id).await? else {
        return Ok(Err(OAuthError::new(
            "expired_token",
            "the device code expired",
        )));
    };
    if state.client_id != client.id() {
        return Ok(Err(OAuthError::new(
            "invalid_grant",
            "the device code is another client's",
        )));
    }
    match state.status {
        Status::Pending => {
            let now = config.clock().now_ms();
            let key = poll_key(&id);
            let last: Option<(i64, u64)> = devices.states.get(&key).await?;
            let (error, interval) = match last {
                // A poll earlier than four fifths of the interval is too early (timers and
                // the network make a punctual device's polls a little uneven).
                Some((at, interval))
                    if now.saturating_sub(at)
                        < i64::try_from(interval * 800).unwrap_or(i64::MAX) =>
                {
                    ("slow_down", interval + 5)
                }
                Some((_, interval)) => ("authorization_pending", interval),
                None => ("authorization_pending", provider.device_interval),
            };
            devices.states.put(&key, &(now, interval)).await?;
            let description = match error {
                "slow_down" => "polling too fast: wait the interval, 5 seconds more",
                _ => "the user has not answered yet",
            };
            Ok(Err(OAuthError::new(error, description)))
        }
        Status::Denied => {
            devices.device_codes.delete(device_code).await?;
            Ok(Err(OAuthError::new("access_denied", "the user refused")))
        }
        Status::Approved { user_id, auth_time } => {
            if devices
                .device_codes
                .take::<String>(device_code)
                .await?
                .is_none()
            {
                return Ok(Err(OAuthError::new(
                    "invalid_grant",
                    "the device code was used",
                )));
            }
            devices.states.delete(&state_key(&id)).await?;
            // The resource taken off the client's list since the request: nothing for it.
            if let Some(refused) = state
                .resource
                .as_deref()
                .and_then(|uri| crate::flows::refused_target(provider, client, uri))
            {
                return Ok(Err(refused));
            }
            // The grant withdrawn (or the client removed) between the approval and this
            // poll: nothing is issued.
            let granted = crate::consents::Consents::new(config)?
                .get(user_id, &state.client_id)
                .await?
                .is_some_and(|consent| consent.covers(&state.scopes, state.resource.as_deref()));
            if !granted {
                return Ok(Err(OAuthError::new(
                    "access_denied",
                    "the user withdrew the grant",
                )));
            }
            let family = Family {
                client_id: state.client_id,
                user_id: Some(user_id),
                scopes: state.scopes,
                resource: state.resource,
                auth_time,
                acr: None,
                amr: Vec::new(),
            };
            let refresh = family.scopes.iter().any(|scope| scope == "offline_access");
            let issued = match Tokens::new(config, provider)
                .issue_new(provider, family, refresh)
                .await?
            {
                Taken::Fresh(issued) => issued,
                _ => {
                    return Ok(Err(OAuthError::new(
                        "invalid_grant",
                        "the device code was used",
                    )))
                }
            };
            audit::record(
                config,
                AuditEvent::new(events::TOKENS_ISSUED)
                    .user(user_id)
                    .detail("client", client.id().to_owned())
                    .detail("grant", "device_code"),
            );
            crate::flows::token_answer(config, provider, &issued, None).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_unambiguous_and_read_as_typed() {
        for _ in 0..100 {
            let code = user_code();
            assert_eq!(code.len(), 9);
            assert_eq!(
                normalise(&code).as_deref(),
                Some(code.replace('-', "").as_str())
            );
            assert_eq!(
                normalise(&code.to_lowercase().replace('-', " ")),
                normalise(&code)
            );
        }
        assert_eq!(normalise("AAAA-BBBB"), None, "vowels are never in a code");
        assert_eq!(normalise("BCDF-GHJ"), None);
        assert_eq!(normalise("BCDF-GHJK-L"), None);
    }
}
