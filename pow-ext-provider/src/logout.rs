//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a client sends the browser
//! to `/oauth/logout` with the ID token it holds (`id_token_hint`), its `client_id`, a
//! `post_logout_redirect_uri` it registered and a `state`. The hint must be an ID token this
//! provider signed (a key of the ring, this issuer; an expired one is fine), naming the
//! client if one is named; the return address must be one the client registered
//! ([`ClientRegistration::post_logout_redirect_uri`](crate::ClientRegistration::post_logout_redirect_uri)).
//! The user confirms on a page of ours (a link cannot sign anyone out), then the session
//! ends and the browser goes back with `state`.

use pow_core::{PowConfig, PowError};
use serde::Deserialize;
use serde_json::Value;

use crate::{clients, jws, Provider};

/// `GET` shows the confirmation, `POST` signs out.
pub const LOGOUT_PATH: &str = "/oauth/logout";

/// The longest `state` carried back.
const MAX_STATE_LEN: usize = 512;

/// A checked logout request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutRequest {
    /// The client that asks, if one is named.
    pub client_id: Option<String>,
    /// Its name, as the page shows it.
    pub client_name: Option<String>,
    /// Where the browser goes once signed out (with `state`), if the client asked and
    /// registered it.
    pub redirect: Option<String>,
}

/// The claims of an ID token hint that are read.
#[derive(Deserialize)]
struct Hint {
    iss: String,
    aud: Value,
}

/// Checks the logout request `param` reads (query or form): the request, or the message
/// key of why it is refused (a page of ours says so, never a redirect).
///
/// # Errors
/// The store's or database's (a client is looked up), or the keys'.
pub async fn check(
    config: &PowConfig,
    provider: &Provider,
    param: impl Fn(&str) -> Option<String>,
) -> Result<Result<LogoutRequest, &'static str>, PowError> {
    let mut audiences = Vec::new();
    if let Some(hint) = param("id_token_hint").filter(|hint| !hint.is_empty()) {
        let Some((header, payload)) = jws::verified(config, &hint)? else {
            return Ok(Err("pow_provider_logout_invalid"));
        };
        // An access token is no ID token.
        if header
            .typ
            .as_deref()
            .is_some_and(|typ| !typ.eq_ignore_ascii_case("jwt"))
        {
            return Ok(Err("pow_provider_logout_invalid"));
        }
        let Ok(hint) = serde_json::from_slice::<Hint>(&payload) else {
            return Ok(Err("pow_provider_logout_invalid"));
        };
        if hint.iss != provider.issuer_of(config) {
            return Ok(Err("pow_provider_logout_invalid"));
        }
        audiences = match hint.aud {
            Value::String(aud) => vec![aud],
            Value::Array(auds) => auds
                .into_iter()
                .filter_map(|aud| aud.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
    }
    let named = param("client_id").filter(|id| !id.is_empty());
    let client_id = match (named, audiences.first()) {
        (Some(id), _) if !audiences.is_empty() && !audiences.contains(&id) => {
            return Ok(Err("pow_provider_logout_invalid"));
        }
        (Some(id), _) => Some(id),
        (None, Some(aud)) => Some(aud.clone()),
        (None, None) => None,
    };
    let client = match &client_id {
        Some(id) => match clients::resolve(config, provider, id).await? {
            Some(client) => Some(client),
            None => return Ok(Err("pow_provider_unknown_client")),
        },
        None => None,
    };
    let state = param("state").filter(|state| !state.is_empty());
    if state
        .as_ref()
        .is_some_and(|state| state.len() > MAX_STATE_LEN)
    {
        return Ok(Err("pow_provider_logout_invalid"));
    }
    let redirect = match param("post_logout_redirect_uri").filter(|uri| !uri.is_empty()) {
        None => None,
        Some(uri) => {
            let registered = client
                .as_ref()
                .is_some_and(|client| client.post_logout_redirect_matches(&uri));
            if !registered {
                return Ok(Err("pow_provider_bad_redirect"));
            }
            let Ok(mut url) = url::Url::parse(&uri) else {
                return Ok(Err("pow_provider_bad_redirect"));
            };
            if let Some(state) = &state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        }
    };
    Ok(Ok(LogoutRequest {
        client_name: client
            .as_ref()
            .map(|client| client.display_name().to_owned()),
        client_id,
        redirect,
    }))
}
