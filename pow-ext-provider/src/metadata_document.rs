//! Client ID metadata documents (CIMD): a client that is not registered identifies itself
//! by an `https` URL as its `client_id`, where its metadata document lives. The provider
//! fetches it through the engine's address-checked client
//! ([`OutboundClient`](pow_core::outbound::OutboundClient): public addresses only, no
//! redirect, at most 5 KiB in 2 seconds), rate-limited per host, keeps it for what its
//! `Cache-Control` says (at most an hour, 5 minutes without), and accepts it only when it
//! names exactly that URL as its `client_id`, lists redirect URIs the registration rules
//! accept, and asks for no secret-based authentication: such a client is always public.

use std::time::Duration;

use pow_core::outbound::OutboundClient;
use pow_core::store::{Cache, Key, Limit, Limiter};
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::{check_redirect_uri, ClientRegistration};
use crate::Provider;

/// The largest document read: 5 KiB.
const MAX_BYTES: u64 = 5 * 1024;
/// The longest a fetch may take.
const TIMEOUT: Duration = Duration::from_secs(2);
/// The longest a document is kept.
const MAX_AGE: u64 = 3600;
/// How long a document without `max-age` is kept.
const DEFAULT_AGE: u64 = 300;
/// Fetches per host per minute.
const FETCHES_PER_HOST: u32 = 30;
/// The longest name shown.
const MAX_NAME: usize = 100;

/// What is kept of an accepted document.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Accepted {
    name: Option<String>,
    redirect_uris: Vec<String>,
}

/// Whether `id` has the shape of a metadata document's URL: `https` (or `http` to loopback
/// when fetches there are allowed), a path, no fragment, no credentials.
pub(crate) fn is_document_url(provider: &Provider, id: &str) -> bool {
    let Ok(url) = url::Url::parse(id) else {
        return false;
    };
    let scheme_ok = url.scheme() == "https"
        || provider.loopback_fetches
            && url.scheme() == "http"
            && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    // (A plain-http document is only ever fetched from loopback, with the app's leave.)
    scheme_ok
        && url.path() != "/"
        && !url.path().is_empty()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && id.len() <= 2048
}

/// The client whose metadata document is at `id`, if the provider takes documents and
/// this one is acceptable.
///
/// # Errors
/// The store's.
pub(crate) async fn client(
    config: &PowConfig,
    provider: &Provider,
    id: &str,
) -> Result<Option<ClientRegistration>, PowError> {
    if !provider.metadata_documents || !is_document_url(provider, id) {
        return Ok(None);
    }
    let cache = Cache::new(
        std::sync::Arc::clone(config.store()),
        config.namespaced("pow_provider"),
        None,
    );
    let key = Key(vec![
        "cimd".to_owned(),
        crate::clients::digest(config, "pow_provider cimd", id),
    ]);
    let accepted = match cache.get::<Accepted>(&key).await? {
        Some(accepted) => Some(accepted),
        None => fetch(config, provider, id, &cache, &key).await?,
    };
    Ok(accepted.map(|accepted| {
        let mut client = ClientRegistration::public(id).known_by_metadata_document();
        if let Some(name) = accepted.name {
            client = client.name(name);
        }
        for uri in accepted.redirect_uris {
            client = client.redirect_uri(uri);
        }
        client
    }))
}

/// Fetches and checks the document at `id`, keeping what is accepted.
async fn fetch(
    config: &PowConfig,
    provider: &Provider,
    id: &str,
    cache: &Cache,
    key: &Key,
) -> Result<Option<Accepted>, PowError> {
    let host = url::Url::parse(id)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    let limiter = Limiter::new(config, "provider_metadata_document");
    if !limiter
        .hit(Limit::new(FETCHES_PER_HOST, Duration::from_secs(60)), &host)
        .await?
    {
        tracing::warn!(
            client_id = id,
            "client metadata document fetches over the limit for its host"
        );
        return Ok(None);
    }
    let client = OutboundClient::new()
        .max_bytes(MAX_BYTES)
        .timeout(TIMEOUT)
        .allow_loopback(provider.loopback_fetches)
        .root_certificates(provider.fetch_roots.clone());
    let fetched = match client.get(id).await {
        Ok(fetched) if fetched.status == 200 => fetched,
        Ok(fetched) => {
            tracing::warn!(
                client_id = id,
                status = fetched.status,
                "client metadata document not served"
            );
            return Ok(None);
        }
        Err(err) => {
            tracing::warn!(client_id = id, error = %err, "client metadata document not fetched");
            return Ok(None);
        }
    };
    let accepted = match accept(id, &fetched.body) {
        Ok(accepted) => accepted,
        Err(why) => {
            tracing::warn!(client_id = id, why, "client metadata document refused");
            return Ok(None);
        }
    };
    if let Some(age) = keep_for(fetched.header("cache-control")) {
        cache
            .store()
            .put(
                cache.namespace(),
                vec![(
                    key.clone(),
                    serde_json::to_vec(&accepted).unwrap_or_default(),
                )],
                Some(Duration::from_secs(age)),
            )
            .await?;
    }
    Ok(Some(accepted))
}

