//! A provider account waiting for a staged sign-up to finish: the browser that began it
//! holds a random id in its cookie session, the store holds `["pending", sha256(id)]`
//! with the provider account and the address. When the passwordless extension's staged
//! sign-up creates the user in that browser, for that address, the account is linked.
//! Another browser finishing the sign-up (someone who got a mail they did not ask for)
//! links nothing.

use std::time::Duration;

use actix_web::HttpRequest;
use pow_core::session::CookieSessionExt as _;
use pow_core::token::generate_uuid;
use pow_core::{PowConfig, PowError};
use serde::{Deserialize, Serialize};

use crate::store::Records;

/// Record kind of [`Pending`] links.
const PENDING: &str = "pending";

/// How long a pending link waits (past the sign-up link's own lifetime).
const TTL: Duration = Duration::from_secs(60 * 60);

#[derive(Serialize, Deserialize)]
pub(crate) struct Pending {
    pub provider: String,
    pub uid: String,
    pub email: String,
}

fn session_key(config: &PowConfig) -> String {
    config.namespaced("pow_oauth_pending")
}

/// Remembers the provider account `uid` for a staged sign-up of `email` in this browser.
pub(crate) async fn put(
    req: &HttpRequest,
    config: &PowConfig,
    email: &str,
    provider: &str,
    uid: &str,
) -> Result<(), PowError> {
    let id = generate_uuid();
    let pending = Pending {
        provider: provider.to_owned(),
        uid: uid.to_owned(),
        email: email.to_owned(),
    };
    Records::new(config)
        .put(PENDING, &id, &pending, TTL)
        .await?;
    Ok(req.cookie_session().insert(session_key(config), id)?)
}

/// Takes the provider account this browser left waiting, if any.
pub(crate) async fn take(
    req: &HttpRequest,
    config: &PowConfig,
) -> Result<Option<Pending>, PowError> {
    let session = req.cookie_session();
    let Some(id) = session.get::<String>(&session_key(config)).ok().flatten() else {
        return Ok(None);
    };
    session.remove(&session_key(config));
    Ok(Records::new(config).take(PENDING, &id).await?)
}