/// How long to keep a document by its `Cache-Control`: `None` for `no-store`.
fn keep_for(cache_control: Option<&str>) -> Option<u64> {
    let Some(value) = cache_control else {
        return Some(DEFAULT_AGE);
    };
    let mut age = DEFAULT_AGE;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return None;
        }
        if let Some(seconds) = directive
            .strip_prefix("max-age=")
            .and_then(|s| s.parse::<u64>().ok())
        {
            age = seconds;
        }
    }
    (age > 0).then_some(age.min(MAX_AGE))
}

/// The document `body` for `id`, checked: why it is refused otherwise.
fn accept(id: &str, body: &[u8]) -> Result<Accepted, &'static str> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "not JSON")?;
    let doc = doc.as_object().ok_or("not a JSON object")?;
    if doc.get("client_id").and_then(Value::as_str) != Some(id) {
        return Err("its client_id is not its own URL");
    }
    match doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None | Some("none") => {}
        Some(_) => return Err("it asks for an authentication method other than none"),
    }
    if doc.contains_key("client_secret") || doc.contains_key("client_secret_expires_at") {
        return Err("it carries a secret");
    }
    let strings = |name: &str| -> Result<Option<Vec<String>>, &'static str> {
        match doc.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .ok_or("a list holds something other than text")
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err("a list is not a list"),
        }
    };
    let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() || redirect_uris.len() > 10 {
        return Err("it lists no redirect URI, or too many");
    }
    if redirect_uris
        .iter()
        .any(|uri| check_redirect_uri(uri).is_err())
    {
        return Err("a redirect URI is refused by the registration rules");
    }
    if strings("grant_types")?.is_some_and(|grants| {
        grants
            .iter()
            .any(|grant| !matches!(grant.as_str(), "authorization_code" | "refresh_token"))
    }) {
        return Err("it asks for a grant a document's client cannot use");
    }
    if strings("response_types")?.is_some_and(|types| types.iter().any(|t| t != "code")) {
        return Err("it asks for a response type other than code");
    }
    let name = doc.get("client_name").and_then(Value::as_str).map(|name| {
        name.chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME)
            .collect()
    });
    Ok(Accepted {
        name,
        redirect_uris,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ID: &str = "https://app.example/oauth/client.json";

    fn doc(extra: serde_json::Value) -> Vec<u8> {
        let mut doc = serde_json::json!({
            "client_id": ID,
            "client_name": "Example\u{7} App",
            "redirect_uris": ["http://127.0.0.1/callback"],
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        serde_json::to_vec(&doc).unwrap()
    }

    #[test]
    fn a_document_is_accepted_only_as_a_public_client_of_its_own_url() {
        let accepted = accept(ID, &doc(serde_json::json!({}))).unwrap();
        assert_eq!(
            accepted.name.as_deref(),
            Some("Example App"),
            "control characters dropped"
        );
        for (extra, why) in [
            (
                serde_json::json!({ "client_id": "https://other.example/c.json" }),
                "own URL",
            ),
            (
                serde_json::json!({ "token_endpoint_auth_method": "client_secret_basic" }),
                "none",
            ),
            (serde_json::json!({ "client_secret": "s" }), "secret"),
            (
                serde_json::json!({ "redirect_uris": ["javascript:alert(1)"] }),
                "registration rules",
            ),
            (serde_json::json!({ "redirect_uris": [] }), "no redirect"),
            (
                serde_json::json!({ "grant_types": ["client_credentials"] }),
                "grant",
            ),
            (
                serde_json::json!({ "response_types": ["token"] }),
                "response type",
            ),
        ] {
            let refused = accept(ID, &doc(extra.clone())).unwrap_err();
            assert!(refused.contains(why), "{extra}: {refused}");
        }
        assert!(accept(ID, b"[1]").is_err());
        assert!(accept(ID, b"not json").is_err());
    }

    #[test]
    fn documents_are_kept_as_long_as_they_say_up_to_an_hour() {
        assert_eq!(keep_for(None), Some(DEFAULT_AGE));
        assert_eq!(keep_for(Some("public, max-age=60")), Some(60));
        assert_eq!(keep_for(Some("max-age=999999")), Some(MAX_AGE));
        assert_eq!(keep_for(Some("no-store")), None);
        assert_eq!(keep_for(Some("max-age=0")), None);
    }
}
